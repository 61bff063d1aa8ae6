#!/usr/bin/env python3
"""Try nextpnr placer seeds on a board build's netlist; route only the short placements.

    .venv/bin/python bench/seed_sweep.py build/ulx3s-85f --seeds 3-8 [--max-wirelength 530000]

Needs a build directory in which ``quantgate build`` has run Yosys (``quantgate.json``,
``quantgate.lpf``, ``build_quantgate.sh``). For each seed, in ``<dir>/seed-<N>/``,
it runs the nextpnr command of ``build_quantgate.sh`` with ``--seed N``. When placement ends
(nextpnr prints its post-placement fmax estimate) it reads the placement's wirelength (the
last annealing line of ``quantgate.tim``) and stops the seed if it is above the limit: on the
full appliance every placement above ~549k wirelength stalled in router2 at 5,000-14,000
overused wires, the two at 471k and 520k got furthest (docs/board.md). A seed under the limit
routes to the end; its ``quantgate_nextpnr.json`` then holds fmax and resources, and the same
``quantgate build --seed N`` reproduces it (placement depends only on the netlist and the seed).

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


def placement(log_text):
    """``(wirelength, estimate MHz)`` once placement has finished, else ``None``."""
    est = ESTIMATE.search(log_text)
    lengths = WIRELEN.findall(log_text[:est.start()] if est else "")
    if not est or not lengths:
        return None
    return int(lengths[-1]), float(est.group(1))


def nextpnr_command(build_dir, seed):
    """The nextpnr command line of ``build_quantgate.sh``, with ``--seed``."""
    for line in (Path(build_dir) / "build_quantgate.sh").read_text().splitlines():
        if '"$NEXTPNR_ECP5"' in line:
            words = shlex.split(line.replace('"$NEXTPNR_ECP5"', "NEXTPNR"))
            words = [w.replace("quantgate.", "../quantgate.") if w.endswith((".json", ".lpf"))
                     and not w.endswith("_nextpnr.json") else w for w in words[1:]]
            if "--seed" in words:  # a build made with --seed: this sweep sets its own
                i = words.index("--seed")
                del words[i:i + 2]
            return [*words, "--seed", str(seed)]
    raise ValueError(f"no nextpnr command in {build_dir}/build_quantgate.sh")


def run_seed(build_dir, seed, max_wirelength, nextpnr):
    work = Path(build_dir) / f"seed-{seed}"
    work.mkdir(exist_ok=True)
    tim = work / "quantgate.tim"
    tim.unlink(missing_ok=True)
    cmd = [nextpnr, *nextpnr_command(build_dir, seed)]
    with open(work / "nextpnr.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT)
        placed = None
        while proc.poll() is None:
            time.sleep(10)
            if placed is None and tim.exists():
                placed = placement(tim.read_text(errors="replace"))
                if placed and placed[0] > max_wirelength:
                    proc.terminate()
                    proc.wait()
                    return f"seed {seed}: wirelength {placed[0]}, estimate {placed[1]} MHz: " \
                           "stopped after placement"
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
    args = ap.parse_args(argv)
    seeds = []
    for part in args.seeds.split(","):
        lo, _, hi = part.partition("-")
        seeds += range(int(lo), int(hi or lo) + 1)
    nextpnr = flow.tool_env()["NEXTPNR_ECP5"]  # the tool quantgate build runs
    for seed in seeds:
        print(run_seed(args.build_dir, seed, args.max_wirelength, nextpnr), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
