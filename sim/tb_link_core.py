"""cocotb tests of the link core (deframer, parser, dispatcher, responders, arbiter, CRC,
framer) on raw line bytes, with random back-pressure on both sides. The frames are built and
checked with the `cobs` package and binascii.crc32, independently of the gateware."""

import binascii
import random
import struct

import cocotb
from cobs import cobs
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from quantgate import wire
from quantgate.sim.streams import StreamDriver, StreamMonitor, reset

Op, Err = wire.Op, wire.Err


def encode(op, seq, payload=b"", *, version=wire.PROTOCOL_VERSION, length=None):
    length = len(payload) if length is None else length
    frame = struct.pack("<BBHH", version, op, seq, length) + payload
    return cobs.encode(frame + struct.pack("<I", binascii.crc32(frame))) + b"\x00"


def decode(raw):
    frame = cobs.decode(raw)
    body, crc = frame[:-4], struct.unpack("<I", frame[-4:])[0]
    assert binascii.crc32(body) == crc, "response CRC"
    version, op, seq, length = struct.unpack("<BBHH", body[:6])
    assert version == wire.PROTOCOL_VERSION and length == len(body) - 6
    return op, seq, body[6:]


class TB:
    def __init__(self, dut, in_stall=0.0, out_stall=0.0, seed=1):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.uart_framing_error.value = 0
        dut.uart_overrun.value = 0
        self.source = StreamDriver(dut, "i", dut.clk, stall=in_stall, seed=seed)
        self.sink = StreamMonitor(dut, "o", dut.clk, stall=out_stall, seed=seed + 1)
        self.buffer = bytearray()

    async def responses(self, n, timeout_cycles=2_000_000):
        out = []
        while len(out) < n:
            byte = (await self.sink.take(1, timeout_cycles))[0]
            if byte == 0:
                out.append(decode(bytes(self.buffer)))
                self.buffer.clear()
            else:
                self.buffer.append(byte)
        return out

    async def transact(self, op, seq, payload=b""):
        self.source.send(encode(op, seq, payload))
        return (await self.responses(1))[0]

    async def stats(self):
        op, _, payload = await self.transact(Op.STATS, 0xBEEF)
        assert op == Op.STATS | wire.RESPONSE_FLAG
        return dict(zip(wire.STATS_FIELDS, struct.unpack("<8I", payload), strict=True))


def expect_error(response, seq, code, op):
    assert response == (Op.ERROR, seq, bytes([code, op])), response


@cocotb.test()
async def info_and_echo(dut):
    tb = TB(dut)
    await reset(dut)
    op, seq, payload = await tb.transact(Op.INFO, 1)
    assert (op, seq) == (Op.INFO | wire.RESPONSE_FLAG, 1)
    assert payload[0] == wire.PROTOCOL_VERSION
    assert tuple(payload[1:4]) == wire.GATEWARE_VERSION
    clock_hz, baud, max_payload, rx_buffer, n = struct.unpack("<IIHHB", payload[4:17])
    assert (clock_hz, baud, max_payload, rx_buffer) == (100_000_000, 3_000_000,
                                                        wire.MAX_PAYLOAD, wire.RX_BUFFER)
    assert list(payload[17:]) == [wire.Core.LINK] and n == 1
    for size in (0, 1, 2, 253, 254, 255, wire.MAX_PAYLOAD):
        data = bytes(random.Random(size).randrange(256) for _ in range(size))
        assert await tb.transact(Op.ECHO, size, data) == (Op.ECHO | 0x80, size, data)


@cocotb.test()
async def pipelined_under_back_pressure(dut):
    """Many requests queued at once, both sides stalling at random: every response arrives,
    in order, intact."""
    tb = TB(dut, in_stall=0.3, out_stall=0.5)
    await reset(dut)
    rng = random.Random(2)
    requests = []
    for seq in range(60):
        op = rng.choice([Op.ECHO, Op.ECHO, Op.INFO, Op.STATS, 0x55])
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        requests.append((op, seq, payload))
        tb.source.send(encode(op, seq, payload))
    responses = await tb.responses(len(requests))
    for (op, seq, payload), response in zip(requests, responses, strict=True):
        if op == Op.ECHO:
            assert response == (Op.ECHO | 0x80, seq, payload)
        elif op == 0x55:
            expect_error(response, seq, Err.UNKNOWN_OPCODE, 0x55)
        else:
            assert response[:2] == (op | 0x80, seq)


