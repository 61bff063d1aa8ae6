"""Signing programs of the curve engine (ED_NONCE, ED_S, ECDSA) in the microcode interpreter
(``quantgate.hdl.ecc.model.Machine``, cycle-exact) against independent references: PyNaCl
(libsodium) for whole Ed25519 signatures, coincurve (libsecp256k1) for recoverable secp256k1
signatures, cryptography (OpenSSL) and the RFC 6979 A.2.5 vector for P-256.  The test composes
the signatures as the key-slot controller will (hashes outside the engine, RFC 6979 nonces
from the nonce test bench, hmac/hashlib).  Fast (pure Python)."""

import hashlib
import random

import coincurve
import nacl.signing
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from quantgate.hdl.arith import model as A
from quantgate.hdl.ecc import model as M
from quantgate.hdl.ecc import programs as P
from quantgate.hdl.ecc.curves import ED25519, P256, SECP256K1
from quantgate.sim.tb_nonce import rfc6979

IO = P.IO

RFC8032 = [  # section 7.1, tests 1-3: secret key, message, signature
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
     "1cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
     "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760"
     "984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]

# RFC 6979 A.2.5 (P-256, SHA-256, message "sample")
P256_D = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
P256_K = 0xA6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60
P256_R = 0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716
P256_S = 0xF7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8

_MACHINE = M.Machine()


def run(prog, curve, regs: dict):
    """Run a program; ``regs``: the registers the controller writes (all others unwritten:
    the interpreter raises if the program reads one)."""
    entry = P.rom().entries[(prog, curve.code)]
    return _MACHINE.run(entry, dict(regs))


def expected_cycles(prog, curve) -> int:
    return P.rom().info[(prog, curve.code)].cycles + M.START_TO_ISSUE


# --------------------------------------------------------------------------------------------
# Ed25519 (RFC 8032 section 5.1.6, the hashes outside the engine)


def split64(h: bytes) -> dict:
    assert len(h) == 64
    return {IO["lo"]: int.from_bytes(h[:32], "little"), IO["hi"]: int.from_bytes(h[32:], "little")}


def ed25519_sign(seed: bytes, msg: bytes, cycles: dict, carry_state: bool = True) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    a = int.from_bytes(a, "little")
    prefix = h[32:]
    pub = bytes(nacl.signing.SigningKey(seed).verify_key)  # A (BASEMUL is tested elsewhere)
    # r = SHA-512(prefix || M) mod L, R = r B
    d1 = hashlib.sha512(prefix + msg).digest()
    res = run(P.Prog.ED_NONCE, ED25519, split64(d1))
    cycles.setdefault("nonce", set()).add(res.cycles)
    r = int.from_bytes(d1, "little") % ED25519.n
    assert res.regs[IO["k"]] == r  # canonical r left in k for ED_S
    R = ED25519.decode_int(res.regs[IO["enc"]])
    pt = ED25519.mul(r)
    assert (res.regs[IO["x"]], res.regs[IO["y"]]) == pt
    assert R == ED25519.encode(pt)
    assert split64(d1) == {i: res.regs[i] for i in (IO["lo"], IO["hi"])}  # inputs only read
    # S = (r + SHA-512(R || A || M) a) mod L
    d2 = hashlib.sha512(R + pub + msg).digest()
    regs = dict(enumerate(res.regs)) if carry_state else {IO["k"]: res.regs[IO["k"]]}
    regs.update(split64(d2))
    regs[IO["d"]] = a
    res2 = run(P.Prog.ED_S, ED25519, regs)
    cycles.setdefault("s", set()).add(res2.cycles)
    S = res2.regs[IO["enc"]]
    assert S == (r + int.from_bytes(d2, "little") * a) % ED25519.n
    assert res2.regs[IO["k"]] == r and res2.regs[IO["d"]] == a
    return R + S.to_bytes(32, "little")


def test_ed25519_rfc8032_vectors():
    cycles = {}
    for sk, msg, sig in RFC8032:
        seed, m = bytes.fromhex(sk), bytes.fromhex(msg)
        ref = nacl.signing.SigningKey(seed).sign(m).signature
        assert ref.hex() == sig  # the reference agrees with the RFC
        assert ed25519_sign(seed, m, cycles) == ref
        assert ed25519_sign(seed, m, cycles, carry_state=False) == ref
    assert cycles == {"nonce": {expected_cycles(P.Prog.ED_NONCE, ED25519)},
                      "s": {expected_cycles(P.Prog.ED_S, ED25519)}}


def test_ed25519_random():
    rng = random.Random(8032)
    cycles = {}
    for i in range(6):
        seed = rng.randbytes(32)
        msg = rng.randbytes([0, 1, 31, 64, 200, 1000][i])
        sig = ed25519_sign(seed, msg, cycles)
        assert sig == nacl.signing.SigningKey(seed).sign(msg).signature
        nacl.signing.VerifyKey(bytes(nacl.signing.SigningKey(seed).verify_key)).verify(msg, sig)
    assert len(cycles["nonce"]) == 1 and len(cycles["s"]) == 1


def test_ed25519_reduction_edges():
    """ED_NONCE / ED_S reduce any 512-bit digest: all-ones, zero, L multiples."""
    L = ED25519.n
    cycles = set()
    for v in (0, 1, L - 1, L, 2 * L, (1 << 512) - 1, L << 256, (1 << 256) - 1, 1 << 256,
              (1 << 512) - L):
        h = v.to_bytes(64, "little")
        res = run(P.Prog.ED_NONCE, ED25519, split64(h))
        cycles.add(res.cycles)
        r = v % L
        assert res.regs[IO["k"]] == r
        enc = ED25519.encode(ED25519.mul(r))
        assert ED25519.decode_int(res.regs[IO["enc"]]) == enc
        a = (1 << 254) | (v & ((1 << 254) - 8))
        regs = {IO["k"]: r, IO["d"]: a, **split64(h[::-1])}
        res2 = run(P.Prog.ED_S, ED25519, regs)
        cycles.add(res2.cycles)
        assert res2.regs[IO["enc"]] == (r + int.from_bytes(h[::-1], "little") * a) % L
    assert cycles == {expected_cycles(P.Prog.ED_NONCE, ED25519),
                      expected_cycles(P.Prog.ED_S, ED25519)}


def test_ed_nonce_falls_through_into_basemul():
    """ED_NONCE is the reduction block followed by BASEMUL's own words."""
    rom = P.rom()
    nonce = rom.info[(P.Prog.ED_NONCE, ED25519.code)]
    bm = rom.info[(P.Prog.BASEMUL, ED25519.code)]
    assert bm.entry + bm.length == nonce.entry + nonce.length
    assert nonce.cycles > bm.cycles


# --------------------------------------------------------------------------------------------
# ECDSA


# RFC 6979 reference (Python hmac/hashlib): the one in the nonce generator's test bench
rfc6979_k = rfc6979


def ecdsa(curve, d: int, digest: bytes, k: int, cycles: set) -> tuple[int, int, int, int]:
    """(r, s, v, bad) from the engine; also checks the Python-integer expectation."""
    z = int.from_bytes(digest, "big")
    res = run(P.Prog.ECDSA, curve, {IO["k"]: k, IO["lo"]: z, IO["d"]: d})
    cycles.add(res.cycles)
    r, s, yv = res.regs[IO["enc"]], res.regs[IO["x"]], res.regs[IO["y"]]
    assert yv < 8
    n = curve.n
    R = curve.mul(k)
    er = R[0] % n
    es = pow(k, -1, n) * (z + er * d) % n
    ev = (R[1] & 1) | (2 if R[0] >= n else 0)
    if curve is SECP256K1 and es > (n - 1) // 2:
        es, ev = n - es, ev ^ 1
    assert (r, s, yv & 3) == (er, es, ev)
    assert yv >> 2 == int(er == 0 or es == 0)
    return r, s, yv & 3, yv >> 2


def test_rfc6979_reference():
    """The RFC 6979 code here reproduces the RFC's P-256 nonce."""
    digest = hashlib.sha256(b"sample").digest()
    assert rfc6979_k(P256_D, digest, P256.n) == P256_K


def coincurve_sig(d: int, digest: bytes) -> bytes:
    return coincurve.PrivateKey(d.to_bytes(32, "big")).sign_recoverable(digest, hasher=None)


def test_secp256k1_satoshi_vector():
    digest = hashlib.sha256(b"Satoshi Nakamoto").digest()
    k = rfc6979_k(1, digest, SECP256K1.n)
    assert k == 0x8F8A276C19F4149656B280621E358CCE24F5F52542772691EE69063B74F15D15
    cycles = set()
    r, s, v, bad = ecdsa(SECP256K1, 1, digest, k, cycles)
    ref = coincurve_sig(1, digest)
    assert r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]) == ref
    assert r == 0x934B1EA10A4B3C1757E2B0C017D0B6143CE3C9A7E6A4A49860D7A6AB210EE3D8
    assert s == 0x2442CE9D2B916064108014783E923EC36B49743E2FFA1C4496F01A512AAFD9E5
    assert bad == 0
    assert cycles == {expected_cycles(P.Prog.ECDSA, SECP256K1)}


