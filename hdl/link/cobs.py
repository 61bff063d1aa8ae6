"""COBS (consistent overhead byte stuffing) deframer and framer, 0x00 delimited."""

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .layouts import DecodedStream, FrameStream


class COBSDecoder(wiring.Component):
    """Raw line bytes in; decoded bytes out, with an ``end`` beat at each non-empty frame's
    delimiter. One input byte yields at most one output beat, so it runs at line rate."""

    i: In(stream.Signature(8))
    o: Out(DecodedStream)

    def elaborate(self, platform):
        m = Module()
        remaining = Signal(8)  # data bytes left in the current group
        zero_due = Signal()  # the current group ends with an implicit zero
        in_frame = Signal()

        byte = self.i.payload
        with m.If(self.o.ready | ~self.o.valid):
            m.d.comb += self.i.ready.eq(1)
            m.d.sync += self.o.valid.eq(0)
            with m.If(self.i.valid):
                with m.If(byte == 0):
                    m.d.sync += [
                        self.o.valid.eq(in_frame),
                        self.o.payload.end.eq(1),
                        self.o.payload.err.eq(remaining != 0),
                        self.o.payload.data.eq(0),
                        remaining.eq(0), zero_due.eq(0), in_frame.eq(0),
                    ]
                with m.Elif(remaining == 0):  # a code byte
                    m.d.sync += [
                        self.o.valid.eq(zero_due),
                        self.o.payload.end.eq(0),
                        self.o.payload.data.eq(0),
                        remaining.eq(byte - 1),
                        zero_due.eq(byte != 0xFF),
                        in_frame.eq(1),
                    ]
                with m.Else():
                    m.d.sync += [
                        self.o.valid.eq(1),
                        self.o.payload.end.eq(0),
                        self.o.payload.data.eq(byte),
                        remaining.eq(remaining - 1),
                    ]
        return m


class COBSEncoder(wiring.Component):
    """Frame bytes in (``last`` marks the end); COBS-encoded bytes and the 0x00 delimiter out.

    A group of up to 254 non-zero bytes is buffered, then sent behind its code byte. The output
    is byte-for-byte what the `cobs` package produces."""

    i: In(FrameStream)
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=256, init=[])
        wr = buf.write_port()
        rd = buf.read_port(domain="comb")

        count = Signal(9)  # bytes in the group buffer
        code = Signal(8)
        final = Signal()  # the frame ends with this group: send the delimiter after it
        empty_after = Signal()  # the frame ended on a zero: one more empty group (0x01)
        idx = Signal(9)

        m.d.comb += [wr.addr.eq(count), wr.data.eq(self.i.payload.data), rd.addr.eq(idx)]

        def close(code_value, is_final, then_empty):
            m.d.sync += [code.eq(code_value), final.eq(is_final), empty_after.eq(then_empty)]
            m.next = "CODE"

        with m.FSM():
            with m.State("FILL"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    last = self.i.payload.last
                    with m.If(self.i.payload.data == 0):
                        close(count + 1, 0, last)
                    with m.Else():
                        m.d.comb += wr.en.eq(1)
                        m.d.sync += count.eq(count + 1)
                        with m.If(count == 253):
                            close(0xFF, last, 0)
                        with m.Elif(last):
                            close(count + 2, 1, 0)
            with m.State("CODE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(code)]
                with m.If(self.o.ready):
                    m.d.sync += idx.eq(0)
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(idx == count):
                    m.d.sync += count.eq(0)
                    with m.If(empty_after):
                        m.next = "EMPTY"
                    with m.Elif(final):
                        m.next = "DELIM"
                    with m.Else():
                        m.next = "FILL"
                with m.Else():
                    m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(rd.data)]
                    with m.If(self.o.ready):
                        m.d.sync += idx.eq(idx + 1)
            with m.State("EMPTY"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(1)]
                with m.If(self.o.ready):
                    m.next = "DELIM"
            with m.State("DELIM"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(0)]
                with m.If(self.o.ready):
                    m.next = "FILL"
        return m
