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
