"""The appliance top: UART PHY and buffers around the link core and its engines.

    rx pin -> UARTRx -> raw FIFO (RX_BUFFER bytes) -> LinkCore (+ engines) -> tx FIFO -> UARTTx
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from quantgate import wire

from .link.core import Engine, LinkCore
from .link.uart import UARTRx, UARTTx
from .pricing.engine import GreeksEngine
from .signer.keyslots import KeySlots

__all__ = ["Appliance", "Engine", "default_engines", "SIGNER_OPS"]

SIGNER_OPS = (wire.Op.LOAD_KEY, wire.Op.PUBLIC_KEY, wire.Op.ZEROIZE, wire.Op.TIMING,
              wire.Op.SIGN)


def default_engines():
    """The engines a full appliance carries (the link's own commands are always there)."""
    return (
        Engine(cores=(wire.Core.GREEKS,), opcodes=(wire.Op.GREEKS,), build=GreeksEngine),
        # the signer: key slots, SIGN for all three curves, cycle statistics
        Engine(cores=(wire.Core.ED25519, wire.Core.SECP256K1, wire.Core.P256),
               opcodes=SIGNER_OPS, build=KeySlots),
    )


class Appliance(wiring.Component):
    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    busy: Out(1)  # anything in flight anywhere; lets the simulator sleep when idle
    error: Out(1)  # one-cycle strobe on any counted error (drives an LED on boards)

    def __init__(self, *, clock_hz=100_000_000, baud=3_000_000, engines=()):
        self.clock_hz = clock_hz
        self.baud = baud
        self.divisor = round(clock_hz / baud)
        self.engines = tuple(engines)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(self.divisor)
        m.submodules.rx_fifo = rx_fifo = SyncFIFOBuffered(width=8, depth=wire.RX_BUFFER)
        m.submodules.link = link = LinkCore(
            clock_hz=self.clock_hz, baud=self.baud, engines=self.engines)
        m.submodules.tx_fifo = tx_fifo = SyncFIFOBuffered(width=8, depth=512)
        m.submodules.tx = tx = UARTTx(self.divisor)

        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        wiring.connect(m, rx.o, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, link.i)
        wiring.connect(m, link.o, tx_fifo.w_stream)
        wiring.connect(m, tx_fifo.r_stream, tx.i)
        m.d.comb += [
            link.uart_framing_error.eq(rx.framing_error),
            link.uart_overrun.eq(rx.overrun),
            self.error.eq(link.error),
            self.busy.eq(rx.busy | rx_fifo.r_rdy | link.busy | tx_fifo.r_rdy | tx.busy),
        ]
        return m
