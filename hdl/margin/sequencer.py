"""The margin sequencer (docs/margin.md sections 2, 3 and 3.2): the loop over positions x
scenarios that gives the shared pricing pipeline one position-scenario per clock.

Per revaluation (``start``, with ``n_positions``, ``n_buckets`` and ``rate`` held from it):

    PRIME  4 clocks   read record 0 (BRAM, 1 clock), register it, x0 = ln F_b - (lnK << 6)
    LOOP   36 N + floor((36 N - 1) / 63) clocks: per position 36 slots (35 scenarios, then
           the base), one per clock, except every 64th clock of the loop (k mod 64 = 63), which
           is GREEKS's (``greeks_slot``). The next record is read at the first slot of the
           current one and is ready 3 clocks later, 33 before it is needed.
    TAIL   the rest of the fixed 1,024-clock overhead (pipeline drain, combination)
    ``done`` is high for one clock, exactly model.cycles(N) clocks after ``start``.

Per slot (``o``, registered, one clock after the slot's decision; no back-pressure: the datapath
runs freely and the MAC never stalls): the pipeline's input (x' = x0 + ln(1+m_j), T, sigma'
by the scenario's vol code << 9, r = q = rate, Black-76, put) and the tag the MAC needs
(position, slot, Q, bucket, future). Futures take no pipeline slot (``future``: the pipeline's
valid is low, their pricing fields are don't-care); the MAC adds a constant instead.

Per position, at its first slot: the base check (bucket < n_buckets, and for options
|x0| <= model.X_BOOK_LIM) into ``status``/``index`` (the first failure) and the clamp flags of
the options before it into ``clamped``: what the result frame reports.

The scenario table (35 entries: ln(1+m) Q48 and the vol code) and the bucket table (16 x ln F
Q48) are small LUT memories written through ``scenario_w`` and ``bucket_w``.
"""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from quantgate import margin as spec

from ..pricing import tables as tb
from ..pricing.pipeline import GreeksIn
from . import model as md
from .book import INDEX_BITS, Record

__all__ = ["BucketEntry", "MarginSlot", "ScenarioEntry", "Sequencer"]

PRIME_CLOCKS = 4  # read, data, registered record, registered x0
TAIL_CLOCKS = md.OVERHEAD - PRIME_CLOCKS

ScenarioRow = data.StructLayout({"ln1pm": signed(64), "vol": unsigned(2)})
ScenarioEntry = data.StructLayout({"index": unsigned(6), "row": ScenarioRow})
BucketEntry = data.StructLayout({"index": unsigned(4), "lnf": signed(64)})
MarginSlot = data.StructLayout({
    "pricing": GreeksIn,
    "position": unsigned(INDEX_BITS),
    "slot": unsigned(6),  # 0..34 scenarios, 35 the base
    "q": signed(56),
    "bucket": unsigned(4),
    "future": 1,
})


class Phase(enum.Enum, shape=2):
    IDLE = 0
    PRIME = 1
    LOOP = 2
    TAIL = 3


