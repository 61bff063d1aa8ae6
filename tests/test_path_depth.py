"""bench/path_depth.py walks a netlist from register to register and ranks the deepest path."""

import importlib.util
import math
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "path_depth", Path(__file__).resolve().parent.parent / "bench" / "path_depth.py")
path_depth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(path_depth)

FF = {"CLK": "input", "DI": "input", "CE": "input", "Q": "output"}
LUT = {"A": "input", "B": "input", "C": "input", "D": "input", "Z": "output"}


def _cell(kind, **conn):
    dirs = FF if kind == "TRELLIS_FF" else LUT
    return {"type": kind, "port_directions": {p: dirs[p] for p in conn},
            "connections": {p: [b] for p, b in conn.items()}}


def test_two_levels_beat_one_and_fanout_costs():
    # q1 -> lut a -> lut b -> ff3.DI (two levels); q2 -> lut c -> ff4.DI (one level); q1 also
    # fans out to ff5.CE, so its route costs more than a single-sink net
    cells = {
        "ff1": _cell("TRELLIS_FF", CLK=1, Q=10), "ff2": _cell("TRELLIS_FF", CLK=1, Q=20),
        "a": _cell("LUT4", A=10, Z=11), "b": _cell("LUT4", A=11, Z=12),
        "c": _cell("LUT4", A=20, Z=21),
        "ff3": _cell("TRELLIS_FF", CLK=1, DI=12, Q=30),
        "ff4": _cell("TRELLIS_FF", CLK=1, DI=21, Q=31),
        "ff5": _cell("TRELLIS_FF", CLK=1, CE=10, Q=32),
    }
    netnames = {n: {"bits": [b]} for n, b in
                (("clk", 1), ("q1", 10), ("x", 11), ("y", 12), ("q2", 20), ("z", 21))}
    netlist = {"modules": {"top": {"attributes": {"top": 1}, "cells": cells,
                                   "netnames": netnames}}}
    paths = path_depth.analyse(netlist)
    ns, where, nets = paths[0]
    assert where == "TRELLIS_FF.DI" and [n for n, _ in nets] == ["q1", "x", "y"]
    route = path_depth._route_ns
    lut = path_depth.CELL_NS["LUT4"]
    expected = path_depth.SOURCE_NS["TRELLIS_FF"] + route(2) + lut + route(1) + lut + route(1)
    assert math.isclose(ns, expected)
    assert [n for n, _ in paths[1][2]] == ["q2", "z"]
