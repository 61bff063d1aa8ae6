"""`quantgate selftest` (host/selftest.py): its logic against a fake appliance, and its
hard-coded known answers against the reference libraries (PyNaCl, coincurve, cryptography,
SciPy), so the selftest itself needs none of them at run time.

FakeAppliance implements the public Appliance methods the selftest calls (info, echo, load_key,
public_key, zeroize, sign, timing, greeks) with the reference libraries and a cycle model that is
constant per curve (Ed25519: per message length), as docs/protocol.md specifies.
"""

import argparse
import hashlib
import json
import math

import coincurve
import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from scipy.stats import norm

from quantgate import wire
from quantgate.host import selftest
from quantgate.host.commands import Greeks
from quantgate.host.errors import EmptySlot
from quantgate.sim import vectors

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CURVES = ("ed25519", "secp256k1", "p256")


# -- references ----------------------------------------------------------------------------------


def greeks_float64(spot, strike, expiry, rate, carry, vol, call, model):
    """Generalised Black-Scholes with cost of carry b (Haug): b = r - q (BSM), 0 (Black-76)."""
    b = 0.0 if model == "black76" else rate - carry
    w = 1.0 if call else -1.0
    v = vol * math.sqrt(expiry)
    d1 = (math.log(spot / strike) + b * expiry) / v + v / 2
    d2 = d1 - v
    cq, dr = math.exp((b - rate) * expiry), math.exp(-rate * expiry)
    price = w * (spot * cq * norm.cdf(w * d1) - strike * dr * norm.cdf(w * d2))
    return {
        "price": price,
        "delta": w * cq * norm.cdf(w * d1),
        "gamma": cq * norm.pdf(d1) / (spot * v),
        "vega": spot * cq * norm.pdf(d1) * math.sqrt(expiry),
        "theta": (-spot * cq * norm.pdf(d1) * vol / (2 * math.sqrt(expiry))
                  - w * (b - rate) * spot * cq * norm.cdf(w * d1)
                  - w * rate * strike * dr * norm.cdf(w * d2)),
        "rho": -expiry * price if model == "black76" else w * strike * expiry * dr
        * norm.cdf(w * d2),
    }


def _p256_key(secret: bytes):
    return ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())


def _compressed(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.X962,
                                   serialization.PublicFormat.CompressedPoint)


def p256_sign(secret: bytes, digest: bytes) -> bytes:
    """r || s || v: cryptography's RFC 6979 signature; v from R = u1 G + u2 Q."""
    key = _p256_key(secret)
    r, s = decode_dss_signature(
        key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)))
    # R = (z/s) G + (r/s) Q = k G: the nonce is k = (z + r d) / s, and k G is a public key.
    d, z = int.from_bytes(secret, "big"), int.from_bytes(digest, "big")
    k = (z + r * d) * pow(s, -1, P256_N) % P256_N
    R = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers()
    assert R.x % P256_N == r
    v = (R.y & 1) | (2 if R.x >= P256_N else 0)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def reference_public_key(curve: str, secret: bytes) -> bytes:
    if curve == "ed25519":
        return nacl.signing.SigningKey(secret).verify_key.encode()
    if curve == "secp256k1":
        return coincurve.PrivateKey(secret).public_key.format(compressed=True)
    return _compressed(_p256_key(secret).public_key())


def reference_signature(curve: str, secret: bytes, message: bytes) -> bytes:
    if curve == "ed25519":
        return nacl.signing.SigningKey(secret).sign(message).signature
    if curve == "secp256k1":
        return coincurve.PrivateKey(secret).sign_recoverable(message, hasher=None)
    return p256_sign(secret, message)


# -- the fake device -----------------------------------------------------------------------------


