#!/usr/bin/env python3
"""Software signing peers on this machine: PyNaCl (libsodium) Ed25519, coincurve
(libsecp256k1) ECDSA with recovery id, cryptography (OpenSSL) P-256 ECDSA with RFC 6979 nonces.

Each signs the same kind of request the appliance does (Ed25519: a 100-byte message; ECDSA: a
32-byte digest), one call at a time on one core, timed per call, so the report carries both the
rate and the latency distribution (p50 / p99 / p99.9 / max) — the jitter a software signer has
and the appliance's fixed cycle count removes.

    .venv/bin/python bench/peers.py [--n 20000] [--json]
"""

import argparse
import hashlib
import json
import time

import numpy as np


def _timed(fn, args_list):
    lat = np.empty(len(args_list), dtype=np.int64)
    for k, args in enumerate(args_list):
        t0 = time.perf_counter_ns()
        fn(*args)
        lat[k] = time.perf_counter_ns() - t0
    return lat


def _summary(name, lat_ns):
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


def ed25519_pynacl(n, rng):
    from nacl.signing import SigningKey

    key = SigningKey(rng.bytes(32))
    msgs = [(rng.bytes(100),) for _ in range(n)]
    return _summary("PyNaCl Ed25519 sign (100-byte message)", _timed(key.sign, msgs))


def secp256k1_coincurve(n, rng):
    from coincurve import PrivateKey

    key = PrivateKey(hashlib.sha256(rng.bytes(32)).digest())
    digests = [(rng.bytes(32), None) for _ in range(n)]
    return _summary("coincurve secp256k1 sign_recoverable",
                    _timed(key.sign_recoverable, digests))


def p256_cryptography(n, rng):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    key = ec.generate_private_key(ec.SECP256R1())
    algo = ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True)
    digests = [(rng.bytes(32), algo) for _ in range(n)]
    return _summary("cryptography P-256 sign (RFC 6979)", _timed(key.sign, digests))


PEERS = {"ed25519": ed25519_pynacl, "secp256k1": secp256k1_coincurve, "p256": p256_cryptography}


def measure(n=20000, seed=1):
    rng = np.random.default_rng(seed)
    return {curve: fn(n, rng) for curve, fn in PEERS.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="signatures per peer")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results = measure(args.n)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for curve, r in results.items():
        print(f"{curve:10} {r['peer']:42} {r['ops_per_s']:10.0f}/s  p50 {r['p50_us']:.1f} us"
              f"  p99 {r['p99_us']:.1f}  p99.9 {r['p999_us']:.1f}  max {r['max_us']:.1f}")


if __name__ == "__main__":
    main()
