"""cocotb tests of the margin sequencer with the book memory (sim/duts.py: MarginFront): every
pipeline input and tag it issues, its status, clamp count and cycle count, against the model
(hdl/margin/model.py: position_scenarios for the inputs, cycles for the formula).

The book, the scenario table and the bucket table are loaded through the write streams with
the model's host encoding (encode_book, encode_scenarios, encode_margin), as the command
decoder will load them from LOAD_BOOK, MARGIN_SCENARIOS and MARGIN.
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from quantgate import margin as spec
from quantgate.hdl.margin import book as bk
from quantgate.hdl.margin import model as md
from quantgate.hdl.margin.sequencer import BucketEntry, MarginSlot, ScenarioEntry
from quantgate.sim.streams import StreamDriver, reset

SEED = int(os.environ.get("MARGIN_SEED", "1"))
SIZES = [int(v) for v in os.environ.get("MARGIN_SIZES", "0,1,2,5,40,300").split(",")]
FORWARDS = np.array([95_000.0, 96_200.0, 3_400.0, 97_500.0, 0.25, 1e5, 1e-3])
OTHER_PARAMS = spec.MarginParams(price_range=0.2, vol_range_up=0.7, vol_range_down=0.3,
                                 min_vol_for_shock_up=0.4, short_term_vega_power=0.35,
                                 long_term_vega_power=0.1, mm_factor=0.9,
                                 extended_moves=(-0.6, -0.3, 0.4, 1, 2, 3, 4, 4.5))


def pack(layout, value: dict) -> int:
    """A StructLayout's bits from a dict of field values (nested dicts for nested layouts)."""
    word = 0
    for name, field in layout:
        v = value[name]
        raw = pack(field.shape, v) if isinstance(v, dict) else int(v)
        word |= (raw & ((1 << field.width) - 1)) << field.offset
    return word


class TB:
    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.book = StreamDriver(dut, "w", dut.clk, stall=0.2, seed=SEED)
        self.scenarios = StreamDriver(dut, "scenario_w", dut.clk, stall=0.2, seed=SEED + 1)
        self.buckets = StreamDriver(dut, "bucket_w", dut.clk, stall=0.2, seed=SEED + 2)
        dut.start.value = 0

    async def load(self, records: bytes, frames: list[bytes]):
        self.book.send(
            i | int.from_bytes(records[o:o + md.RECORD_BYTES], "little") << bk.INDEX_BITS
            for i, o in enumerate(range(0, len(records), md.RECORD_BYTES)))
        _, table = md.scenario_table(frames)
        self.scenarios.send(pack(ScenarioEntry, {"index": j, "row": {"ln1pm": e[0],
                                                                     "vol": e[4]}})
                            for j, e in enumerate(table))
        for d in (self.book, self.scenarios):
            await d.wait_idle()

    async def revalue(self, n: int, request: bytes):
        """Load the tick's buckets, pulse start; every clock until done: (clock, item or
        None, greeks_slot). Clock 0 is the edge that samples start."""
        dut = self.dut
        _, rate, _, buckets = md._parse_margin(request)
        self.buckets.send(pack(BucketEntry, {"index": b, "lnf": e[0]})
                          for b, e in enumerate(buckets))
        await self.buckets.wait_idle()
        await RisingEdge(dut.clk)
        dut.n_positions.value = n
        dut.n_buckets.value = len(buckets)
        dut.rate.value = rate
        dut.start.value = 1
        await RisingEdge(dut.clk)  # clock 0: start sampled
        dut.start.value = 0
        trace, clock = [], 0
        while True:
            await RisingEdge(dut.clk)
            clock += 1
            item = (MarginSlot.from_bits(dut.o_payload.value.to_unsigned())
                    if dut.o_valid.value == 1 else None)
            trace.append((clock, item, int(dut.greeks_slot.value)))
            if dut.done.value == 1:
                status = (int(dut.status.value), int(dut.index.value), int(dut.clamped.value))
                return clock, trace, status


