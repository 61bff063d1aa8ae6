"""Request routing by opcode and the response arbiter."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .frame import RoutedStream
from .layouts import FrameStream


class Dispatcher(wiring.Component):
    """Routes each request frame to the engine port that serves its opcode.

    ``routes`` is a list of opcode collections, one per output port ``o[k]``. The parser has
    already answered unknown opcodes, so every frame matches exactly one port."""

    def __init__(self, routes):
        self.routes = [sorted(set(ops)) for ops in routes]
        super().__init__({
            "i": In(RoutedStream),
            "o": Out(FrameStream).array(len(self.routes)),
        })

    def elaborate(self, platform):
        m = Module()
        op = self.i.payload.op
        for port, ops in zip(self.o, self.routes, strict=True):
            selected = Signal()
            for code in ops:
                with m.If(op == code):
                    m.d.comb += selected.eq(1)
            m.d.comb += [
                port.payload.data.eq(self.i.payload.data),
                port.payload.last.eq(self.i.payload.last),
                port.valid.eq(self.i.valid & selected),
            ]
            with m.If(selected):
                m.d.comb += self.i.ready.eq(port.ready)
        return m


class ResponseArbiter(wiring.Component):
    """Merges response frames from the engines, round robin, one whole frame at a time."""

    def __init__(self, n):
        self.n = n
        super().__init__({
            "i": In(FrameStream).array(n),
            "o": Out(FrameStream),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        grant = Signal(range(self.n))
        locked = Signal()
        m.d.comb += self.busy.eq(locked)

        with m.If(~locked):
            # Grant the first requester after the one served last; later assignments win.
            with m.Switch(grant):
                for last_served in range(self.n):
                    with m.Case(last_served):
                        for offset in reversed(range(1, self.n + 1)):
                            k = (last_served + offset) % self.n
                            with m.If(self.i[k].valid):
                                m.d.sync += [grant.eq(k), locked.eq(1)]
        with m.Else():
            for k in range(self.n):
                with m.If(grant == k):
                    m.d.comb += [
                        self.o.valid.eq(self.i[k].valid),
                        self.o.payload.eq(self.i[k].payload),
                        self.i[k].ready.eq(self.o.ready),
                    ]
            with m.If(self.o.valid & self.o.ready & self.o.payload.last):
                m.d.sync += locked.eq(0)
        return m
