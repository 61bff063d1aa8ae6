"""Driver logic against a scripted fake device on a TCP socket.

FakePeer speaks docs/protocol.md (INFO, ECHO, STATS) with the `cobs` package and binascii, not
the driver's codec, and can be told to drop, hold, duplicate, corrupt or delay its answers. It
is a test double for the driver only; the real device is tested against the simulated gateware.
"""

import asyncio
import binascii
import json
import os
import random
import socket
import struct
import sys
import threading
import time
from collections import deque
from pathlib import Path

import pytest
from cobs import cobs

from quantgate import wire
from quantgate.host import Appliance, AsyncAppliance, errors
from quantgate.host import transport as transport_mod
from quantgate.host.cli import main as cli_main
from quantgate.host.transport import SimTransport, open_transport

INFO_PAYLOAD = struct.pack("<BBBBIIHHB", 1, 0, 1, 0, 50_000_000, 3_000_000, 1024, 2048, 1) + bytes(
    [wire.Core.LINK])
EXPECTED_INFO = {"protocol": 1, "gateware_version": "0.1.0", "clock_hz": 50_000_000,
                 "baud": 3_000_000, "max_payload": 1024, "rx_buffer": 2048, "cores": ["link"]}


def frame(op, seq, payload=b"", *, bad_crc=False):
    body = struct.pack("<BBHH", 1, op, seq, len(payload)) + payload
    crc = binascii.crc32(body) ^ (1 if bad_crc else 0)
    return cobs.encode(body + struct.pack("<I", crc)) + b"\x00"


def error_frame(seq, code, op):
    return frame(wire.Op.ERROR, seq, bytes([code, op]))


class FakePeer:
    """One-connection fake device. `plan` holds an action per upcoming request ("ok" when
    empty): "ok", "drop", "dup", "hold", "stale", "garbage", "corrupt", "badcrc",
    ("error", code), ("delay", seconds)."""

    def __init__(self):
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.plan = deque()
        self.hold_all = False
        self.held = []
        self.received = []  # (op, seq, payload) of each well-formed request
        self.rx_bytes = 0
        self.delayed_sent = threading.Event()
        self.counters = dict.fromkeys(wire.STATS_FIELDS, 0)
        self._conn = None
        self._lock = threading.RLock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        with self._server:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
        self._conn = conn
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(1 << 16)
                except OSError:
                    return
                if not data:
                    return
                self.rx_bytes += len(data)
                *chunks, buf = (buf + data).split(b"\x00")
                for chunk in chunks:
                    if chunk:
                        with self._lock:
                            self._handle(chunk)

    def send(self, data):
        with self._lock:
            try:
                self._conn.sendall(data)
            except OSError:
                pass

    def _handle(self, chunk):
        try:
            body = cobs.decode(chunk)
        except cobs.DecodeError:
            body = b""
        if len(body) < 10:
            self.counters["length_errors"] += 1
            return
        version, op, seq, length = struct.unpack_from("<BBHH", body)
        if binascii.crc32(body[:-4]) != struct.unpack("<I", body[-4:])[0]:
            self.counters["crc_errors"] += 1
            return self.send(error_frame(seq, wire.Err.BAD_CRC, op))
        if length != len(body) - 10:
            self.counters["length_errors"] += 1
            return self.send(error_frame(seq, wire.Err.BAD_LENGTH, op))
        payload = body[6:-4]
        self.received.append((op, seq, payload))
        result = self.respond(op, seq, payload)
        self.counters["frames_ok"] += 1
        action = self.plan.popleft() if self.plan else ("hold" if self.hold_all else "ok")
        self._act(action, op, seq, payload, result)

    def respond(self, op, seq, payload):
        """The answer to a well-formed request (subclasses add commands)."""
        if op == wire.Op.INFO:
            return frame(op | 0x80, seq, INFO_PAYLOAD)
        if op == wire.Op.ECHO:
            return frame(op | 0x80, seq, payload)
        if op == wire.Op.STATS:
            return frame(op | 0x80, seq, struct.pack("<8I", *self.counters.values()))
        self.counters["unknown_opcode"] += 1
        return error_frame(seq, wire.Err.UNKNOWN_OPCODE, op)

    def _act(self, action, op, seq, payload, result):
        kind, arg = (action, None) if isinstance(action, str) else action
        if kind == "ok":
            self.send(result)
        elif kind == "dup":
            self.send(result + result)
        elif kind == "hold":
            self.held.append(result)
        elif kind == "stale":  # an unknown seq, then this seq with another opcode, then the answer
            self.send(frame(op | 0x80, seq ^ 0x4000, b"stale")
                      + frame(wire.Op.STATS | 0x80, seq, b"wrong op") + result)
        elif kind == "garbage":
            self.send(os.urandom(40) + b"\x00" + result)
        elif kind == "corrupt":
            self.send(frame(op | 0x80, seq, payload, bad_crc=True))
        elif kind == "badcrc":
            self.send(error_frame(seq, wire.Err.BAD_CRC, op))
        elif kind == "error":
            self.send(error_frame(seq, arg, op))
        elif kind == "delay":
            def later():
                self.send(result)
                self.delayed_sent.set()

            threading.Timer(arg, later).start()
        else:
            assert kind == "drop", kind

    def release(self, reverse=False):
        """Stop holding; send the held answers (last first with reverse=True)."""
        with self._lock:
            self.hold_all = False
            held, self.held = self.held, []
            self.send(b"".join(reversed(held) if reverse else held))

    def wait_received(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.received) < n:
            assert time.monotonic() < deadline, f"peer got {len(self.received)} of {n} requests"
            time.sleep(0.005)

    def disconnect(self):
        with self._lock:
            if self._conn is not None:
                self._conn.shutdown(socket.SHUT_RDWR)

    def close(self):
        self._server.close()
        if self._conn is not None:
            self._conn.close()


