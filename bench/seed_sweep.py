#!/usr/bin/env python3
"""Try nextpnr placer seeds on a board build's netlist; route only the short placements.

    .venv/bin/python bench/seed_sweep.py build/ulx3s-85f --seeds 3-8 [--max-wirelength 530000]
        [--stall-iterations 8] [--nextpnr-args "--router2-alt-weights"] [--tag alt]

Needs a build directory in which ``quantgate build`` has run Yosys (``quantgate.json``,
``quantgate.lpf``, ``build_quantgate.sh``). For each seed, in ``<dir>/seed-<N>/``,
it runs the nextpnr command of ``build_quantgate.sh`` with ``--seed N``. When placement ends
(nextpnr prints its post-placement fmax estimate) it reads the placement's wirelength (the
last annealing line of ``quantgate.tim``) and stops the seed if it is above the limit: on the
full appliance every placement above ~549k wirelength stalled in router2 at 5,000-14,000
overused wires, the two at 471k and 520k got furthest (docs/board.md). A seed under the limit
is routed, and stopped if router2's overused-wire count has made no new low for
``--stall-iterations`` iterations (the stalled runs found a floor and climbed back). A seed
that routes to the end has fmax and resources in its ``quantgate_nextpnr.json``, and the same
``quantgate build --seed N`` reproduces it (placement depends only on the netlist and the seed).
``--nextpnr-args`` adds options to nextpnr's command (router experiments); ``--tag`` names the
work directories ``seed-<N>-<tag>`` so that such runs do not overwrite the plain ones.

One line per seed: estimate, wirelength, and what happened. Seeds run one after another.
"""

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from quantgate.boards import flow

WIRELEN = re.compile(r"at iteration #\d+: temp = [\d.]+, timing cost = \d+, wirelen = (\d+)")
ESTIMATE = re.compile(r"Max frequency for clock '[^']*clk_pll': ([\d.]+) MHz")
OVERUSED = re.compile(r"iter=(\d+) wires=\d+ overused=(\d+)")


def placement(log_text):
    """``(wirelength, estimate MHz)`` once placement has finished, else ``None``."""
    est = ESTIMATE.search(log_text)
    lengths = WIRELEN.findall(log_text[:est.start()] if est else "")
    if not est or not lengths:
        return None
    return int(lengths[-1]), float(est.group(1))


def stalled(log_text, iterations):
    """``(iteration, floor)`` if router2's overused count has made no new low in the last
    ``iterations`` iterations, else ``None``."""
    counts = [int(n) for _, n in OVERUSED.findall(log_text)]
    if len(counts) <= iterations:
        return None
    floor = min(counts)
    at = counts.index(floor)
    return (at + 1, floor) if len(counts) - 1 - at >= iterations else None


def nextpnr_command(build_dir, seed, extra=()):
    """The nextpnr command line of ``build_quantgate.sh``, with ``--seed`` and ``extra``
    (an option in ``extra`` replaces the script's, e.g. ``--router router1``)."""
    for line in (Path(build_dir) / "build_quantgate.sh").read_text().splitlines():
        if '"$NEXTPNR_ECP5"' in line:
            words = shlex.split(line.replace('"$NEXTPNR_ECP5"', "NEXTPNR"))
            words = [w.replace("quantgate.", "../quantgate.") if w.endswith((".json", ".lpf"))
                     and not w.endswith("_nextpnr.json") else w for w in words[1:]]
            extra = [*extra, "--seed", str(seed)]  # a build made with --seed: replaced
            for opt in (w for w in extra if w.startswith("--")):
                if opt in words:
                    i = words.index(opt)
                    takes_value = i + 1 < len(words) and not words[i + 1].startswith("--")
                    del words[i:i + 1 + takes_value]
            return [*words, *extra]
    raise ValueError(f"no nextpnr command in {build_dir}/build_quantgate.sh")


def run_seed(build_dir, seed, max_wirelength, nextpnr, stall_iterations=8, extra=(),
             tag=""):
    work = Path(build_dir) / (f"seed-{seed}-{tag}" if tag else f"seed-{seed}")
    work.mkdir(exist_ok=True)
    tim = work / "quantgate.tim"
    tim.unlink(missing_ok=True)
    cmd = [nextpnr, *nextpnr_command(build_dir, seed, extra)]
    with open(work / "nextpnr.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT)
        placed = None
        while proc.poll() is None:
            time.sleep(10)
            if not tim.exists():
                continue
            text = tim.read_text(errors="replace")
            if placed is None:
                placed = placement(text)
                if placed and placed[0] > max_wirelength:
                    proc.terminate()
                    proc.wait()
                    return f"seed {seed}: wirelength {placed[0]}, estimate {placed[1]} MHz: " \
                           "stopped after placement"
            elif (stall := stalled(text, stall_iterations)) is not None:
                proc.terminate()
                proc.wait()
                return f"seed {seed}: wirelength {placed[0]}, estimate {placed[1]} MHz: " \
                       f"router2 stalled (floor of {stall[1]} overused wires at iteration " \
                       f"{stall[0]}); stopped ({work})"
    if placed is None and tim.exists():
        placed = placement(tim.read_text(errors="replace"))
    what = "routed" if proc.returncode == 0 else f"nextpnr exit {proc.returncode}"
    return f"seed {seed}: wirelength {placed and placed[0]}, estimate " \
           f"{placed and placed[1]} MHz: {what} ({work})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", type=Path)
    ap.add_argument("--seeds", default="1-4", help="seeds, e.g. 3-8 or 2,5,9")
    ap.add_argument("--max-wirelength", type=int, default=530_000)
    ap.add_argument("--stall-iterations", type=int, default=8,
                    help="stop routing after this many iterations without a new low")
    ap.add_argument("--nextpnr-args", default="", help="more nextpnr options, one string")
    ap.add_argument("--tag", default="", help="work directories seed-<N>-<tag>")
    args = ap.parse_args(argv)
    seeds = []
    for part in args.seeds.split(","):
        lo, _, hi = part.partition("-")
        seeds += range(int(lo), int(hi or lo) + 1)
    nextpnr = flow.tool_env()["NEXTPNR_ECP5"]  # the tool quantgate build runs
    for seed in seeds:
        print(run_seed(args.build_dir, seed, args.max_wirelength, nextpnr,
                       args.stall_iterations, shlex.split(args.nextpnr_args), args.tag),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
