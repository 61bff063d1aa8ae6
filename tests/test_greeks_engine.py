"""The GREEKS engine behind the link core, under cocotb + Verilator (sim/tb_greeks_engine.py)."""

import pytest

from quantgate import wire
from quantgate.hdl.link.core import Engine, LinkCore
from quantgate.hdl.pricing.engine import GreeksEngine
from quantgate.sim import runner

TESTS = [
    "frames_of_options_match_the_model",
    "malformed_payloads_get_bad_argument",
    "info_lists_the_greeks_core",
    "full_frames_back_to_back",
]


def greeks_link() -> LinkCore:
    """The GREEKS engine behind the link core (also bench/greeks_engine.py's design)."""
    return LinkCore(clock_hz=100_000_000, baud=3_000_000, engines=[
        Engine(cores=(wire.Core.GREEKS,), opcodes=(wire.Op.GREEKS,), build=GreeksEngine)])


@pytest.fixture(scope="module")
def core():
    return greeks_link()


@pytest.mark.parametrize("testcase", TESTS)
def test_greeks_engine(core, testcase):
    runner.run(core, "greeks_link", "quantgate.sim.tb_greeks_engine", testcase=testcase,
               env={"GREEKS_FRAMES": 40, "GREEKS_SEED": 1})