@pytest.fixture
def peer():
    p = FakePeer()
    yield p
    p.close()


@pytest.fixture
def dev(peer):
    with Appliance.open(peer.url, timeout=0.3, retries=2) as d:
        yield d


def seqs_of(peer):
    return [seq for _, seq, _ in peer.received]


# -- commands -----------------------------------------------------------------------------------


def test_info_echo_stats(dev, peer):
    assert dev.info() == EXPECTED_INFO
    for data in (b"", b"\x00", b"hello\x00world", bytes(range(256)) * 4):
        assert dev.echo(data) == data
    assert dev.echo(bytearray(b"ba")) == b"ba"
    assert dev.echo(memoryview(b"mv")) == b"mv"
    stats = dev.stats()
    assert list(stats) == list(wire.STATS_FIELDS)
    assert stats["frames_ok"] == 7


def test_echo_argument_checks(dev, peer):
    with pytest.raises(TypeError):
        dev.echo("text")
    with pytest.raises(TypeError):
        dev.echo(42)
    with pytest.raises(ValueError):
        dev.echo(bytes(wire.MAX_PAYLOAD + 1))
    assert dev.echo(bytes(wire.MAX_PAYLOAD)) == bytes(wire.MAX_PAYLOAD)
    assert len(peer.received) == 1  # rejected calls never reached the wire


def test_sequence_numbers_wrap_and_skip_in_flight(dev, peer):
    dev._session._next_seq = 0xFFFE
    peer.plan.extend(["ok", "hold"])
    dev.echo(b"a")
    held = dev.submit(wire.Op.ECHO, b"b")  # seq 0xFFFF stays in flight
    peer.wait_received(2)
    dev._session._next_seq = 0xFFFF
    assert dev.echo(b"c") == b"c"  # must not reuse 0xFFFF
    peer.release()
    assert dev.result(held) == b"b"
    assert dev.echo(b"d") == b"d"
    assert seqs_of(peer) == [0xFFFE, 0xFFFF, 0, 1]


# -- loss, corruption and stale answers ---------------------------------------------------------


def test_retransmits_after_dropped_response(dev, peer):
    peer.plan.append("drop")
    assert dev.echo(b"again") == b"again"
    assert len(peer.received) == 2 and len(set(seqs_of(peer))) == 1
    assert dev.driver_stats["retransmits"] == 1