def check(done_clock, trace, status, pre, n_buckets):
    n = pre.n
    assert done_clock == md.cycles(n), (done_clock, md.cycles(n))
    assert status == (pre.status, pre.index, pre.clamped), (status, pre)
    items = [(c, it) for c, it, _ in trace if it is not None]
    reserved = [c for c, _, g in trace if g]
    m_total = md.SLOTS * n
    assert len(items) == m_total
    if not n:
        assert not reserved
        return
    c0 = items[0][0]
    # item m at loop clock m + m // 63: every 64th clock of the loop is GREEKS's
    assert [c - c0 for c, _ in items] == [m + m // 63 for m in range(m_total)]
    loop = m_total + (m_total - 1) // 63
    assert reserved == [c0 + k for k in range(63, loop, 64)]
    opt_row = {int(i): k for k, i in enumerate(pre.options)}
    for m, (_, it) in enumerate(items):
        i, j = divmod(m, md.SLOTS)
        tag = (it.position, it.slot, it.q, it.bucket, it.future)
        assert tag == (i, j, pre.Q[i], pre.bucket[i], int(pre.kind[i] == spec.FUTURE)), (m, tag)
        if pre.kind[i] == spec.FUTURE or pre.bucket[i] >= n_buckets:
            continue  # no pipeline slot, or no forward (status 1): don't-care
        k, p = opt_row[i], it.pricing
        got = (p.x, p.T, p.sigma, p.r, p.q, p.put, p.black76)
        want = (pre.x[k, j], pre.T[k, j], pre.sig[k, j], pre.rate, pre.rate,
                int(not pre.call[k, j]), 1)
        assert got == tuple(int(v) for v in want), (m, got, want)


@cocotb.test()
async def books_of_several_sizes_match_the_model(dut):
    """Random books of every kind (short and long expiries, clamped vols, 7 buckets) at each
    size in MARGIN_SIZES, default and other parameters alternating: every slot's pipeline
    input and tag, the GREEKS slots, the status and clamp count, the cycle count."""
    tb = TB(dut)
    await reset(dut)
    rng = np.random.default_rng(SEED)
    for t, n in enumerate(SIZES):
        params = OTHER_PARAMS if t % 2 else spec.MarginParams()
        image = md.encode_book(md.sample_book(rng, n, FORWARDS, short=0.3), params)
        frames = md.encode_scenarios(params)
        await tb.load(image.records, frames)
        request, _ = md.encode_margin(image, FORWARDS, rate=float(rng.uniform(-0.05, 0.5)))
        pre = md.position_scenarios(image.records, frames, request)
        assert pre.status == md.STATUS_OK
        check(*await tb.revalue(n, request), pre, len(FORWARDS))
    assert max(SIZES) * md.SLOTS > 64 * 3  # several GREEKS slots were checked


@cocotb.test()
async def failing_positions_are_reported_and_the_count_stays(dut):
    """A tick whose forwards put positions outside the base moneyness, then one with fewer
    buckets than the book uses: status 1 at the first such position, the same cycle count;
    then a good tick on the same book."""
    tb = TB(dut)
    await reset(dut)
    rng = np.random.default_rng(SEED + 7)
    n = 50
    image = md.encode_book(md.sample_book(rng, n, FORWARDS))
    frames = md.encode_scenarios()
    await tb.load(image.records, frames)
    moved = FORWARDS.copy()
    moved[2] *= 4.0  # bucket 2's options far from their strikes
    for fw in (moved, FORWARDS[:3], FORWARDS):
        request, _ = md.encode_margin(image, fw, rate=0.02)
        pre = md.position_scenarios(image.records, frames, request)
        check(*await tb.revalue(n, request), pre, len(fw))
        if fw is not FORWARDS:
            assert pre.status == md.STATUS_MONEYNESS
