#!/usr/bin/env python3
"""Cycle budget of the curve engine's programs (docs/ecc.md part 2).

Usage::

    .venv/bin/python bench/ecc_cycles.py            # microcode interpreter (cycle exact)
    .venv/bin/python bench/ecc_cycles.py --rtl      # also measure on the Verilated gateware

Prints, per curve, the cycles of a fixed-base scalar multiplication with encoding (the same
for every scalar), the breakdown by program block, the time at 100 MHz and the same
machine's software peers (PyNaCl / libsodium, coincurve / libsecp256k1, cryptography /
OpenSSL public-key derivation), and writes ``bench/results/ecc_cycles.json``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys
import time

from quantgate.hdl.ecc import model
from quantgate.hdl.ecc.curves import CURVES, P256
from quantgate.hdl.ecc.programs import Prog, rom

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLOCK_HZ = 100e6


def software_peers(n=2000) -> dict:
    """Public-key derivation in the usual libraries (microseconds per key, this machine)."""
    import coincurve
    import nacl.bindings
    from cryptography.hazmat.primitives.asymmetric import ec

    rng = random.Random(1)
    out = {}
    ks = [rng.randbytes(32) for _ in range(n)]
    t = time.perf_counter()
    for k in ks:
        nacl.bindings.crypto_scalarmult_ed25519_base(k)
    out["ed25519 (PyNaCl/libsodium)"] = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for k in ks:
        coincurve.PrivateKey(k).public_key.format(compressed=True)
    out["secp256k1 (coincurve/libsecp256k1)"] = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for k in ks:
        ec.derive_private_key(int.from_bytes(k, "big") % (P256.n - 1) + 1,
                              ec.SECP256R1()).public_key()
    out["p256 (cryptography/OpenSSL)"] = (time.perf_counter() - t) / n * 1e6
    return out


def rtl_cycles() -> dict:
    """Scalars of every curve through the Verilated engine (cocotb, sim/tb_ecc.py); the
    testbench records the engine's ``cycles`` output of each run."""
    import tempfile

    from quantgate.hdl.ecc.engine import CurveEngine
    from quantgate.sim import runner

    out = {}
    engine = CurveEngine()  # one object: converted to Verilog and built once
    with tempfile.TemporaryDirectory() as tmp:
        for c in CURVES:
            path = pathlib.Path(tmp) / f"{c.name}.json"
            env = {"ECC_RANDOM": "1", "ECC_CYCLES_OUT": str(path)}
            runner.run(engine, "ecc_engine", "quantgate.sim.tb_ecc",
                       testcase=f"basemul_{c.name}", env=env)
            counts = json.loads(path.read_text())
            out[c.name] = {"scalars": len(counts), "cycles": sorted(set(counts))}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rtl", action="store_true", help="also run the Verilated engine")
    ap.add_argument("--no-peers", action="store_true", help="skip the software timings")
    args = ap.parse_args(argv)

    img = rom()
    result = {"clock_hz": CLOCK_HZ, "program_rom_words": len(img.words), "curves": {}}
    for c in CURVES:
        info = img.info[(Prog.BASEMUL, c.code)]
        measured = {model.basemul(c, k)["cycles"] for k in (0, 1, c.n - 1, 0xDEADBEEF)}
        assert len(measured) == 1
        cycles = measured.pop()
        blocks: dict[str, int] = {}
        for label, length, reps in info.blocks:
            key = "inversion" if label.startswith("inv") else label.replace("_loopword", "")
            blocks[key] = blocks.get(key, 0) + length * reps
        blocks["start+halt"] = cycles - sum(blocks.values())
        window = next(length for label, length, _ in info.blocks if label == "window")
        result["curves"][c.name] = {
            "cycles": cycles,
            "us_at_100MHz": round(cycles / CLOCK_HZ * 1e6, 1),
            "keys_per_s_at_100MHz": round(CLOCK_HZ / cycles),
            "window_addition_cycles": window,
            "blocks": blocks,
            "program_words": info.length,
        }
    if not args.no_peers:
        result["software_us_per_key"] = {k: round(v, 1) for k, v in software_peers().items()}
    if args.rtl:
        result["rtl"] = rtl_cycles()
    result["command"] = " ".join(["python", "bench/ecc_cycles.py", *(sys.argv[1:])])
    out = ROOT / "bench" / "results" / "ecc_cycles.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
