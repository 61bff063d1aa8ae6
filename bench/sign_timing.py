#!/usr/bin/env python3
"""Cycles per signature from the TIMING counters of a device, by default the simulated full
appliance (``sim://``: the appliance top's Verilog under Verilator, the gateware a board runs).

    .venv/bin/python bench/sign_timing.py [--url sim://] [--timeout S]

For every curve INFO lists: two throw-away keys in slot 7, each signing two messages of one
length (Ed25519: a 100-byte order; ECDSA: a SHA-256 digest), TIMING's last_cycles after each
signature, then the device's count, min and max since reset; slot 7 is ZEROIZEd at the end.
Writes ``bench/results/sign_timing.json`` (read by ``quantgate bench``). Cycle counts do not
depend on the clock: the simulation's INFO reports its nominal 100 MHz, the board's bitstream
runs at the PLL clock of its build report.
"""

import argparse
import datetime
import json
import pathlib
import shlex
import sys

from quantgate.host.bench import device_sign_timing

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "sign_timing.json"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="sim://", help="sim:// (default), socket://HOST:PORT, or a "
                    "board's serial port")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per attempt")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    if args.url.startswith("sim://"):
        print("starting the simulated appliance (the first start builds it)...", file=sys.stderr,
              flush=True)
    result = device_sign_timing(args.url, args.timeout)
    result["generated_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    result["command"] = shlex.join(["python", "bench/sign_timing.py",
                                    *(sys.argv[1:] if argv is None else argv)])
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for curve, rec in result["curves"].items():
        same = "min = max" if rec["min_cycles"] == rec["max_cycles"] else "min != max"
        print(f"{curve}: {rec['cycles_each']} cycles; device since reset: count {rec['count']}, "
              f"min {rec['min_cycles']}, max {rec['max_cycles']} ({same})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
