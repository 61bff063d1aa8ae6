"""cocotb tests of SIGN and TIMING on the key-slot engine behind the link core (the same
design as ``tb_keys``; raw line bytes in and out).

Signatures are compared byte for byte with PyNaCl (Ed25519, RFC 8032 vectors and random
seeds/messages), coincurve (secp256k1 ``sign_recoverable``, the "Satoshi Nakamoto" vector) and
the RFC 6979 A.2.5 P-256 vectors; random P-256 signatures are verified with cryptography and
their recovery ids by recovering the public key with Python integers. Every signature of a
curve (Ed25519: of a message length) must take the same number of cycles, and TIMING must
report them. No response may carry secret material.

Environment: ``SIGN_RANDOM`` (random cases per curve, default 3), ``KEYS_SEED``,
``SIGN_CYCLES_OUT`` (a JSON file: the cycle counts measured, merged with what it holds;
bench/sign_cycles.py).
"""

import hashlib
import json
import os
import random

import cocotb
import coincurve
import nacl.signing
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from quantgate import wire
from quantgate.host.demo_sign import recover_public_key
from quantgate.sim import vectors
from quantgate.sim.state import differing, walk
from quantgate.sim.tb_keys import (
    OK,
    ORDER,
    SEED,
    reference_public,
    secret_material,
    seq_of,
    start,
)
from quantgate.sim.tb_link_core import expect_error

Op, Err, Curve = wire.Op, wire.Err, wire.Curve
N_RANDOM = int(os.environ.get("SIGN_RANDOM", "3"))
SIGN_OK = Op.SIGN | wire.RESPONSE_FLAG

def sign_payload(slot: int, message: bytes, curve=wire.CURVE_ANY) -> bytes:
    return bytes([slot | curve << 4]) + message


class Signer:
    """A cocotb test's view of the signer: loads keys, signs, checks cycles per class."""

    def __init__(self, tb):
        self.tb = tb
        self.k = 0
        self.cycles = {}  # class -> set of engine cycle counts

    def seq(self):
        self.k += 1
        return seq_of(self.k)

    async def load(self, slot, curve, secret):
        s = self.seq()
        response, *_ = await self.tb.load(s, slot, curve, secret)
        assert response == (OK[Op.LOAD_KEY], s, b""), response

    async def sign(self, slot, message, curve=wire.CURVE_ANY, cls=None):
        s = self.seq()
        response, _link, engine = await self.tb.transact(Op.SIGN, s,
                                                         sign_payload(slot, message, curve))
        op, rseq, payload = response
        assert (op, rseq) == (SIGN_OK, s), response
        if cls is not None:
            self.cycles.setdefault(cls, set()).add(engine)
        return payload

    async def error(self, payload, err):
        s = self.seq()
        response, *_ = await self.tb.transact(Op.SIGN, s, payload)
        expect_error(response, s, err, Op.SIGN)

    def check_constant(self, dut):
        for cls, counts in sorted(self.cycles.items(), key=str):
            assert len(counts) == 1, f"{cls}: cycle counts depend on the data: {sorted(counts)}"
            dut._log.info("SIGN %s: %d cycles in the engine", cls, next(iter(counts)))
        out = os.environ.get("SIGN_CYCLES_OUT")
        if out:  # {curve: cycles} or {curve: {message length: cycles}}
            data = json.loads(open(out).read()) if os.path.exists(out) else {}
            for cls, counts in self.cycles.items():
                if isinstance(cls, tuple):
                    data.setdefault(cls[0], {})[str(cls[1])] = next(iter(counts))
                else:
                    data[cls] = next(iter(counts))
            with open(out, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)


