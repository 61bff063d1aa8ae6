"""`quantgate serve` against fast fake appliances (quantgate.sim.fake_appliance): routing,
permissions, isolation, failover, metrics, shutdown. The same connector in front of simulated
gateware is tested in test_connector_sim.py.

Signatures are checked with PyNaCl and coincurve; expected permissions come from the table
in this file, not from the connector's Policy.
"""

import hashlib
import os
import socket
import struct
import threading
import time

import coincurve
import nacl.signing
import pytest
from connector_helpers import ConnectorProcess, metric

from quantgate import wire
from quantgate.host import Appliance, codec, commands, errors
from quantgate.host.connector.config import ConfigError, Policy
from quantgate.sim.fake_appliance import FakeAppliance

SEED = bytes(range(32))
D_K1 = (0x1D2C3B4A5968778695A4B3C2D1E0F00112233445566778899AABBCCDDEEFF00).to_bytes(32, "big")
TOKENS = {"admin": "admin-token-7f3a", "strategy": "strat-token-91bc", "reader": "read-c02d"}

CONFIG = f"""
[anonymous]
ops = ["info", "echo"]

[clients.admin]
token_sha256 = "{hashlib.sha256(TOKENS['admin'].encode()).hexdigest()}"
admin = true

[clients.strategy]
token = "{TOKENS['strategy']}"
ops = ["sign", "public_key", "info", "echo"]
slots = [2]

[clients.reader]
token = "{TOKENS['reader']}"
ops = ["info", "echo", "stats", "public_key"]
slots = "*"
"""


@pytest.fixture
def fakes():
    devices = [FakeAppliance(), FakeAppliance()]
    yield devices
    for d in devices:
        d.kill()


def load_keys(*devices):
    """The same keys on every fake, loaded directly (as a desk would before starting)."""
    for fake in devices:
        with Appliance.open(fake.url, timeout=2) as dev:
            dev.load_key(0, "ed25519", SEED)
            dev.load_key(2, "secp256k1", D_K1)


def verify_ed25519(message, signature, seed=SEED):
    nacl.signing.SigningKey(seed).verify_key.verify(message, signature)


def verify_k1(digest, signature, secret=D_K1):
    """r || s || v against coincurve: the recovered key is the slot's, and the signature is
    the one libsecp256k1 makes (RFC 6979, low-S)."""
    expected = coincurve.PrivateKey(secret).sign_recoverable(digest, hasher=None)
    assert signature == expected
    recovered = coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
    assert recovered.format() == coincurve.PrivateKey(secret).public_key.format()


# -- configuration ------------------------------------------------------------------------------


def test_config_parses_and_authenticates(tmp_path):
    path = tmp_path / "desk.toml"
    path.write_text(CONFIG)
    policy = Policy.load(path)
    assert sorted(policy.names) == ["admin", "reader", "strategy"]
    assert policy.authenticate(TOKENS["strategy"].encode()).name == "strategy"
    assert policy.authenticate(TOKENS["admin"].encode()).admin
    assert policy.authenticate(b"nobody") is None
    assert policy.anonymous.allows(wire.Op.ECHO, None)
    assert not policy.anonymous.allows(wire.Op.SIGN, 0)


