"""Signing programs of the curve engine on the gateware (cocotb + Verilator; one Verilog
conversion and one build for every test here, the same build as tests/test_ecc_engine.py):
whole Ed25519 signatures against PyNaCl, recoverable secp256k1 signatures against coincurve,
P-256 against the RFC 6979 vector and cryptography, every register against the microcode
interpreter, one cycle count per program."""

import pytest

from quantgate.sim import runner

TESTS = ["ed25519_sign", "ecdsa_secp256k1", "ecdsa_p256"]


@pytest.fixture(scope="module")
def engine():
    from quantgate.hdl.ecc.engine import CurveEngine

    return CurveEngine()


@pytest.mark.xdist_group("ecc_engine")
@pytest.mark.parametrize("testcase", TESTS)
def test_ecc_sign(engine, testcase):
    runner.run(engine, "ecc_engine", "quantgate.sim.tb_ecc_sign", testcase=testcase)
