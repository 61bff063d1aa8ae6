"""The host's SIGN and TIMING API (Appliance.sign, sign_many, timing, stats()["cycles"], the
async twins, `quantgate sign`, `quantgate timing` and the signing demo) against a fake device.

SignerPeer extends test_host_peer.FakePeer with the key-slot commands of docs/protocol.md
("KEYS", "SIGN", "TIMING"), signing with PyNaCl, coincurve and cryptography. It is a test
double for the driver; the gateware's signatures are tested against the simulated appliance.
"""

import asyncio
import hashlib
import io
import json
import struct
import sys

import coincurve
import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from test_host_peer import EXPECTED_INFO, FakePeer, error_frame, frame

from quantgate import wire
from quantgate.host import Appliance, AsyncAppliance, codec, commands, demo_sign, errors
from quantgate.host.cli import main as cli_main

SIGNER_CORE_IDS = (wire.Core.LINK, wire.Core.ED25519, wire.Core.SECP256K1, wire.Core.P256)
N = {1: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
     2: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551}
LOAD_CYCLES = {0: 16_981, 1: 23_393, 2: 25_675}
SIGN_CYCLES = {1: 61_234, 2: 66_543}  # Ed25519: ed25519_cycles(len)


def ed25519_cycles(n):
    return 40_000 + 350 * ((n + 32 + 17 + 127) // 128)  # one SHA-512 block more per 128 bytes


def p256_recovery_id(public_key, digest, r, s):
    """v of (r, s): R = z/s G + r/s Q in Python integers (demo_sign's affine arithmetic)."""
    c = demo_sign.WEIERSTRASS["p256"]
    n, nums = c["n"], public_key.public_numbers()
    w = pow(s, -1, n)
    z = int.from_bytes(digest, "big")
    R = demo_sign._add(demo_sign._mul(z * w % n, c["G"], c),
                       demo_sign._mul(r * w % n, (nums.x, nums.y), c), c)
    assert R[0] % n == r
    return (R[1] & 1) | (2 if R[0] >= n else 0)


def reference_public_key(curve, secret):
    if curve == 0:
        return nacl.signing.SigningKey(secret).verify_key.encode()
    if curve == 1:
        return coincurve.PrivateKey(secret).public_key.format(compressed=True)
    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.CompressedPoint)


def reference_signature(curve, secret, message):
    """What the device must answer (without the curve byte), by the reference libraries."""
    if curve == 0:
        return nacl.signing.SigningKey(secret).sign(message).signature
    if curve == 1:
        return coincurve.PrivateKey(secret).sign_recoverable(message, hasher=None)  # low-S
    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())
    r, s = decode_dss_signature(key.sign(
        message, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)))
    v = p256_recovery_id(key.public_key(), message, r, s)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


class SignerPeer(FakePeer):
    """FakePeer plus LOAD_KEY, PUBLIC_KEY, ZEROIZE, SIGN and TIMING (docs/protocol.md)."""

    def __init__(self, *, cores=SIGNER_CORE_IDS, serve_timing=True):
        self.info_payload = struct.pack("<BBBBIIHHB", 1, 0, 2, 0, 100_000_000, 3_000_000, 1024,
                                        2048, len(cores)) + bytes(cores)
        self.serve_timing = serve_timing
        self.slots = {}  # slot -> (curve, secret)
        self.cycles = {(op, c): [0, 0xFFFFFFFF, 0, 0] for op in range(2) for c in range(3)}
        super().__init__()

    def load(self, slot, curve, secret):
        self.slots[slot] = (curve, bytes(secret))

    def _count(self, op, curve, cycles):
        rec = self.cycles[op, curve]
        rec[0] += 1
        rec[1], rec[2], rec[3] = min(rec[1], cycles), max(rec[2], cycles), cycles

    def respond(self, op, seq, payload):
        def ok(data=b""):
            return frame(op | 0x80, seq, data)

        def err(code):
            return error_frame(seq, code, op)

        if op == wire.Op.INFO:
            return ok(self.info_payload)
        if op == wire.Op.LOAD_KEY:
            if len(payload) != 34 or payload[0] >= 8 or payload[1] >= 3:
                return err(wire.Err.BAD_ARGUMENT)
            curve, secret = payload[1], payload[2:]
            if curve and not 0 < int.from_bytes(secret, "big") < N[curve]:
                return err(wire.Err.BAD_ARGUMENT)
            self.load(payload[0], curve, secret)
            self._count(0, curve, LOAD_CYCLES[curve])
            return ok()
        if op in (wire.Op.PUBLIC_KEY, wire.Op.ZEROIZE):
            if len(payload) != 1 or payload[0] >= 8:
                return err(wire.Err.BAD_ARGUMENT)
            if op == wire.Op.ZEROIZE:
                self.slots.pop(payload[0], None)
                return ok()
            if payload[0] not in self.slots:
                return err(wire.Err.EMPTY_SLOT)
            curve, secret = self.slots[payload[0]]
            return ok(bytes([curve]) + reference_public_key(curve, secret))
        if op == wire.Op.SIGN:
            slot, expected = (payload[0] & 0xF, payload[0] >> 4) if payload else (99, 99)
            if slot >= 8 or expected not in (0, 1, 2, wire.CURVE_ANY):
                return err(wire.Err.BAD_ARGUMENT)
            if slot not in self.slots:
                return err(wire.Err.EMPTY_SLOT)
            curve, secret = self.slots[slot]
            if expected not in (curve, wire.CURVE_ANY):
                return err(wire.Err.WRONG_CURVE)
            message = payload[1:]
            if curve and len(message) != 32:
                return err(wire.Err.BAD_ARGUMENT)
            self._count(1, curve, SIGN_CYCLES[curve] if curve else ed25519_cycles(len(message)))
            return ok(bytes([curve]) + reference_signature(curve, secret, message))
        if op == wire.Op.TIMING and self.serve_timing:
            return ok(b"".join(struct.pack("<4I", *self.cycles[k]) for k in sorted(self.cycles)))
        return super().respond(op, seq, payload)