@cocotb.test()
async def bad_frames_get_errors_and_lose_nothing(dut):
    tb = TB(dut, out_stall=0.2)
    await reset(dut)
    good = encode(Op.ECHO, 7, b"hello")

    async def still_answers():
        assert await tb.transact(Op.ECHO, 99, b"still here") == (Op.ECHO | 0x80, 99,
                                                                   b"still here")

    # Bad CRC: flip a payload bit after encoding the CRC.
    frame = bytearray(cobs.decode(good[:-1]))
    frame[7] ^= 0x10
    tb.source.send(cobs.encode(bytes(frame)) + b"\x00")
    expect_error((await tb.responses(1))[0], 7, Err.BAD_CRC, Op.ECHO)
    await still_answers()
    # Length field disagreeing with the frame.
    tb.source.send(encode(Op.ECHO, 8, b"abc", length=5))
    expect_error((await tb.responses(1))[0], 8, Err.BAD_LENGTH, Op.ECHO)
    # Wrong protocol version, unknown opcode.
    tb.source.send(encode(Op.ECHO, 9, b"", version=2))
    expect_error((await tb.responses(1))[0], 9, Err.BAD_VERSION, Op.ECHO)
    tb.source.send(encode(0x7E, 10))
    expect_error((await tb.responses(1))[0], 10, Err.UNKNOWN_OPCODE, 0x7E)
    # Oversize: a payload one byte past the maximum (the CRC is right, the size is not).
    tb.source.send(encode(Op.ECHO, 11, bytes(wire.MAX_PAYLOAD + 1)))
    expect_error((await tb.responses(1))[0], 11, Err.OVERSIZE, Op.ECHO)
    # Fragments shorter than a header + CRC: no response, counted; the next request answered.
    tb.source.send(b"\x00\x03ab\x00" + good[:5] + b"\x00")
    await still_answers()
    # Longer garbage decodes to a frame with a bad CRC: one BAD_CRC error, whatever its seq.
    tb.source.send(bytes(range(1, 200)) + b"\x00")
    response = (await tb.responses(1))[0]
    assert response[0] == Op.ERROR and response[2][0] == Err.BAD_CRC, response
    await still_answers()
    stats = await tb.stats()
    assert stats["crc_errors"] == 2 and stats["bad_version"] == 1, stats
    assert stats["oversize"] == 1 and stats["unknown_opcode"] == 1, stats
    assert stats["length_errors"] == 3, stats  # BAD_LENGTH + two short fragments
    assert stats["frames_ok"] == 4, stats  # three echoes and this STATS request


@cocotb.test()
async def random_corruption_never_wedges(dut):
    """Single-bit flips and truncations of valid frames, then a valid request: always answered
    correctly; every corrupted frame yields at most one response."""
    tb = TB(dut, in_stall=0.1, out_stall=0.3)
    await reset(dut)
    rng = random.Random(4)
    for trial in range(40):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
        raw = bytearray(encode(Op.ECHO, trial, payload))
        if rng.random() < 0.5:
            pos = rng.randrange(len(raw) - 1)
            raw[pos] ^= 1 << rng.randrange(8)
        else:
            raw = raw[:rng.randrange(1, len(raw) - 1)] + b"\x00"
        tb.source.send(bytes(raw) + b"\x00")
        tb.source.send(encode(Op.ECHO, 0x8000 + trial, payload))
        while True:
            response = (await tb.responses(1))[0]
            if response[1] == 0x8000 + trial:
                assert response == (Op.ECHO | 0x80, 0x8000 + trial, payload)
                break
            assert response[0] in (Op.ERROR, Op.ECHO | 0x80), response
    await ClockCycles(dut.clk, 10)