def test_bad_crc_error_retransmits_at_once(peer):
    with Appliance.open(peer.url, timeout=10.0) as d:
        peer.plan.append("badcrc")
        start = time.monotonic()
        assert d.echo(b"x") == b"x"
        assert time.monotonic() - start < 2.0  # did not wait for the 10 s timeout
        assert d.driver_stats["retransmits"] == 1
        assert seqs_of(peer)[0] == seqs_of(peer)[1]


def test_corrupted_response_is_discarded_then_retried(dev, peer):
    peer.plan.append("corrupt")
    assert dev.echo(b"payload") == b"payload"
    stats = dev.driver_stats
    assert stats["rx_crc_errors"] == 1 and stats["retransmits"] == 1


def test_stale_duplicate_and_garbage_are_discarded(dev, peer):
    peer.plan.extend(["stale", "dup", "garbage"])
    assert [dev.echo(b"%d" % i) for i in range(4)] == [b"0", b"1", b"2", b"3"]
    stats = dev.driver_stats
    assert stats["unmatched"] == 2  # the stale seq and the duplicate
    assert stats["mismatched"] == 1  # right seq, wrong opcode
    assert stats["retransmits"] == 0


def test_late_answer_after_timeout_is_discarded(peer):
    with Appliance.open(peer.url, timeout=0.1, retries=0) as d:
        peer.plan.append(("delay", 0.3))
        with pytest.raises(errors.QuantgateTimeout):
            d.echo(b"late")
        assert peer.delayed_sent.wait(5)
        assert d.echo(b"next") == b"next"
        assert d.driver_stats["unmatched"] == 1


def test_timeout_then_next_request_works(dev, peer):
    peer.plan.extend(["drop"] * 3)  # first send + 2 retries
    with pytest.raises(errors.QuantgateTimeout) as info:
        dev.echo(b"lost")
    assert isinstance(info.value, TimeoutError)
    assert "ECHO" in str(info.value)
    assert len(peer.received) == 3
    assert dev.echo(b"fine") == b"fine"
    assert dev.driver_stats["timeouts"] == 1


# -- device errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("code, cls", [
    (wire.Err.BAD_LENGTH, errors.BadLength),
    (wire.Err.BAD_ARGUMENT, errors.BadArgument),
    (wire.Err.EMPTY_SLOT, errors.EmptySlot),
    (wire.Err.BUSY, errors.Busy),
])
def test_device_error_names_code(dev, peer, code, cls):
    peer.plan.append(("error", code))
    with pytest.raises(cls) as info:
        dev.echo(b"x")
    assert isinstance(info.value, errors.DeviceError)
    assert info.value.code == code and info.value.request_op == wire.Op.ECHO
    assert str(info.value) == f"device error {code.name} for ECHO"
    assert dev.echo(b"y") == b"y"


def test_unknown_opcode(dev, peer):
    with pytest.raises(errors.UnknownOpcode, match="UNKNOWN_OPCODE for 0x55"):
        dev.request(0x55)
    assert dev.info()["cores"] == ["link"]


def test_bad_crc_after_all_retries_raises(peer):
    with Appliance.open(peer.url, timeout=1.0, retries=1) as d:
        peer.plan.extend(["badcrc", "badcrc"])
        with pytest.raises(errors.BadCrc):
            d.echo(b"x")


def test_closed_connection_raises_link_error(dev, peer):
    assert dev.echo(b"up") == b"up"
    peer.disconnect()
    with pytest.raises(errors.LinkError):
        dev.echo(b"down")


# -- many requests in flight --------------------------------------------------------------------


def test_out_of_order_completion(dev, peer):
    peer.hold_all = True
    reqs = [dev.submit(wire.Op.ECHO, b"%d" % i) for i in range(5)]
    peer.wait_received(5)
    peer.release(reverse=True)
    assert [dev.result(r) for r in reversed(reqs)] == [b"4", b"3", b"2", b"1", b"0"]