SECRETS = {0: bytes(range(32)), 1: hashlib.sha256(b"k1").digest(),
           2: hashlib.sha256(b"r1").digest()}
NAMES = {0: "ed25519", 1: "secp256k1", 2: "p256"}


@pytest.fixture
def peer():
    p = SignerPeer()
    for curve, secret in SECRETS.items():  # slot = curve code
        p.load(curve, curve, secret)
    yield p
    p.close()


@pytest.fixture
def dev(peer):
    with Appliance.open(peer.url, timeout=1.0, retries=1) as d:
        yield d


def sign_payloads(peer):
    return [payload for op, _, payload in peer.received if op == wire.Op.SIGN]


ORDER = json.dumps({"instrument": "BTC-27DEC26-100000-C", "side": "buy", "qty": "5",
                    "price": "0.0425", "client_order_id": "t-1", "ts": 1}).encode()
DIGEST = hashlib.sha256(ORDER).digest()
TOO_LONG = wire.MAX_SIGN_MESSAGE + 1


# -- sign ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", [0, 1, 2])
def test_sign_matches_the_reference_libraries(dev, peer, curve):
    message = ORDER if curve == 0 else DIGEST
    want = reference_signature(curve, SECRETS[curve], message)
    assert dev.sign(curve, message) == want  # curve=None: whatever the slot holds
    assert dev.sign(curve, bytearray(message), curve=NAMES[curve]) == want
    assert dev.sign(curve, memoryview(message), curve=NAMES[curve].upper()) == want
    assert dev.sign(curve, message, curve=wire.Curve(curve)) == want
    assert sign_payloads(peer) == [bytes([curve | wire.CURVE_ANY << 4]) + message] + [
        bytes([curve | curve << 4]) + message] * 3
    assert len(want) == (64 if curve == 0 else 65)
    pk = dev.public_key(curve)
    assert demo_sign.verify(NAMES[curve], pk, message, want)
    if curve:
        assert demo_sign.recover_public_key(NAMES[curve], message, want) == pk


def test_ed25519_message_lengths(dev, peer):
    for n in (0, 1, 127, 128, wire.MAX_SIGN_MESSAGE):
        message = bytes([n % 251]) * n
        assert dev.sign(0, message, curve="ed25519") == reference_signature(0, SECRETS[0],
                                                                            message)


