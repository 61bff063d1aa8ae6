"""``quantgate selftest``: known-answer checks of a device through the public host API.

    quantgate selftest --url /dev/ttyUSB0 [--expect-cores link,greeks,...] [--slots 5-7]
                       [--overwrite-slots] [--json] [--timeout S]

    from quantgate.host import Appliance
    from quantgate.host.selftest import run_selftest
    with Appliance.open(url) as dev:
        results = run_selftest(dev)          # [CheckResult(name, passed, detail, elapsed_ms)]

Checks, in order (each one: name, pass / fail / skip, a detail line, elapsed milliseconds):

* INFO is sane (protocol 1, a clock, a baud rate, the link core); INFO lists every core the
  build is expected to have; ECHO round trips (empty, all 256 byte values, a full 1024-byte
  payload of zeros).
* key slot: the highest **empty** slot of ``--slots`` (default: all of them) is the one the
  selftest uses (PUBLIC_KEY answering EMPTY_SLOT: empty). A slot holding a key is never
  overwritten unless ``--overwrite-slots`` allows it; with no empty slot in the range the check
  fails and the signing checks fail after it, with nothing loaded.
* For each signing curve the device lists in INFO: LOAD_KEY of a published key into that slot,
  PUBLIC_KEY against the published public key, SIGN known answers: Ed25519 RFC 8032 section 7.1
  TEST 1 and TEST 2; secp256k1 d = 1 with SHA-256("Satoshi Nakamoto") (the RFC 6979 community
  vector, low-S, r || s || v); P-256 RFC 6979 A.2.5 "sample" and "test" (r || s exactly as the
  RFC prints them, v the recovery id). One extra signature per curve with a second message of the
  same length gives the timing check two signatures to compare.
* GREEKS of four options (BSM and Black-76, calls and puts, one of them two days from expiry)
  against float64 closed forms, within the accuracy limits of docs/numerics.md (criterion
  units).
* TIMING: every signature just made of one curve (Ed25519: of one message length) took the same
  number of cycles (the device's last_cycles after each, whose count must go up each time);
  for ECDSA, and for LOAD_KEY of every curve, the device's min == max since reset.
* ZEROIZE the slot; PUBLIC_KEY and SIGN of it then answer EMPTY_SLOT.

The slot used is left empty, as it was found. Only with ``--overwrite-slots`` can a desk's key
be lost (no command can read a key back, so nothing could be restored). If the selftest is
interrupted it still tries to ZEROIZE the slot it loaded, and only that one.

Which cores the build has is not taken from the device: ``expect_cores`` (``--expect-cores``)
names them, by default the full appliance's (FULL_APPLIANCE_CORES: link, greeks, ed25519,
secp256k1, p256); ``--expect-cores link`` for ``quantgate build --engines link``. A check whose
core is expected but missing from INFO fails; a check is skipped only when its core is neither
expected nor listed. The exit status is 0 when no check failed and at least one passed (a run
that checked nothing is not a pass), 1 otherwise (2 when the device cannot be opened).

The expected values are hard-coded here so that the selftest needs no crypto or SciPy library
at run time; tests/test_selftest.py checks each constant against PyNaCl, coincurve,
cryptography and SciPy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quantgate import wire
from quantgate.sim import vectors  # published vectors only (hashlib, no simulator imports)

from .errors import EmptySlot, QuantgateError

__all__ = ["ALL_SLOTS", "FULL_APPLIANCE_CORES", "CheckResult", "exit_code", "format_results",
           "main", "parse_slots", "run_selftest", "summary"]

ALL_SLOTS = tuple(range(wire.NUM_KEY_SLOTS))  # the default range: the highest empty one is used
CURVES = ("ed25519", "secp256k1", "p256")
# what `quantgate build` puts in by default (hdl/top.py default_engines, INFO's core names);
# kept here as names because the host does not import the gateware
FULL_APPLIANCE_CORES = ("link", "greeks", *CURVES)

# -- known answers -------------------------------------------------------------------------------

_ED = {name: (seed, pk, msg, sig) for name, seed, pk, msg, sig in vectors.rfc8032()}

# Ed25519: RFC 8032 TEST 1 (empty message) and TEST 2 (one byte, 0x72), plus the TEST 2 key
# over the one-byte message 0x00 (PyNaCl), so two signatures of one length can be compared.
ED25519_CASES = (
    # (check name, seed, public key, message, signature)
    ("RFC 8032 TEST 1", *_ED["TEST 1"]),
    ("RFC 8032 TEST 2", *_ED["TEST 2"]),
    ("TEST 2 key, message 00", _ED["TEST 2"][0], _ED["TEST 2"][1], b"\x00", bytes.fromhex(
        "1df67d4716537612e31fdd5dce09479e8b954b9f2f8cf16e76179337a9f09f91"
        "7ed1d2860f23137f6099813d504b0eb3ba90603006d6d7ac4ca2c9fc0ad87805")),
)

# secp256k1, d = 1 (public key = G). r || s || v from coincurve sign_recoverable (RFC 6979,
# low-S); the first is the widely published "Satoshi Nakamoto" vector (k = vectors.SATOSHI_K).
SECP256K1_KEY = vectors.SATOSHI_KEY
SECP256K1_PUBLIC = bytes.fromhex(
    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
SECP256K1_CASES = (
    ('"Satoshi Nakamoto"', vectors.SATOSHI_DIGEST, bytes.fromhex(
        "934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d8"
        "2442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5" "01")),
    ('"All those moments..."', hashlib.sha256(
        b"All those moments will be lost in time, like tears in rain. Time to die...").digest(),
     bytes.fromhex(
        "8600dbd41e348fe5c9465ab92d23e3db8b98b873beecd930736488696438cb6b"
        "547fe64427496db33bf66019dacbf0039c04199abb0122918601db38a72cfc21" "00")),
)

# P-256, RFC 6979 A.2.5 (SHA-256): r || s as printed in the RFC, v = the recovery id of R = kG.
P256_KEY = bytes.fromhex(vectors.P256_KEY)
P256_PUBLIC = bytes.fromhex(  # U = (60FED4BA..., 7903FE10...): y odd -> 03
    "0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6")
P256_V = {b"sample": 0, b"test": 0}
P256_CASES = tuple(
    (f'RFC 6979 A.2.5 "{m.decode()}"', hashlib.sha256(m).digest(),
     bytes.fromhex(vectors.RFC6979_P256_SHA256[m][1] + vectors.RFC6979_P256_SHA256[m][2])
     + bytes([P256_V[m]]))
    for m in (b"sample", b"test"))

# Greeks: float64 closed forms (scipy.stats.norm), units of docs/numerics.md: vega per 1.00 of
# vol, theta = -dV/dT per year, rho per 1.00 of rate (Black-76: -T V, the forward held fixed).
GREEKS_CASES = (
    # (name, (spot, strike, expiry, rate, carry, vol, call, model), expected)
    ("bsm call S=49 K=50 T=20/52 (Hull)", (49.0, 50.0, 20 / 52, 0.05, 0.0, 0.20, True, "bsm"),
     {"price": 2.4005273232717137, "delta": 0.5216046610663964, "gamma": 0.06554403934784439,
      "vega": 12.105479882628801, "theta": -4.305329822932573, "rho": 8.906961949608348}),
    ("bsm put S=100 K=95 q=0.05 (Haug)", (100.0, 95.0, 0.5, 0.10, 0.05, 0.20, False, "bsm"),
     {"price": 2.4647876467558234, "delta": -0.2641815996360726, "gamma": 0.022839574296269993,
      "vega": 22.839574296269998, "theta": -3.0005280963980545, "rho": -14.44147380518154}),
    ("black76 call F=95000 K=100000 T=30d", (95000.0, 100000.0, 30 / 365, 0.04, 0.0, 0.55, True,
                                            "black76"),
     {"price": 3934.5510792123387, "delta": 0.4013415540350147, "gamma": 2.575085889186989e-05,
      "vega": 10505.821300645412, "theta": -34993.34505857428, "rho": -323.3877599352607}),
    ("black76 put F=3200 K=2800 T=2d vol=1.2", (3200.0, 2800.0, 2 / 365, 0.05, 0.0, 1.2, False,
                                               "black76"),
     {"price": 7.7270870454989335, "delta": -0.060833957221776466,
      "gamma": 0.00042360480822044966, "vega": 28.521950046098006,
      "theta": -3122.7671756954564, "rho": -0.04234020298903525}),
)
# docs/numerics.md acceptance limits, in criterion units (hdl/pricing/model.py TOLERANCE)
GREEKS_LIMITS = {"price": 1e-7, "delta": 1e-7, "gamma": 1e-6, "vega": 1e-6, "theta": 1e-6,
                 "rho": 1e-6}

_ECHO_PAYLOADS = (b"", bytes(range(256)), bytes(1024))


# -- results -------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """One check: its name, whether it passed, a one-line detail, the milliseconds it took.
    ``skipped`` checks (the device lacks the core) count as neither pass nor fail; ``data``
    carries measured values (e.g. cycles) for other tools."""

    name: str
    passed: bool
    detail: str
    elapsed_ms: float
    skipped: bool = False
    data: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "skip" if self.skipped else "pass" if self.passed else "fail"

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "passed": self.passed,
                "detail": self.detail, "elapsed_ms": round(self.elapsed_ms, 3),
                **({"data": self.data} if self.data else {})}


class _Fail(Exception):
    """A check's answer was wrong (the message is the detail)."""