@pytest.mark.parametrize("text, message", [
    ('[clients.a]\ntoken = "t"\nops = ["load_key"]\nslots = "*"', "admin operation"),
    ('[clients.a]\ntoken = "t"\nops = ["sign"]', "say which"),
    ('[clients.a]\ntoken = "t"\nops = ["fly"]', "unknown operation"),
    ('[clients.a]\nops = ["echo"]', "exactly one of token_sha256"),
    ('[clients.a]\ntoken_sha256 = "abcd"\nops = ["echo"]', "64 hex digits"),
    ('[clients.a]\ntoken = "t"\n[clients.b]\ntoken = "t"', "same token"),
    ('[clients.a]\ntoken = "t"\nslots = [9]\nops = ["sign"]', "slot numbers"),
    ('[client.a]\ntoken = "t"', "unknown section"),
    ('[clients.a]\ntoken = "t"\nadmin = true\nops = ["echo"]', "may do everything"),
    ("", "nobody could use"),
    ("[clients.a\n", "config"),
])
def test_config_errors_name_the_problem(text, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Policy.load(path)


def test_refuses_to_listen_beyond_loopback_without_config(fakes):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "quantgate.host.cli", "serve", "--device",
                          fakes[0].url, "--listen", "0.0.0.0:0"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "without --config" in out.stderr and "0.0.0.0:0" in out.stderr
    assert fakes[0].received == {}  # refused before any device was opened


# -- routing through two devices ----------------------------------------------------------------


def test_pool_signs_on_both_devices_and_mirrors_key_loads(fakes):
    load_keys(*fakes)
    with ConnectorProcess([f.url for f in fakes], metrics=True,
                          extra=["--log-level", "debug"]) as conn, \
            Appliance.open(conn.url, timeout=5) as dev:
        orders = [b"order %d" % i for i in range(200)]
        for order, sig in zip(orders, dev.sign_many([(0, o) for o in orders]), strict=True):
            verify_ed25519(order, sig)
        digests = [hashlib.sha256(o).digest() for o in orders[:50]]
        for digest, sig in zip(digests, dev.sign_many([(2, d) for d in digests]), strict=True):
            verify_k1(digest, sig)
        assert all(f.received.get(wire.Op.SIGN, 0) > 0 for f in fakes)  # both did work
        assert sum(f.received[wire.Op.SIGN] for f in fakes) == 250  # each request once
        # A key loaded through the connector lands on every device.
        seed5 = os.urandom(32)
        dev.load_key(5, "ed25519", seed5)
        assert all(f.keys[5][1] == seed5 for f in fakes)
        sigs = dev.sign_many([(5, b"m%d" % i) for i in range(20)])
        for i, sig in enumerate(sigs):
            verify_ed25519(b"m%d" % i, sig, seed5)
        dev.zeroize(5)
        assert all(5 not in f.keys for f in fakes)
        with pytest.raises(errors.EmptySlot):
            dev.sign(5, b"gone")
        with pytest.raises(errors.BadArgument):  # the devices' own checks come through
            dev.load_key(3, "secp256k1", b"\xff" * 32)
        assert dev.echo(b"still here") == b"still here"
        text = conn.scrape()
        for fake in fakes:
            assert metric(text, "quantgate_device_up", device=fake.url) == 1.0
            assert metric(text, "quantgate_device_requests_total", device=fake.url) > 0
        assert metric(text, "quantgate_client_requests_total", client="anonymous",
                      op="sign") == 271
        assert metric(text, "quantgate_client_errors_total", client="anonymous", op="sign",
                      error="empty_slot") == 1
        assert metric(text, "quantgate_request_seconds_count", op="sign") == 271
        assert conn.terminate() == 0
    log_text = "".join(conn.log)
    assert seed5.hex() not in log_text and seed5.hex() not in text  # even at debug level


def test_devices_that_disagree_on_a_slot_serve_it_only_once_settled(fakes):
    """One fake holds the keys, the other none: the slots are in conflict (the empty device
    may have had them zeroized) and nobody signs with them until an admin loads them through
    the connector, which puts them on both."""
    load_keys(fakes[0])
    with ConnectorProcess([f.url for f in fakes]) as conn, \
            Appliance.open(conn.url, timeout=5) as dev:
        with pytest.raises(errors.Unavailable):
            dev.sign(0, b"which key?")
        assert fakes[0].received.get(wire.Op.SIGN, 0) == 0
        assert fakes[1].received.get(wire.Op.SIGN, 0) == 0
        echoes = list(dev.echo_many([b"e"] * 40))  # stateless requests use both
        assert echoes == [b"e"] * 40 and fakes[1].received.get(wire.Op.ECHO, 0) > 0
        dev.load_key(0, "ed25519", SEED)
        for i, sig in enumerate(dev.sign_many([(0, b"x%d" % i) for i in range(40)])):
            verify_ed25519(b"x%d" % i, sig)
        assert all(f.received.get(wire.Op.SIGN, 0) > 0 for f in fakes)
    assert any("slot 0: the devices hold different keys" in line for line in conn.log)


def test_a_zeroized_key_does_not_come_back_with_a_device(fakes):
    load_keys(*fakes)
    with ConnectorProcess([f.url for f in fakes], metrics=True,
                          extra=["--probe-interval", "0.2"]) as conn, \
            Appliance.open(conn.url, timeout=5) as dev:
        fakes[1].kill()
        dev.zeroize(0)  # fakes[1] misses it and keeps the key
        assert 0 not in fakes[0].keys and fakes[1].keys[0][1] == SEED
        fakes[1].restart()
        deadline = time.monotonic() + 20
        while metric(conn.scrape(), "quantgate_device_up", device=fakes[1].url) != 1.0:
            assert time.monotonic() < deadline, "the device was not re-admitted"
            time.sleep(0.1)
        before = fakes[1].received.get(wire.Op.SIGN, 0)
        for _ in range(10):
            with pytest.raises(errors.EmptySlot):  # the pool's slot 0 is empty
                dev.sign(0, b"must not sign")
        assert fakes[1].received.get(wire.Op.SIGN, 0) == before
        verify_k1(hashlib.sha256(b"k").digest(), dev.sign(2, hashlib.sha256(b"k").digest()))


# -- permissions --------------------------------------------------------------------------------

# (client, op, slot) -> allowed, written out from CONFIG by hand.
ALLOWED = {
    "admin": {"sign": {0, 2}, "public_key": {0, 2}, "load_key": {0, 2}, "zeroize": {0, 2},
              "info": True, "echo": True, "stats": True},
    "strategy": {"sign": {2}, "public_key": {2}, "load_key": set(), "zeroize": set(),
                 "info": True, "echo": True, "stats": False},
    "reader": {"sign": set(), "public_key": {0, 2}, "load_key": set(), "zeroize": set(),
               "info": True, "echo": True, "stats": True},
    None: {"sign": set(), "public_key": set(), "load_key": set(), "zeroize": set(),
           "info": True, "echo": True, "stats": False},
}


def _attempt(dev, op, slot):
    if op == "sign":
        return dev.sign(slot, SEED if slot == 2 else b"hello")
    if op == "public_key":
        return dev.public_key(slot)
    if op == "load_key":
        return dev.load_key(slot, "secp256k1" if slot == 2 else "ed25519",
                            D_K1 if slot == 2 else SEED)
    if op == "zeroize":
        return dev.zeroize(slot)
    if op == "info":
        return dev.info()
    if op == "echo":
        return dev.echo(b"x")
    return dev.stats()


def test_permission_matrix(fakes, tmp_path):
    path = tmp_path / "desk.toml"
    path.write_text(CONFIG)
    load_keys(*fakes)
    with ConnectorProcess([f.url for f in fakes], config=path, metrics=True) as conn:
        with pytest.raises(errors.PermissionDenied):
            Appliance.open(conn.url, timeout=5, token="not-a-token")
        for client, table in ALLOWED.items():
            token = TOKENS.get(client)
            with Appliance.open(conn.url, timeout=5, token=token) as dev:
                assert dev.client_name == (client if client else None)
                for op, allowed in table.items():
                    for slot in (0, 2) if isinstance(allowed, set) else (None,):
                        ok = slot in allowed if isinstance(allowed, set) else allowed
                        if ok:
                            _attempt(dev, op, slot)  # raises if refused
                            if op == "zeroize":  # put it back (admin) for the next client
                                _attempt(dev, "load_key", slot)
                        else:
                            with pytest.raises(errors.PermissionDenied):
                                _attempt(dev, op, slot)
                assert dev.echo(b"after") == b"after"  # refusals never end the connection
        with Appliance.open(conn.url, timeout=5, token=TOKENS["strategy"]) as dev:
            digest = hashlib.sha256(b"o").digest()
            with pytest.raises(errors.PermissionDenied):  # slot 10 in the SIGN nibble
                dev.request(wire.Op.SIGN, bytes([0x1A]) + digest)
            with pytest.raises(errors.PermissionDenied):  # an opcode it was not given
                dev.request(0x55, b"")
            verify_k1(digest, dev.sign(2, digest))
            with pytest.raises(errors.PermissionDenied):  # a bad token later...
                dev.call(commands.auth("wrong"))
            with pytest.raises(errors.PermissionDenied):  # ...leaves it anonymous
                dev.sign(2, digest)
            assert dev.echo(b"anonymous may echo") == b"anonymous may echo"
        with Appliance.open(conn.url, timeout=5, token=TOKENS["admin"]) as dev:
            with pytest.raises(errors.UnknownOpcode):  # allowed, and the device's own answer
                dev.request(0x55, b"")
        text = conn.scrape()
        assert metric(text, "quantgate_client_errors_total", client="strategy", op="sign",
                      error="permission_denied") == 2
    assert fakes[0].keys[2][1] == D_K1 and fakes[1].keys[0][1] == SEED


def test_token_given_to_a_device_directly_is_a_clear_error(fakes):
    with pytest.raises(errors.UnknownOpcode):  # a board does not know AUTH
        Appliance.open(fakes[0].url, timeout=2, token="t")


# -- isolation ----------------------------------------------------------------------------------


def _raw_client(address):
    host, _, port = address.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_bad_clients_do_not_disturb_others(fakes):
    load_keys(*fakes)
    with ConnectorProcess([f.url for f in fakes], extra=["--max-in-flight", "8"]) as conn:
        good_results, failures = [], []

        def good_client(n):
            try:
                with Appliance.open(conn.url, timeout=5) as dev:
                    msgs = [b"good %d %d" % (n, i) for i in range(150)]
                    for m, s in zip(msgs, dev.sign_many([(0, m) for m in msgs]), strict=True):
                        verify_ed25519(m, s)
                        good_results.append(m)
            except Exception as exc:  # collected, asserted below
                failures.append(exc)

        # Garbage: random bytes, a bad CRC, a too-short frame; each answered or dropped.
        garbage = _raw_client(conn.address)
        good_frame = codec.encode_request(wire.Op.ECHO, 7, b"ok")
        body = bytearray(codec.cobs_decode(good_frame[:-1]))
        body[-1] ^= 0xFF
        garbage.sendall(os.urandom(3000).replace(b"\x00", b"\x01") + b"\x00"
                        + codec.cobs_encode(bytes(body)) + b"\x00" + b"\x05\x01\x00"
                        + good_frame)
        # A client that stalls half-way through a frame, one that floods without reading,
        # and one that disconnects with requests in flight.
        staller = _raw_client(conn.address)
        staller.sendall(codec.encode_request(wire.Op.ECHO, 1, b"x" * 500)[:200])
        flooder = _raw_client(conn.address)
        flood = b"".join(codec.encode_request(wire.Op.ECHO, i, b"f" * 1000) for i in range(64))
        threading.Thread(target=lambda: _send_quietly(flooder, flood * 40), daemon=True).start()
        quitter = _raw_client(conn.address)  # killed half-way through its 51st frame
        quitter.sendall(b"".join(codec.encode_request(wire.Op.SIGN, i, b"\x00q")
                                 for i in range(50))
                        + codec.encode_request(wire.Op.SIGN, 50, b"\x00" + b"q" * 300)[:150])
        quitter.close()

        threads = [threading.Thread(target=good_client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not failures and len(good_results) == 600

        decoder = codec.FrameDecoder()
        garbage.settimeout(10)
        answers = []
        while len(answers) < 2:
            answers += decoder.feed(garbage.recv(4096))
        assert answers[0].op == wire.Op.ERROR and answers[0].payload[0] == wire.Err.BAD_CRC
        assert (answers[1].op, answers[1].seq, answers[1].payload) == (
            wire.Op.ECHO | 0x80, 7, b"ok")
        with Appliance.open(conn.url, timeout=5) as dev:
            assert dev.echo(b"after all that") == b"after all that"
        for s in (garbage, staller, flooder):
            s.close()


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_back_pressure_bounds_a_client_that_does_not_read(fakes):
    """A client that sends but never reads stops being read once its answers back up: the
    connector's memory for it stays bounded, and others are served."""
    with ConnectorProcess([fakes[0].url], extra=["--max-in-flight", "4"]) as conn:
        flooder = _raw_client(conn.address)
        frames = b"".join(codec.encode_request(wire.Op.ECHO, i & 0xFFFF, b"f" * 1000)
                          for i in range(40000))
        sender = threading.Thread(target=_send_quietly, args=(flooder, frames), daemon=True)
        sender.start()
        sender.join(timeout=5)
        assert sender.is_alive()  # the connector stopped reading: 40 MB are not taken in
        echoed = fakes[0].received.get(wire.Op.ECHO, 0)
        time.sleep(1.0)
        # Only what the sockets' buffers hold was answered, and nothing more is taken in.
        assert fakes[0].received.get(wire.Op.ECHO, 0) == echoed < 20000
        with Appliance.open(conn.url, timeout=5) as dev:
            assert dev.echo(b"me too") == b"me too"
        flooder.close()


# -- failover -----------------------------------------------------------------------------------


def test_killed_device_fails_over_and_comes_back(fakes):
    load_keys(*fakes)
    with ConnectorProcess([f.url for f in fakes], metrics=True,
                          extra=["--probe-interval", "0.2"]) as conn:
        results, failures = {}, []

        def client(n):
            try:
                with Appliance.open(conn.url, timeout=5) as dev:
                    msgs = [b"c%d-%d" % (n, i) for i in range(400)]
                    for m, s in zip(msgs, dev.sign_many([(0, m) for m in msgs]), strict=True):
                        results[m] = s
                    # No answer came twice (the driver would drop the copy, counting it).
                    assert dev.driver_stats["unmatched"] == 0
                    assert dev.driver_stats["retransmits"] == 0
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        while fakes[0].received.get(wire.Op.SIGN, 0) < 100:
            time.sleep(0.01)
        fakes[0].hang()  # what it holds now is in flight when it dies
        time.sleep(0.05)
        in_flight = metric(conn.scrape(), "quantgate_device_in_flight", device=fakes[0].url)
        fakes[0].kill()
        for t in threads:
            t.join(timeout=120)
        assert in_flight > 0  # the failover had requests to move
        assert not failures and len(results) == 1600  # nothing lost, each answered once
        for m, s in results.items():
            verify_ed25519(m, s)
        assert metric(conn.scrape(), "quantgate_device_up", device=fakes[0].url) == 0.0
        fakes[0].restart()
        deadline = time.monotonic() + 20
        while metric(conn.scrape(), "quantgate_device_up", device=fakes[0].url) != 1.0:
            assert time.monotonic() < deadline, "the device was not re-admitted"
            time.sleep(0.1)
        before = fakes[0].received[wire.Op.SIGN]
        with Appliance.open(conn.url, timeout=5) as dev:
            dev.sign_many([(0, b"r%d" % i) for i in range(100)])
        assert fakes[0].received[wire.Op.SIGN] > before  # serving again
        assert metric(conn.scrape(), "quantgate_device_failures_total",
                      device=fakes[0].url) == 1.0


def test_hung_device_fails_over_after_its_timeout(fakes):
    load_keys(*fakes)
    with ConnectorProcess([f.url for f in fakes], extra=["--device-timeout", "0.3",
                                                         "--probe-interval", "60"]) as conn, \
            Appliance.open(conn.url, timeout=5) as dev:
        fakes[1].hang()
        sigs = dev.sign_many([(0, b"h%d" % i) for i in range(60)])
        for i, s in enumerate(sigs):
            verify_ed25519(b"h%d" % i, s)
    assert any("stopped answering" in line and fakes[1].url in line for line in conn.log)


def test_every_device_down_answers_unavailable(fakes):
    load_keys(fakes[0])
    with ConnectorProcess([fakes[0].url], extra=["--probe-interval", "60"]) as conn, \
            Appliance.open(conn.url, timeout=5) as dev:
        fakes[0].kill()
        with pytest.raises(errors.Unavailable):
            dev.sign(0, b"nobody home")
        with pytest.raises(errors.Unavailable):
            dev.echo(b"still nobody")


# -- shutdown and restart -----------------------------------------------------------------------


def test_sigterm_answers_every_request_in_flight(fakes):
    load_keys(fakes[0])
    conn = ConnectorProcess([fakes[0].url], extra=["--grace", "1", "--device-timeout", "30"])
    with conn:
        sock = _raw_client(conn.address)
        sock.sendall(codec.encode_request(wire.Op.ECHO, 1, b"before"))
        decoder = codec.FrameDecoder()
        sock.settimeout(10)
        first = []
        while not first:
            first = decoder.feed(sock.recv(4096))
        fakes[0].hang()  # the next requests stay in flight on the device
        sock.sendall(b"".join(codec.encode_request(wire.Op.SIGN, s, b"\x00x")
                              for s in range(2, 12)))
        deadline = time.monotonic() + 20
        while fakes[0].received.get(wire.Op.SIGN, 0) < 10:  # all ten are on the device
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert conn.terminate() == 0
        answers = []
        while True:
            data = sock.recv(4096)
            if not data:
                break
            answers += decoder.feed(data)
    assert first[0].payload == b"before"
    assert sorted(a.seq for a in answers) == list(range(2, 12))  # none dropped silently
    assert all(a.op == wire.Op.ERROR and a.payload == bytes([wire.Err.UNAVAILABLE,
                                                               wire.Op.SIGN]) for a in answers)


def test_connector_restart_clients_reconnect(fakes, tmp_path):
    load_keys(*fakes)
    sock_path = tmp_path / "qg.sock"
    listen = ("127.0.0.1:0", f"unix:{sock_path}")
    with ConnectorProcess([f.url for f in fakes], listen=listen) as first:
        tcp = first.address
        with Appliance.open(f"unix://{sock_path}", timeout=5) as dev:
            verify_ed25519(b"one", dev.sign(0, b"one"))
        held = Appliance.open(first.url, timeout=1, retries=0)
        assert first.terminate() == 0
        with pytest.raises((errors.LinkError, errors.QuantgateTimeout)):
            held.echo(b"the connector is gone")
        held.close()
    port = tcp.rpartition(":")[2]
    with ConnectorProcess([f.url for f in fakes],
                          listen=(f"127.0.0.1:{port}", f"unix:{sock_path}")) as second:
        for url in (second.url, f"unix://{sock_path}"):
            with Appliance.open(url, timeout=5) as dev:
                verify_ed25519(b"two", dev.sign(0, b"two"))


# -- secrets in host memory ---------------------------------------------------------------------


def test_key_material_never_in_reprs_and_dropped_once_answered(fakes):
    secret = bytes.fromhex("5e" * 32)
    command = commands.load_key(1, "ed25519", secret)
    assert secret.hex() not in repr(command) and "redacted" in repr(command)
    assert TOKENS["admin"] not in repr(commands.auth(TOKENS["admin"]))
    with Appliance.open(fakes[0].url, timeout=2) as dev:
        req = dev.submit(command.op, command.payload, secret=True)
        assert secret.hex() not in repr(req) and "5e5e" not in repr(req)
        dev.result(req)
        assert req.payload == b"" and req.frame == b""  # nothing kept for retransmission
        echo = dev.submit(wire.Op.ECHO, b"public")
        assert "7075626c6963" in repr(echo)  # other payloads stay visible for debugging
        dev.result(echo)
    assert fakes[0].keys[1][1] == secret


def test_frame_decoder_reports_bad_frames_only_when_asked():
    good = codec.encode_request(wire.Op.ECHO, 9, b"abc")
    body = bytearray(codec.cobs_decode(good[:-1]))
    body[6] ^= 1  # payload bit flip: CRC fails
    bad_crc = codec.cobs_encode(bytes(body)) + b"\x00"
    long_body = struct.pack("<BBHH", 1, wire.Op.ECHO, 4, 99) + b"abc"
    import binascii

    bad_len = codec.cobs_encode(long_body + struct.pack("<I", binascii.crc32(long_body))) + b"\0"
    assert codec.FrameDecoder().feed(bad_crc + bad_len + good) == [
        codec.Frame(1, wire.Op.ECHO, 9, b"abc")]
    reported = codec.FrameDecoder(report_errors=True).feed(bad_crc + bad_len + good)
    assert reported == [codec.BadFrame(wire.Err.BAD_CRC, wire.Op.ECHO, 9),
                        codec.BadFrame(wire.Err.BAD_LENGTH, wire.Op.ECHO, 4),
                        codec.Frame(1, wire.Op.ECHO, 9, b"abc")]
