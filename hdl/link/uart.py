"""UART receiver and transmitter, 8N1, LSB first.

The receiver samples the (synchronised) line every clock, so it is oversampled by the full clock
divisor: it finds the start edge to within one clock, re-checks the start bit at half a bit, and
samples every data bit at its centre. Re-timing on every start bit makes it tolerant of a baud
error of several percent (the centre of the stop bit drifts by 9.5 bits x error).
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


class UARTRx(wiring.Component):
    """``o`` carries received bytes. A byte that finds ``o`` still full is lost and counted in
    ``overruns``; a low stop bit (a framing error or a break) is counted in ``framing_errors``
    and the receiver waits for the line to return high before it looks for a start bit again."""

    def __init__(self, divisor):
        assert divisor >= 4
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "framing_error": Out(1),  # one-cycle strobe
            "overrun": Out(1),  # one-cycle strobe
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(self.divisor))
        bits = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):  # a glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [
                        timer.eq(self.divisor - 1),
                        shreg.eq(Cat(shreg[1:], rx)),
                        bits.eq(bits + 1),
                    ]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.comb += self.overrun.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "WAIT_IDLE"
            with m.State("WAIT_IDLE"):
                m.d.comb += self.busy.eq(1)
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    def __init__(self, divisor):
        self.divisor = divisor
        super().__init__({
            "i": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shreg = Signal(10, init=0x3FF)  # stop, data[7:0], start; shifted out LSB first
        bits = Signal(range(11))

        m.d.comb += [self.tx.eq(shreg[0]), self.busy.eq(bits != 0)]
        with m.If(bits == 0):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [
                    shreg.eq(1 << 9 | self.i.payload << 1),
                    bits.eq(10),
                    timer.eq(self.divisor - 1),
                ]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [
                    shreg.eq(1 << 9 | shreg >> 1),
                    bits.eq(bits - 1),
                    timer.eq(self.divisor - 1),
                ]
        return m
