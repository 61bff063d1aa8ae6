"""Frame parser (buffer, CRC-32 check, header checks) and the CRC-32 appender for responses."""

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import crc, data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from quantgate import wire

from .layouts import DecodedStream, ErrorRequest, FrameStream

CRC32 = crc.catalog.CRC32_ISO_HDLC(data_width=8)  # the same CRC as binascii.crc32
MIN_FRAME = wire.HEADER_LEN + wire.CRC_LEN

# Frames out of the parser carry their opcode on every beat so the dispatcher can route them.
RoutedByte = data.StructLayout({"data": 8, "last": 1, "op": 8})
RoutedStream = stream.Signature(RoutedByte)


class FrameParser(wiring.Component):
    """Buffers one decoded frame, checks it, then either replays it (header + payload, without
    the CRC) on ``o`` or asks for an error response on ``err``. While it replays or reports, it
    takes no input: the raw-byte FIFO in front of it absorbs the line.

    No frame outlives its handling in the buffer (a LOAD_KEY frame carries a secret): each
    replayed byte is overwritten with zero as it leaves (the write port is free then), and
    what is left (the CRC, or a whole rejected frame) is zeroed in WIPE, one byte per cycle
    (4 cycles after a replay), before the next frame is taken.

    Counters are one-cycle strobes; the statistics block accumulates them."""

    def __init__(self, opcodes):
        self.opcodes = sorted(set(opcodes))
        super().__init__({
            "i": In(DecodedStream),
            "o": Out(RoutedStream),
            "err": Out(stream.Signature(ErrorRequest)),
            "frame_ok": Out(1),
            "crc_error": Out(1),
            "length_error": Out(1),
            "oversize": Out(1),
            "unknown_opcode": Out(1),
            "bad_version": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=wire.MAX_FRAME, init=[])
        wr = buf.write_port()
        rd = buf.read_port()
        m.submodules.crc = crc32 = CRC32.create()

        count = Signal(range(wire.MAX_FRAME + 2))  # saturates at MAX_FRAME + 1 = oversize
        header = Signal(8 * wire.HEADER_LEN)
        version, op = header[0:8], header[8:16]
        seq, length = header[16:32], header[32:48]
        idx = Signal(range(wire.MAX_FRAME))
        end = Signal(range(wire.MAX_FRAME))  # index of the last byte replayed
        fill = Signal(range(wire.MAX_FRAME + 1))  # bytes the buffer holds (WIPE clears them)
        cobs_error = Signal()
        crc_ok = Signal()

        known_op = Const(0)
        for code in self.opcodes:
            known_op = known_op | (op == code)

        beat = self.i.payload
        with m.FSM():
            with m.State("RECEIVE"):
                m.d.comb += [
                    self.i.ready.eq(1),
                    self.busy.eq(count != 0),
                    wr.addr.eq(count), wr.data.eq(beat.data),
                    crc32.data.eq(beat.data),
                    rd.addr.eq(0),
                ]
                with m.If(self.i.valid & ~beat.end):
                    m.d.comb += [crc32.valid.eq(1), crc32.start.eq(count == 0)]
                    with m.If(count < wire.MAX_FRAME):
                        m.d.comb += wr.en.eq(1)
                        m.d.sync += count.eq(count + 1)
                    with m.Else():
                        m.d.sync += count.eq(wire.MAX_FRAME + 1)
                    for n in range(wire.HEADER_LEN):
                        with m.If(count == n):
                            m.d.sync += header[8 * n:8 * n + 8].eq(beat.data)
                with m.If(self.i.valid & beat.end):
                    m.d.sync += [cobs_error.eq(beat.err), crc_ok.eq(crc32.match_detected)]
                    m.next = "CHECK"
            with m.State("CHECK"):
                # One cycle for the checks, on registered inputs: keeps them off the
                # receive path.
                m.d.comb += self.busy.eq(1)
                m.d.sync += [count.eq(0), idx.eq(0),
                             fill.eq(Mux(count > wire.MAX_FRAME, wire.MAX_FRAME, count))]
                m.next = "WIPE"
                with m.If(count > wire.MAX_FRAME):
                    m.d.comb += self.oversize.eq(1)
                    m.d.sync += self.err.payload.code.eq(wire.Err.OVERSIZE)
                    m.next = "ERROR"
                with m.Elif(count < MIN_FRAME):
                    m.d.comb += self.length_error.eq(1)  # a fragment: no trustworthy seq
                with m.Elif(cobs_error | ~crc_ok):
                    m.d.comb += self.crc_error.eq(1)
                    m.d.sync += self.err.payload.code.eq(wire.Err.BAD_CRC)
                    m.next = "ERROR"
                with m.Elif(length != count - MIN_FRAME):
                    m.d.comb += self.length_error.eq(1)
                    m.d.sync += self.err.payload.code.eq(wire.Err.BAD_LENGTH)
                    m.next = "ERROR"
                with m.Elif(version != wire.PROTOCOL_VERSION):
                    m.d.comb += self.bad_version.eq(1)
                    m.d.sync += self.err.payload.code.eq(wire.Err.BAD_VERSION)
                    m.next = "ERROR"
                with m.Elif(~known_op):
                    m.d.comb += self.unknown_opcode.eq(1)
                    m.d.sync += self.err.payload.code.eq(wire.Err.UNKNOWN_OPCODE)
                    m.next = "ERROR"
                with m.Else():
                    m.d.comb += self.frame_ok.eq(1)
                    m.d.sync += end.eq(count - wire.CRC_LEN - 1)
                    m.next = "REPLAY"
            with m.State("REPLAY"):
                # rd.data shows buf[idx]; the address runs one ahead when a byte is taken.
                m.d.comb += [
                    self.busy.eq(1),
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(rd.data),
                    self.o.payload.last.eq(idx == end),
                    self.o.payload.op.eq(op),
                    rd.addr.eq(idx),
                ]
                with m.If(self.o.ready):
                    m.d.comb += [rd.addr.eq(idx + 1), wr.addr.eq(idx), wr.data.eq(0),
                                 wr.en.eq(1)]
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == end):
                        m.next = "WIPE"
            with m.State("ERROR"):
                m.d.comb += [
                    self.busy.eq(1),
                    self.err.valid.eq(1),
                    self.err.payload.op.eq(op),
                    self.err.payload.seq.eq(seq),
                ]
                with m.If(self.err.ready):
                    m.next = "WIPE"
            with m.State("WIPE"):  # zero into buf[idx .. fill - 1]
                m.d.comb += [self.busy.eq(1), wr.addr.eq(idx), wr.data.eq(0),
                             wr.en.eq(idx < fill)]
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx + 1 >= fill):
                    m.next = "RECEIVE"
        return m


class CRCAppender(wiring.Component):
    """Passes a response frame through and appends its CRC-32, little-endian."""

    i: In(FrameStream)
    o: Out(FrameStream)

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc32 = CRC32.create()
        first = Signal(init=1)
        idx = Signal(2)
        crc_bytes = crc32.crc.word_select(idx, 8)

        with m.FSM():
            with m.State("PASS"):
                m.d.comb += [
                    self.o.valid.eq(self.i.valid),
                    self.o.payload.data.eq(self.i.payload.data),
                    self.i.ready.eq(self.o.ready),
                    crc32.data.eq(self.i.payload.data),
                ]
                with m.If(self.i.valid & self.o.ready):
                    m.d.comb += [crc32.valid.eq(1), crc32.start.eq(first)]
                    m.d.sync += first.eq(0)
                    with m.If(self.i.payload.last):
                        m.d.sync += [idx.eq(0), first.eq(1)]
                        m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(crc_bytes),
                    self.o.payload.last.eq(idx == 3),
                ]
                with m.If(self.o.ready):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == 3):
                        m.next = "PASS"
        return m