class _Skip(Exception):
    """The device has no core for this check."""


def _hex(b: bytes) -> str:
    return b.hex() if len(b) <= 16 else f"{b[:8].hex()}...{b[-8:].hex()}"


def _mismatch(what: str, got: bytes, expected: bytes, ecdsa: bool = False) -> _Fail:
    if not isinstance(got, (bytes, bytearray)):
        return _Fail(f"{what}: got {type(got).__name__} {got!r}, expected {_hex(expected)}")
    if len(got) != len(expected):
        return _Fail(f"{what}: {len(got)} bytes, expected {len(expected)}")
    if ecdsa and len(got) == 65:
        parts = [(n, got[a:b], expected[a:b]) for n, a, b in (("r", 0, 32), ("s", 32, 64),
                                                               ("v", 64, 65))]
        return _Fail(f"{what} differs in " + ", ".join(
            f"{n} (got {g.hex() if n == 'v' else _hex(g)}, expected "
            f"{e.hex() if n == 'v' else _hex(e)})" for n, g, e in parts if g != e))
    first = next(i for i in range(len(got)) if got[i] != expected[i])
    return _Fail(f"{what}: byte {first} differs: got {_hex(bytes(got))}, expected "
                 f"{_hex(expected)}")


# -- the run -------------------------------------------------------------------------------------


