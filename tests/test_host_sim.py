"""The host driver against the simulated appliance: the generated Verilog of the appliance top
under Verilator, served on TCP with the UART's exact bytes. References: the `cobs` package and
binascii.crc32 for raw frames, Python's bytes for echoes."""

import asyncio
import binascii
import random
import socket
import struct

import pytest
from cobs import cobs

from quantgate import wire
from quantgate.host import Appliance, AsyncAppliance, errors

pytestmark = pytest.mark.xdist_group("appliance_sim")


@pytest.fixture(scope="module")
def address(sim_address):
    return sim_address


@pytest.fixture
def dev(address):  # the simulator serves one client at a time: one connection per test
    with Appliance.open(f"socket://{address}", timeout=10) as dev:
        yield dev


def raw_frame(op, seq, payload=b"", *, length=None):
    length = len(payload) if length is None else length
    frame = struct.pack("<BBHH", wire.PROTOCOL_VERSION, op, seq, length) + payload
    return cobs.encode(frame + struct.pack("<I", binascii.crc32(frame))) + b"\x00"


def read_frame(sock):
    data = b""
    while not data.endswith(b"\x00"):
        chunk = sock.recv(1)
        assert chunk, "connection closed"
        data += chunk
    frame = cobs.decode(data[:-1])
    assert binascii.crc32(frame[:-4]) == struct.unpack("<I", frame[-4:])[0]
    version, op, seq, length = struct.unpack("<BBHH", frame[:6])
    return op, seq, frame[6:-4]


def test_info(dev):
    info = dev.info()
    assert info["protocol"] == wire.PROTOCOL_VERSION
    assert info["gateware_version"] == ".".join(map(str, wire.GATEWARE_VERSION))
    assert info["clock_hz"] == 100_000_000
    assert info["max_payload"] == wire.MAX_PAYLOAD
    assert info["cores"][0] == "link"


def test_echo_every_size(dev):
    rng = random.Random(1)
    payloads = [bytes(rng.randrange(256) for _ in range(n)) for n in range(wire.MAX_PAYLOAD + 1)]
    payloads[5] = bytes(5)  # all zeros: COBS worst case for code bytes
    assert list(dev.echo_many(payloads)) == payloads


def test_echo_rejects_oversize_before_sending(dev):
    with pytest.raises(ValueError):
        dev.echo(bytes(wire.MAX_PAYLOAD + 1))


def test_many_in_flight_async(address):
    async def main():
        async with AsyncAppliance.open(f"socket://{address}", timeout=10) as adev:
            payloads = [random.Random(k).randbytes(k % 200) for k in range(150)]
            results = await asyncio.gather(*(adev.echo(p) for p in payloads))
            assert results == payloads
            assert (await adev.info())["protocol"] == wire.PROTOCOL_VERSION

    asyncio.run(main())


def test_garbage_then_valid_request(address):
    """A client that sends garbage first still gets a correct answer, and a later client
    is served too. The request starts with a delimiter, as docs/protocol.md advises, so
    garbage that did not end in one cannot merge into it."""
    host, port = address.split(":")
    for garbage in (b"\xff\x13garbage\x00\x01", bytes(range(1, 256)) + b"\x00"):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(garbage + b"\x00" + raw_frame(wire.Op.ECHO, 77, b"after garbage"))
            while True:  # garbage long enough to be a frame gets one BAD_CRC error first
                op, seq, payload = read_frame(sock)
                if op != wire.Op.ERROR:
                    break
                assert payload[0] == wire.Err.BAD_CRC
            assert (op, seq, payload) == (wire.Op.ECHO | wire.RESPONSE_FLAG, 77, b"after garbage")


def test_bad_frames_then_good(address):
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"\x00")
        good = raw_frame(wire.Op.ECHO, 1, b"x" * 40)
        flipped = bytearray(good)
        flipped[10] ^= 0x04
        cases = [
            (bytes(flipped), wire.Err.BAD_CRC),
            (raw_frame(wire.Op.ECHO, 2, b"abc", length=9), wire.Err.BAD_LENGTH),
            (raw_frame(0x6A, 3), wire.Err.UNKNOWN_OPCODE),
            (raw_frame(wire.Op.ECHO, 4, bytes(wire.MAX_PAYLOAD + 1)), wire.Err.OVERSIZE),
        ]
        for k, (frame, code) in enumerate(cases):
            sock.sendall(frame)
            op, _, payload = read_frame(sock)
            assert op == wire.Op.ERROR and payload[0] == code, (k, op, payload)
            sock.sendall(good[:6] + b"\x00")  # a fragment shorter than a header: dropped
            sock.sendall(good[: len(good) // 2] + b"\x00")  # truncated after the header
            op, seq, payload = read_frame(sock)
            assert (op, seq, payload[0]) == (wire.Op.ERROR, 1, wire.Err.BAD_CRC)
            sock.sendall(raw_frame(wire.Op.ECHO, 100 + k, b"good"))
            assert read_frame(sock) == (wire.Op.ECHO | 0x80, 100 + k, b"good")


def test_device_errors_raise_named_exceptions(dev):
    with pytest.raises(errors.UnknownOpcode, match="UNKNOWN_OPCODE"):
        dev.request(0x6B)
    assert dev.echo(b"next") == b"next"


def test_bytes_arrive_while_response_is_sent(dev):
    """Full duplex: requests stream in while long responses stream out."""
    payloads = [bytes([k]) * wire.MAX_PAYLOAD for k in range(1, 9)]
    assert list(dev.echo_many(payloads)) == payloads
    stats = dev.stats()
    assert stats["uart_overruns"] == 0 and stats["uart_framing_errors"] == 0
