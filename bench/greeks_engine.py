#!/usr/bin/env python3
"""The GREEKS engine's rate through its real input path, measured in simulation: the engine
behind the link core (deframer, parser, dispatcher, result framer), fed one byte per clock
with no back-pressure (cocotb + Verilator: sim/tb_greeks_engine.py, ``full_frames_back_to_back``,
the same test ``make test`` runs).

    .venv/bin/python bench/greeks_engine.py

Writes ``bench/results/greeks_engine.json`` (read by ``quantgate bench``): clocks per option
between consecutive 20-option result frames, and one option's latency in clocks (its request's
last byte in -> the result frame's last byte out, one byte per clock). Clock counts do not
depend on the clock frequency; the UART in front of the link core is not simulated here
(``quantgate bench`` sets the 3 Mbaud line's rate beside it).
"""

import json
import pathlib
import sys
import tempfile

from quantgate.sim import runner

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "greeks_engine.json"
COMMAND = "python bench/greeks_engine.py"


def measure() -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_greeks_engine import greeks_link  # the design make test simulates: one build

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "greeks_engine.json"
        runner.run(greeks_link(), "greeks_link", "quantgate.sim.tb_greeks_engine",
                   testcase="full_frames_back_to_back",
                   env={"GREEKS_SEED": 1, "GREEKS_ENGINE_OUT": path})
        return json.loads(path.read_text())


def main():
    measured = measure()
    result = {**measured,
              "path": "link core (COBS deframer, frame parser, dispatcher) -> GreeksEngine -> "
                      "response arbiter -> CRC -> COBS framer, one byte per clock each way",
              "testbench": "sim/tb_greeks_engine.py::full_frames_back_to_back",
              "command": COMMAND}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{measured['clocks_per_option']:.2f} clocks per option between results; one option "
          f"{measured['one_option_latency_clocks']} clocks (last byte in -> last byte out)")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
