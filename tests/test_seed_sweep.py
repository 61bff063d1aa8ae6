"""bench/seed_sweep.py: reads a placement's wirelength and estimate from nextpnr's log, sees
when router2 has stalled, and builds the seed's nextpnr command from the build's own script."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "seed_sweep", Path(__file__).resolve().parent.parent / "bench" / "seed_sweep.py")
seed_sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seed_sweep)

# the shape of nextpnr-ecp5 0.11's quantgate.tim around the end of placement (excerpt)
PLACING = """\
Info:   at iteration #5: temp = 0.000000, timing cost = 3051, wirelen = 595295
Info:   at iteration #24: temp = 0.000000, timing cost = 3784, wirelen = 581847
"""
PLACED = PLACING + """\
Info:   at iteration #25: temp = 0.000000, timing cost = 3790, wirelen = 581802 \n\
Info: Placement completed.
Info: Max frequency for clock '$glbnet$clk_pll': 45.69 MHz (PASS at 35.71 MHz)
Info:     iter=1 wires=1093846 overused=81172 overuse=101248 archfail=NA
Info: Max frequency for clock '$glbnet$clk_pll': 38.30 MHz (FAIL at 41.67 MHz)
"""


def test_placement_is_read_once_placement_has_finished():
    assert seed_sweep.placement(PLACING) is None
    assert seed_sweep.placement(PLACED) == (581802, 45.69)


def test_nextpnr_command_adds_the_seed_and_reads_the_netlist_from_the_build(tmp_path):
    (tmp_path / "build_quantgate.sh").write_text(
        '#!/bin/sh\n"$YOSYS" -q -l quantgate.rpt quantgate.ys\n'
        '"$NEXTPNR_ECP5" --quiet --report quantgate_nextpnr.json --timing-allow-fail '
        "--router router2 --placer static --log quantgate.tim --85k --package CABGA381 "
        "--speed 6 --seed 2 --json quantgate.json --lpf quantgate.lpf "
        "--textcfg quantgate.config\n")
    cmd = seed_sweep.nextpnr_command(tmp_path, 7)
    assert cmd[-2:] == ["--seed", "7"] and cmd.count("--seed") == 1
    assert cmd[cmd.index("--json") + 1] == "../quantgate.json"
    assert cmd[cmd.index("--lpf") + 1] == "../quantgate.lpf"
    assert cmd[cmd.index("--report") + 1] == "quantgate_nextpnr.json"
    assert cmd[cmd.index("--placer") + 1] == "static" and "--85k" in cmd
    cmd = seed_sweep.nextpnr_command(tmp_path, 3, ["--router", "router1", "--no-tmdriv"])
    assert cmd[-5:] == ["--router", "router1", "--no-tmdriv", "--seed", "3"]
    assert cmd.count("--router") == 1 and cmd.count("--seed") == 1 and "router2" not in cmd


def _routing(counts):
    return PLACED + "".join(
        f"Info:     iter={i} wires=1100000 overused={n} overuse={n + 10} archfail=NA\n"
        for i, n in enumerate(counts, start=2))


def test_stalled_when_no_new_low_for_the_given_iterations():
    falling = [52000, 35000, 20000, 9000, 5200, 5100, 5150, 5120, 5300]
    assert seed_sweep.stalled(_routing(falling), 8) is None
    # iterations 1..: 81172 (PLACED), then the counts above; the floor 5100 is iteration 7
    assert seed_sweep.stalled(_routing(falling + [5400, 5500, 5600]), 5) == (7, 5100)
    assert seed_sweep.stalled(_routing(falling + [5400, 5500, 5600]), 6) == (7, 5100)
    assert seed_sweep.stalled(_routing(falling + [5400, 5500, 5600]), 7) is None
    # a slow descent keeps making new lows: never stalled
    assert seed_sweep.stalled(_routing(list(range(3000, 100, -100))), 3) is None