def test_window_bounds_unanswered_bytes(peer):
    fits = wire.RX_BUFFER // len(frame(wire.Op.ECHO, 1, bytes(100)))  # 18 requests of 112 bytes
    with Appliance.open(peer.url, timeout=5.0) as d:
        peer.hold_all = True
        reqs = [d.submit(wire.Op.ECHO, bytes([i]) * 100) for i in range(100)]
        peer.wait_received(fits)
        time.sleep(0.1)  # give an overrun the chance to show
        assert len(peer.received) == fits
        assert peer.rx_bytes - 1 <= wire.RX_BUFFER  # minus the leading flush delimiter
        peer.release()
        assert [d.result(r) for r in reqs] == [bytes([i]) * 100 for i in range(100)]
        assert d.driver_stats["retransmits"] == 0


def test_pipeline_in_order_with_losses(dev, peer):
    rng = random.Random(1)
    payloads = [rng.randbytes(rng.randint(0, wire.MAX_PAYLOAD)) for _ in range(400)]
    actions = ["ok"] * 400
    for i in (5, 50, 51, 300):
        actions[i] = "drop"
    actions[20], actions[21], actions[22] = "hold", "dup", "stale"
    peer.plan.extend(actions)
    threading.Timer(0.1, peer.release).start()
    assert list(dev.echo_many(payloads)) == payloads
    assert dev.driver_stats["retransmits"] >= 4


def test_pipeline_raw_requests_and_errors(dev, peer):
    peer.plan.extend(["ok", ("error", wire.Err.BUSY), "ok"])
    requests = [(wire.Op.ECHO, b"a"), (wire.Op.ECHO, b"b"), (wire.Op.INFO, b"")]
    results = list(dev.pipeline(requests, return_exceptions=True))
    assert results[0] == b"a" and isinstance(results[1], errors.Busy)
    assert results[2] == INFO_PAYLOAD
    peer.plan.append(("error", wire.Err.BAD_ARGUMENT))
    with pytest.raises(errors.BadArgument):
        list(dev.echo_many([b"1", b"2", b"3"]))
    assert dev.echo(b"after") == b"after"


def test_pipeline_closed_early_releases_requests(dev, peer):
    gen = dev.echo_many(bytes([i]) for i in range(200))
    assert [next(gen) for _ in range(3)] == [b"\x00", b"\x01", b"\x02"]
    gen.close()
    assert dev.echo(b"z") == b"z"
    stats = dev.driver_stats
    assert stats["queued"] == 0 and stats["timeouts"] == 0


# -- asyncio ------------------------------------------------------------------------------------


def test_async_gather_many(peer):
    async def main():
        async with AsyncAppliance.open(peer.url, timeout=0.3, retries=2) as d:
            assert await d.info() == EXPECTED_INFO
            rng = random.Random(2)
            payloads = [rng.randbytes(rng.randint(0, 300)) for _ in range(100)]
            peer.plan.extend(["ok"] * 10 + ["drop", "hold", "dup", "stale", "corrupt", "badcrc"])
            asyncio.get_running_loop().call_later(0.05, peer.release)
            assert await asyncio.gather(*(d.echo(p) for p in payloads)) == payloads
            assert list(await d.stats()) == list(wire.STATS_FIELDS)
            return d.driver_stats

    stats = asyncio.run(asyncio.wait_for(main(), 10))
    assert stats["retransmits"] >= 3 and stats["in_flight"] == 0


def test_async_errors_timeouts_and_pipeline(peer):
    async def main():
        d = await AsyncAppliance.open(peer.url, timeout=0.1, retries=1)
        try:
            # Arrival order: e, t, ok, then t's retransmission.
            peer.plan.extend([("error", wire.Err.EMPTY_SLOT), "drop", "ok", "drop"])
            results = await asyncio.gather(d.echo(b"e"), d.echo(b"t"), d.echo(b"ok"),
                                           return_exceptions=True)
            assert isinstance(results[0], errors.EmptySlot)
            assert isinstance(results[1], errors.QuantgateTimeout)
            assert results[2] == b"ok"
            got = [p async for p in d.echo_many(bytes([i]) * i for i in range(50))]
            assert got == [bytes([i]) * i for i in range(50)]
            with pytest.raises(TypeError):
                await d.echo("str")
            peer.disconnect()
            with pytest.raises(errors.LinkError):
                await d.echo(b"gone")
        finally:
            await d.aclose()

    asyncio.run(asyncio.wait_for(main(), 10))