class _Run:
    def __init__(self, dev, progress: Callable[[CheckResult], None] | None,
                 expect_cores: tuple[str, ...], slots: tuple[int, ...], overwrite: bool):
        self.dev = dev
        self.slots = slots
        self.overwrite = overwrite
        self.slot: int | None = None  # the slot chosen by the "key slot" check
        self.progress = progress
        self.expect_cores = expect_cores
        self.results: list[CheckResult] = []
        self.cores: set[str] | None = None  # None: INFO failed, try everything
        self.clock_hz: float | None = None
        self.loaded_slot = False
        self.timing_prev: dict | None = None  # the last TIMING read
        self.timing_error: str | None = None
        self.sign_cycles: dict[str, list[tuple[int, int]]] = {c: [] for c in CURVES}
        self.count_errors: dict[str, list[str]] = {c: [] for c in CURVES}
        self.state_ok = False  # the last LOAD_KEY + PUBLIC_KEY check passed

    # one check
    def check(self, name: str, fn: Callable[[], tuple[str, dict] | str]) -> CheckResult:
        t0 = time.perf_counter()
        passed, skipped, data = False, False, {}
        try:
            out = fn()
            detail, data = out if isinstance(out, tuple) else (out, {})
            passed = True
        except _Fail as exc:
            detail = str(exc)
        except _Skip as exc:
            detail, skipped = str(exc), True
        except QuantgateError as exc:
            detail = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a selftest reports, it does not crash
            detail = f"{type(exc).__name__}: {exc}"
        result = CheckResult(name, passed, detail, (time.perf_counter() - t0) * 1e3,
                             skipped=skipped, data=data)
        self.results.append(result)
        if self.progress is not None:
            self.progress(result)
        return result

    def need(self, core: str) -> None:
        if self.cores is None or core in self.cores:
            return
        if core in self.expect_cores:
            raise _Fail(f"not run: INFO does not list the {core} core, which the build is "
                        "expected to have (--expect-cores)")
        raise _Skip(f"INFO does not list the {core} core (not expected: a build without it)")

    def expected(self):
        if self.cores is None:
            raise _Fail("INFO gave no core list (see the INFO check)")
        missing = [c for c in self.expect_cores if c not in self.cores]
        if missing:
            raise _Fail(f"INFO does not list {', '.join(missing)} (expected "
                        f"{', '.join(self.expect_cores)}; listed {', '.join(sorted(self.cores))})")
        return (f"INFO lists every expected core: {', '.join(self.expect_cores)}",
                {"expect_cores": list(self.expect_cores)})

    def us(self, cycles: int) -> str:
        return f" ({cycles / self.clock_hz * 1e6:,.1f} us at {self.clock_hz / 1e6:g} MHz)" \
            if self.clock_hz else ""

    # INFO, ECHO
    def info(self):
        info = self.dev.info()
        problems = []
        if info.get("protocol") != 1:
            problems.append(f"protocol {info.get('protocol')!r} (expected 1)")
        clock, baud = info.get("clock_hz"), info.get("baud")
        if not isinstance(clock, int) or not 1_000_000 <= clock <= 1_000_000_000:
            problems.append(f"clock_hz {clock!r}")
        if not isinstance(baud, int) or baud <= 0:
            problems.append(f"baud {baud!r}")
        if info.get("max_payload") != 1024:
            problems.append(f"max_payload {info.get('max_payload')!r} (expected 1024)")
        cores = info.get("cores")
        if not isinstance(cores, list) or "link" not in cores:
            problems.append(f"cores {cores!r} (expected a list with 'link')")
        else:
            self.cores = set(cores)
        if isinstance(clock, int) and clock > 0:
            self.clock_hz = clock
        if problems:
            raise _Fail("INFO: " + "; ".join(problems))
        return (f"protocol 1, gateware {info.get('gateware_version')}, {clock / 1e6:g} MHz, "
                f"{baud:,} baud, cores {', '.join(cores)}", {"info": info})

    def echo(self):
        for payload in _ECHO_PAYLOADS:
            got = self.dev.echo(payload)
            if got != payload:
                raise _mismatch(f"ECHO of {len(payload)} bytes", got, payload)
        sizes = ", ".join(str(len(p)) for p in _ECHO_PAYLOADS)
        return f"{len(_ECHO_PAYLOADS)} round trips ({sizes} bytes) returned unchanged"

    # keys and signatures
    def choose_slot(self):
        """The highest empty slot of the range (or, allowed to overwrite, the highest)."""
        occupied = []
        for slot in sorted(self.slots, reverse=True):
            try:
                self.dev.public_key(slot)
            except EmptySlot:
                self.slot = slot
                return f"slot {slot} is empty: the selftest uses it", {"slot": slot}
            occupied.append(slot)
        names = ", ".join(map(str, sorted(occupied)))
        if self.overwrite:
            self.slot = max(self.slots)
            return (f"every slot of the range holds a key ({names}); slot {self.slot} will be "
                    "overwritten (--overwrite-slots)", {"slot": self.slot})
        raise _Fail(f"slots {names} all hold keys: nothing loaded (choose an empty slot with "
                    "--slots, or allow --overwrite-slots to replace the key in the highest)")

    def load(self, curve: str, secret: bytes, public: bytes):
        self.need(curve)
        if self.slot is None:
            raise _Fail("no key slot to use (see the \"key slot\" check): nothing loaded")
        self.loaded_slot = True
        self.state_ok = False
        self.dev.load_key(self.slot, curve, secret)
        got = self.dev.public_key(self.slot)
        if got != public:
            raise _mismatch(f"PUBLIC_KEY of slot {self.slot}", got, public)
        self.state_ok = True
        return f"LOAD_KEY slot {self.slot}, PUBLIC_KEY {_hex(public)} as published"

    def sign(self, curve: str, message: bytes, expected: bytes):
        self.need(curve)
        if not self.state_ok:
            raise _Fail(f"not run: the {curve} key did not load (see the check above)")
        got = self.dev.sign(self.slot, message, curve=curve)
        cycles = self._record_cycles(curve, len(message))
        if got != expected:
            raise _mismatch("signature", got, expected, ecdsa=curve != "ed25519")
        what = "R || S" if curve == "ed25519" else "r || s || v"
        cyc = "" if cycles is None else f"; {cycles:,} cycles{self.us(cycles)}"
        data = {"curve": curve, "message_bytes": len(message)}
        if cycles is not None:
            data["cycles"] = cycles
        return f"{what} = {_hex(expected)} as published{cyc}", data

    def _timing(self) -> dict | None:
        if self.timing_error is not None:
            return None
        try:
            return self.dev.timing()
        except QuantgateError as exc:  # e.g. UNKNOWN_OPCODE from a device without TIMING
            self.timing_error = f"{type(exc).__name__}: {exc}"
            return None

    def _record_cycles(self, curve: str, length: int) -> int | None:
        """After one SIGN: the device's last_cycles; its count must have gone up (by one, or
        more if the driver retransmitted the request: signing is deterministic)."""
        now = self._timing()
        if now is None:
            return None
        before = (self.timing_prev or {}).get("sign", {}).get(curve, {}).get("count")
        rec = now["sign"][curve]
        self.timing_prev = now
        if before is not None and rec["count"] <= before:
            self.count_errors[curve].append(
                f"TIMING did not count a signature (count stayed at {rec['count']})")
        self.sign_cycles[curve].append((length, rec["last_cycles"]))
        return rec["last_cycles"]

    def timing(self, curve: str):
        self.need(curve)
        made = self.sign_cycles[curve]
        if self.timing_error is not None:
            raise _Fail(f"TIMING unavailable: {self.timing_error}")
        if not made:
            raise _Fail(f"no {curve} signature was made, nothing to compare")
        now = self.dev.timing()
        problems = list(self.count_errors[curve])
        groups: dict[int, set[int]] = {}
        for length, cycles in made:
            groups.setdefault(length if curve == "ed25519" else 32, set()).add(cycles)
        for length, values in groups.items():
            if len(values) != 1:
                problems.append(f"{length}-byte signatures took {sorted(values)} cycles")
        sign, load = now["sign"][curve], now["load_key"][curve]
        if curve != "ed25519" and sign["min_cycles"] != sign["max_cycles"]:
            problems.append(f"SIGN min {sign['min_cycles']} != max {sign['max_cycles']} since "
                            "reset")
        if load["count"] and load["min_cycles"] != load["max_cycles"]:
            problems.append(f"LOAD_KEY min {load['min_cycles']} != max {load['max_cycles']} "
                            "since reset")
        if problems:
            raise _Fail("; ".join(problems))
        parts = []
        for length, values in sorted(groups.items()):
            (cycles,) = values
            n = sum(1 for m, _ in made if (m if curve == "ed25519" else 32) == length)
            label = f"{length}-byte message" if curve == "ed25519" else "digest"
            parts.append(f"SIGN ({label}) {cycles:,} cycles{self.us(cycles)}, "
                         f"{n} signature{'s' if n > 1 else ''}")
        dev = (f"device since reset: SIGN count {sign['count']}, min {sign['min_cycles']:,}, "
               f"max {sign['max_cycles']:,}")
        if load["count"]:
            dev += f"; LOAD_KEY min = max = {load['min_cycles']:,}"
        data = {"sign_cycles": {str(k): next(iter(v)) for k, v in groups.items()},
                "device": {"sign": sign, "load_key": load}, "clock_hz": self.clock_hz}
        return "; ".join(parts) + "; " + dev, data

    # greeks
    def greeks(self, args: tuple, expected: dict):
        self.need("greeks")
        spot, strike, expiry, rate, carry, vol, call, model = args
        g = self.dev.greeks(spot, strike, expiry, rate, vol, call=call, carry=carry, model=model)
        got = g._asdict() if hasattr(g, "_asdict") else dict(g)
        errors = criterion_errors(got, expected, spot, strike, expiry)
        bad = {k: e for k, e in errors.items() if not e <= GREEKS_LIMITS[k]}
        worst = max(errors, key=lambda k: errors[k] / GREEKS_LIMITS[k])
        if bad:
            raise _Fail("outside the limits: " + ", ".join(
                f"{k} {got[k]!r} vs {expected[k]!r} (error {e:.2e} > {GREEKS_LIMITS[k]:g})"
                for k, e in bad.items()))
        return (f"price {got['price']:.6g}, delta {got['delta']:.6g}; all six within the "
                f"limits (worst: {worst} {errors[worst]:.1e} <= {GREEKS_LIMITS[worst]:g})",
                {"errors": errors})

    # zeroize
    def zeroize(self):
        slot = self.slot
        self.dev.zeroize(slot)
        self.loaded_slot = False
        for what, call in (("PUBLIC_KEY", lambda: self.dev.public_key(slot)),
                           ("SIGN", lambda: self.dev.sign(slot, bytes(32)))):
            try:
                call()
            except EmptySlot:
                continue
            raise _Fail(f"{what} of slot {slot} after ZEROIZE did not answer EMPTY_SLOT")
        return f"slot {slot} zeroized; PUBLIC_KEY and SIGN of it answer EMPTY_SLOT"


