#!/usr/bin/env python3
"""Rank the deep paths of a synthesized ECP5 netlist in seconds, before a 30-minute place and route.

    .venv/bin/python bench/path_depth.py build/synth/signer/top.json [--count 12]

Reads the Yosys JSON netlist (``synth_ecp5 -json``: ``bench/synth_core.py`` writes
``build/synth/<name>/top.json``, the board build ``build/<board>/quantgate.json``) and walks every
path from a register, block RAM or multiplier output to a register, RAM or multiplier input.
Each LUT level costs its cell delay plus a routing estimate that grows with the log of the net's
fan-out, carry chains cost little per stage. The output lists the worst endpoints, one per
distinct start net, with the path and each net's fan-out.

This is a **ranking within one netlist**, not an fmax: compared with nextpnr's routed paths it
was close for the signer controller's binary-FSM decode path (25.6 ns estimated, 24.6 ns routed)
and pessimistic for datapaths (curve engine 17.1 ns estimated, 10.0 ns routed). What it finds
quickly are the expensive shapes: several LUT levels of decode in front of a net that fans out
to hundreds of flip-flops (docs/board.md, "FSM encoding").
"""

import argparse
import json
import math
from collections import defaultdict

CELL_NS = {"LUT4": 0.24, "PFUMX": 0.26, "L6MUX21": 0.2, "CCU2C": 0.3, "TRELLIS_DPR16X4": 0.6}
SOURCE_NS = {"TRELLIS_FF": 0.52, "DP16KD": 3.0, "MULT18X18D": 3.5}  # clock to output
CARRY_NS = 0.06  # CIN -> COUT of one CCU2C
CLOCKS = {"CLK", "WCK", "CLKA", "CLKB"}


def _route_ns(fanout):
    return 0.45 + 0.4 * math.log2(fanout + 1)


def analyse(netlist, top=None, count=12):
    """[(ns, endpoint "TYPE.PORT", [(net name, fan-out) from start to end])], worst first, one
    per distinct start net, at most `count`."""
    modules = netlist["modules"]
    top = top or next(n for n, m in modules.items() if m.get("attributes", {}).get("top"))
    module = modules[top]
    cells = module["cells"]
    names = {}
    for name, info in module["netnames"].items():
        for i, bit in enumerate(info["bits"]):
            if isinstance(bit, int) and (bit not in names or names[bit].startswith("$")):
                names[bit] = f"{name}[{i}]" if len(info["bits"]) > 1 else name
    driver, fanout = {}, defaultdict(int)
    for cname, cell in cells.items():
        for port, bits in cell["connections"].items():
            for bit in bits:
                if isinstance(bit, int):
                    if cell["port_directions"].get(port) == "output":
                        driver[bit] = (cname, port)
                    else:
                        fanout[bit] += 1

    arrival = {}  # net bit -> (ns at the driver's output, previous net bit)

    def inputs(cell):
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) != "input":
                continue
            if cell["type"] == "TRELLIS_DPR16X4" and port != "RAD":
                continue  # write side: timed as an endpoint
            for bit in bits:
                if isinstance(bit, int):
                    yield port, bit

    def resolve(root):  # iterative post-order walk (netlists are deep); loops are cut
        stack, open_ = [(root, False)], set()
        while stack:
            bit, expanded = stack.pop()
            if bit in arrival:
                continue
            if bit not in driver or cells[driver[bit][0]]["type"] in SOURCE_NS:
                cell_type = cells[driver[bit][0]]["type"] if bit in driver else None
                arrival[bit] = (SOURCE_NS.get(cell_type, 0.0), None)
                continue
            cell = cells[driver[bit][0]]
            if not expanded:
                if bit in open_:  # already being expanded further down the stack
                    continue
                open_.add(bit)
                stack.append((bit, True))
                stack.extend((b, False) for _, b in inputs(cell)
                             if b not in arrival and b not in open_)
                continue
            best = (0.0, None)
            for in_port, b in inputs(cell):
                if b not in arrival:  # the back edge of a loop: not a predecessor
                    continue
                t = arrival[b][0]
                if cell["type"] == "CCU2C" and in_port == "CIN":
                    t += CARRY_NS - CELL_NS["CCU2C"]
                elif not (cell["type"] == "PFUMX" and in_port in ("ALUT", "BLUT")):
                    t += _route_ns(fanout[b])
                if t > best[0]:
                    best = (t, b)
            arrival[bit] = (best[0] + CELL_NS.get(cell["type"], 0.3), best[1])
            open_.discard(bit)

    ends = []
    for cell in cells.values():
        if cell["type"] not in ("TRELLIS_FF", "DP16KD", "MULT18X18D", "TRELLIS_DPR16X4"):
            continue
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) != "input" or port in CLOCKS:
                continue
            if cell["type"] == "TRELLIS_DPR16X4" and port == "RAD":
                continue
            for bit in bits:
                if isinstance(bit, int):
                    resolve(bit)
                    ends.append((arrival[bit][0] + _route_ns(fanout[bit]),
                                 f"{cell['type']}.{port}", bit))
    ends.sort(key=lambda e: -e[0])

    def path(bit):
        out = []
        while bit is not None:
            out.append((names.get(bit, str(bit)), fanout[bit]))
            bit = arrival.get(bit, (0, None))[1]
        return out[::-1]

    def start(bit):
        while arrival.get(bit, (0, None))[1] is not None:
            bit = arrival[bit][1]
        return bit

    out, starts = [], set()
    for ns, where, bit in ends:  # the worst endpoint of each distinct start net
        first = start(bit)
        if first not in starts:
            starts.add(first)
            out.append((ns, where, path(bit)))
            if len(out) == count:
                break
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("netlist", help="Yosys JSON netlist (synth_ecp5 -json)")
    ap.add_argument("--top", help="top module (default: the one marked top)")
    ap.add_argument("--count", type=int, default=12, help="paths to list (default 12)")
    args = ap.parse_args(argv)
    with open(args.netlist) as f:
        paths = analyse(json.load(f), args.top, args.count)
    for ns, where, nets in paths:
        print(f"{ns:6.2f} ns estimated, {len(nets)} nets, ends at {where}")
        for name, fo in nets:
            if "_CCU2C_CIN_COUT_CCU2C_" not in name:  # the middle of a carry chain
                print(f"         {name[:110]}  (fan-out {fo})")

if __name__ == "__main__":
    main()
