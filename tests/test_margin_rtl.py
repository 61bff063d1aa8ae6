"""The margin unit's gateware components under cocotb + Verilator, bit for bit against the model
(hdl/margin/model.py). One build per component (sim/runner.py caches it); each testbench
module's cocotb tests run in one simulator process."""

import pytest

from quantgate.hdl.margin.book import BookMemory
from quantgate.sim import runner


@pytest.fixture(scope="module")
def book():
    return BookMemory()


def test_book_memory(book):
    assert runner.run(book, "margin_book", "quantgate.sim.tb_margin_book",
                      env={"MARGIN_SEED": 1}) == 2


@pytest.fixture(scope="module")
def front():
    from quantgate.sim.duts import MarginFront

    return MarginFront()


def test_sequencer(front):
    assert runner.run(front, "margin_front", "quantgate.sim.tb_margin_sequencer",
                      env={"MARGIN_SEED": 1, "MARGIN_SIZES": "0,1,2,5,40,300,4096"}) == 2
