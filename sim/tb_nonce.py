"""cocotb tests of the RFC 6979 nonce generator (``quantgate.hdl.signer.nonce.NonceGen``).

The reference is written here from RFC 6979 section 3.2 (generic ``qlen``, Python's ``hmac`` and
``hashlib``), checked against the RFC's A.2.5 P-256 vectors and the well-known secp256k1 vector,
and, for the real curves, against two libraries that sign with RFC 6979 nonces (coincurve /
libsecp256k1, cryptography / OpenSSL ``deterministic_signing``): r == x(k*G) mod n.

Every run must take ``nonce.CYCLES`` cycles from ``start`` to ``done``. After every ``done`` the
design's secret registers are zero and the SHA-256 core's registers are identical to those
after any other run (they depend only on the public flush message).

Environment: ``NONCE_RANDOM`` (random (d, z) per curve, default 6), ``NONCE_SEED``,
``NONCE_ORDERS`` ("n1,n2" in hex: the ``orders`` the design was built with, default the real
ones).
"""

import hashlib
import hmac
import os
import random

import cocotb
import coincurve
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from quantgate.hdl.arith.model import N256, N256K1
from quantgate.hdl.signer import nonce

N_RANDOM = int(os.environ.get("NONCE_RANDOM", "6"))
SEED = int(os.environ.get("NONCE_SEED", "1"))
CLOCK_NS = 10
ORDERS = tuple(int(x, 16) for x in os.environ["NONCE_ORDERS"].split(",")) \
    if os.environ.get("NONCE_ORDERS") else (N256K1, N256)
SECP256K1, P256 = 1, 2


def order(curve: int) -> int:
    return ORDERS[0] if curve == SECP256K1 else ORDERS[1]


# ---- reference: RFC 6979 section 3.2, generic -----------------------------------------------
def rfc6979_nonces(x: int, h1: bytes, q: int, *, qlen: int = None, hash_fn=hashlib.sha256,
                   reduce=None):
    """Generator of the successive candidates k of RFC 6979 3.2 step h (the caller stops at the
    first one in [1, q-1]). ``reduce``: bits2octets' reduction of bits2int(h1) (default mod q)."""
    qlen = qlen or q.bit_length()
    rlen = 8 * ((qlen + 7) // 8)
    hlen = hash_fn().digest_size

    def mac(key, msg):
        return hmac.new(key, msg, hash_fn).digest()

    def bits2int(b):
        v = int.from_bytes(b, "big")
        return v >> (8 * len(b) - qlen) if 8 * len(b) > qlen else v

    def int2octets(v):
        return v.to_bytes(rlen // 8, "big")

    def bits2octets(b):
        z1 = bits2int(b)
        return int2octets(reduce(z1) if reduce else z1 % q)

    V = b"\x01" * hlen  # step b
    K = b"\x00" * hlen  # step c
    K = mac(K, V + b"\x00" + int2octets(x) + bits2octets(h1))  # step d
    V = mac(K, V)  # step e
    K = mac(K, V + b"\x01" + int2octets(x) + bits2octets(h1))  # step f
    V = mac(K, V)  # step g
    while True:  # step h
        T = b""
        while 8 * len(T) < qlen:
            V = mac(K, V)
            T += V
        yield bits2int(T)
        K = mac(K, V + b"\x00")
        V = mac(K, V)


def rfc6979(x: int, digest: bytes, q: int) -> int:
    """The RFC 6979 nonce (full loop)."""
    for k in rfc6979_nonces(x, digest, q):
        if 1 <= k < q:
            return k


def two_candidates(d: int, z: int, q: int):
    """The hardware's rule: qlen = 256, h = z - q if z >= q else z, two candidates.
    Returns (k, ok, which) with which = 1, 2 or 0 (no valid candidate, k = 0)."""
    gen = rfc6979_nonces(d, z.to_bytes(32, "big"), q, qlen=256,
                         reduce=lambda v: v - q if v >= q else v)
    for which, k in ((1, next(gen)), (2, next(gen))):
        if 1 <= k < q:
            return k, 1, which
    return 0, 0, 0


# ---- independent libraries: r = x(k*G) mod n ------------------------------------------------
def library_r(curve: int, d: int, digest: bytes) -> int:
    if curve == SECP256K1:
        der = coincurve.PrivateKey(d.to_bytes(32, "big")).sign(digest, hasher=None)
    else:
        key = ec.derive_private_key(d, ec.SECP256R1())
        der = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True))
    return decode_dss_signature(der)[0]


def point_x(curve: int, k: int) -> int:
    if curve == SECP256K1:
        return coincurve.PrivateKey(k.to_bytes(32, "big")).public_key.point()[0]
    return ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x


# ---- design's internal registers ------------------------------------------------------------
SECRET_REGS = ["V", "T", "D", "H", "Si", "So", "ge", "ok1", "ok2", "und", "lt", "nz", "borrow",
               "pend"]
SHA_REGS = ([f"H{i}" for i in range(8)] + [f"v_{c}" for c in "abcdefgh"]
            + ["lanes", "pre", "dpre", "wq", "wnext"] + [f"win{i}" for i in range(15)])