def test_secp256k1_random():
    rng = random.Random(256)
    n = SECP256K1.n
    cycles, flipped = set(), set()
    digests = [rng.randbytes(32) for _ in range(8)] + [b"\xff" * 32, bytes(32),
                                                       (n + 5).to_bytes(32, "big")]
    for i, digest in enumerate(digests):
        d = [1, 2, n - 1][i] if i < 3 else rng.randrange(1, n)
        k = rfc6979_k(d, digest, n)
        r, s, v, bad = ecdsa(SECP256K1, d, digest, k, cycles)
        ref = coincurve_sig(d, digest)
        assert r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]) == ref, i
        # v recovers the public key
        pub = coincurve.PublicKey.from_signature_and_message(ref, digest, hasher=None)
        assert pub.format() == coincurve.PrivateKey(d.to_bytes(32, "big")).public_key.format()
        z = int.from_bytes(digest, "big")
        flipped.add(pow(k, -1, n) * (z + r * d) % n != s)
        assert bad == 0
    assert flipped == {False, True}  # both sides of low-S were exercised
    assert cycles == {expected_cycles(P.Prog.ECDSA, SECP256K1)}


def p256_verify(d: int, digest: bytes, r: int, s: int) -> bool:
    pub = ec.derive_private_key(d, ec.SECP256R1()).public_key()
    try:
        pub.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


