"""A stream register slice (skid buffer): cuts the valid/payload path *and* the ready path, at
full throughput.

    i.valid/payload --> [out register] --> o.valid/payload
                    \\-> [skid register]  (filled when o stalls while i delivers)
    i.ready = skid register empty (a flip-flop)

Without the skid register, ``i.ready = ~o.valid | o.ready`` would pass ``o.ready`` through
combinationally, and a chain of such registers makes one long path from the UART transmitter
through the response arbiter into every engine's output logic (and from the dispatcher into
every engine's input logic), across the whole device."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class StreamRegister(wiring.Component):
    def __init__(self, signature):
        super().__init__({"i": In(signature), "o": Out(signature)})

    def elaborate(self, platform):
        m = Module()
        skid_valid = Signal()
        skid = Signal.like(self.i.payload)
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(~self.o.valid | self.o.ready):  # the output register takes a new beat
            with m.If(skid_valid):
                m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(skid), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.eq(self.i.payload)]
        with m.Elif(self.i.valid & ~skid_valid):  # output stalled: park the beat
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m
