"""cocotb tests of the curve engine (``quantgate.hdl.ecc.engine.CurveEngine``).

Scalars go in and results come out through the register-file port, exactly as the signing
controller will use the engine.  Every result is checked against an independent library
(PyNaCl / libsodium, coincurve / libsecp256k1, cryptography / OpenSSL) and against the
microcode interpreter (``quantgate.hdl.ecc.model``: same registers bit for bit, same cycle
count); every scalar of a curve must take the same number of cycles.

Environment: ``ECC_RANDOM`` (random scalars per curve, default 4), ``ECC_SEED``,
``ECC_CYCLES_OUT`` (write the measured cycle counts there as JSON; bench/ecc_cycles.py).
"""

import hashlib
import json
import os
import random

import cocotb
import coincurve
import nacl.bindings
import nacl.signing
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer, with_timeout
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from quantgate.hdl.arith.model import MUL_LATENCY
from quantgate.hdl.ecc import model
from quantgate.hdl.ecc.curves import ED25519, P256, SECP256K1
from quantgate.hdl.ecc.engine import NWORDS, PORT_W
from quantgate.hdl.ecc.microcode import NREG
from quantgate.hdl.ecc.programs import IO, SELFTEST_IN, SELFTEST_OUT, Prog, rom, selftest_expected
from quantgate.sim.state import differing, walk

RFC8032_SEEDS = {  # RFC 8032 section 7.1, tests 1-3: secret key -> public key
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60":
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb":
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7":
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
}
N_RANDOM = int(os.environ.get("ECC_RANDOM", "4"))
SEED = int(os.environ.get("ECC_SEED", "1"))


def clamp(seed: bytes) -> int:
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


