"""The scenario accumulators (docs/margin.md sections 3 and 5.2): S[bucket][slot] += Q x p.

    i:     In(stream.Signature(MacIn))  (ready = 1)   one position-slot per clock, as the
                                                      pipeline delivers it: Q, p = price/F'
                                                      (or the futures' constant), bucket, slot
    clear: In(1)                                      a revaluation starts: every word reads 0
    read:  Out(memory.ReadPort.Signature)             the combination's port, word
                                                      bucket x 36 + slot, data one clock later

Three clocks, no forwarding:

    c0  input registers, address b x 36 + j
    c1  Q x p (exact, 110 bits); read S at the address; its touched bit
    c2  S' = (touched ? S : 0) + Q x p, written back (136-bit two's complement)

The same word comes back only 36 slots later (the next position of its bucket), so the write of
c2 is always in the memory before the word is read again. The touched bitmap (576 FF) is what
lets ``clear`` empty the accumulators in one clock. 576 x 136 bits fill 8 DP16KD (512 x 36
mode: 2 deep x 4 wide). The product is one Yosys multiplier here; section 3's 4 x 3-limb MAC
with registered partial products is the fmax version (not yet built).
"""

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from . import model as md

__all__ = ["MacIn", "ScenarioAccumulator"]

WORDS = md.MAX_BUCKETS * md.SLOTS  # 576
ADDR_BITS = (WORDS - 1).bit_length()
MacIn = data.StructLayout({
    "q": signed(56),
    "p": signed(md.P_BITS + 1),  # |p| < 2**53 (s5.48)
    "bucket": unsigned(4),
    "slot": unsigned(6),
})


class ScenarioAccumulator(wiring.Component):
    i: In(stream.Signature(MacIn))
    clear: In(1)
    read: Out(memory.ReadPort.Signature(addr_width=ADDR_BITS, shape=signed(md.ACC_BITS)))

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = memory.Memory(shape=signed(md.ACC_BITS), depth=WORDS, init=[])
        rd, wr = ram.read_port(), ram.write_port()
        touched = Signal(WORDS)

        # c0: registered input and address
        v1, q1, p1, a1 = (Signal(), Signal(signed(56)), Signal(signed(md.P_BITS + 1)),
                          Signal(ADDR_BITS))
        beat = self.i.payload
        m.d.comb += self.i.ready.eq(1)  # never a stall: the datapath runs freely
        m.d.sync += [v1.eq(self.i.valid), q1.eq(beat.q), p1.eq(beat.p),
                     a1.eq(beat.bucket * md.SLOTS + beat.slot)]
        # c1: product; read the word (the loop's, else the combination's) and its touched bit
        v2, prod, a2, t2 = Signal(), Signal(signed(110)), Signal(ADDR_BITS), Signal()
        addr = Mux(v1, a1, self.read.addr)
        m.d.comb += [rd.en.eq(v1 | self.read.en), rd.addr.eq(addr)]
        m.d.sync += [v2.eq(v1), prod.eq(q1 * p1), a2.eq(a1)]
        with m.If(rd.en):
            m.d.sync += t2.eq(touched.bit_select(addr, 1))
        # c2: add and write back
        word = Mux(t2, rd.data, 0)
        m.d.comb += [wr.en.eq(v2), wr.addr.eq(a2), wr.data.eq(word + prod),
                     self.read.data.eq(word)]
        with m.If(self.clear):
            m.d.sync += touched.eq(0)
        with m.Elif(v2):
            m.d.sync += touched.eq(touched | (Const(1, WORDS) << a2))
        return m