class NonceTB:
    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        for name in ("start", "curve", "d", "z", "wipe"):
            getattr(dut, name).value = 0
        self.cycles = set()
        self.sha_state = None
        self.runs = 0

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def internal(self, names, scope):
        out = {}
        for name in names:
            try:
                out[name] = int(getattr(scope, name).value)
            except AttributeError:
                pass
        return out

    async def run(self, curve: int, d: int, z: int, *, wipe_at=None):
        """One nonce; returns (k, ok, cycles). ``wipe_at``: pulse wipe that many cycles after
        start (while busy)."""
        dut = self.dut
        assert dut.busy.value == 0
        dut.curve.value = curve
        dut.d.value = d
        dut.z.value = z
        dut.start.value = 1
        await RisingEdge(dut.clk)  # samples start
        t0 = get_sim_time("ns")
        dut.start.value = 0
        dut.d.value = 0  # the inputs are latched: change them
        dut.z.value = (1 << 256) - 1
        dut.curve.value = 3 - curve if curve in (1, 2) else 1
        if wipe_at is not None:
            cocotb.start_soon(self.pulse_wipe(wipe_at))
        await ReadOnly()
        assert dut.busy.value == 1
        await with_timeout(RisingEdge(dut.done), 100 * nonce.CYCLES * CLOCK_NS, "ns")
        cycles = round(get_sim_time("ns") - t0) // CLOCK_NS
        await ReadOnly()
        assert dut.busy.value == 0
        k, ok = dut.k.value.to_unsigned(), int(dut.ok.value)
        self.check_scrubbed()
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert dut.done.value == 0, "done is a one-cycle pulse"
        assert (dut.k.value.to_unsigned(), int(dut.ok.value)) == (k, ok), "k/ok held"
        await RisingEdge(dut.clk)
        self.cycles.add(cycles)
        self.runs += 1
        return k, ok, cycles

    async def pulse_wipe(self, after):
        if after:
            await ClockCycles(self.dut.clk, after)
        self.dut.wipe.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.wipe.value = 0

    def check_scrubbed(self):
        dut = self.dut
        regs = self.internal(SECRET_REGS, dut)
        assert len(regs) == len(SECRET_REGS), f"not visible: {set(SECRET_REGS) - set(regs)}"
        nonzero = [name for name, v in regs.items() if v]
        assert not nonzero, f"internal secrets not zeroed at done: {nonzero}"
        sha = self.internal(SHA_REGS, dut.sha)
        assert len(sha) >= 20, sorted(sha)
        flush = hashlib.sha256(bytes(4)).digest()  # the last message hashed: 00000000
        assert [sha[f"H{i}"] for i in range(8)] == [
            int.from_bytes(flush[4 * i:4 * i + 4], "big") for i in range(8)]
        assert sha["lanes"] == 0
        if self.sha_state is None:
            self.sha_state = sha
        assert sha == self.sha_state, "SHA-256 core state after done depends on the inputs: " \
            + str([n for n in sha if sha[n] != self.sha_state[n]])

    def finish(self):
        assert self.cycles == {nonce.CYCLES}, (self.cycles, nonce.CYCLES)
        self.dut._log.info("%d runs, %s cycles each", self.runs, sorted(self.cycles))


def digest_int(msg: bytes) -> int:
    return int.from_bytes(hashlib.sha256(msg).digest(), "big")


async def check(tb: NonceTB, curve: int, d: int, z: int, *, libraries=False):
    q = order(curve)
    k, ok, _ = await tb.run(curve, d, z)
    want, want_ok, _ = two_candidates(d, z, q)
    assert (k, ok) == (want, want_ok), f"curve {curve} d={d:#x} z={z:#x}: {k:#x},{ok} != " \
        f"{want:#x},{want_ok}"
    if ORDERS == (N256K1, N256) and curve in (SECP256K1, P256):
        assert k == rfc6979(d, z.to_bytes(32, "big"), q)
        if libraries:
            assert point_x(curve, k) % q == library_r(curve, d, z.to_bytes(32, "big"))
    return k


# ---- tests ----------------------------------------------------------------------------------
RFC_P256_X = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
VECTORS = [  # (curve, d, message, k)
    (P256, RFC_P256_X, b"sample",
     0xA6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60),
    (P256, RFC_P256_X, b"test",
     0xD16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0),
    (SECP256K1, 1, b"Satoshi Nakamoto",
     0x8F8A276C19F4149656B280621E358CCE24F5F52542772691EE69063B74F15D15),
]


@cocotb.test()
async def known_vectors(dut):
    """RFC 6979 A.2.5 (P-256, SHA-256, "sample" / "test") and secp256k1 d = 1."""
    assert ORDERS == (N256K1, N256)
    for curve, d, msg, k in VECTORS:  # the reference agrees with the published values
        digest = hashlib.sha256(msg).digest()
        assert rfc6979(d, digest, order(curve)) == k
        assert nonce.rfc6979_candidates(d, digest_int(msg), order(curve), 1)[0] == k
        assert point_x(curve, k) % order(curve) == library_r(curve, d, digest)
    tb = NonceTB(dut)
    await tb.reset()
    for curve, d, msg, k in VECTORS:
        assert await check(tb, curve, d, digest_int(msg)) == k
    tb.finish()