def patterns(bits: int) -> list[int]:
    """All-ones and nibble patterns that stress the signed-digit recoding (carry chains)."""
    top = (1 << bits) - 1
    out = [top, top >> 1, top ^ 1, int("8" * (bits // 4), 16), int("9" * (bits // 4), 16),
           int("7" * (bits // 4), 16), int("f0" * (bits // 8), 16), int("0f" * (bits // 8), 16)]
    return [v & top for v in out]


def ed25519_ref(k: int) -> bytes:
    if k % ED25519.n == 0:
        return (1).to_bytes(32, "little")  # identity (libsodium refuses to return it)
    k %= ED25519.n  # libsodium clears bit 255 of its input; B has order L
    return nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little"))


def secp256k1_ref(k: int) -> bytes:
    k %= SECP256K1.n
    if k == 0:
        return bytes(33)
    return coincurve.PrivateKey(k.to_bytes(32, "big")).public_key.format(compressed=True)


def p256_ref(k: int) -> bytes:
    k %= P256.n
    if k == 0:
        return bytes(33)
    pub = ec.derive_private_key(k, ec.SECP256R1()).public_key()
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.CompressedPoint)


#: the engine's state derived from a scalar (names in the generated Verilog, top module):
#: signed-digit shift register, window counter, flags, recoder shift register / carry / count
SCALAR_STATE = ("sr", "win", "flags", "r_k", "r_c", "r_busy", "r_n")


def scalar_state(dut) -> dict:
    return {name: int(getattr(dut, name).value) for name in SCALAR_STATE}


class TB:
    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.cmd__valid.value = 0
        dut.cmd__payload.value = 0
        dut.rf__we.value = 0
        dut.rf__addr.value = 0
        dut.rf__raddr.value = 0
        dut.rf__wdata.value = 0
        dut.rf__shift.value = 0
        dut.rf__rword.value = 0
        dut.flush.value = 0

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def write(self, reg: int, value: int):
        """The register port's write: 64-bit words, most significant first; ``we`` with the
        last word."""
        d = self.dut
        d.rf__addr.value = reg
        d.rf__shift.value = 1
        for i in reversed(range(NWORDS)):
            d.rf__wdata.value = (value >> (PORT_W * i)) & ((1 << PORT_W) - 1)
            d.rf__we.value = int(i == 0)
            await RisingEdge(d.clk)  # the last word and `we` captured here; written next edge
        d.rf__shift.value = 0
        d.rf__we.value = 0
        await RisingEdge(d.clk)

    async def read(self, reg: int) -> int:
        d = self.dut
        d.rf__raddr.value = reg
        await RisingEdge(d.clk)  # the read port samples the address
        await RisingEdge(d.clk)  # its data (registered) is now visible, one word at a time
        value = 0
        for i in range(NWORDS):
            d.rf__rword.value = i
            await Timer(1, "ns")
            value |= d.rf__rdata.value.to_unsigned() << (PORT_W * i)
        d.rf__rword.value = 0
        return value

    async def run(self, program: int, curve: int, timeout_us=2000):
        d = self.dut
        assert d.busy.value == 0
        d.cmd__payload.value = int(program) | curve << 4
        d.cmd__valid.value = 1
        await RisingEdge(d.clk)
        assert d.cmd__ready.value == 1
        d.cmd__valid.value = 0
        await with_timeout(RisingEdge(d.done), timeout_us, "us")
        await RisingEdge(d.clk)
        assert d.busy.value == 0
        assert d.error.value == 0, "engine flagged a schedule violation"
        return d.cycles.value.to_unsigned()

    async def basemul(self, curve, k: int):
        await self.write(IO["k"], k)
        cycles = await self.run(Prog.BASEMUL, curve.code)
        out = {name: await self.read(IO[name]) for name in ("enc", "x", "y")}
        out["cycles"] = cycles
        return out


async def check_curve(dut, curve, scalars, ref):
    tb = TB(dut)
    await tb.reset()
    expected_cycles = rom().info[(Prog.BASEMUL, curve.code)].cycles + model.START_TO_ISSUE
    counts = set()
    measured = []
    for k in scalars:
        got = await tb.basemul(curve, k)
        measured.append(got["cycles"])
        want = model.basemul(curve, k)
        enc = curve.decode_int(got["enc"])
        assert enc == ref(k), f"{curve.name} k={k:#x}: {enc.hex()} != {ref(k).hex()}"
        assert (got["enc"], got["x"], got["y"]) == (
            want["regs"][IO["enc"]], want["x"], want["y"]), f"model mismatch k={k:#x}"
        assert got["cycles"] == want["cycles"] == expected_cycles, (got["cycles"], k)
        assert not any(scalar_state(dut).values()), (k, scalar_state(dut))
        counts.add(got["cycles"])
    assert counts == {expected_cycles}
    dut._log.info("%s: %d scalars, %d cycles each", curve.name, len(scalars), expected_cycles)
    if os.environ.get("ECC_CYCLES_OUT"):
        with open(os.environ["ECC_CYCLES_OUT"], "w") as f:
            json.dump(measured, f)


@cocotb.test()
async def basemul_ed25519(dut):
    rng = random.Random(SEED)
    n = ED25519.n
    scalars = [clamp(bytes.fromhex(s)) for s in RFC8032_SEEDS]
    scalars += [0, 1, 2, 8, 9, 16, 17, n - 1, n, n + 1] + patterns(255)
    scalars += [rng.randrange(1 << 255) for _ in range(N_RANDOM)]
    scalars += [clamp(rng.randbytes(32)) for _ in range(N_RANDOM)]
    for s, pk in RFC8032_SEEDS.items():  # the references agree on the RFC keys
        assert bytes(nacl.signing.SigningKey(bytes.fromhex(s)).verify_key).hex() == pk
        assert ed25519_ref(clamp(bytes.fromhex(s))).hex() == pk
    await check_curve(dut, ED25519, scalars, ed25519_ref)


@cocotb.test()
async def basemul_secp256k1(dut):
    rng = random.Random(SEED + 1)
    n = SECP256K1.n
    scalars = [1, 0, 2, 8, 9, 16, 17, n - 1, n - 2, n, n + 1, (n - 1) // 2] + patterns(256)
    scalars += [rng.randrange(1, n) for _ in range(N_RANDOM)]
    await check_curve(dut, SECP256K1, scalars, secp256k1_ref)


@cocotb.test()
async def basemul_p256(dut):
    rng = random.Random(SEED + 2)
    n = P256.n
    scalars = [1, 0, 2, 8, 9, 16, 17, n - 1, n - 2, n, n + 1, (n - 1) // 2] + patterns(256)
    scalars += [rng.randrange(1, n) for _ in range(N_RANDOM)]
    await check_curve(dut, P256, scalars, p256_ref)


@cocotb.test()
async def register_port_and_nop(dut):
    """The controller's register port round-trips 291-bit values in 64-bit words and writes
    zero when no word was shifted in; the NOP program and unknown commands finish at once and
    leave the registers alone."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(SEED + 3)
    vals = {r: rng.getrandbits(291) for r in range(0, 32, 3)}
    for r, v in vals.items():
        await tb.write(r, v)
    for r, v in vals.items():
        assert await tb.read(r) == v
    # `we` without shifts writes zero: the staging register was cleared by the last write
    zeroed = 3
    dut.rf__addr.value = zeroed
    dut.rf__we.value = 1
    await RisingEdge(dut.clk)
    dut.rf__we.value = 0
    await RisingEdge(dut.clk)
    assert await tb.read(zeroed) == 0
    vals[zeroed] = 0
    for prog, curve in ((Prog.NOP, 0), (Prog.NOP, 2), (15, 1), (Prog.BASEMUL, 3)):
        cycles = await tb.run(prog, curve)
        assert cycles == 1 + model.START_TO_ISSUE
    for r, v in vals.items():
        assert await tb.read(r) == v


@cocotb.test()
async def selftest_program(dut):
    """Every logic-unit op and flag (for the signing programs) and one of each arithmetic
    unit, against Python semantics and the interpreter, for random and equal operands."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(SEED + 4)
    entry = rom().entries[(Prog.SELFTEST, 0)]
    cycles = rom().info[(Prog.SELFTEST, 0)].cycles + model.START_TO_ISSUE
    for i in range(6):
        k = rng.getrandbits(291)
        u = k if i == 2 else rng.getrandbits(291)
        await tb.write(IO["k"], k)
        await tb.write(SELFTEST_IN, u)
        assert await tb.run(Prog.SELFTEST, i % 3) == cycles
        got = {r: await tb.read(r) for r in SELFTEST_OUT}
        assert got == selftest_expected(k, u)
        ref = model.Machine().run(entry, {IO["k"]: k, SELFTEST_IN: u})
        assert got == {r: ref.regs[r] for r in SELFTEST_OUT} and ref.cycles == cycles


@cocotb.test()
async def scalar_state_cleared(dut):
    """Nothing derived from the scalar outlives BASEMUL.  With the all-ones 256-bit scalar
    the top signed digit (digit 64) is 1, and it is still in the digit shift register when
    the program halts (``done`` high); one cycle later the digits, window counter, flags and
    recoder state are all zero.  The results and the cycle count are those of the
    interpreter (and of the libraries for the curves whose program takes 256-bit scalars;
    the Ed25519 program takes k < 2^255 and ignores digit 64)."""
    tb = TB(dut)
    await tb.reset()
    d = dut
    k = (1 << 256) - 1
    for curve, ref in ((ED25519, None), (SECP256K1, secp256k1_ref), (P256, p256_ref)):
        await tb.write(IO["k"], k)
        d.cmd__payload.value = int(Prog.BASEMUL) | curve.code << 4
        d.cmd__valid.value = 1
        await RisingEdge(d.clk)
        d.cmd__valid.value = 0
        await with_timeout(RisingEdge(d.done), 2000, "us")
        await ReadOnly()  # the cycle after HALT: done high, the clear not yet clocked
        before = scalar_state(d)
        assert before["sr"] == 1, f"{curve.name}: top digit not in sr: {before['sr']:#x}"
        await RisingEdge(d.clk)
        await ReadOnly()
        after = scalar_state(d)
        assert not any(after.values()), f"{curve.name}: scalar state left: {after}"
        await RisingEdge(d.clk)
        assert d.busy.value == 0 and d.error.value == 0
        want = model.basemul(curve, k)
        cycles = d.cycles.value.to_unsigned()
        assert cycles == want["cycles"] == (
            rom().info[(Prog.BASEMUL, curve.code)].cycles + model.START_TO_ISSUE)
        got = {name: await tb.read(IO[name]) for name in ("enc", "x", "y")}
        assert got == {"enc": want["regs"][IO["enc"]], "x": want["x"], "y": want["y"]}
        if ref is not None:
            assert curve.decode_int(got["enc"]) == ref(k), curve.name
        assert not any(scalar_state(d).values())



async def _flush(tb):
    """The signing controller's scrub: zero into every register, then ``flush``; returns the
    cycles after the pulse in which ``busy`` was high."""
    d = tb.dut
    for r in range(NREG):
        await tb.write(r, 0)
    d.rf__raddr.value = 0
    await RisingEdge(d.clk)
    d.flush.value = 1
    await RisingEdge(d.clk)
    d.flush.value = 0
    busy = []
    for c in range(2 * MUL_LATENCY):
        await ReadOnly()
        if d.busy.value == 1:
            busy.append(c)
        await RisingEdge(d.clk)
    return busy


@cocotb.test()
async def multiplier_flushed(dut):
    """Nothing of a secret operand outlives the scrub.  The same program (BASEMUL, secp256k1)
    runs with two random scalars; the engine's whole state (every signal, register-file word
    and ROM word, read through the simulator) is compared between the two runs.  After the
    programs it differs, among others in the multiplier's operand register b_reg and its
    accumulators; after the controller's scrub (zero into every register, then ``flush``: a zero
    multiplication through MontMul, busy meanwhile, no register written, no error) it is
    identical.  Freeze has cleared its value register by then.  The next program is
    unaffected."""
    tb = TB(dut)
    await tb.reset()
    d = dut
    rng = random.Random(SEED + 7)
    after_program, after_scrub = [], []
    for _ in range(2):
        k = rng.getrandbits(256)
        await tb.write(IO["k"], k)
        await tb.run(Prog.BASEMUL, SECP256K1.code)
        await ReadOnly()
        assert int(d.frz.x.value) == 0, "Freeze kept its last value"
        after_program.append(walk(d))
        await RisingEdge(d.clk)
        busy = await _flush(tb)
        # request in the cycle after the pulse (c = 0), result MUL_LATENCY cycles later
        assert busy == list(range(1, MUL_LATENCY + 1)), busy
        await ReadOnly()
        assert d.error.value == 0
        after_scrub.append(walk(d))
        await RisingEdge(d.clk)
        assert await tb.read(IO["enc"]) == 0
        await tb.write(IO["k"], k)
        await tb.run(Prog.BASEMUL, SECP256K1.code)
        assert await tb.read(IO["enc"]) == int.from_bytes(secp256k1_ref(k), "big")
        await _flush(tb)
    before = differing(*after_program)
    assert "mul.b_reg" in before and "mul.s0" in before, before
    left = differing(*after_scrub)
    assert not left, f"secret-dependent state after the scrub: {left}"
