"""The link's own cores: INFO, ECHO, STATS, and the error responder."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

from .layouts import ErrorRequest, FrameStream


def _le(value, nbytes):
    """Little-endian bytes of a Value or int, as a list of 8-bit Values."""
    if isinstance(value, int):
        value = Const(value, 8 * nbytes)
    return [value[8 * k:8 * k + 8] for k in range(nbytes)]


class ByteSequencer(wiring.Component):
    """Latches ``n`` bytes on ``start`` and sends them as one frame on ``o``."""

    def __init__(self, n):
        self.n = n
        super().__init__({
            "bytes": In(8 * n),
            "start": In(1),
            "busy": Out(1),
            "o": Out(FrameStream),
        })

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(8 * self.n)
        left = Signal(range(self.n + 1))
        active = Signal()  # left != 0, kept in a flip-flop: it gates the wide shreg's enable
        m.d.comb += [
            self.busy.eq(active),
            self.o.valid.eq(active),
            self.o.payload.data.eq(shreg[:8]),
            self.o.payload.last.eq(left == 1),
        ]
        with m.If(self.start & ~active):
            m.d.sync += [shreg.eq(self.bytes), left.eq(self.n), active.eq(1)]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += [shreg.eq(shreg >> 8), left.eq(left - 1)]
            with m.If(left == 1):
                m.d.sync += active.eq(0)
        return m


def response_header(op, seq, length):
    return [Const(wire.PROTOCOL_VERSION, 8), Const(op, 8), *_le(seq, 2), *_le(length, 2)]


class FixedResponder(wiring.Component):
    """Answers every request frame on ``i`` with a fixed-length result: the payload bytes are
    sampled from ``payload`` (a list of 8-bit Values) when the request's last byte arrives."""

    def __init__(self, op, payload):
        self.op = op
        self._payload = payload
        super().__init__({"i": In(FrameStream), "o": Out(FrameStream), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        n = wire.HEADER_LEN + len(self._payload)
        m.submodules.seq_out = out = ByteSequencer(n)
        wiring.connect(m, wiring.flipped(self.o), out.o)

        idx = Signal(range(wire.MAX_FRAME))
        seq = Signal(16)
        header = response_header(self.op | wire.RESPONSE_FLAG, seq, len(self._payload))
        m.d.comb += [
            out.bytes.eq(Cat(*header, *self._payload)),
            self.i.ready.eq(~out.busy),
            self.busy.eq(out.busy | (idx != 0)),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx == 2):
                m.d.sync += seq[:8].eq(self.i.payload.data)
            with m.If(idx == 3):
                m.d.sync += seq[8:].eq(self.i.payload.data)
            with m.If(self.i.payload.last):  # the parser passes whole headers only
                m.d.sync += idx.eq(0)
                m.d.comb += out.start.eq(1)
        return m


class EchoResponder(wiring.Component):
    """Streams each request back with the result opcode; needs no buffer."""

    i: In(FrameStream)
    o: Out(FrameStream)
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        idx = Signal(2)  # saturates at 2: only byte 1 (the opcode) is rewritten
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.o.payload.eq(self.i.payload),
            self.i.ready.eq(self.o.ready),
            self.busy.eq(idx != 0),
        ]
        with m.If(idx == 1):
            m.d.comb += self.o.payload.data.eq(wire.Op.ECHO | wire.RESPONSE_FLAG)
        with m.If(self.i.valid & self.o.ready):
            with m.If(self.i.payload.last):
                m.d.sync += idx.eq(0)
            with m.Elif(idx != 2):
                m.d.sync += idx.eq(idx + 1)
        return m


class ErrorResponder(wiring.Component):
    i: In(stream.Signature(ErrorRequest))
    o: Out(FrameStream)
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq_out = out = ByteSequencer(wire.HEADER_LEN + 2)
        wiring.connect(m, wiring.flipped(self.o), out.o)
        req = self.i.payload
        m.d.comb += [
            out.bytes.eq(Cat(*response_header(wire.Op.ERROR, req.seq, 2), req.code, req.op)),
            self.i.ready.eq(~out.busy),
            out.start.eq(self.i.valid),
            self.busy.eq(out.busy),
        ]
        return m


class Statistics(wiring.Component):
    """Saturating 32-bit event counters, one per STATS field, fed by one-cycle strobes."""

    def __init__(self):
        super().__init__({name: In(1) for name in wire.STATS_FIELDS})
        self.counters = [Signal(32, name=f"count_{name}") for name in wire.STATS_FIELDS]

    def elaborate(self, platform):
        m = Module()
        for name, counter in zip(wire.STATS_FIELDS, self.counters, strict=True):
            event = Signal(name=f"event_{name}")  # registered: keeps the checks off this path
            m.d.sync += event.eq(getattr(self, name))
            with m.If(event & (counter != 0xFFFF_FFFF)):
                m.d.sync += counter.eq(counter + 1)
        return m

    def payload(self):
        return [b for counter in self.counters for b in _le(counter, 4)]


def info_payload(clock_hz, baud, cores):
    fields = [
        Const(wire.PROTOCOL_VERSION, 8), *(Const(v, 8) for v in wire.GATEWARE_VERSION),
        *_le(clock_hz, 4), *_le(baud, 4), *_le(wire.MAX_PAYLOAD, 2), *_le(wire.RX_BUFFER, 2),
        Const(len(cores), 8), *(Const(int(core), 8) for core in cores),
    ]
    assert len(fields) == wire.INFO_FIXED_LEN + len(cores)
    return fields