def criterion_errors(got: dict, expected: dict, spot: float, strike: float,
                     expiry: float) -> dict[str, float]:
    """|got - expected| in the criterion units of docs/numerics.md: price / max(S,K), delta;
    gamma * S, vega / S, theta / max(S,K), rho / (K T), relative where the scaled value > 1."""
    mx = max(spot, strike)
    scale = {"price": mx, "delta": 1.0, "gamma": 1.0 / spot, "vega": spot, "theta": mx,
             "rho": strike * expiry}
    out = {}
    for k, s in scale.items():
        e = abs(float(got[k]) - expected[k]) / s
        if k not in ("price", "delta"):
            e /= max(1.0, abs(expected[k]) / s)
        out[k] = e if math.isfinite(e) else math.inf
    return out


def run_selftest(appliance, *, expect_cores=FULL_APPLIANCE_CORES,
                 progress: Callable[[CheckResult], None] | None = None,
                 slots=ALL_SLOTS, overwrite_slots: bool = False) -> list[CheckResult]:
    """Run every check against an open Appliance (or anything with its methods); return the
    results in order. ``expect_cores``: the cores the build was asked for (a missing one fails
    its checks). Uses the highest empty slot of ``slots`` and ZEROIZEs it afterwards; a slot
    holding a key is used only with ``overwrite_slots``. ``progress`` is called with each
    result as it completes."""
    slots = tuple(slots)
    if not slots or any(not 0 <= s < wire.NUM_KEY_SLOTS for s in slots):
        raise ValueError(f"key slots must be 0..{wire.NUM_KEY_SLOTS - 1}, got {slots}")
    run = _Run(appliance, progress, tuple(expect_cores), slots, overwrite_slots)
    try:
        run.check("INFO", run.info)
        run.check("expected cores", run.expected)
        run.check("ECHO", run.echo)
        if run.cores is None or set(CURVES) & run.cores:
            run.timing_prev = run._timing()  # baseline for the per-signature counts
            run.check("key slot", run.choose_slot)
        current = None
        for name, seed, public, message, signature in ED25519_CASES:
            if public != current:  # load only when the key changes
                current = public
                run.check(f"ed25519 public key ({name})",
                          lambda s=seed, p=public: run.load("ed25519", s, p))
            run.check(f"ed25519 sign ({name})",
                      lambda m=message, s=signature: run.sign("ed25519", m, s))
        run.check("secp256k1 public key (d = 1)",
                  lambda: run.load("secp256k1", SECP256K1_KEY, SECP256K1_PUBLIC))
        for name, digest, signature in SECP256K1_CASES:
            run.check(f"secp256k1 sign (RFC 6979, {name})",
                      lambda d=digest, s=signature: run.sign("secp256k1", d, s))
        run.check("p256 public key (RFC 6979 A.2.5)",
                  lambda: run.load("p256", P256_KEY, P256_PUBLIC))
        for name, digest, signature in P256_CASES:
            run.check(f"p256 sign ({name})",
                      lambda d=digest, s=signature: run.sign("p256", d, s))
        for name, args, expected in GREEKS_CASES:
            run.check(f"greeks {name}", lambda a=args, e=expected: run.greeks(a, e))
        for curve in CURVES:
            run.check(f"timing {curve}", lambda c=curve: run.timing(c))
        if run.loaded_slot:
            run.check(f"ZEROIZE slot {run.slot}", run.zeroize)
    finally:
        if run.loaded_slot:  # interrupted: do not leave the known-answer key in the slot
            try:
                appliance.zeroize(run.slot)
            except Exception:  # best effort on the way out
                pass
    return run.results