class FakeAppliance:
    """The public methods of Appliance, answered by the reference libraries."""

    SIGN_CYCLES = {"secp256k1": 61_234, "p256": 66_543}
    LOAD_CYCLES = {"ed25519": 16_981, "secp256k1": 23_393, "p256": 25_675}
    CORES = ["link", "greeks", "ed25519", "secp256k1", "p256"]

    def __init__(self):
        self.slots = {0: ("ed25519", bytes(range(32)))}  # a user's key: must survive
        self.stats = {(op, c): {"count": 0, "min_cycles": None, "max_cycles": None,
                                "last_cycles": None}
                      for op in ("load_key", "sign") for c in CURVES}
        self.calls = []
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True

    @staticmethod
    def ed25519_cycles(n: int) -> int:
        return 40_000 + 350 * ((n + 32 + 17 + 127) // 128)

    def _count(self, op, curve, cycles):
        rec = self.stats[op, curve]
        rec["count"] += 1
        rec["min_cycles"] = cycles if rec["min_cycles"] is None else min(rec["min_cycles"], cycles)
        rec["max_cycles"] = cycles if rec["max_cycles"] is None else max(rec["max_cycles"], cycles)
        rec["last_cycles"] = cycles

    def info(self):
        return {"protocol": 1, "gateware_version": "0.2.0", "clock_hz": 100_000_000,
                "baud": 3_000_000, "max_payload": 1024, "rx_buffer": 2048,
                "cores": list(self.CORES)}

    def echo(self, data):
        return bytes(data)

    def load_key(self, slot, curve, secret):
        self.calls.append(("load_key", slot, curve))
        self.slots[slot] = (curve, bytes(secret))
        self._count("load_key", curve, self.LOAD_CYCLES[curve])

    def public_key(self, slot):
        if slot not in self.slots:
            raise EmptySlot(wire.Err.EMPTY_SLOT)
        return reference_public_key(*self.slots[slot])

    def zeroize(self, slot):
        self.calls.append(("zeroize", slot))
        self.slots.pop(slot, None)

    def sign_cycles(self, curve, message):
        return self.ed25519_cycles(len(message)) if curve == "ed25519" \
            else self.SIGN_CYCLES[curve]

    def sign(self, slot, message, *, curve=None):
        if slot not in self.slots:
            raise EmptySlot(wire.Err.EMPTY_SLOT)
        kind, secret = self.slots[slot]
        assert curve in (None, kind)
        self._count("sign", kind, self.sign_cycles(kind, message))
        return reference_signature(kind, secret, bytes(message))

    def timing(self):
        return {op: {c: dict(self.stats[op, c]) for c in CURVES} for op in ("load_key", "sign")}

    def greeks(self, spot, strike, expiry_years, rate, vol, *, call=True, carry=0.0,
               model="bsm"):
        g = greeks_float64(spot, strike, expiry_years, rate, carry, vol, call, model)
        # the device's fixed-point answer: a few ulps of Q48 off the float64 one
        return Greeks(**{k: v + 3e-12 * max(1.0, abs(v)) for k, v in g.items()})


class WrongSignature(FakeAppliance):
    """secp256k1 answers with the high-S twin of the right signature (s -> n - s, v flipped)."""

    def sign(self, slot, message, *, curve=None):
        sig = super().sign(slot, message, curve=curve)
        if self.slots[slot][0] != "secp256k1":
            return sig
        n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
        s = n - int.from_bytes(sig[32:64], "big")
        return sig[:32] + s.to_bytes(32, "big") + bytes([sig[64] ^ 1])


class DataDependentTiming(FakeAppliance):
    """P-256 signatures whose cycle count depends on the digest."""

    def sign_cycles(self, curve, message):
        return super().sign_cycles(curve, message) + (message[0] if curve == "p256" else 0)


class NoGreeksCore(FakeAppliance):
    CORES = ["link", "ed25519", "secp256k1", "p256"]

    def greeks(self, *args, **kwargs):
        raise AssertionError("the selftest must not ask a device without the Greeks core")


class WrongGreeks(FakeAppliance):
    def greeks(self, *args, **kwargs):
        g = super().greeks(*args, **kwargs)
        return g._replace(delta=g.delta + 1e-5)


def by_name(results):
    return {r.name: r for r in results}


# -- the selftest against the fakes --------------------------------------------------------------


def test_all_checks_pass_on_a_correct_device():
    dev = FakeAppliance()
    seen = []
    results = selftest.run_selftest(dev, progress=seen.append)
    assert seen == results
    failed = [(r.name, r.detail) for r in results if not r.passed]
    assert not failed
    assert selftest.exit_code(results) == 0
    names = [r.name for r in results]
    assert names[:3] == ["INFO", "expected cores", "ECHO"]
    assert names[-1] == "ZEROIZE slot 7"
    for expected in ("ed25519 sign (RFC 8032 TEST 1)", "ed25519 sign (RFC 8032 TEST 2)",
                     'secp256k1 sign (RFC 6979, "Satoshi Nakamoto")',
                     'p256 sign (RFC 6979 A.2.5 "sample")', "timing ed25519", "timing secp256k1",
                     "timing p256", "p256 public key (RFC 6979 A.2.5)"):
        assert expected in names
    assert sum(n.startswith("greeks ") for n in names) == len(selftest.GREEKS_CASES)
    for r in results:
        assert isinstance(r.detail, str) and r.detail
        assert r.elapsed_ms >= 0
        assert r.as_dict()["status"] == "pass"
    # slot 7 was used and emptied; the user's slot 0 was not touched
    assert 7 not in dev.slots and 0 in dev.slots
    assert {c[1] for c in dev.calls if c[0] in ("load_key", "zeroize")} == {7}
    # the timing checks carry the cycles they saw
    t = by_name(results)["timing secp256k1"]
    assert t.data["sign_cycles"] == {"32": FakeAppliance.SIGN_CYCLES["secp256k1"]}
    assert "61,234 cycles (612.3 us at 100 MHz)" in t.detail
    ed = by_name(results)["timing ed25519"].data["sign_cycles"]
    assert ed == {"0": FakeAppliance.ed25519_cycles(0), "1": FakeAppliance.ed25519_cycles(1)}


def test_a_wrong_signature_fails_that_check_and_the_exit_code():
    results = selftest.run_selftest(WrongSignature())
    failed = {r.name: r.detail for r in results if r.status == "fail"}
    assert set(failed) == {'secp256k1 sign (RFC 6979, "Satoshi Nakamoto")',
                           'secp256k1 sign (RFC 6979, "All those moments...")'}
    assert "differs in s" in failed['secp256k1 sign (RFC 6979, "Satoshi Nakamoto")']
    assert "v (got 00, expected 01)" in failed['secp256k1 sign (RFC 6979, "Satoshi Nakamoto")']
    assert selftest.exit_code(results) == 1
    assert "ZEROIZE slot 7" in by_name(results)  # still cleaned up


def test_data_dependent_cycles_fail_the_timing_check():
    results = by_name(selftest.run_selftest(DataDependentTiming()))
    assert results["timing p256"].status == "fail"
    assert "cycles" in results["timing p256"].detail
    assert results["timing secp256k1"].passed and results["timing ed25519"].passed
    assert results['p256 sign (RFC 6979 A.2.5 "sample")'].passed


def test_greeks_outside_the_limits_fail():
    results = by_name(selftest.run_selftest(WrongGreeks()))
    for name, *_ in selftest.GREEKS_CASES:
        r = results[f"greeks {name}"]
        assert r.status == "fail" and "delta" in r.detail
    assert selftest.exit_code(list(results.values())) == 1


def test_a_core_not_expected_and_not_listed_is_skipped():
    results = selftest.run_selftest(NoGreeksCore(),
                                    expect_cores=("link", "ed25519", "secp256k1", "p256"))
    skipped = [r.name for r in results if r.status == "skip"]
    assert skipped == [f"greeks {name}" for name, *_ in selftest.GREEKS_CASES]
    assert selftest.exit_code(results) == 0
    assert "skipped" in selftest.format_results(results)


def test_an_expected_core_missing_from_info_fails():
    """The full appliance is expected by default: a build without the Greeks core fails."""
    results = by_name(selftest.run_selftest(NoGreeksCore()))
    assert results["expected cores"].status == "fail"
    assert "greeks" in results["expected cores"].detail
    for name, *_ in selftest.GREEKS_CASES:
        assert results[f"greeks {name}"].status == "fail"
        assert "expected" in results[f"greeks {name}"].detail
    assert results["timing p256"].passed  # the cores it has are still checked
    assert selftest.exit_code(list(results.values())) == 1


class LinkOnly(FakeAppliance):
    """A `quantgate build --engines link` device: INFO lists the link alone."""

    CORES = ["link"]

    def _no_core(self, *args, **kwargs):
        raise AssertionError("the selftest must not ask the link-only device for a core")

    load_key = public_key = sign = timing = greeks = zeroize = _no_core


def test_a_link_only_device_fails_against_the_full_appliance():
    results = selftest.run_selftest(LinkOnly())
    failed = {r.name for r in results if r.status == "fail"}
    assert "expected cores" in failed
    assert {"ed25519 sign (RFC 8032 TEST 1)", 'p256 sign (RFC 6979 A.2.5 "sample")',
            "timing secp256k1"} <= failed
    assert not any(r.status == "skip" for r in results)
    assert selftest.exit_code(results) == 1
    assert selftest.format_results(results).splitlines()[-1].startswith("FAILED: ")


def test_a_link_only_device_passes_when_only_the_link_is_expected():
    results = selftest.run_selftest(LinkOnly(), expect_cores=("link",))
    status = {r.name: r.status for r in results}
    assert status["INFO"] == status["expected cores"] == status["ECHO"] == "pass"
    assert {s for n, s in status.items() if n not in ("INFO", "expected cores", "ECHO")} == {
        "skip"}
    assert selftest.exit_code(results) == 0


def test_a_run_that_checked_nothing_is_not_a_pass():
    skipped = [selftest.CheckResult(f"check {k}", False, "INFO does not list it", 0.1,
                                    skipped=True) for k in range(3)]
    assert selftest.summary(skipped)["passed"] is False
    assert selftest.exit_code(skipped) == 1
    assert selftest.exit_code([]) == 1
    assert selftest.format_results(skipped).splitlines()[-1].startswith(
        "FAILED (nothing checked): 0 passed")


def test_a_device_without_timing_fails_only_the_timing_checks():
    class NoTiming(FakeAppliance):
        def timing(self):
            from quantgate.host.errors import UnknownOpcode

            raise UnknownOpcode(wire.Err.UNKNOWN_OPCODE, wire.Op.TIMING)

    results = selftest.run_selftest(NoTiming())
    failed = sorted(r.name for r in results if r.status == "fail")
    assert failed == ["timing ed25519", "timing p256", "timing secp256k1"]


def test_an_interrupted_selftest_still_zeroizes_slot_7():
    class Interrupted(FakeAppliance):
        def greeks(self, *args, **kwargs):
            raise KeyboardInterrupt

    dev = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        selftest.run_selftest(dev)
    assert 7 not in dev.slots and dev.calls[-1] == ("zeroize", 7)


def test_main_exit_codes_and_json(capsys):
    rc = selftest.main(["--url", "fake://", "--json"], opener=lambda url, **kw: FakeAppliance())
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["passed"] and out["fail"] == 0 and out["slot"] == 7
    assert out["expect_cores"] == ["link", "greeks", "ed25519", "secp256k1", "p256"]
    assert {"name", "status", "passed", "detail", "elapsed_ms"} <= set(out["checks"][0])

    rc = selftest.main(["--url", "fake://"], opener=lambda url, **kw: WrongSignature())
    text = capsys.readouterr().out
    assert rc == 1
    assert "FAIL  secp256k1 sign" in text and "FAILED: " in text.splitlines()[-1]

    def refuse(url, **kw):
        raise OSError("no such device")

    assert selftest.main(["--url", "/dev/ttyNONE"], opener=refuse) == 2


def test_main_expect_cores(capsys):
    assert selftest.main(["--url", "fake://"], opener=lambda url, **kw: LinkOnly()) == 1
    assert "FAIL  expected cores" in capsys.readouterr().out
    rc = selftest.main(["--url", "fake://", "--expect-cores", "link"],
                       opener=lambda url, **kw: LinkOnly())
    assert rc == 0 and capsys.readouterr().out.splitlines()[-1].startswith("PASSED: 3 passed")
    with pytest.raises(SystemExit):
        selftest.main(["--url", "fake://", "--expect-cores", "link,grekks"],
                      opener=lambda url, **kw: LinkOnly())
    assert "unknown core grekks" in capsys.readouterr().err


# -- the hard-coded answers against the libraries ------------------------------------------------


def test_ed25519_constants_match_pynacl():
    for _name, seed, public, message, signature in selftest.ED25519_CASES:
        key = nacl.signing.SigningKey(seed)
        assert key.verify_key.encode() == public
        assert key.sign(message).signature == signature
    assert [c[0] for c in selftest.ED25519_CASES[:2]] == ["RFC 8032 TEST 1", "RFC 8032 TEST 2"]
    assert selftest.ED25519_CASES[1][3] == bytes.fromhex("72")
    assert len(selftest.ED25519_CASES[2][3]) == len(selftest.ED25519_CASES[1][3])


def test_secp256k1_constants_match_coincurve():
    key = coincurve.PrivateKey(selftest.SECP256K1_KEY)
    assert selftest.SECP256K1_KEY == (1).to_bytes(32, "big")
    assert key.public_key.format(compressed=True) == selftest.SECP256K1_PUBLIC
    for _name, digest, signature in selftest.SECP256K1_CASES:
        assert key.sign_recoverable(digest, hasher=None) == signature
    assert selftest.SECP256K1_CASES[0][1] == hashlib.sha256(b"Satoshi Nakamoto").digest()
    # the published nonce of the Satoshi vector gives the same r
    k = int(vectors.SATOSHI_K, 16)
    R = coincurve.PrivateKey(k.to_bytes(32, "big")).public_key.format(compressed=False)
    assert R[1:33] == selftest.SECP256K1_CASES[0][2][:32]


def test_p256_constants_match_cryptography_and_rfc6979():
    key = _p256_key(selftest.P256_KEY)
    assert _compressed(key.public_key()) == selftest.P256_PUBLIC
    for (name, digest, signature), message in zip(selftest.P256_CASES, (b"sample", b"test"),
                                                  strict=True):
        assert message.decode() in name
        assert digest == hashlib.sha256(message).digest()
        assert p256_sign(selftest.P256_KEY, digest) == signature
        k, r, s = vectors.RFC6979_P256_SHA256[message]
        assert signature[:64].hex() == r + s
        R = ec.derive_private_key(int(k, 16), ec.SECP256R1()).public_key().public_numbers()
        assert signature[64] == (R.y & 1) | (2 if R.x >= P256_N else 0)


@pytest.mark.parametrize("case", selftest.GREEKS_CASES, ids=lambda c: c[0])
def test_greeks_constants_match_scipy(case):
    _name, args, expected = case
    ref = greeks_float64(*args)
    assert set(expected) == set(ref) == set(Greeks._fields)
    for k, v in ref.items():
        assert expected[k] == pytest.approx(v, rel=1e-13, abs=1e-15), k


def test_greeks_cases_are_inside_the_device_domain():
    from quantgate.host import commands

    for _name, (spot, strike, expiry, rate, carry, vol, call, model), _ in selftest.GREEKS_CASES:
        commands.greeks(spot, strike, expiry, rate, vol, call=call, carry=carry, model=model)


def test_criterion_errors_scale_like_numerics_md():
    exp = {"price": 10.0, "delta": 0.5, "gamma": 0.01, "vega": 20.0, "theta": -5.0, "rho": 8.0}
    got = dict(exp, price=10.0 + 1e-5, gamma=0.01 + 1e-6)
    e = selftest.criterion_errors(got, exp, spot=100.0, strike=120.0, expiry=0.5)
    assert e["price"] == pytest.approx(1e-5 / 120)
    assert e["gamma"] == pytest.approx(1e-6 * 100)  # gamma S = 1 -> absolute
    assert e["delta"] == e["vega"] == e["theta"] == e["rho"] == 0


def test_through_the_driver_against_a_wire_level_fake():
    """The real Appliance (codec, session, TIMING parsing) against test_sign_host's SignerPeer,
    a fake device on a socket that serves the key-slot commands but no Greeks core."""
    sign_host = pytest.importorskip("test_sign_host")
    from quantgate.host import Appliance

    peer = sign_host.SignerPeer()
    try:
        with Appliance.open(peer.url, timeout=2.0, retries=1) as dev:
            results = selftest.run_selftest(
                dev, expect_cores=("link", "ed25519", "secp256k1", "p256"))
    finally:
        peer.close()
    status = {r.name: r.status for r in results}
    assert [n for n, s in status.items() if s == "fail"] == []
    assert {n for n, s in status.items() if s == "skip"} == {
        f"greeks {name}" for name, *_ in selftest.GREEKS_CASES}
    assert status["timing p256"] == status["ZEROIZE slot 7"] == "pass"
    assert selftest.exit_code(results) == 0


# -- the key slot: a desk's keys are never overwritten -------------------------------------------


def _desk(occupied):
    """A fake device whose ``occupied`` slots hold a desk's keys (all three curves)."""
    dev = FakeAppliance()
    dev.slots = {s: (CURVES[s % 3], hashlib.sha256(bytes([s])).digest()) for s in occupied}
    return dev, {s: dev.public_key(s) for s in occupied}


def test_the_selftest_uses_the_highest_empty_slot_and_leaves_every_key():
    dev, before = _desk(range(7))  # slots 0-6 hold keys, 7 is empty
    results = selftest.run_selftest(dev)
    assert selftest.exit_code(results) == 0
    assert by_name(results)["key slot"].data == {"slot": 7}
    assert {c[1] for c in dev.calls if c[0] in ("load_key", "zeroize")} == {7}
    assert {s: dev.public_key(s) for s in before} == before
    for s, (curve, secret) in dev.slots.items():  # the desk's keys still sign as before
        assert dev.sign(s, bytes(32)) == reference_signature(curve, secret, bytes(32))

    dev, before = _desk([3, 7])
    results = selftest.run_selftest(dev, slots=(2, 3, 7))
    assert selftest.exit_code(results) == 0 and by_name(results)["key slot"].data == {"slot": 2}
    assert {c[1] for c in dev.calls if c[0] in ("load_key", "zeroize")} == {2}
    assert {s: dev.public_key(s) for s in before} == before


def test_a_range_of_occupied_slots_is_refused_with_nothing_loaded():
    dev, before = _desk(range(5, 8))
    results = selftest.run_selftest(dev, slots=(5, 6, 7))
    slot = by_name(results)["key slot"]
    assert slot.status == "fail" and "5, 6, 7 all hold keys" in slot.detail
    assert "--slots" in slot.detail and "--overwrite-slots" in slot.detail
    loads = [r for r in results if " public key " in r.name]
    assert loads and all(r.status == "fail" and "no key slot" in r.detail for r in loads)
    assert all(r.status == "fail" for r in results if " sign " in r.name)
    assert not [c for c in dev.calls if c[0] in ("load_key", "zeroize")]
    assert dev.slots.keys() == before.keys() and {s: dev.public_key(s) for s in before} == before
    assert selftest.exit_code(results) == 1


def test_overwrite_slots_replaces_the_highest_and_empties_it():
    dev, _ = _desk(range(5, 8))
    results = selftest.run_selftest(dev, slots=(5, 6, 7), overwrite_slots=True)
    assert selftest.exit_code(results) == 0
    assert "overwritten" in by_name(results)["key slot"].detail
    assert 7 not in dev.slots and {5, 6} <= dev.slots.keys()


@pytest.mark.parametrize("text, slots", [("7", (7,)), ("5-7", (5, 6, 7)),
                                         ("0,3,5-6", (0, 3, 5, 6)), (" 2 , 2-3", (2, 3))])
def test_slot_ranges(text, slots):
    assert selftest.parse_slots(text) == slots


@pytest.mark.parametrize("text", ["8", "7-5", "-1", "x", "", "3-", "1,,2"])
def test_bad_slot_ranges_are_refused(text, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match="key slots are 0-7"):
        selftest.parse_slots(text)
    with pytest.raises(SystemExit) as exc:
        selftest.main(["--url", "fake://", "--slots", text],
                      opener=lambda url, **kw: FakeAppliance())
    assert exc.value.code == 2 and "key slots are 0-7" in capsys.readouterr().err
    with pytest.raises(ValueError, match="key slots must be"):
        selftest.run_selftest(FakeAppliance(), slots=(9,))


def test_main_slots_and_json(capsys):
    dev, before = _desk(range(4, 8))
    rc = selftest.main(["--url", "fake://", "--json", "--slots", "3-7"],
                       opener=lambda url, **kw: dev)
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["slot"] == 3
    assert {s: dev.public_key(s) for s in before} == before
