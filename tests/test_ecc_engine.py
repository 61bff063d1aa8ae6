"""Curve engine gateware under cocotb + Verilator (one build shared by every test here):
fixed-base scalar multiplication for each curve against PyNaCl, coincurve and cryptography
and against the microcode interpreter, constant cycle counts, the register port."""

import pytest

from quantgate.hdl.ecc.engine import CurveEngine
from quantgate.sim import runner

TESTS = ["register_port_and_nop", "selftest_program", "basemul_ed25519", "basemul_secp256k1",
         "basemul_p256"]


@pytest.mark.xdist_group("ecc_engine")
@pytest.mark.parametrize("testcase", TESTS)
def test_ecc_engine(testcase):
    runner.run(CurveEngine(), "ecc_engine", "quantgate.sim.tb_ecc", testcase=testcase)