def test_recovery_ids_of_many_signatures(dev, peer):
    """v must recover the key: coincurve's recid for secp256k1, the fake's for P-256, across
    enough digests that both parities occur."""
    digests = [hashlib.sha256(b"%d" % i).digest() for i in range(24)]
    for curve in (1, 2):
        sigs = dev.sign_many([(curve, d) for d in digests])
        assert {s[64] & 1 for s in sigs} == {0, 1}
        pk = dev.public_key(curve)
        for d, s in zip(digests, sigs, strict=True):
            assert demo_sign.recover_public_key(NAMES[curve], d, s) == pk
            assert demo_sign.verify(NAMES[curve], pk, d, s)
            assert demo_sign.recover_public_key(NAMES[curve], d, s[:64] + bytes([s[64] ^ 1])) != pk
        if curve == 1:
            assert all(int.from_bytes(s[32:64], "big") <= N[1] // 2 for s in sigs)
    bad = bytearray(dev.sign(0, ORDER))
    bad[5] ^= 1
    assert not demo_sign.verify("ed25519", dev.public_key(0), ORDER, bytes(bad))


@pytest.mark.parametrize("args, exc, words", [
    ((-1, ORDER), ValueError, ["slot", "-1"]),
    ((8, ORDER), ValueError, ["slot", "8"]),
    (("0", ORDER), TypeError, ["slot", "str"]),
    ((True, ORDER), TypeError, ["slot", "bool"]),
    ((0, "order"), TypeError, ["bytes", "str", "encode"]),
    ((0, 12345), TypeError, ["bytes-like", "int"]),
    ((0, None), TypeError, ["bytes-like", "NoneType"]),
    ((0, ORDER, "ed448"), ValueError, ["ed448", "secp256k1"]),
    ((0, ORDER, 1), TypeError, ["curve", "int"]),
    ((0, bytes(TOO_LONG), "ed25519"), ValueError, [str(TOO_LONG), str(TOO_LONG - 1), "hash",
                                                   "split"]),
    ((0, bytes(TOO_LONG)), ValueError, [str(TOO_LONG), "hash"]),
    ((1, ORDER, "secp256k1"), ValueError, ["32-byte digest", str(len(ORDER)), "sha256"]),
    ((2, bytes(31), "p256"), ValueError, ["32-byte digest", "31"]),
    ((2, bytes(33), "P256"), ValueError, ["32-byte digest", "33"]),
])
def test_sign_checks_arguments_before_sending(dev, peer, args, exc, words):
    with pytest.raises(exc) as info:
        dev.sign(*args[:2], curve=args[2] if len(args) > 2 else None)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    with pytest.raises(exc):
        dev.sign_many([(1, DIGEST), args])
    assert dev.echo(b"x") == b"x"
    assert [op for op, _, _ in peer.received] == [wire.Op.ECHO]  # nothing else reached the wire


def test_sign_many_rejects_malformed_requests(dev, peer):
    for bad in ([(0,)], [(0, ORDER, "ed25519", "extra")], [b"not a tuple"], [0]):
        with pytest.raises(TypeError, match="sign request 0"):
            dev.sign_many(bad)
    with pytest.raises(ValueError, match="sign request 2: key slot 9"):
        dev.sign_many([(0, ORDER), (1, DIGEST), (9, DIGEST)])
    assert peer.received == []


@pytest.mark.parametrize("slot, curve, message, cls, code", [
    (0, "p256", DIGEST, errors.WrongCurve, wire.Err.WRONG_CURVE),
    (1, "ed25519", ORDER, errors.WrongCurve, wire.Err.WRONG_CURVE),
    (2, "secp256k1", DIGEST, errors.WrongCurve, wire.Err.WRONG_CURVE),
    (5, None, ORDER, errors.EmptySlot, wire.Err.EMPTY_SLOT),
    (5, "p256", DIGEST, errors.EmptySlot, wire.Err.EMPTY_SLOT),
    (1, None, ORDER, errors.BadArgument, wire.Err.BAD_ARGUMENT),  # ECDSA slot, not a digest
])
def test_device_errors(dev, peer, slot, curve, message, cls, code):
    with pytest.raises(cls) as info:
        dev.sign(slot, message, curve=curve)
    assert info.value.code == code and info.value.request_op == wire.Op.SIGN
    assert f"{code.name} for SIGN" in str(info.value)
    assert dev.sign(0, ORDER) == reference_signature(0, SECRETS[0], ORDER)


def test_sign_failed_and_wrong_curve_messages(dev, peer):
    peer.plan.append(("error", wire.Err.SIGN_FAILED))
    with pytest.raises(errors.SignFailed, match="SIGN_FAILED for SIGN: no valid nonce") as info:
        dev.sign(2, DIGEST, curve="p256")
    assert isinstance(info.value, errors.DeviceError)
    with pytest.raises(errors.WrongCurve, match="another curve"):
        dev.sign(0, DIGEST, curve="p256")
    assert errors.DeviceError.from_code(0x0A, wire.Op.SIGN).__class__ is errors.SignFailed


@pytest.mark.parametrize("payload", [
    b"",
    b"\x00" + bytes(63),  # Ed25519 one byte short
    b"\x00" + bytes(65),  # Ed25519 with an ECDSA length
    b"\x01" + bytes(64),
    b"\x02" + bytes(66),
    b"\x03" + bytes(64),  # no such curve
    b"\x01" + bytes(64) + b"\x04",  # recovery id out of range
])
def test_malformed_sign_results(payload):
    with pytest.raises(errors.ProtocolError):
        commands.sign(0, ORDER).parse(payload)


def test_sign_result_of_another_curve_is_a_protocol_error():
    with pytest.raises(errors.ProtocolError, match="p256 signature, but secp256k1"):
        commands.sign(1, DIGEST, "secp256k1").parse(b"\x02" + bytes(65))
    assert commands.sign(1, DIGEST).parse(b"\x02" + bytes(64) + b"\x01") == bytes(64) + b"\x01"
    assert commands.sign_detailed(0, b"").parse(b"\x00" + bytes(64)) == ("ed25519", bytes(64))


def test_sign_many_order_and_errors(dev, peer):
    requests = []
    for i in range(60):
        curve = i % 3
        msg = ORDER + b"%d" % i
        requests.append((curve, msg if curve == 0 else hashlib.sha256(msg).digest(),
                         *([NAMES[curve]] if i % 2 else [])))
    want = [reference_signature(r[0], SECRETS[r[0]], r[1]) for r in requests]
    assert dev.sign_many(requests) == want
    assert dev.sign_many(iter(requests[:7]), depth=2) == want[:7]
    assert dev.sign_many([]) == []

    mixed = [(0, ORDER), (4, ORDER), (1, DIGEST, "p256"), (2, DIGEST)]
    got = dev.sign_many(mixed, return_exceptions=True)
    assert got[0] == reference_signature(0, SECRETS[0], ORDER)
    assert isinstance(got[1], errors.EmptySlot) and isinstance(got[2], errors.WrongCurve)
    assert got[3] == reference_signature(2, SECRETS[2], DIGEST)
    with pytest.raises(errors.EmptySlot):
        dev.sign_many(mixed)
    assert dev.sign(1, DIGEST) == reference_signature(1, SECRETS[1], DIGEST)


def test_sign_many_survives_losses(dev, peer):
    peer.plan.extend(["ok", "drop", "dup", "corrupt", "ok", ("delay", 0.05)])
    requests = [(i % 3, ORDER if i % 3 == 0 else DIGEST) for i in range(12)]
    want = [reference_signature(s, SECRETS[s], m) for s, m in requests]
    assert dev.sign_many(requests) == want


def test_async_sign(peer):
    async def main():
        async with AsyncAppliance.open(peer.url, timeout=1.0, retries=1) as d:
            sigs = await asyncio.gather(d.sign(0, ORDER), d.sign(1, DIGEST, curve="secp256k1"),
                                        d.sign(2, DIGEST, curve="p256"))
            assert sigs == [reference_signature(c, SECRETS[c], m)
                            for c, m in ((0, ORDER), (1, DIGEST), (2, DIGEST))]
            many = await d.sign_many([(1, DIGEST), (7, DIGEST), (0, ORDER, "ed25519")],
                                     return_exceptions=True)
            assert many[0] == sigs[1] and isinstance(many[1], errors.EmptySlot)
            assert many[2] == sigs[0]
            with pytest.raises(errors.WrongCurve):
                await d.sign(0, DIGEST, curve="secp256k1")
            with pytest.raises(ValueError, match="32-byte digest"):
                await d.sign(1, ORDER, curve="secp256k1")
            with pytest.raises(TypeError, match="sign request 1"):
                await d.sign_many([(0, ORDER), (0, "text")])
            timing = await d.timing()
            assert timing["sign"]["secp256k1"]["count"] == 2
            stats = await d.stats()
            assert stats["cycles"] == await d.timing()
            assert list(stats)[:-1] == list(wire.STATS_FIELDS)

    asyncio.run(asyncio.wait_for(main(), 20))


# -- timing and stats ---------------------------------------------------------------------------


def timing_payload(records):
    return b"".join(struct.pack("<4I", *r) for r in records)


def test_decode_timing():
    empty = [0, 0xFFFFFFFF, 0, 0]
    records = [[3, 100, 120, 110], empty, empty, [2**32 - 1, 7, 9, 8], empty, [1, 5, 5, 5]]
    t = codec.decode_timing(timing_payload(records))
    assert list(t) == ["load_key", "sign"]
    assert all(list(v) == ["ed25519", "secp256k1", "p256"] for v in t.values())
    assert t["load_key"]["ed25519"] == {"count": 3, "min_cycles": 100, "max_cycles": 120,
                                        "last_cycles": 110}
    assert t["load_key"]["secp256k1"] == {"count": 0, "min_cycles": None, "max_cycles": None,
                                          "last_cycles": 0}
    assert t["sign"]["ed25519"]["count"] == 2**32 - 1
    assert t["sign"]["p256"] == {"count": 1, "min_cycles": 5, "max_cycles": 5, "last_cycles": 5}
    assert codec.decode_timing(timing_payload(records) + b"\x01" * 16) == t  # later fields
    with pytest.raises(errors.ProtocolError, match="TIMING"):
        codec.decode_timing(timing_payload(records)[:-1])
    json.dumps(t)  # plain ints and None


def test_timing_counts_loads_and_signatures(dev, peer):
    t = dev.timing()
    assert all(rec["count"] == 0 and rec["min_cycles"] is None
               for op in t.values() for rec in op.values())
    dev.load_key(3, "p256", SECRETS[2])
    dev.sign_many([(1, DIGEST)] * 3 + [(0, b"short"), (0, bytes(500))])
    t = dev.timing()
    assert t["load_key"]["p256"] == {"count": 1, "min_cycles": LOAD_CYCLES[2],
                                     "max_cycles": LOAD_CYCLES[2], "last_cycles": LOAD_CYCLES[2]}
    assert t["sign"]["secp256k1"] == {"count": 3, "min_cycles": SIGN_CYCLES[1],
                                      "max_cycles": SIGN_CYCLES[1], "last_cycles": SIGN_CYCLES[1]}
    assert t["sign"]["ed25519"]["min_cycles"] == ed25519_cycles(5)
    assert t["sign"]["ed25519"]["max_cycles"] == ed25519_cycles(500)
    assert t["sign"]["p256"]["count"] == 0 and t["sign"]["p256"]["max_cycles"] is None


def test_stats_adds_cycles_for_a_signer(dev, peer):
    dev.sign(2, DIGEST)
    stats = dev.stats()
    assert list(stats) == [*wire.STATS_FIELDS, "cycles"]
    assert stats["cycles"]["sign"]["p256"]["count"] == 1
    assert stats["frames_ok"] == 2  # INFO (asked once, cached), SIGN
    ops = [op for op, _, _ in peer.received]
    assert ops == [wire.Op.SIGN, wire.Op.INFO, wire.Op.STATS, wire.Op.TIMING]
    dev.stats()
    assert [op for op, _, _ in peer.received][4:] == [wire.Op.STATS, wire.Op.TIMING]


def test_stats_of_a_link_only_device_is_unchanged():
    p = FakePeer()  # INFO lists the link only
    try:
        with Appliance.open(p.url, timeout=1.0, retries=0) as d:
            stats = d.stats()
            assert list(stats) == list(wire.STATS_FIELDS)
            assert d.info() == EXPECTED_INFO
            d.stats()
            with pytest.raises(errors.UnknownOpcode, match="UNKNOWN_OPCODE for TIMING"):
                d.timing()
        assert [op for op, _, _ in p.received] == [wire.Op.INFO, wire.Op.STATS, wire.Op.INFO,
                                                   wire.Op.STATS, wire.Op.TIMING]
    finally:
        p.close()


def test_stats_of_a_signer_without_timing_leaves_cycles_out():
    p = SignerPeer(serve_timing=False)
    try:
        with Appliance.open(p.url, timeout=1.0, retries=0) as d:
            assert list(d.stats()) == list(wire.STATS_FIELDS)
            p.plan.extend(["ok", ("error", wire.Err.BUSY)])  # STATS fine, TIMING busy: raise
            with pytest.raises(errors.Busy):
                d.stats()
            p.plan.extend([("error", wire.Err.BUSY), "ok"])
            with pytest.raises(errors.Busy):
                d.stats()
    finally:
        p.close()


# -- command line -------------------------------------------------------------------------------


def cli(peer, *args):
    return cli_main(["sign", "--url", peer.url, *args])


def test_cli_sign_hex_message(peer, capsys):
    assert cli(peer, "--slot", "0", "--message", ORDER.hex()) == 0
    assert capsys.readouterr().out == reference_signature(0, SECRETS[0], ORDER).hex() + "\n"


def test_cli_sign_json_ecdsa_with_sha256(peer, capsys, tmp_path):
    path = tmp_path / "order.json"
    path.write_bytes(ORDER)
    assert cli(peer, "--slot", "1", "--curve", "secp256k1", "--file", str(path), "--digest",
               "sha256", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    want = reference_signature(1, SECRETS[1], DIGEST)
    assert out == {"slot": 1, "curve": "secp256k1", "digest": "sha256",
                   "signature": want.hex(), "r": want[:32].hex(), "s": want[32:64].hex(),
                   "v": want[64]}
    assert sign_payloads(peer) == [bytes([0x11]) + DIGEST]


def test_cli_sign_stdin(peer, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ORDER)))
    assert cli(peer, "--slot", "2", "--stdin", "--digest", "sha256", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["curve"] == "p256" and out["signature"] == reference_signature(
        2, SECRETS[2], DIGEST).hex()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ORDER)))
    assert cli_main(["sign", "--url", "socket://127.0.0.1:1", "--slot", "0", "--stdin",
                     "--json"]) == 1  # no device there; the message was read first