def test_async_cancelled_request_is_dropped(peer):
    async def main():
        async with AsyncAppliance.open(peer.url, timeout=0.2, retries=0) as d:
            peer.plan.append("hold")
            task = asyncio.ensure_future(d.echo(b"slow"))
            await asyncio.sleep(0.05)
            task.cancel()
            peer.release()
            assert await d.echo(b"fast") == b"fast"
            return d.driver_stats

    stats = asyncio.run(asyncio.wait_for(main(), 10))
    assert stats["in_flight"] == 0


# -- transports and CLI -------------------------------------------------------------------------

FAKE_SIM = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
assert sys.argv[1:] == ["--trace", "1"], sys.argv
from test_host_peer import FakePeer
peer = FakePeer()
print("LISTENING 127.0.0.1:%d" % peer.port, flush=True)
peer.thread.join()
"""


def test_sim_url_spawns_and_stops_simulator(monkeypatch):
    monkeypatch.setattr(transport_mod, "SIM_COMMAND", (sys.executable, "-c", FAKE_SIM))
    with Appliance.open("sim://?trace=1", timeout=1.0) as d:
        assert d.info() == EXPECTED_INFO
        proc = d._transport.process
        assert proc.poll() is None
    assert proc.poll() is not None


def test_sim_early_exit_reports_stderr():
    script = "import sys; sys.stderr.write('verilator exploded'); sys.exit(3)"
    with pytest.raises(errors.QuantgateError, match="(?s)status 3.*verilator exploded"):
        SimTransport.start(command=[sys.executable, "-c", script])


def test_sim_startup_timeout():
    script = "import time; time.sleep(30)"
    with pytest.raises(errors.QuantgateError, match="did not report LISTENING"):
        SimTransport.start(command=[sys.executable, "-c", script], startup_timeout=0.3)


def test_pyserial_loop_url():
    t = open_transport("loop://")
    try:
        t.write(b"abc")
        assert t.read(1.0) == b"abc"
        assert t.read(0.05) == b""
    finally:
        t.close()
    # A loopback returns requests as if they were answers: wrong opcode, never a result.
    with Appliance(open_transport("loop://"), timeout=0.05, retries=0) as d:
        with pytest.raises(errors.QuantgateTimeout):
            d.echo(b"me")
        assert d.driver_stats["mismatched"] == 1


def test_cli_info_stats_demo(peer, capsys):
    assert cli_main(["info", "--url", peer.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == EXPECTED_INFO


def test_cli_demo(peer, capsys):
    assert cli_main(["demo", "--url", peer.url, "--count", "200", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 200 and summary["failed"] == summary["wrong"] == 0
    assert summary["info"] == EXPECTED_INFO


def test_cli_reports_errors(capsys):
    assert cli_main(["stats", "--url", "socket://127.0.0.1:1"]) == 1
    assert "cannot connect" in capsys.readouterr().err


def test_serial_urls_and_device_paths(monkeypatch):
    import serial

    real, calls = serial.serial_for_url, []

    def fake_serial_for_url(url, **kwargs):
        calls.append((url, kwargs["baudrate"]))
        return real("loop://")

    monkeypatch.setattr(serial, "serial_for_url", fake_serial_for_url)
    for url in ("serial:///dev/ttyUSB1?baud=115200", "/dev/ttyUSB0", "rfc2217://h:1"):
        open_transport(url).close()
    assert calls == [("/dev/ttyUSB1", 115200), ("/dev/ttyUSB0", 3_000_000),
                     ("rfc2217://h:1", 3_000_000)]
    with pytest.raises(errors.QuantgateError, match="pcie"):
        open_transport("pcie://0000:01:00.0")


def test_host_imports_no_hdl_toolchain():
    import subprocess

    code = ("import sys, quantgate.host, quantgate.host.cli, quantgate.host.demo; "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'amaranth' "
            "or m.startswith(('quantgate.hdl', 'quantgate.sim'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
