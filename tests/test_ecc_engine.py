"""Curve engine gateware under cocotb + Verilator (one Verilog conversion and one build shared
by every test here): fixed-base scalar multiplication for each curve against PyNaCl,
coincurve and cryptography and against the microcode interpreter, constant cycle counts,
the self-test program, the register port."""

import pytest

from quantgate.sim import runner

TESTS = ["register_port_and_nop", "selftest_program", "basemul_ed25519", "basemul_secp256k1",
         "basemul_p256", "scalar_state_cleared", "multiplier_flushed"]


@pytest.fixture(scope="module")
def engine():
    """One engine object for every testcase: runner.to_verilog converts each component
    object once per process."""
    from quantgate.hdl.ecc.engine import CurveEngine

    return CurveEngine()


@pytest.mark.xdist_group("ecc_engine")
@pytest.mark.parametrize("testcase", TESTS)
def test_ecc_engine(engine, testcase):
    runner.run(engine, "ecc_engine", "quantgate.sim.tb_ecc", testcase=testcase)