def test_p256_rfc6979_vector():
    digest = hashlib.sha256(b"sample").digest()
    cycles = set()
    r, s, v, bad = ecdsa(P256, P256_D, digest, P256_K, cycles)
    assert (r, s, bad) == (P256_R, P256_S, 0)
    assert p256_verify(P256_D, digest, r, s)
    R = P256.mul(P256_K)
    assert v == (R[1] & 1) | (2 if R[0] >= P256.n else 0)
    assert cycles == {expected_cycles(P.Prog.ECDSA, P256)}


def test_p256_random():
    rng = random.Random(6979)
    n = P256.n
    cycles = set()
    digests = [rng.randbytes(32) for _ in range(8)] + [b"\xff" * 32, bytes(32)]
    parities = set()
    for i, digest in enumerate(digests):
        d = [1, n - 1][i] if i < 2 else rng.randrange(1, n)
        k = rfc6979_k(d, digest, n)
        r, s, v, bad = ecdsa(P256, d, digest, k, cycles)
        assert bad == 0
        assert p256_verify(d, digest, r, s)
        assert not p256_verify(d, digest, r, (s + 1) % n)
        R = P256.mul(k)  # v against the nonce point computed here
        assert v & 1 == R[1] & 1 and v >> 1 == int(R[0] >= n)
        parities.add(v & 1)
    assert parities == {0, 1}
    assert cycles == {expected_cycles(P.Prog.ECDSA, P256)}


@pytest.mark.parametrize("curve", [SECP256K1, P256], ids=lambda c: c.name)
def test_ecdsa_bad_flag(curve):
    """z = -r d mod n makes s = 0: the program reports bad (bit 2 of y), same cycles."""
    rng = random.Random(curve.code)
    n = curve.n
    cycles = set()
    for _ in range(2):
        k, d = rng.randrange(1, n), rng.randrange(1, n)
        r = curve.mul(k)[0] % n
        z = (-r * d) % n
        got = ecdsa(curve, d, z.to_bytes(32, "big"), k, cycles)
        assert got[1] == 0 and got[3] == 1
    assert cycles == {expected_cycles(P.Prog.ECDSA, curve)}


def test_ecdsa_leaves_only_outputs_defined():
    """The controller reads enc, x, y; the program reads only k, lo, d (the interpreter
    raises on a read of an unwritten register) and overwrites k, d with k R, d R mod n."""
    n = SECP256K1.n
    res = run(P.Prog.ECDSA, SECP256K1, {IO["k"]: 5, IO["lo"]: 7, IO["d"]: 11})
    assert res.regs[IO["k"]] % n == 5 * A.R % n and res.regs[IO["d"]] % n == 11 * A.R % n
    assert res.regs[IO["lo"]] == 7


# --------------------------------------------------------------------------------------------
# chains and the interleaving


@pytest.mark.parametrize("sel", range(len(A.MODULI)), ids=lambda s: A.NAMES[s])
def test_chains(sel):
    m = A.MODULI[sel]
    rng = random.Random(sel)
    flat = P.flat_chain(sel)
    shifted = P.shifted_inv_chain(sel, 64)
    for x in (1, 2, m - 1, rng.randrange(m)):
        assert P.run_flat(flat, x, m) == pow(x, m - 2, m)
        assert P.run_flat(shifted, x, m, {2: pow(x, 1 << 64, m)}) == pow(x, m - 2, m)
    assert sum(op[0] == "mul" for op in flat) == P.chain_cost(P.chain_steps(sel))
    if sel in (A.SEL["n256k1"], A.SEL["n256"]):  # ECDSA's k^-1: 64 squarings moved out
        assert len(shifted) < len(flat) - 50


def test_pair_segments_keep_each_chain_in_order():
    a, b = P.flat_chain(A.SEL["p256"]), P.shifted_inv_chain(A.SEL["n256"], 64)
    segs = P.pair_segments(a, b)
    got = ([], [])
    for seg in segs:
        if seg[0] == "loop":
            got[0].extend([seg[2]] * seg[1])
            got[1].extend([seg[3]] * seg[1])
        else:
            for c, op in seg[1]:
                got[c].append(op)
    assert got == (list(a), list(b))
    assert segs[-1][0] == "block" and len(segs[-1][1]) <= P.PAIR_LAST


def test_sign_cycle_budget():
    """ECDSA in the engine <= 28,500 cycles (30,000 with ~1,500 of RFC 6979 outside)."""
    info = P.rom().info
    for c in (SECP256K1, P256):
        assert info[(P.Prog.ECDSA, c.code)].cycles + M.START_TO_ISSUE <= 28_500
    assert info[(P.Prog.BASEMUL, ED25519.code)].cycles + M.START_TO_ISSUE <= 20_000
    assert len(P.rom().words) <= P.rom().depth <= 2048