@cocotb.test()
async def ed25519_signatures(dut):
    """RFC 8032 TEST 1, 2, 3, 1024 (1023 bytes, the longest message) and SHA(abc); random seeds
    with messages across the SHA-512 block boundaries: R || S byte for byte as PyNaCl, the same
    cycles for every key and message of a length."""
    tb = await start(dut)
    sg = Signer(tb)
    rng = random.Random(SEED + 10)
    for j, (name, seed, _public, message, signature) in enumerate(vectors.rfc8032()):
        slot = j % wire.NUM_KEY_SLOTS
        tb.secrets += secret_material(Curve.ED25519, seed)
        await sg.load(slot, Curve.ED25519, seed)
        got = await sg.sign(slot, message, Curve.ED25519, cls=("ed25519", len(message)))
        assert got == bytes([Curve.ED25519]) + signature, f"{name}: {got.hex()}"
    lengths = [0, 1, 47, 48, 79, 80, 100, 111, 112, 200, 1023]
    lengths += [rng.randrange(0, wire.MAX_SIGN_MESSAGE + 1) for _ in range(N_RANDOM)]
    for length in lengths:
        for _ in range(2):  # two keys and messages per length: the same cycle count
            seed = rng.randbytes(32)
            message = rng.randbytes(length)
            tb.secrets += secret_material(Curve.ED25519, seed)
            await sg.load(5, Curve.ED25519, seed)
            got = await sg.sign(5, message, cls=("ed25519", length))
            want = nacl.signing.SigningKey(seed).sign(message).signature
            assert got == bytes([Curve.ED25519]) + want, f"len {length}: {got.hex()}"
    sg.check_constant(dut)
    tb.check_no_secrets_on_the_wire()


@cocotb.test()
async def secp256k1_signatures(dut):
    """The "Satoshi Nakamoto" vector, edge keys and digests, random cases: r || s || v byte for
    byte as coincurve's sign_recoverable (low-S), and the key recovered from (r, s, v) is the
    slot's public key; constant cycles."""
    tb = await start(dut)
    sg = Signer(tb)
    rng = random.Random(SEED + 11)
    n = ORDER[Curve.SECP256K1]
    cases = [(vectors.SATOSHI_KEY, vectors.SATOSHI_DIGEST)]
    cases += [((n - 1).to_bytes(32, "big"), bytes(32)),
              ((2).to_bytes(32, "big"), b"\xff" * 32),
              (rng.randrange(1, n).to_bytes(32, "big"), n.to_bytes(32, "big")),
              (rng.randrange(1, n).to_bytes(32, "big"), (n - 1).to_bytes(32, "big"))]
    cases += [(rng.randrange(1, n).to_bytes(32, "big"), rng.randbytes(32))
              for _ in range(N_RANDOM)]
    for j, (secret, digest) in enumerate(cases):
        slot = j % 3
        tb.secrets += secret_material(Curve.SECP256K1, secret)
        await sg.load(slot, Curve.SECP256K1, secret)
        got = await sg.sign(slot, digest, Curve.SECP256K1 if j % 2 else wire.CURVE_ANY,
                            cls="secp256k1")
        key = coincurve.PrivateKey(secret)
        want = key.sign_recoverable(digest, hasher=None)
        assert got == bytes([Curve.SECP256K1]) + want, f"case {j}: {got.hex()} != {want.hex()}"
        recovered = coincurve.PublicKey.from_signature_and_message(got[1:], digest, hasher=None)
        assert recovered.format() == reference_public(Curve.SECP256K1, secret)
        assert int.from_bytes(got[33:65], "big") <= (n - 1) // 2  # low-S
    sg.check_constant(dut)
    tb.check_no_secrets_on_the_wire()


@cocotb.test()
async def p256_signatures(dut):
    """RFC 6979 A.2.5 (SHA-256, "sample" and "test") exactly; random cases verified with
    cryptography and the recovery id checked by recovering the public key; constant cycles."""
    tb = await start(dut)
    sg = Signer(tb)
    rng = random.Random(SEED + 12)
    n = ORDER[Curve.P256]
    key = bytes.fromhex(vectors.P256_KEY)
    tb.secrets += secret_material(Curve.P256, key)
    await sg.load(4, Curve.P256, key)
    cases = []
    for message, (_k, r, s) in vectors.RFC6979_P256_SHA256.items():
        digest = hashlib.sha256(message).digest()
        got = await sg.sign(4, digest, Curve.P256, cls="p256")
        assert got[:65] == bytes([Curve.P256]) + bytes.fromhex(r + s), f"{message}: {got.hex()}"
        cases.append((key, digest, got))
    for _ in range(N_RANDOM):
        secret = rng.randrange(1, n).to_bytes(32, "big")
        digest = rng.randbytes(32)
        tb.secrets += secret_material(Curve.P256, secret)
        await sg.load(6, Curve.P256, secret)
        cases.append((secret, digest, await sg.sign(6, digest, cls="p256")))
    for secret, digest, got in cases:
        assert len(got) == 66 and got[0] == Curve.P256
        r, s, v = int.from_bytes(got[1:33], "big"), int.from_bytes(got[33:65], "big"), got[65]
        public = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1()).public_key()
        public.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        compressed = public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        assert recover_public_key("p256", digest, got[1:66]) == compressed, f"v={v}"
    sg.check_constant(dut)
    tb.check_no_secrets_on_the_wire()


