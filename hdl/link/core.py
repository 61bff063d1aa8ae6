"""Everything between the raw line bytes and the engines: deframing, checks, dispatch,
response arbitration, CRC and framing, statistics and the link's own commands.

    raw in -> COBSDecoder -> FrameParser -> Dispatcher -> engines (INFO, ECHO, STATS, ...)
    raw out <- COBSEncoder <- CRCAppender <- ResponseArbiter <- engines, ErrorResponder

An engine is one more dispatcher port: a component with ``i: In(FrameStream)`` (request
frames: header + payload) and ``o: Out(FrameStream)`` (response frames, header + payload),
plus an optional ``busy`` output. The link adds CRC and framing.
"""

from collections.abc import Callable
from dataclasses import dataclass

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

from .cobs import COBSDecoder, COBSEncoder
from .dispatch import Dispatcher, ResponseArbiter
from .frame import CRCAppender, FrameParser, RoutedStream
from .layouts import FrameStream
from .pipe import StreamRegister
from .responders import EchoResponder, ErrorResponder, FixedResponder, Statistics, info_payload


@dataclass(frozen=True)
class Engine:
    """An engine the appliance carries: the cores INFO lists, the opcodes it serves, and a
    factory for its component."""

    cores: tuple
    opcodes: tuple
    build: Callable[[], wiring.Component]


class LinkCore(wiring.Component):
    i: In(stream.Signature(8))  # raw line bytes from the receiver
    o: Out(stream.Signature(8))  # raw line bytes to the transmitter
    uart_framing_error: In(1)  # strobes from the PHY, counted in STATS
    uart_overrun: In(1)
    busy: Out(1)
    error: Out(1)  # one-cycle strobe on any counted error

    def __init__(self, *, clock_hz, baud, engines=()):
        self.clock_hz = clock_hz
        self.baud = baud
        self.engines = tuple(engines)
        super().__init__()

    @property
    def cores(self):
        return [wire.Core.LINK] + [core for e in self.engines for core in e.cores]

    def elaborate(self, platform):
        m = Module()
        m.submodules.deframer = deframer = COBSDecoder()
        m.submodules.stats = stats = Statistics()

        info = FixedResponder(wire.Op.INFO, info_payload(self.clock_hz, self.baud, self.cores))
        routes = [(wire.Op.INFO,), (wire.Op.ECHO,), (wire.Op.STATS,)]
        engines = [info, EchoResponder(), FixedResponder(wire.Op.STATS, stats.payload())]
        for engine in self.engines:
            routes.append(engine.opcodes)
            engines.append(engine.build())
        for k, engine in enumerate(engines):
            m.submodules[f"engine{k}"] = engine

        m.submodules.parser = parser = FrameParser([op for ops in routes for op in ops])
        m.submodules.dispatcher = dispatcher = Dispatcher(routes)
        m.submodules.errors = errors = ErrorResponder()
        m.submodules.arbiter = arbiter = ResponseArbiter(len(engines) + 1)
        m.submodules.crc = crc = CRCAppender()
        m.submodules.framer = framer = COBSEncoder()

        m.submodules.input_reg = input_reg = StreamRegister(stream.Signature(8))
        wiring.connect(m, wiring.flipped(self.i), input_reg.i)
        wiring.connect(m, input_reg.o, deframer.i)
        wiring.connect(m, deframer.o, parser.i)
        # Registers between the stages keep block-RAM outputs, the response mux and the CRC
        # off one combinational path.
        m.submodules.parser_reg = parser_reg = StreamRegister(RoutedStream)
        m.submodules.arbiter_reg = arbiter_reg = StreamRegister(FrameStream)
        m.submodules.crc_reg = crc_reg = StreamRegister(FrameStream)
        wiring.connect(m, parser.o, parser_reg.i)
        wiring.connect(m, parser_reg.o, dispatcher.i)
        wiring.connect(m, parser.err, errors.i)
        # A register slice on each side of every engine: no combinational path between the
        # link and an engine's logic (they are far apart on the device).
        slices = []
        for k, engine in enumerate(engines):
            m.submodules[f"engine{k}_in"] = into = StreamRegister(FrameStream)
            m.submodules[f"engine{k}_out"] = out = StreamRegister(FrameStream)
            wiring.connect(m, dispatcher.o[k], into.i)
            wiring.connect(m, into.o, engine.i)
            wiring.connect(m, engine.o, out.i)
            wiring.connect(m, out.o, arbiter.i[k])
            slices += [into, out]
        wiring.connect(m, errors.o, arbiter.i[len(engines)])
        wiring.connect(m, arbiter.o, arbiter_reg.i)
        wiring.connect(m, arbiter_reg.o, crc.i)
        wiring.connect(m, crc.o, crc_reg.i)
        wiring.connect(m, crc_reg.o, framer.i)
        wiring.connect(m, framer.o, wiring.flipped(self.o))

        m.d.comb += [
            stats.frames_ok.eq(parser.frame_ok),
            stats.crc_errors.eq(parser.crc_error),
            stats.length_errors.eq(parser.length_error),
            stats.oversize.eq(parser.oversize),
            stats.unknown_opcode.eq(parser.unknown_opcode),
            stats.bad_version.eq(parser.bad_version),
            stats.uart_framing_errors.eq(self.uart_framing_error),
            stats.uart_overruns.eq(self.uart_overrun),
        ]
        m.d.comb += self.error.eq(
            parser.crc_error | parser.length_error | parser.oversize | parser.unknown_opcode
            | parser.bad_version | self.uart_framing_error | self.uart_overrun)

        busy = (deframer.o.valid | parser.busy | errors.busy | arbiter.busy | crc.o.valid
                | framer.o.valid)
        for reg in (input_reg, parser_reg, arbiter_reg, crc_reg, *slices):
            busy = busy | reg.o.valid | ~reg.i.ready  # ~ready: a beat in the skid register
        for engine in engines:
            if hasattr(engine, "busy"):
                busy = busy | engine.busy
        m.d.comb += self.busy.eq(busy)
        return m
