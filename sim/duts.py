"""Small wrappers that put several link blocks into one simulation build (one compile for many
tests). Each block keeps its own ports, prefixed by its name."""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from quantgate.hdl.link.cobs import COBSDecoder, COBSEncoder
from quantgate.hdl.link.frame import CRCAppender
from quantgate.hdl.link.layouts import DecodedStream, FrameStream
from quantgate.hdl.link.uart import UARTRx, UARTTx
from quantgate.hdl.margin.book import BookMemory, BookWrite
from quantgate.hdl.margin.sequencer import MarginSlot, Sequencer

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


class MarginFront(wiring.Component):
    """The margin unit's book memory and sequencer, connected as the unit will connect them:
    the book's write stream, the sequencer's ports, and its always-ready output as plain
    ports (a constant ready is not a port)."""

    def __init__(self):
        model = Sequencer()  # only its signature is wanted
        model._MustUse__silence = True
        self._seq_ports = {name: member for name, member in model.signature.members.items()
                           if name not in ("book", "o")}
        super().__init__(wiring.Signature({
            "w": In(stream.Signature(BookWrite)), **self._seq_ports,
            "o_valid": Out(1), "o_payload": Out(MarginSlot)}))

    def elaborate(self, platform):
        m = Module()
        m.submodules.book = book = BookMemory()
        m.submodules.sequencer = seq = Sequencer()
        wiring.connect(m, wiring.flipped(self.w), book.w)
        wiring.connect(m, seq.book, book.read)
        for name, member in self._seq_ports.items():
            mine, its = getattr(self, name), getattr(seq, name)
            if not member.is_port:
                wiring.connect(m, wiring.flipped(mine), its)
            elif member.flow == In:
                m.d.comb += its.eq(mine)
            else:
                m.d.comb += mine.eq(its)
        m.d.comb += [self.o_valid.eq(seq.o.valid), self.o_payload.eq(seq.o.payload)]
        return m
