"""cocotb simulations of the link gateware (Verilator by default; QUANTGATE_SIM=icarus)."""

import pytest

from quantgate.hdl.link.core import LinkCore
from quantgate.sim import runner
from quantgate.sim.duts import LinkParts

PARTS_TESTS = [
    "uart_rx_baud_tolerance", "uart_rx_break_and_glitches", "uart_tx_bytes",
    "cobs_decoder_matches_reference", "cobs_decoder_flags_truncated_group",
    "cobs_encoder_matches_reference", "crc_appender_matches_binascii",
]


PARTS = LinkParts()  # one object: converted to Verilog once per test process
CORE = LinkCore(clock_hz=100_000_000, baud=3_000_000)


@pytest.mark.parametrize("testcase", PARTS_TESTS)
def test_link_parts(testcase):
    runner.run(PARTS, "link_parts", "quantgate.sim.tb_link_parts", testcase=testcase)


CORE_TESTS = [
    "info_and_echo", "pipelined_under_back_pressure", "bad_frames_get_errors_and_lose_nothing",
    "random_corruption_never_wedges",
]


@pytest.mark.parametrize("testcase", CORE_TESTS)
def test_link_core(testcase):
    runner.run(CORE, "link_core", "quantgate.sim.tb_link_core", testcase=testcase)
