"""``Responder``: sends one response frame of the key-slot engine from latched header fields and
payload bytes (the only path from the engine to the wire; docs/protocol.md, "Secret handling")."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

from ..link.layouts import FrameStream

__all__ = ["Responder", "MAX_RESULT"]

#: the longest result payload: TIMING (6 records of 4 u32)
MAX_RESULT = len(wire.TIMING_OPS) * len(wire.Curve) * len(wire.TIMING_FIELDS) * 4


class Responder(wiring.Component):
    """Sends one response frame: version, ``op``, ``seq``, ``length`` and ``length`` bytes of
    ``payload`` (byte ``i`` at bits ``[8i, 8i+8)``), all latched in the cycle ``start`` is high
    while idle."""

    start: In(1)
    op: In(8)
    seq: In(16)
    length: In(range(MAX_RESULT + 1))
    payload: In(8 * MAX_RESULT)
    busy: Out(1)
    o: Out(FrameStream)

    def elaborate(self, platform):
        m = Module()
        n = wire.HEADER_LEN + MAX_RESULT
        shreg = Signal(8 * n)
        left = Signal(range(n + 1))
        m.d.comb += [
            self.busy.eq(left != 0),
            self.o.valid.eq(left != 0),
            self.o.payload.data.eq(shreg[:8]),
            self.o.payload.last.eq(left == 1),
        ]
        length16 = Cat(self.length, Const(0, 16 - len(self.length)))
        with m.If(self.start & (left == 0)):
            m.d.sync += [
                shreg.eq(Cat(Const(wire.PROTOCOL_VERSION, 8), self.op, self.seq, length16,
                             self.payload)),
                left.eq(wire.HEADER_LEN + self.length),
            ]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += [shreg.eq(shreg >> 8), left.eq(left - 1)]
        return m
