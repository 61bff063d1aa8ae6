"""Small wrappers that put several link blocks into one simulation build (one compile for many
tests). Each block keeps its own ports, prefixed by its name."""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from quantgate.hdl.link.cobs import COBSDecoder, COBSEncoder
from quantgate.hdl.link.frame import CRCAppender
from quantgate.hdl.link.layouts import DecodedStream, FrameStream
from quantgate.hdl.link.uart import UARTRx, UARTTx

PARTS_DIVISOR = 16


class LinkParts(wiring.Component):
    rx_pin: In(1, init=1)
    rx_o: Out(stream.Signature(8))
    rx_framing_error: Out(1)
    rx_overrun: Out(1)
    tx_i: In(stream.Signature(8))
    tx_pin: Out(1, init=1)
    dec_i: In(stream.Signature(8))
    dec_o: Out(DecodedStream)
    enc_i: In(FrameStream)
    enc_o: Out(stream.Signature(8))
    crc_i: In(FrameStream)
    crc_o: Out(FrameStream)

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(PARTS_DIVISOR)
        m.submodules.tx = tx = UARTTx(PARTS_DIVISOR)
        m.submodules.dec = dec = COBSDecoder()
        m.submodules.enc = enc = COBSEncoder()
        m.submodules.crc = crc = CRCAppender()
        m.d.comb += [
            rx.rx.eq(self.rx_pin), self.rx_framing_error.eq(rx.framing_error),
            self.rx_overrun.eq(rx.overrun), self.tx_pin.eq(tx.tx),
        ]
        flip = wiring.flipped
        wiring.connect(m, rx.o, flip(self.rx_o))
        wiring.connect(m, flip(self.tx_i), tx.i)
        wiring.connect(m, flip(self.dec_i), dec.i)
        wiring.connect(m, dec.o, flip(self.dec_o))
        wiring.connect(m, flip(self.enc_i), enc.i)
        wiring.connect(m, enc.o, flip(self.enc_o))
        wiring.connect(m, flip(self.crc_i), crc.i)
        wiring.connect(m, crc.o, flip(self.crc_o))
        return m