def summary(results: list[CheckResult]) -> dict:
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    return {"passed": counts["fail"] == 0 and counts["pass"] > 0, **counts,
            "elapsed_ms": round(sum(r.elapsed_ms for r in results), 1)}


def exit_code(results: list[CheckResult]) -> int:
    """0 when no check failed and at least one passed, 1 otherwise."""
    return 0 if summary(results)["passed"] else 1


def format_result(result: CheckResult) -> str:
    return f"{result.status.upper():5} {result.name:50} {result.elapsed_ms:8.1f} ms  " \
           f"{result.detail}"


def format_results(results: list[CheckResult]) -> str:
    s = summary(results)
    lines = [format_result(r) for r in results]
    slot = next((f" (slot {r.name.rsplit(' ', 1)[1]} used, then zeroized: {r.status})"
                 for r in results if r.name.startswith("ZEROIZE slot ")), "")
    verdict = "PASSED" if s["passed"] else "FAILED" if s["fail"] else "FAILED (nothing checked)"
    lines.append(f"{verdict}: {s['pass']} passed, {s['fail']} failed, {s['skip']} skipped in "
                 f"{s['elapsed_ms'] / 1e3:.1f} s{slot}")
    return "\n".join(lines)


def parse_slots(text: str) -> tuple[int, ...]:
    """``"7"``, ``"5-7"`` or ``"0,3,5-7"`` -> the slots, each in 0..NUM_KEY_SLOTS-1."""
    top = wire.NUM_KEY_SLOTS - 1
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, dash, hi = part.strip().partition("-")
            a = int(lo)
            b = int(hi) if dash else a
            if not 0 <= a <= b <= top:
                raise ValueError
            out += range(a, b + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: key slots are 0-{top}, as N, A-B (A <= B) or a comma-separated list"
        ) from None
    return tuple(sorted(set(out)))


