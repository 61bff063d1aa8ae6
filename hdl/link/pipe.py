"""A stream pipeline register: cuts the valid/payload path (full throughput; ready passes
through combinationally, which is a short path)."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class StreamRegister(wiring.Component):
    def __init__(self, signature):
        super().__init__({"i": In(signature), "o": Out(signature)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.eq(self.i.payload)]
        return m
