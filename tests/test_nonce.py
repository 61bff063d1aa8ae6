"""RFC 6979 nonce generator (``quantgate.hdl.signer.nonce.NonceGen``) under cocotb + Verilator
(sim/tb_nonce.py): the real orders (one build shared by three testcases) and a second build
with tiny orders that exercises the second-candidate and no-valid-candidate paths."""

import pytest

from quantgate.sim import runner

TESTS = ["known_vectors", "random_and_edge_digests", "handshake_and_wipe"]
# curve 1: about half of the candidates valid, bytes 00 and ff (borrows in z - n); curve 2: a
# valid candidate 1 time in 64 (mostly neither is valid)
SMALL_ORDERS = (0x80F3E1D2C3B4A5968778695A4B3C2D1E0F00FF11EE22DD33CC44BB55AA669977, 2**250 + 1)


@pytest.fixture(scope="module")
def nonce_gen():
    from quantgate.hdl.signer.nonce import NonceGen

    return NonceGen()


@pytest.fixture(scope="module")
def small_nonce_gen():
    from quantgate.hdl.signer.nonce import NonceGen

    return NonceGen(orders=SMALL_ORDERS)


@pytest.mark.xdist_group("nonce")
@pytest.mark.parametrize("testcase", TESTS)
def test_nonce(nonce_gen, testcase):
    runner.run(nonce_gen, "nonce", "quantgate.sim.tb_nonce", testcase=testcase,
               env={"NONCE_RANDOM": 6, "NONCE_SEED": 1})


@pytest.mark.xdist_group("nonce")
def test_nonce_small_orders(small_nonce_gen):
    runner.run(small_nonce_gen, "nonce_small", "quantgate.sim.tb_nonce",
               testcase="small_orders",
               env={"NONCE_ORDERS": ",".join(f"{n:x}" for n in SMALL_ORDERS),
                    "NONCE_RANDOM": 6, "NONCE_SEED": 1})


def test_program_and_reference():
    """The microprogram's shape and the docs' Python model against the RFC vector."""
    import hashlib

    from quantgate.hdl.arith.model import N256
    from quantgate.hdl.signer import nonce

    assert len(nonce.PROGRAM) <= 64
    z = int.from_bytes(hashlib.sha256(b"sample").digest(), "big")
    x = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
    assert nonce.rfc6979_candidates(x, z, N256, 1) == [
        0xA6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60]