def _core_list(text: str) -> tuple[str, ...]:
    known = {c.name.lower() for c in wire.Core}
    cores = tuple(c.strip().lower() for c in text.split(",") if c.strip())
    unknown = [c for c in cores if c not in known]
    if unknown or not cores:
        what = f"unknown core {', '.join(unknown)}" if unknown else "no core named"
        raise argparse.ArgumentTypeError(f"{what} (known: {', '.join(sorted(known))})")
    return cores


def main(argv: list[str] | None = None, *, opener: Callable[..., Any] | None = None) -> int:
    """``quantgate selftest``; ``opener(url, **options)`` replaces Appliance.open (tests)."""
    ap = argparse.ArgumentParser(
        prog="quantgate selftest",
        description="Known-answer checks of a device: INFO, ECHO, LOAD_KEY / PUBLIC_KEY / SIGN "
                    "for every curve (RFC 8032, RFC 6979), GREEKS against float64, constant "
                    "TIMING. Uses the highest empty key slot of --slots and ZEROIZEs it; a "
                    "slot holding a key is never touched without --overwrite-slots. "
                    "Exit status 0 only if no check fails.")
    ap.add_argument("--url", default="sim://",
                    help="sim://, socket://HOST:PORT, /dev/ttyUSB0, serial://PATH?baud=N")
    ap.add_argument("--expect-cores", type=_core_list, default=FULL_APPLIANCE_CORES,
                    metavar="LIST",
                    help="the cores the build was asked for, comma-separated (default: the "
                         f"full appliance, {','.join(FULL_APPLIANCE_CORES)}; a link-only build: "
                         "link); one INFO does not list fails")
    ap.add_argument("--slots", type=parse_slots, default=ALL_SLOTS, metavar="RANGE",
                    help="the key slots the selftest may use, e.g. 7, 5-7 or 0,6-7 (default: "
                         "all; the highest empty one is used)")
    ap.add_argument("--overwrite-slots", action="store_true",
                    help="if every slot of --slots holds a key, overwrite (and then zeroize) "
                         "the highest: that key is lost")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per attempt")
    args = ap.parse_args(argv)

    if opener is None:
        from .appliance import Appliance

        opener = Appliance.open
    options = {} if args.timeout is None else {"timeout": args.timeout}
    if args.url.startswith("sim://"):
        print("starting the simulated appliance (the first start builds it, which can take a "
              "few minutes)...", file=sys.stderr, flush=True)
    try:
        dev = opener(args.url, **options)
    except (QuantgateError, OSError, ValueError) as exc:
        print(f"quantgate selftest: cannot open {args.url}: {exc}", file=sys.stderr)
        return 2
    progress = None if args.json else lambda r: print(format_result(r), flush=True)
    try:
        with dev:
            results = run_selftest(dev, expect_cores=args.expect_cores, progress=progress,
                                   slots=args.slots, overwrite_slots=args.overwrite_slots)
    except KeyboardInterrupt:
        return 130
    if args.json:
        slot = next((r.data.get("slot") for r in results if r.name == "key slot"), None)
        print(json.dumps({"url": args.url, "slot": slot,
                          "expect_cores": list(args.expect_cores), **summary(results),
                          "checks": [r.as_dict() for r in results]}, indent=2))
    else:
        print(format_results(results).rsplit("\n", 1)[-1])
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
