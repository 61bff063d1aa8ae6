#!/usr/bin/env python3
"""Cycles per signature of the signer engine, measured in simulation (cocotb + Verilator, the
same test benches as ``make test``: sim/tb_sign.py on the key-slot engine behind the link).

    .venv/bin/python bench/sign_cycles.py

Counts are from the engine accepting the request's last byte to its first response byte; they
are the same for every key, nonce and digest (Ed25519: for every message of a length). Writes
``bench/results/sign_cycles.json`` (read by ``quantgate bench``).
"""

import json
import pathlib
import sys
import tempfile

from quantgate.sim import runner

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "sign_cycles.json"
TESTS = ("ed25519_signatures", "secp256k1_signatures", "p256_signatures")


def measure() -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_keys_engine import keys_link

    core = keys_link()
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "cycles.json"
        for test in TESTS:
            runner.run(core, "keys_link", "quantgate.sim.tb_sign", testcase=test,
                       env={"SIGN_RANDOM": 2, "KEYS_SEED": 1, "SIGN_CYCLES_OUT": path})
        return json.loads(path.read_text())


def main():
    measured = measure()
    result = {
        "curves": {curve: {"cycles": value} for curve, value in sorted(measured.items())},
        "engines": 1,
        "clock_note": "engine cycles: request's last byte in -> first response byte out",
        "command": "python bench/sign_cycles.py",
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    ed = measured.get("ed25519", {})
    for curve, value in sorted(measured.items()):
        if isinstance(value, dict):
            print(f"{curve}: " + ", ".join(f"{n} B: {c}" for n, c in
                                           sorted(value.items(), key=lambda kv: int(kv[0]))))
        else:
            print(f"{curve}: {value} cycles")
    if ed:
        print(f"Ed25519, 100-byte message: {ed.get('100')} cycles")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