@cocotb.test()
async def sign_errors(dut):
    """Empty and zeroized slots, the wrong curve, wrong digest lengths, bad slots and curve
    nibbles, an empty payload: the right error, nothing else changes, and the engine signs
    normally afterwards."""
    tb = await start(dut)
    sg = Signer(tb)
    seed = bytes(range(32))
    d = (0x1234567).to_bytes(32, "big")
    tb.secrets += secret_material(Curve.ED25519, seed) + secret_material(Curve.P256, d)
    digest = hashlib.sha256(b"order").digest()
    await sg.error(sign_payload(0, b"x"), Err.EMPTY_SLOT)
    await sg.load(0, Curve.ED25519, seed)
    await sg.load(1, Curve.P256, d)
    await sg.error(sign_payload(0, b"x", Curve.SECP256K1), Err.WRONG_CURVE)
    await sg.error(sign_payload(0, b"x", Curve.P256), Err.WRONG_CURVE)
    await sg.error(sign_payload(1, digest, Curve.ED25519), Err.WRONG_CURVE)
    await sg.error(sign_payload(1, digest, Curve.SECP256K1), Err.WRONG_CURVE)
    for bad in (b"", digest[:31], digest + b"\x00", bytes(100)):
        await sg.error(sign_payload(1, bad), Err.BAD_ARGUMENT)
    await sg.error(b"", Err.BAD_ARGUMENT)
    await sg.error(sign_payload(8, b"x"), Err.BAD_ARGUMENT)
    await sg.error(sign_payload(15, b"x"), Err.BAD_ARGUMENT)
    await sg.error(sign_payload(0, b"x", 3), Err.BAD_ARGUMENT)
    await sg.error(sign_payload(2, digest), Err.EMPTY_SLOT)
    got = await sg.sign(0, b"x")
    assert got == bytes([Curve.ED25519]) + nacl.signing.SigningKey(seed).sign(b"x").signature
    got = await sg.sign(1, digest, Curve.P256)
    public = ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1()).public_key()
    public.verify(encode_dss_signature(int.from_bytes(got[1:33], "big"),
                                       int.from_bytes(got[33:65], "big")),
                  digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    s = sg.seq()
    assert (await tb.zeroize(s, 0))[0] == (OK[Op.ZEROIZE], s, b"")
    await sg.error(sign_payload(0, b"x"), Err.EMPTY_SLOT)
    tb.check_no_secrets_on_the_wire()


def parse_timing(payload: bytes) -> dict:
    fields = len(wire.TIMING_FIELDS)
    out = {}
    for i, op in enumerate(wire.TIMING_OPS):
        for c in Curve:
            base = 4 * fields * (i * len(Curve) + c)
            values = [int.from_bytes(payload[base + 4 * f: base + 4 * f + 4], "little")
                      for f in range(fields)]
            out[(op, c)] = dict(zip(wire.TIMING_FIELDS, values, strict=True))
    return out


@cocotb.test()
async def timing_reports_cycles(dut):
    """TIMING: empty counters after reset; after loads and signatures, count, min = max = last
    per curve, equal to the cycles measured at the engine's ports (give or take the fixed
    offset between the two measuring points)."""
    tb = await start(dut)
    sg = Signer(tb)
    s = sg.seq()
    (op, rseq, payload), *_ = await tb.transact(Op.TIMING, s)
    assert (op, rseq, len(payload)) == (Op.TIMING | wire.RESPONSE_FLAG, s, 96)
    for rec in parse_timing(payload).values():
        assert rec == {"count": 0, "min_cycles": 2**32 - 1, "max_cycles": 0, "last_cycles": 0}
    rng = random.Random(SEED + 13)
    engine = {}
    for c in Curve:
        for _ in range(2):
            secret = (rng.randbytes(32) if c == Curve.ED25519
                      else rng.randrange(1, ORDER[c]).to_bytes(32, "big"))
            tb.secrets += secret_material(c, secret)
            await sg.load(c, c, secret)
            message = rng.randbytes(100 if c == Curve.ED25519 else 32)
            await sg.sign(c, message, cls=c.name)
        engine[c] = next(iter(sg.cycles[c.name]))
    s = sg.seq()
    (op, rseq, payload), *_ = await tb.transact(Op.TIMING, s)
    timing = parse_timing(payload)
    for c in Curve:
        for op_name in wire.TIMING_OPS:
            rec = timing[(op_name, c)]
            assert rec["count"] == 2, rec
            assert rec["min_cycles"] == rec["max_cycles"] == rec["last_cycles"], rec
        sign = timing[("sign", c)]["min_cycles"]
        assert abs(sign - engine[c]) <= 8, (c, sign, engine[c])
        dut._log.info("TIMING %s: LOAD_KEY %d, SIGN %d cycles", c.name,
                      timing[("load_key", c)]["min_cycles"], sign)
    sg.check_constant(dut)
    await sg.error(b"", Err.BAD_ARGUMENT)
    s = sg.seq()
    response, *_ = await tb.transact(Op.TIMING, s, b"\x00")
    expect_error(response, s, Err.BAD_ARGUMENT, Op.TIMING)
    tb.check_no_secrets_on_the_wire()


#: what legitimately differs between two keys after their requests (``state.differing``
#: patterns): the slot store (its memories, and its secret read port's data with the wires it
#: drives: the stored key itself, until ZEROIZE, which empty_and_zeroized_slots checks on the
#: memories), public data (the public key, the response and its bytes on the way out: payload
#: register, framer buffer, CRC, skid registers), and counters that grow with every request
#: (the link's statistics, the STATS engine, the signer's per-curve TIMING counts).
AFTER_A_KEY = (
    "engine3.store.*", "engine3.secret__*", "engine3.d", "engine3.nonce.d",
    "engine3.public__key", "engine3.payload$*", "engine3.stats.*",
    "framer.*", "crc.*", "crc_reg.*", "arbiter_reg.*", "engine3_out.*",
    "count_frames_ok", "stats.*", "engine2.*",
)


async def _state_after(tb, op, payload):
    """One request with a fixed sequence number, then the whole design's state once the
    engine is idle again (the response sent)."""
    response, *_ = await tb.transact(op, 0x0101, payload)
    assert response[0] == op | wire.RESPONSE_FLAG, response
    await ClockCycles(tb.dut.clk, 50)
    await ReadOnly()
    state = walk(tb.dut)
    await RisingEdge(tb.dut.clk)
    return state, response[2]


@cocotb.test()
async def secrets_cleared(dut):
    """Nothing of a key or a nonce outlives LOAD_KEY and SIGN outside the slot store.  Per
    curve, the same requests (same slot, message and sequence numbers) run with two random
    keys, and after each response the design's whole state (every signal, register-file word,
    FIFO and memory word of the link and the signer, read through the simulator) is compared
    between the two: only the slot store, public data and counters may differ (AFTER_A_KEY).
    Before the fixes this found the curve engine's multiplier holding its last operands,
    registers 0-7 not wiped after an ECDSA LOAD_KEY, and the link's frame buffer keeping the
    LOAD_KEY frame."""
    tb = await start(dut)
    rng = random.Random(SEED + 17)
    for c in Curve:
        message = rng.randbytes(100 if c == Curve.ED25519 else 32)
        states = []
        for _ in range(3):  # the first run gives the other two the same history
            secret = (rng.randbytes(32) if c == Curve.ED25519
                      else rng.randrange(1, ORDER[c]).to_bytes(32, "big"))
            tb.secrets += secret_material(c, secret)
            load, _ = await _state_after(tb, Op.LOAD_KEY, bytes([3, c]) + secret)
            sign, sig = await _state_after(tb, Op.SIGN, sign_payload(3, message))
            states.append((load, sign))
        for i, what in enumerate(("LOAD_KEY", "SIGN")):
            left = differing(states[1][i], states[2][i], AFTER_A_KEY)
            assert not left, f"{c.name} {what}: secret-dependent state left: {left[:40]}"
    tb.check_no_secrets_on_the_wire()