class Sequencer(wiring.Component):
    scenario_w: In(stream.Signature(ScenarioEntry))
    bucket_w: In(stream.Signature(BucketEntry))
    start: In(1)
    n_positions: In(range(md.CAPACITY + 1))
    n_buckets: In(range(md.MAX_BUCKETS + 1))
    rate: In(signed(64))
    book: In(memory.ReadPort.Signature(addr_width=INDEX_BITS, shape=Record))
    o: Out(stream.Signature(MarginSlot, always_ready=True))
    greeks_slot: Out(1)  # aligned with o: this clock's pipeline slot belongs to GREEKS
    busy: Out(1)
    done: Out(1)
    status: Out(2)
    index: Out(INDEX_BITS)
    clamped: Out(range(2 * md.CAPACITY + 1))

    def elaborate(self, platform):
        m = Module()
        m.submodules.scenarios = scen = memory.Memory(shape=ScenarioRow, depth=spec.N_SCENARIOS,
                                                      init=[])
        m.submodules.buckets = bkt = memory.Memory(shape=signed(64), depth=md.MAX_BUCKETS,
                                                   init=[])
        self._table_writes(m, scen, bkt)
        scen_rd = scen.read_port(domain="comb")  # LUT RAM
        bkt_rd = bkt.read_port(domain="comb")

        phase = Signal(Phase)
        n = Signal.like(self.n_positions)
        nb = Signal.like(self.n_buckets)
        rate = Signal.like(self.rate)
        count = Signal(range(TAIL_CLOCKS))  # PRIME and TAIL clocks
        k = Signal(6)  # loop clock mod 64
        pos = Signal(INDEX_BITS + 1)
        slot = Signal(range(md.SLOTS))
        nxt = Signal(Record)  # the record read ahead (held: the read port holds its data)
        nxt_x0 = Signal(signed(64))
        cur = Signal(Record)
        cur_x0 = Signal(signed(64))

        # ---- read ahead: record -> register -> x0 (3 clocks after the read)
        m.d.sync += nxt.eq(self.book.data)
        m.d.comb += bkt_rd.addr.eq(nxt.bucket)
        m.d.sync += nxt_x0.eq(bkt_rd.data - (nxt.lnK << (tb.FIN - md.F_LNK)))
        nxt_future = nxt.kind == spec.FUTURE
        nxt_bad = (nxt.bucket >= nb) | (~nxt_future & ((nxt_x0 > md.X_BOOK_LIM)
                                                       | (nxt_x0 < -md.X_BOOK_LIM)))

        def advance(to):  # cur <- the record read ahead, its checks; read the one after it
            m.d.sync += [cur.eq(nxt), cur_x0.eq(nxt_x0), pos.eq(to)]
            m.d.comb += [self.book.en.eq(1), self.book.addr.eq(to + 1)]
            with m.If(self.status == md.STATUS_OK):
                with m.If(nxt_bad):
                    m.d.sync += [self.status.eq(md.STATUS_MONEYNESS), self.index.eq(to)]
                with m.Elif(~nxt_future):
                    m.d.sync += self.clamped.eq(self.clamped + nxt.clamp_up + nxt.clamp_down)

        issue = Signal()
        m.d.comb += self.book.en.eq(0)
        with m.Switch(phase):
            with m.Case(Phase.IDLE):
                with m.If(self.start):
                    m.d.sync += [phase.eq(Phase.PRIME), count.eq(0), n.eq(self.n_positions),
                                 nb.eq(self.n_buckets), rate.eq(self.rate),
                                 self.status.eq(md.STATUS_OK), self.index.eq(0),
                                 self.clamped.eq(0)]
                    m.d.comb += [self.book.en.eq(1), self.book.addr.eq(0)]
            with m.Case(Phase.PRIME):
                m.d.sync += count.eq(count + 1)
                with m.If(count == PRIME_CLOCKS - 1):
                    m.d.sync += [count.eq(0), k.eq(0), slot.eq(0)]
                    m.d.sync += phase.eq(Mux(n == 0, Phase.TAIL, Phase.LOOP))
                    with m.If(n != 0):
                        advance(0)
            with m.Case(Phase.LOOP):
                m.d.sync += k.eq(k + 1)
                m.d.comb += issue.eq(k != md.GREEKS_SLOT_PERIOD - 1)
                with m.If(issue):
                    m.d.sync += slot.eq(slot + 1)
                    with m.If(slot == md.SLOTS - 1):
                        m.d.sync += slot.eq(0)
                        with m.If(pos == n - 1):
                            m.d.sync += phase.eq(Phase.TAIL)
                        with m.Else():
                            advance(pos + 1)
            with m.Case(Phase.TAIL):
                m.d.sync += count.eq(count + 1)
                with m.If(count == TAIL_CLOCKS - 1):
                    m.d.sync += phase.eq(Phase.IDLE)
        m.d.comb += [
            self.done.eq((phase == Phase.TAIL) & (count == TAIL_CLOCKS - 1)),
            self.busy.eq(phase != Phase.IDLE),
        ]
        self._slot_output(m, scen_rd, issue, phase, slot, pos, cur, cur_x0, rate)
        return m

    def _table_writes(self, m, scen, bkt):
        sw, bw = scen.write_port(), bkt.write_port()
        m.d.comb += [
            self.scenario_w.ready.eq(1), sw.en.eq(self.scenario_w.valid),
            sw.addr.eq(self.scenario_w.payload.index), sw.data.eq(self.scenario_w.payload.row),
            self.bucket_w.ready.eq(1), bw.en.eq(self.bucket_w.valid),
            bw.addr.eq(self.bucket_w.payload.index), bw.data.eq(self.bucket_w.payload.lnf),
        ]

    def _slot_output(self, m, scen_rd, issue, phase, slot, pos, cur, cur_x0, rate):
        """One registered stage: x' = x0 + ln(1+m_j) (the base slot adds 0), the vol mux."""
        base = slot == md.BASE
        m.d.comb += scen_rd.addr.eq(slot)
        ln1pm = Mux(base, 0, scen_rd.data.ln1pm)
        vol = Mux(base, spec.VOL_SAME, scen_rd.data.vol)
        sig = Mux(vol == spec.VOL_UP, cur.sig_up, Mux(vol == spec.VOL_DOWN, cur.sig_down,
                                                       cur.sig))
        out = self.o.payload
        m.d.sync += [
            self.o.valid.eq(issue),
            self.greeks_slot.eq((phase == Phase.LOOP) & ~issue),
            out.pricing.x.eq(cur_x0 + ln1pm),
            out.pricing.T.eq(cur.T << (tb.FIN - md.F_T)),
            out.pricing.sigma.eq(sig << (tb.FIN - md.F_SIG)),
            out.pricing.r.eq(rate),
            out.pricing.q.eq(rate),
            out.pricing.put.eq(cur.kind != spec.CALL),
            out.pricing.black76.eq(1),
            out.position.eq(pos),
            out.slot.eq(slot),
            out.q.eq(cur.Q),
            out.bucket.eq(cur.bucket),
            out.future.eq(cur.kind == spec.FUTURE),
        ]
