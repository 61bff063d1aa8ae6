"""cocotb tests of the curve engine's signing programs (ED_NONCE, ED_S, ECDSA) on the gateware
(``quantgate.hdl.ecc.engine.CurveEngine``), driven through the register-file port as the
key-slot controller will drive it.

Every case is checked against an independent library (PyNaCl / libsodium for whole Ed25519
signatures, coincurve / libsecp256k1 for recoverable secp256k1 signatures, cryptography /
OpenSSL and the RFC 6979 A.2.5 vector for P-256), and against the microcode interpreter
(``quantgate.hdl.ecc.model``: every register it wrote equal bit for bit, the same cycle
count); every case of a program must take the same number of cycles.

Environment: ``ECC_SEED`` (random cases).
"""

import hashlib
import os
import random

import cocotb
import coincurve
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from quantgate.hdl.ecc import model
from quantgate.hdl.ecc.curves import ED25519, P256, SECP256K1
from quantgate.hdl.ecc.microcode import NREG
from quantgate.hdl.ecc.programs import IO, Prog, rom
from quantgate.sim.tb_ecc import TB, clamp
from quantgate.sim.tb_nonce import rfc6979

SEED = int(os.environ.get("ECC_SEED", "1"))

RFC8032 = [  # section 7.1, tests 1 and 3: secret key, message
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", ""),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "af82"),
]
# RFC 6979 A.2.5: P-256, SHA-256, "sample"
P256_VECTOR = dict(
    d=0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721,
    k=0xA6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60,
    r=0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716,
    s=0xF7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8,
)


# RFC 6979 reference (Python hmac/hashlib): the one in the nonce generator's test bench
rfc6979_k = rfc6979


class SignTB(TB):
    """Runs a program on the engine and on the interpreter from the same register state."""

    def __init__(self, dut):
        super().__init__(dut)
        self.state: dict = {}  # the interpreter's view of the register file (None: unknown)
        self.machine = model.Machine()
        self.cycles: dict = {}

    async def program(self, prog, curve, inputs: dict) -> list:
        for reg, value in inputs.items():
            await self.write(reg, value)
            self.state[reg] = value
        cycles = await self.run(prog, curve.code)
        want = self.machine.run(rom().entries[(prog, curve.code)], dict(self.state))
        got = [await self.read(r) for r in range(NREG)]
        for r in range(NREG):
            if want.regs[r] is not None:
                assert got[r] == want.regs[r], f"{prog.name} {curve.name}: r{r} != model"
        assert cycles == want.cycles == rom().info[(prog, curve.code)].cycles + \
            model.START_TO_ISSUE, (prog.name, cycles, want.cycles)
        self.cycles.setdefault((prog, curve.code), set()).add(cycles)
        self.state = {r: v for r, v in enumerate(want.regs) if v is not None}
        return got

    def report(self):
        for (prog, code), counts in self.cycles.items():
            assert len(counts) == 1
            self.dut._log.info("%s curve %d: %d cycles", prog.name, code, *counts)


def split64(h: bytes) -> dict:
    return {IO["lo"]: int.from_bytes(h[:32], "little"), IO["hi"]: int.from_bytes(h[32:], "little")}


@cocotb.test()
async def ed25519_sign(dut):
    """Whole RFC 8032 signatures (hashes here, r, R and S on the engine) == PyNaCl."""
    tb = SignTB(dut)
    await tb.reset()
    rng = random.Random(SEED)
    cases = [(bytes.fromhex(s), bytes.fromhex(m)) for s, m in RFC8032]
    cases += [(rng.randbytes(32), rng.randbytes(40))]
    L = ED25519.n
    for seed, msg in cases:
        h = hashlib.sha512(seed).digest()
        a, prefix = clamp(seed), h[32:]
        pub = bytes(nacl.signing.SigningKey(seed).verify_key)
        d1 = hashlib.sha512(prefix + msg).digest()
        regs = await tb.program(Prog.ED_NONCE, ED25519, split64(d1))
        r = int.from_bytes(d1, "little") % L
        assert regs[IO["k"]] == r
        R = ED25519.decode_int(regs[IO["enc"]])
        assert R == ED25519.encode(ED25519.mul(r))
        d2 = hashlib.sha512(R + pub + msg).digest()
        regs = await tb.program(Prog.ED_S, ED25519, {**split64(d2), IO["d"]: a})
        sig = R + regs[IO["enc"]].to_bytes(32, "little")
        assert sig == nacl.signing.SigningKey(seed).sign(msg).signature, seed.hex()
    tb.report()


async def ecdsa_cases(dut, curve, cases, check):
    tb = SignTB(dut)
    await tb.reset()
    for d, digest, k in cases:
        regs = await tb.program(Prog.ECDSA, curve, {
            IO["k"]: k, IO["lo"]: int.from_bytes(digest, "big"), IO["d"]: d})
        r, s, y = regs[IO["enc"]], regs[IO["x"]], regs[IO["y"]]
        assert y >> 2 == 0, "bad flag"
        check(d, digest, k, r, s, y & 3)
    tb.report()


@cocotb.test()
async def ecdsa_secp256k1(dut):
    """r || s || v == coincurve's recoverable signature (RFC 6979 nonce, low-S)."""
    rng = random.Random(SEED + 1)
    n = SECP256K1.n
    digests = [(1, hashlib.sha256(b"Satoshi Nakamoto").digest())]
    digests += [(rng.randrange(1, n), rng.randbytes(32)) for _ in range(2)]
    cases = [(d, z, rfc6979_k(d, z, n)) for d, z in digests]

    def check(d, digest, k, r, s, v):
        ref = coincurve.PrivateKey(d.to_bytes(32, "big")).sign_recoverable(digest, hasher=None)
        assert r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]) == ref

    await ecdsa_cases(dut, SECP256K1, cases, check)


@cocotb.test()
async def ecdsa_p256(dut):
    """The RFC 6979 A.2.5 signature; random ones verified by cryptography; v from R."""
    rng = random.Random(SEED + 2)
    n = P256.n
    vec = P256_VECTOR
    digest = hashlib.sha256(b"sample").digest()
    assert rfc6979_k(vec["d"], digest, n) == vec["k"]
    cases = [(vec["d"], digest, vec["k"])]
    for _ in range(2):
        d, z = rng.randrange(1, n), rng.randbytes(32)
        cases.append((d, z, rfc6979_k(d, z, n)))

    def check(d, digest, k, r, s, v):
        if d == vec["d"]:
            assert (r, s) == (vec["r"], vec["s"])
        pub = ec.derive_private_key(d, ec.SECP256R1()).public_key()
        pub.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        R = P256.mul(k)
        assert v == (R[1] & 1) | (2 if R[0] >= n else 0)

    await ecdsa_cases(dut, P256, cases, check)