def test_cli_sign_ed25519_json(peer, capsys):
    assert cli(peer, "--slot", "0", "--curve", "ed25519", "--message", "0x" + ORDER.hex(),
               "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"slot", "curve", "digest", "signature"}
    assert out["signature"] == reference_signature(0, SECRETS[0], ORDER).hex()


@pytest.mark.parametrize("args, code, words", [
    (["--slot", "5", "--message", "00"], 1, ["EMPTY_SLOT for SIGN"]),
    (["--slot", "0", "--curve", "p256", "--message", DIGEST.hex()], 1, ["WRONG_CURVE"]),
    (["--slot", "1", "--message", "abcd"], 2, ["BAD_ARGUMENT", "--digest sha256"]),
    (["--slot", "1", "--curve", "secp256k1", "--message", "abcd"], 2,
     ["32-byte digest", "2 bytes"]),
    (["--slot", "9", "--message", "00"], 2, ["slot 9"]),
    (["--slot", "0", "--message", "xyz"], 2, ["not hex"]),
    (["--slot", "0", "--file", "/nonexistent/order.json"], 1, ["No such file"]),
])
def test_cli_sign_errors_are_one_line(peer, capsys, args, code, words):
    assert cli(peer, *args) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quantgate: error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_cli_sign_needs_one_source(peer, capsys):
    with pytest.raises(SystemExit):
        cli(peer, "--slot", "0")
    with pytest.raises(SystemExit):
        cli(peer, "--slot", "0", "--message", "00", "--stdin")
    with pytest.raises(SystemExit):
        cli(peer, "--slot", "0", "--message", "00", "--digest", "sha3_256")


def test_cli_stats_and_timing(capsys):
    for args in (["stats", "--json"], ["timing", "--json"], ["stats"], ["timing"]):
        p = SignerPeer()
        p.cycles[1, 2] = [4, 66_543, 66_543, 66_543]
        try:
            assert cli_main([*args, "--url", p.url]) == 0
        finally:
            p.close()
        out = capsys.readouterr().out
        if args == ["stats", "--json"]:
            stats = json.loads(out)
            assert list(stats) == [*wire.STATS_FIELDS, "cycles"]
            assert stats["cycles"]["sign"]["p256"]["min_cycles"] == 66_543
            assert stats["cycles"]["sign"]["ed25519"]["min_cycles"] is None
        elif args == ["timing", "--json"]:
            assert json.loads(out)["sign"]["p256"]["count"] == 4
        else:
            assert "sign p256" in out and "66,543" in out
            assert ("frames_ok" in out) == (args == ["stats"])


# -- demo ---------------------------------------------------------------------------------------


def test_demo_secrets_are_valid_keys():
    assert len({demo_sign.demo_secret(c) for c in demo_sign.CURVES}) == 3
    for curve in ("secp256k1", "p256"):
        d = int.from_bytes(demo_sign.demo_secret(curve), "big")
        assert 0 < d < demo_sign.WEIERSTRASS[curve]["n"]
    for curve in ("secp256k1", "p256"):  # the pure-Python curve matches the library
        c = demo_sign.WEIERSTRASS[curve]
        assert demo_sign._mul(c["n"], c["G"], c) is None
        secret = demo_sign.demo_secret(curve)
        Q = demo_sign._mul(int.from_bytes(secret, "big"), c["G"], c)
        assert bytes([2 | Q[1] & 1]) + Q[0].to_bytes(32, "big") == \
            demo_sign.reference_public_key(curve, secret)


def test_demo_orders():
    assert len(demo_sign.ed25519_orders()) == 4
    for doc in demo_sign.ed25519_orders():
        order = json.loads(doc)
        assert {"instrument", "side", "qty", "price", "client_order_id", "ts"} <= set(order)
        assert len(doc) <= wire.MAX_SIGN_MESSAGE
    for doc, digest in demo_sign.p256_orders() + demo_sign.secp256k1_orders(False):
        assert digest == hashlib.sha256(doc).digest()  # (secp256k1: the labelled stand-in)
    assert json.loads(demo_sign.secp256k1_orders()[0][0])["primaryType"] == "Order"
    # With eth-account: the EIP-712 digest, as eth-account's own signing hashes it.
    from eth_account import Account

    key = demo_sign.demo_secret("secp256k1")
    for (doc, digest), typed in zip(demo_sign.secp256k1_orders(True), demo_sign.eip712_orders(),
                                    strict=True):
        assert json.loads(doc) == typed
        assert digest == bytes(Account.sign_typed_data(key, full_message=typed).message_hash)


def test_demo_sign(dev, peer):
    out = io.StringIO()
    summary = demo_sign.run(dev, out)
    assert summary["ok"] and summary["signatures"] == 12
    for curve, row in summary["curves"].items():
        assert row["signed"] == row["verified"] == 4
        assert row["new_count"] == 5  # the batch and the single round trip
        if curve != "ed25519":
            assert row["min_cycles"] == row["max_cycles"] == SIGN_CYCLES[
                wire.Curve[curve.upper()]]
            assert row["us_at_clock"][0] == pytest.approx(row["min_cycles"] / 100)
    text = out.getvalue()
    for words in ("DEMO KEYS", "NOT secret", "EIP-712", "Keccak", "secp256k1", "round trip",
                  f"{SIGN_CYCLES[2]:,}", "665.4", "through eth-account", "solders verify",
                  "PyJWT decode", "PyNaCl verify"):
        assert words in text, words
    assert "STAND-IN" not in text and summary["eip712"]
    items = summary["integrations"]  # the adapters, one printed line each
    assert [it["adapter"] for it in items] == ["eth"] * 4 + ["solana", "jwt", "rest"]
    assert all(it["ok"] is True for it in items), items
    assert sum(it["detail"] in text and it["item"] in text for it in items) == len(items)
    # the peer's own keys (slots 0-2) were left alone: the demo took 3-5 and zeroized them
    assert [row["slot"] for row in summary["curves"].values()] == [3, 4, 5]
    assert all(row["slot"] not in peer.slots for row in summary["curves"].values())
    assert {s: peer.slots[s] for s in range(3)} == {c: (c, SECRETS[c]) for c in range(3)}


def test_demo_refuses_without_three_empty_slots_and_loads_nothing(dev, peer):
    for slot in range(3, wire.NUM_KEY_SLOTS - 1):  # only slot 7 left empty
        peer.load(slot, 0, bytes([slot]) * 32)
    before = dict(peer.slots)
    with pytest.raises(ValueError, match="needs 3 empty key slots and only 1 are empty"):
        demo_sign.run(dev, io.StringIO())
    assert peer.slots == before
    assert not [op for op, _, _ in peer.received if op in (wire.Op.LOAD_KEY, wire.Op.ZEROIZE)]


def test_demo_without_eth_account_labels_the_stand_in(dev, peer, monkeypatch):
    for name in ("eth_account", "eth_account.messages", "quantgate.integrations.eth"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    out = io.StringIO()
    summary = demo_sign.run(dev, out)
    assert summary["ok"] and not summary["eip712"]
    assert summary["curves"]["secp256k1"]["verified"] == 4  # SHA-256 digests, still checked
    eth = [it for it in summary["integrations"] if it["adapter"] == "eth"]
    assert len(eth) == 1 and eth[0]["ok"] is None and "quantgate[eth]" in eth[0]["detail"]
    assert "STAND-IN" in out.getvalue() and "quantgate[eth]" in out.getvalue()


def test_demo_reports_a_bad_signature(dev, peer, monkeypatch):
    real = reference_signature

    def broken(curve, secret, message):
        sig = bytearray(real(curve, secret, message))
        if curve == 2:
            sig[10] ^= 1
        return bytes(sig)

    monkeypatch.setitem(globals(), "reference_signature", broken)
    summary = demo_sign.run(dev, None)
    assert not summary["ok"]
    assert summary["curves"]["p256"]["verified"] == 0
    assert summary["curves"]["ed25519"]["verified"] == 4
    # The JWT comes from the P-256 slot: PyJWT rejects it, the other adapters' items pass.
    failed = [it["adapter"] for it in summary["integrations"] if it["ok"] is not True]
    assert failed == ["jwt"]


def test_board_clock(tmp_path, dev, peer, monkeypatch):
    assert demo_sign.board_clock(tmp_path) is None
    (tmp_path / "build" / "ulx3s-85f").mkdir(parents=True)
    (tmp_path / "bench" / "results").mkdir(parents=True)
    report = {"cores": ["link", "greeks"], "fmax": {"sync": {"achieved_mhz": 115.4}}}
    (tmp_path / "bench" / "results" / "greeks.json").write_text(json.dumps(report))
    assert demo_sign.board_clock(tmp_path) is None  # no signer in that build
    report = {"cores": ["link", "ed25519", "secp256k1", "p256"],
              "fmax": {"sync": {"achieved_mhz": 87.5}}}
    (tmp_path / "build" / "ulx3s-85f" / "report.json").write_text(json.dumps(report))
    (tmp_path / "bench" / "results" / "broken.json").write_text("{")
    assert demo_sign.board_clock(tmp_path) == (87.5, "build/ulx3s-85f/report.json")
    # A build that met timing runs at its PLL clock, not at its routed fmax.
    report["fmax"]["sync"]["target_mhz"] = 35.714286
    (tmp_path / "build" / "ulx3s-85f" / "report.json").write_text(json.dumps(report))
    assert demo_sign.board_clock(tmp_path) == (35.714286, "build/ulx3s-85f/report.json")
    monkeypatch.setattr(demo_sign, "board_clock", lambda: (35.714286, "build/x/report.json"))
    out = io.StringIO()
    summary = demo_sign.run(dev, out)
    assert summary["curves"]["p256"]["us_at_board"][0] == pytest.approx(
        SIGN_CYCLES[2] / 35.714286)
    assert "us @35.71MHz" in out.getvalue() and f"{SIGN_CYCLES[2] / 35.714286:.1f}" in \
        out.getvalue()


def test_cli_demo_with_signer(capsys):
    p = SignerPeer()
    try:
        assert cli_main(["demo", "--url", p.url, "--count", "50", "--json"]) == 0
    finally:
        p.close()
    summary = json.loads(capsys.readouterr().out)
    assert summary["signing"]["ok"] and summary["signing"]["signatures"] == 12
    assert summary["greeks_chain"] is None


def test_cli_keccak_only_with_pycryptodome(peer, capsys, monkeypatch):
    import types

    from quantgate.host import cli

    if not cli._has_keccak():
        with pytest.raises(SystemExit):
            cli_main(["sign", "--url", peer.url, "--slot", "1", "--message", "00",
                      "--digest", "keccak256"])
        assert "keccak256" in capsys.readouterr().err
    fake = types.ModuleType("Crypto.Hash.keccak")  # the call shape of pycryptodome's module
    fake.new = lambda data, digest_bits: types.SimpleNamespace(
        digest=lambda: hashlib.sha3_256(data).digest() if digest_bits == 256 else None)
    monkeypatch.setitem(sys.modules, "Crypto", types.ModuleType("Crypto"))
    monkeypatch.setitem(sys.modules, "Crypto.Hash", types.ModuleType("Crypto.Hash"))
    monkeypatch.setitem(sys.modules, "Crypto.Hash.keccak", fake)
    sys.modules["Crypto.Hash"].keccak = fake
    monkeypatch.setattr(cli, "DIGESTS", (*cli.DIGESTS, "keccak256"))
    assert cli_main(["sign", "--url", peer.url, "--slot", "1", "--message", ORDER.hex(),
                     "--digest", "keccak256"]) == 0
    want = reference_signature(1, SECRETS[1], hashlib.sha3_256(ORDER).digest())
    assert capsys.readouterr().out.strip() == want.hex()
