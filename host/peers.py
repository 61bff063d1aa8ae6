"""The software peers of ``quantgate bench``, measured on this machine in the same run: PyNaCl
(Ed25519), coincurve (secp256k1), cryptography (P-256), each signing one request of the
appliance's kind per call on one core; the NumPy + SciPy float64 Greeks closed forms."""

from __future__ import annotations

import hashlib
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from .bench_settings import PEER_MESSAGE_BYTES

__all__ = ["PEERS", "best_of", "cpu_name", "ed25519_pynacl", "measure_greeks_peer",
           "measure_signing_peers", "p256_cryptography", "secp256k1_coincurve"]

def _timed(fn, args_list) -> np.ndarray:
    lat = np.empty(len(args_list), dtype=np.int64)
    for k, args in enumerate(args_list):
        t0 = time.perf_counter_ns()
        fn(*args)
        lat[k] = time.perf_counter_ns() - t0
    return lat


def _summary(name: str, lat_ns: np.ndarray) -> dict:
    us = lat_ns / 1e3
    return {
        "peer": name,
        "n": int(len(lat_ns)),
        "ops_per_s": float(1e9 / lat_ns.mean()),
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "p999_us": float(np.percentile(us, 99.9)),
        "max_us": float(us.max()),
    }


def ed25519_pynacl(n: int, rng) -> dict:
    from nacl.signing import SigningKey

    key = SigningKey(rng.bytes(32))
    msgs = [(rng.bytes(PEER_MESSAGE_BYTES),) for _ in range(n)]
    return _summary(f"PyNaCl Ed25519 sign ({PEER_MESSAGE_BYTES}-byte message)",
                    _timed(key.sign, msgs))


def secp256k1_coincurve(n: int, rng) -> dict:
    from coincurve import PrivateKey

    key = PrivateKey(hashlib.sha256(rng.bytes(32)).digest())
    digests = [(rng.bytes(32), None) for _ in range(n)]
    return _summary("coincurve secp256k1 sign_recoverable",
                    _timed(key.sign_recoverable, digests))


def p256_cryptography(n: int, rng) -> dict:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    key = ec.generate_private_key(ec.SECP256R1())
    algo = ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True)
    digests = [(rng.bytes(32), algo) for _ in range(n)]
    return _summary("cryptography P-256 sign (RFC 6979)", _timed(key.sign, digests))


PEERS = {"ed25519": ed25519_pynacl, "secp256k1": secp256k1_coincurve, "p256": p256_cryptography}


def measure_signing_peers(n: int = 20000, seed: int = 1) -> dict:
    """Each peer signs `n` requests of the appliance's kind (Ed25519: a 100-byte message; ECDSA:
    a 32-byte digest) one call at a time on one core, each call timed: rate and latency
    distribution. A peer whose library is missing is reported as {"error": ...}."""
    rng = np.random.default_rng(seed)
    out = {}
    for curve, fn in PEERS.items():
        try:
            out[curve] = fn(n, rng)
        except ImportError as exc:
            out[curve] = {"peer": fn.__name__, "error": f"not installed: {exc.name}"}
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def best_of(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_greeks_peer(n: int = 1_000_000, n_latency: int = 2000, seed: int = 1) -> dict:
    """The software part of bench/greeks_bench.py: the float64 closed forms (NumPy + SciPy
    ``ndtr``, hdl/pricing/reference.py) vectorised over `n` options on one core (all six
    outputs, best of 3), and the latency of pricing one option per call (`n_latency` calls)."""
    try:
        from quantgate.hdl.pricing.model import sample_domain  # NumPy only, no Amaranth
        from quantgate.hdl.pricing.reference import greeks_ref  # NumPy + SciPy
    except ImportError as exc:
        return {"peer": "NumPy + SciPy float64 closed forms", "error": f"not installed: {exc}"}
    s = sample_domain(n, np.random.default_rng(seed))
    s.pop("b76")
    t = best_of(lambda: greeks_ref(model="bsm", **s), 3)
    one = [{k: v[i] for k, v in s.items()} for i in range(min(n_latency, n))]
    greeks_ref(model="bsm", **one[0])  # warm up
    lat = _timed(lambda kw: greeks_ref(model="bsm", **kw), [(kw,) for kw in one])
    summary = _summary("NumPy + SciPy float64 closed forms, one option per call", lat)
    return {"peer": "NumPy + SciPy float64 closed forms (hdl/pricing/reference.py), one core",
            "n": n, "options_per_s": n / t, "latency": summary}
