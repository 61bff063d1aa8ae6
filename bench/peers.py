#!/usr/bin/env python3
"""Software signing peers on this machine: PyNaCl (libsodium) Ed25519, coincurve
(libsecp256k1) ECDSA with recovery id, cryptography (OpenSSL) P-256 ECDSA with RFC 6979 nonces.

Each signs the same kind of request the appliance does (Ed25519: a 100-byte message; ECDSA: a
32-byte digest), one call at a time on one core, timed per call, so the report carries both the
rate and the latency distribution (p50 / p99 / p99.9 / max) — the jitter a software signer has
and the appliance's fixed cycle count removes.

    .venv/bin/python bench/peers.py [--n 20000] [--json]

The measuring functions live in quantgate.host.peers (``quantgate bench`` runs them in the same
report as the device figures); this script prints them alone.
"""

import argparse
import json

from quantgate.host.peers import (  # noqa: F401  (re-exported for scripts)
    PEERS,
    _summary,
    _timed,
    ed25519_pynacl,
    p256_cryptography,
    secp256k1_coincurve,
)
from quantgate.host.peers import measure_signing_peers as measure


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
        if "error" in r:
            print(f"{curve:10} {r['peer']:42} {r['error']}")
            continue
        print(f"{curve:10} {r['peer']:42} {r['ops_per_s']:10.0f}/s  p50 {r['p50_us']:.1f} us"
              f"  p99 {r['p99_us']:.1f}  p99.9 {r['p999_us']:.1f}  max {r['max_us']:.1f}")


if __name__ == "__main__":
    main()