@cocotb.test()
async def random_and_edge_digests(dut):
    """Random d and z on both curves, z >= n edge cases, other curve codes (P-256); against the
    reference and the libraries; constant cycles; scrubbed state."""
    assert ORDERS == (N256K1, N256)
    rng = random.Random(SEED)
    tb = NonceTB(dut)
    await tb.reset()
    for curve in (SECP256K1, P256):
        n = order(curve)
        # z >= n (h = z - n, with byte borrows) and around n
        edges = [2**256 - 1, n, n - 1, n + 1, n + 0xBF, n + 0x100, n + 2**64, 0, 2**255]
        edges += [n + rng.randrange(2**256 - n) for _ in range(3)]
        for z in edges:
            await check(tb, curve, rng.randrange(1, n), z, libraries=True)
        for d in (1, n - 1):
            await check(tb, curve, d, rng.getrandbits(256), libraries=True)
        for _ in range(N_RANDOM):
            await check(tb, curve, rng.randrange(1, n), rng.getrandbits(256), libraries=True)
    d, z = rng.randrange(1, N256), rng.getrandbits(256)
    want = await check(tb, P256, d, z)
    for code in (0, 3):  # not secp256k1: P-256
        k, ok, _ = await tb.run(code, d, z)
        assert (k, ok) == (want, 1)
    tb.finish()


@cocotb.test()
async def handshake_and_wipe(dut):
    """start is ignored while busy, wipe zeroes k/ok when idle, a wipe while busy makes the run
    end with k = 0, ok = 0 (same cycles), start zeroes the previous k."""
    rng = random.Random(SEED + 1)
    tb = NonceTB(dut)
    await tb.reset()
    curve = P256
    q = order(curve)
    d, z = rng.randrange(1, q), rng.getrandbits(256)
    want = two_candidates(d, z, q)[:2]
    assert (await tb.run(curve, d, z))[:2] == want
    dut.wipe.value = 1
    await RisingEdge(dut.clk)
    dut.wipe.value = 0
    await ReadOnly()
    assert dut.k.value.to_unsigned() == 0 and dut.ok.value == 0
    await RisingEdge(dut.clk)
    assert (await tb.run(curve, d, z))[:2] == want
    # start zeroes k; a start pulse while busy is ignored
    dut.curve.value, dut.d.value, dut.z.value, dut.start.value = curve, d, z, 1
    await RisingEdge(dut.clk)
    t0 = get_sim_time("ns")
    dut.d.value = d ^ 1
    await ClockCycles(dut.clk, 500)
    await ReadOnly()
    assert dut.busy.value == 1 and dut.ok.value == 0
    await RisingEdge(dut.clk)  # start still high: ignored
    dut.start.value = 0
    await RisingEdge(dut.done)
    assert round(get_sim_time("ns") - t0) // CLOCK_NS == nonce.CYCLES
    await ReadOnly()
    assert (dut.k.value.to_unsigned(), int(dut.ok.value)) == want
    await RisingEdge(dut.clk)
    tb.check_scrubbed()
    for at in (0, 100, nonce.CYCLES - 2, nonce.CYCLES - 1):  # wipe while busy
        k, ok, cycles = await tb.run(curve, d, z, wipe_at=at)
        assert (k, ok) == (0, 0) and cycles == nonce.CYCLES, (at, k, ok, cycles)
    assert (await tb.run(curve, d, z))[:2] == want  # the wipe does not stick
    tb.finish()


@cocotb.test()
async def small_orders(dut):
    """Design built with tiny orders: the second candidate and no-valid-candidate paths."""
    assert ORDERS != (N256K1, N256)
    rng = random.Random(SEED + 2)
    tb = NonceTB(dut)
    await tb.reset()
    cases = []  # every path on each curve (searched with the reference), then random inputs
    for curve in (SECP256K1, P256):
        q = order(curve)
        for path in (1, 2, 0):
            for _ in range(20000):
                d, z = rng.randrange(1, q), rng.getrandbits(256)
                if two_candidates(d, z, q)[2] == path:
                    cases.append((curve, d, z))
                    break
            else:
                raise AssertionError(f"no input found for path {path}, n = {q:#x}")
        cases.append((curve, rng.randrange(1, q), 2**256 - 1))
    cases += [((SECP256K1, P256)[i % 2], rng.randrange(1, min(ORDERS)), rng.getrandbits(256))
              for i in range(N_RANDOM)]
    paths = {0: 0, 1: 0, 2: 0}
    for curve, d, z in cases:
        k, ok, _ = await tb.run(curve, d, z)
        want = two_candidates(d, z, order(curve))
        assert (k, ok) == want[:2], (curve, hex(d), hex(z), hex(k), ok, want)
        paths[want[2]] += 1
    dut._log.info("paths taken (0: none valid, 1: k1, 2: k2): %s", paths)
    tb.finish()
