"""The signer engine (key slots, SIGN, TIMING) behind the link core, under cocotb + Verilator
(sim/tb_keys.py, sim/tb_sign.py): one Verilog conversion and one Verilator build shared by every
testcase here."""

import pytest

from quantgate.hdl.link.core import Engine, LinkCore
from quantgate.hdl.top import SIGNER_OPS
from quantgate.sim import runner

TESTS = [
    "ed25519_public_keys",
    "secp256k1_public_keys",
    "p256_public_keys",
    "out_of_range_secrets_rejected",
    "bad_requests_get_bad_argument",
    "empty_and_zeroized_slots",
]
SIGN_TESTS = [
    "ed25519_signatures",
    "secp256k1_signatures",
    "p256_signatures",
    "sign_errors",
    "timing_reports_cycles",
    "secrets_cleared",
]


def keys_link():
    from quantgate.hdl.signer.keyslots import KeySlots

    return LinkCore(clock_hz=100_000_000, baud=3_000_000,
                    engines=[Engine(cores=(), opcodes=SIGNER_OPS, build=KeySlots)])


@pytest.fixture(scope="module")
def core():
    return keys_link()


@pytest.mark.xdist_group("keys_engine")
@pytest.mark.parametrize("testcase", TESTS)
def test_keys_engine(core, testcase):
    runner.run(core, "keys_link", "quantgate.sim.tb_keys", testcase=testcase,
               env={"KEYS_RANDOM": 4, "KEYS_SEED": 1})


@pytest.mark.xdist_group("keys_engine")
@pytest.mark.parametrize("testcase", SIGN_TESTS)
def test_sign_engine(core, testcase):
    runner.run(core, "keys_link", "quantgate.sim.tb_sign", testcase=testcase,
               env={"SIGN_RANDOM": 3, "KEYS_SEED": 1})
