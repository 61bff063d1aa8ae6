"""cocotb tests of the key-slot engine (``quantgate.hdl.signer.keyslots.KeySlots``) behind the
link core: raw line bytes in and out, COBS and CRC-32 built and checked independently
(``tb_link_core``).

Public keys are compared with PyNaCl (libsodium), coincurve (libsecp256k1) and cryptography
(OpenSSL). Latencies are measured one request at a time with no stalls (``KeysTB``), on the
link's raw streams and at the KeySlots engine's own ports; every LOAD_KEY of a curve must take
the same number of cycles. Every response payload seen is checked for fragments of the secrets
loaded (seeds, SHA-512 halves, clamped scalars, d).

Environment: ``KEYS_RANDOM`` (random keys per curve, default 4), ``KEYS_SEED``.
"""

import hashlib
import os
import random

import cocotb
import coincurve
import nacl.signing
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from quantgate import wire
from quantgate.sim.streams import StreamDriver, StreamMonitor, reset
from quantgate.sim.tb_link_core import decode, encode, expect_error

Op, Err, Curve = wire.Op, wire.Err, wire.Curve
N_RANDOM = int(os.environ.get("KEYS_RANDOM", "4"))
SEED = int(os.environ.get("KEYS_SEED", "1"))
CLOCK_NS = 10

ORDER = {
    Curve.SECP256K1: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    Curve.P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
RFC8032_SEEDS = {  # RFC 8032 section 7.1, tests 1-3: secret key -> public key
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60":
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb":
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7":
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
}
OK = {op: op | wire.RESPONSE_FLAG for op in (Op.LOAD_KEY, Op.PUBLIC_KEY, Op.ZEROIZE)}


def now() -> int:
    """Simulation time in clock cycles."""
    return round(get_sim_time("ns")) // CLOCK_NS


def reference_public(curve: Curve, secret: bytes) -> bytes:
    if curve == Curve.ED25519:
        return nacl.signing.SigningKey(secret).verify_key.encode()
    if curve == Curve.SECP256K1:
        return coincurve.PrivateKey(secret).public_key.format(compressed=True)
    d = int.from_bytes(secret, "big")
    return ec.derive_private_key(d, ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def secret_material(curve: Curve, secret: bytes) -> list[bytes]:
    """Everything that must never appear on the wire for this key."""
    if curve != Curve.ED25519:
        return [secret, secret[::-1]]
    h = hashlib.sha512(secret).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    return [secret, h[:32], h[32:], bytes(a), bytes(a)[::-1], h[32:][::-1]]


class KeysTB:
    """Drives the link's raw streams one request at a time without waking Python in every
    clock cycle (the curve engine runs ~20,000 cycles per LOAD_KEY): bytes are sent and
    received cycle by cycle, but the wait for a response sleeps on ``o.valid``.

    ``transact`` returns the response and two latencies: ``link``, from the handshake of the
    request's last raw byte (the COBS delimiter) to the response's first raw byte; ``engine``,
    from the KeySlots engine accepting the request's last byte to its first response byte being
    valid (its ``i.ready`` falls and its ``o.valid`` rises right after those edges). Every
    response payload and every secret loaded is recorded for the no-secret-on-the-wire check.
    """

    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        dut.uart_framing_error.value = 0
        dut.uart_overrun.value = 0
        dut.i__valid.value = 0
        dut.i__payload.value = 0
        dut.o__ready.value = 1
        self.engine = dut.engine3  # KeySlots: the link's fourth engine (INFO, ECHO, STATS)
        self.payloads: list[bytes] = []
        self.secrets: list[bytes] = []

    async def _send(self, raw: bytes) -> int:
        d = self.dut
        for byte in raw:
            d.i__payload.value = byte
            d.i__valid.value = 1
            while True:
                await RisingEdge(d.clk)
                if d.i__ready.value == 1:
                    break
        d.i__valid.value = 0
        return now()

    async def _receive(self):
        d = self.dut
        if d.o__valid.value != 1:
            await RisingEdge(d.o__valid)
        first, buf = None, bytearray()
        while True:
            await RisingEdge(d.clk)
            if d.o__valid.value != 1:
                continue
            first = first if first is not None else now()
            byte = d.o__payload.value.to_unsigned()
            if byte == 0:
                return decode(bytes(buf)), first
            buf.append(byte)

    async def _engine_latency(self):
        await FallingEdge(self.engine.i__ready)
        t0 = now()
        await RisingEdge(self.engine.o__valid)
        return now() - t0

    async def transact(self, op, seq, payload=b""):
        """One request alone on the link: (response, link cycles, engine cycles)."""
        engine = cocotb.start_soon(self._engine_latency())
        receiver = cocotb.start_soon(self._receive())
        t_in = await self._send(encode(op, seq, payload))
        response, t_out = await with_timeout(receiver, 2_000_000 * CLOCK_NS, "ns")
        self.payloads.append(response[2])
        return response, t_out - t_in, await engine

    async def load(self, seq, slot, curve, secret: bytes):
        self.secrets += secret_material(Curve(curve), secret)
        return await self.transact(Op.LOAD_KEY, seq, bytes([slot, curve]) + secret)

    async def public(self, seq, slot):
        return await self.transact(Op.PUBLIC_KEY, seq, bytes([slot]))

    async def zeroize(self, seq, slot):
        return await self.transact(Op.ZEROIZE, seq, bytes([slot]))

    async def expect_key(self, seq, slot, curve, secret):
        (op, rseq, payload), *_ = await self.public(seq, slot)
        want = reference_public(curve, secret)
        assert (op, rseq) == (OK[Op.PUBLIC_KEY], seq), (op, rseq, payload)
        assert payload == bytes([curve]) + want, f"slot {slot}: {payload.hex()} != {want.hex()}"

    async def burst(self, requests, in_stall, out_stall):
        """Queue (seq, op, payload) requests back to back with random stalls on both streams;
        returns the responses in arrival order. Hands the streams to the cocotb drivers for
        good: call it last."""
        source = StreamDriver(self.dut, "i", self.dut.clk, stall=in_stall, seed=SEED)
        sink = StreamMonitor(self.dut, "o", self.dut.clk, stall=out_stall, seed=SEED + 1)
        for seq, op, payload in requests:
            source.send(encode(op, seq, payload))
        out, buf = [], bytearray()
        while len(out) < len(requests):
            byte = (await sink.take(1, 2_000_000))[0]
            if byte == 0:
                out.append(decode(bytes(buf)))
                buf.clear()
            else:
                buf.append(byte)
        self.payloads += [r[2] for r in out]
        return out

    def check_no_secrets_on_the_wire(self):
        wire_bytes = b"|".join(self.payloads)
        for s in self.secrets:
            for k in range(0, len(s) - 7):
                window = s[k:k + 8]
                if len(set(window)) >= 4:  # skip runs like the zeros of d = 1
                    assert window not in wire_bytes, "secret material in a response"
        self.dut._log.info("%d responses, %d secret strings: no fragment on the wire",
                           len(self.payloads), len(self.secrets))


def slot_memories(dut, slot: int) -> tuple[int, int, int]:
    """(scalar, prefix, public key) words of a slot, read from the store's memories."""
    store = dut.engine3.store
    return tuple(int(mem[slot].value) for mem in (store.scalar_mem, store.prefix_mem,
                                                  store.public_mem))


async def start(dut):
    tb = KeysTB(dut)
    await reset(dut)
    await ClockCycles(dut.clk, 40)  # KeySlots wipes its memories after reset
    return tb


def seq_of(k: int) -> int:
    """Sequence numbers without zero bytes: a zero changes the COBS encoding of the response,
    and with it the framer's lookahead (the link latency, not the engine's)."""
    return 0x0101 + (k % 250) + 0x100 * (k // 250 % 250)


async def load_and_check(tb, curve, secrets, k0):
    """Load each secret into a slot, compare the public key, load some again (idempotent):
    returns the set of (link, engine) LOAD_KEY latencies."""
    cycles = set()
    k = k0
    for j, secret in enumerate(secrets):
        slot = j % wire.NUM_KEY_SLOTS
        for _ in range(2 if j < 2 else 1):  # loading the same key again is fine
            response, link, engine = await tb.load(seq_of(k), slot, curve, secret)
            assert response == (OK[Op.LOAD_KEY], seq_of(k), b""), response
            cycles.add((link, engine))
            await tb.expect_key(seq_of(k + 1), slot, curve, secret)
            k += 2
    return cycles


def log_cycles(dut, what, n, cycles):
    assert len(cycles) == 1, f"{what}: cycles depend on the key: {sorted(cycles)}"
    link, engine = cycles.pop()
    dut._log.info("%s: %d keys, %d cycles each in the engine, %d on the link (last request "
                  "byte in -> first response byte out)", what, n, engine, link)


@cocotb.test()
async def ed25519_public_keys(dut):
    """RFC 8032 test 1-3 seeds, edge seeds and random seeds: A = encode(clamp(SHA-512(seed))
    * B) as PyNaCl computes it; the same cycle count for every seed."""
    tb = await start(dut)
    rng = random.Random(SEED)
    for seed_hex, pk in RFC8032_SEEDS.items():
        assert reference_public(Curve.ED25519, bytes.fromhex(seed_hex)).hex() == pk
    seeds = [bytes.fromhex(s) for s in RFC8032_SEEDS]
    seeds += [bytes(32), b"\xff" * 32] + [rng.randbytes(32) for _ in range(N_RANDOM)]
    cycles = await load_and_check(tb, Curve.ED25519, seeds, 0)
    log_cycles(dut, "LOAD_KEY ed25519", len(seeds), cycles)
    tb.check_no_secrets_on_the_wire()


async def ecdsa(dut, curve, seed):
    tb = await start(dut)
    rng = random.Random(seed)
    n = ORDER[curve]
    scalars = [1, n - 1, 2, (n - 1) // 2, n - 2, (1 << 255) - 1, 1 << 255]
    scalars += [rng.randrange(1, n) for _ in range(N_RANDOM)]
    secrets = [d.to_bytes(32, "big") for d in scalars]
    cycles = await load_and_check(tb, curve, secrets, 0)
    log_cycles(dut, f"LOAD_KEY {curve.name.lower()}", len(secrets), cycles)
    tb.check_no_secrets_on_the_wire()


@cocotb.test()
async def secp256k1_public_keys(dut):
    """d = 1, n-1 and others: compressed SEC1 d*G as coincurve computes it; constant cycles."""
    await ecdsa(dut, Curve.SECP256K1, SEED + 1)


@cocotb.test()
async def p256_public_keys(dut):
    """d = 1, n-1 and others: compressed SEC1 d*G as cryptography computes it; constant
    cycles."""
    await ecdsa(dut, Curve.P256, SEED + 2)


@cocotb.test()
async def out_of_range_secrets_rejected(dut):
    """d = 0, n, n+1, 2^256-1: BAD_ARGUMENT, and the slot keeps what it held (a key, or
    nothing)."""
    tb = await start(dut)
    k = 0
    for curve, n in ORDER.items():
        good = (n // 3).to_bytes(32, "big")
        response, *_ = await tb.load(seq_of(k), 1, curve, good)
        assert response == (OK[Op.LOAD_KEY], seq_of(k), b"")
        rejected = set()
        for d in (0, n, n + 1, (1 << 256) - 1):
            for slot in (1, 2):  # 1 holds a key, 2 is empty
                k += 1
                response, link, engine = await tb.load(seq_of(k), slot, curve,
                                                       d.to_bytes(32, "big"))
                expect_error(response, seq_of(k), Err.BAD_ARGUMENT, Op.LOAD_KEY)
                rejected.add((link, engine))
        k += 1
        await tb.expect_key(seq_of(k), 1, curve, good)
        k += 1
        expect_error((await tb.public(seq_of(k), 2))[0], seq_of(k), Err.EMPTY_SLOT,
                     Op.PUBLIC_KEY)
        log_cycles(dut, f"LOAD_KEY {curve.name.lower()} rejected", 8, rejected)
    tb.check_no_secrets_on_the_wire()


@cocotb.test()
async def bad_requests_get_bad_argument(dut):
    """Slots >= 8, unknown curves, wrong payload lengths: BAD_ARGUMENT with the request's
    opcode; good requests in between and afterwards are answered normally, also when queued
    back to back with stalls on both sides."""
    tb = await start(dut)
    seed = bytes(range(32))
    secret = (12345).to_bytes(32, "big")
    bad = [
        (Op.LOAD_KEY, bytes([8, Curve.ED25519]) + seed),
        (Op.LOAD_KEY, bytes([255, Curve.SECP256K1]) + secret),
        (Op.LOAD_KEY, bytes([0, 3]) + seed),
        (Op.LOAD_KEY, bytes([0, 255]) + seed),
        (Op.LOAD_KEY, b""),
        (Op.LOAD_KEY, b"\x00"),
        (Op.LOAD_KEY, bytes([0, Curve.ED25519])),
        (Op.LOAD_KEY, bytes([0, Curve.ED25519]) + seed[:31]),
        (Op.LOAD_KEY, bytes([0, Curve.ED25519]) + seed + b"\x00"),
        (Op.LOAD_KEY, bytes([0, Curve.P256]) + secret + secret),
        (Op.PUBLIC_KEY, b""),
        (Op.PUBLIC_KEY, bytes([0, 0])),
        (Op.PUBLIC_KEY, bytes([8])),
        (Op.PUBLIC_KEY, bytes([255])),
        (Op.PUBLIC_KEY, bytes([0]) + seed),
        (Op.ZEROIZE, b""),
        (Op.ZEROIZE, bytes([0, 0])),
        (Op.ZEROIZE, bytes([8])),
        (Op.ZEROIZE, bytes([0x80])),
    ]
    response, *_ = await tb.load(1, 0, Curve.ED25519, seed)
    assert response == (OK[Op.LOAD_KEY], 1, b"")
    for k, (op, payload) in enumerate(bad):
        seq = 0x400 + 2 * k
        expect_error((await tb.transact(op, seq, payload))[0], seq, Err.BAD_ARGUMENT, op)
        await tb.expect_key(seq + 1, 0, Curve.ED25519, seed)  # slot 0 untouched
    # queued back to back, with stalls on both sides, between ECHOs
    sent = []
    for k, (op, payload) in enumerate(bad):
        sent.append((0x500 + 3 * k, op, payload))
        sent.append((0x501 + 3 * k, Op.PUBLIC_KEY, bytes([0])))
        sent.append((0x502 + 3 * k, Op.ECHO, bytes([k]) * k))
    sent.append((0x600, Op.LOAD_KEY, bytes([7, Curve.SECP256K1]) + secret))
    sent.append((0x601, Op.PUBLIC_KEY, bytes([7])))
    tb.secrets += secret_material(Curve.SECP256K1, secret)
    responses = await tb.burst(sent, in_stall=0.2, out_stall=0.3)
    by_seq = {r[1]: r for r in responses}
    assert sorted(by_seq) == sorted(s for s, _, _ in sent)
    pk0 = bytes([Curve.ED25519]) + reference_public(Curve.ED25519, seed)
    for seq, op, payload in sent:
        r = by_seq[seq]
        if seq == 0x600:
            assert r == (OK[Op.LOAD_KEY], seq, b""), r
        elif seq == 0x601:
            assert r == (OK[Op.PUBLIC_KEY], seq,
                         bytes([Curve.SECP256K1]) + reference_public(Curve.SECP256K1, secret))
        elif op == Op.ECHO:
            assert r == (Op.ECHO | wire.RESPONSE_FLAG, seq, payload), r
        elif op == Op.PUBLIC_KEY and payload == bytes([0]):
            assert r == (OK[Op.PUBLIC_KEY], seq, pk0), r
        else:
            expect_error(r, seq, Err.BAD_ARGUMENT, op)
    tb.check_no_secrets_on_the_wire()


@cocotb.test()
async def empty_and_zeroized_slots(dut):
    """After reset every slot is empty; ZEROIZE empties a slot (and only that slot), works on
    empty slots, and a zeroized slot can be loaded again.  The slot memories themselves are
    read through the simulator: a loaded slot holds its key, a zeroized one zero in every
    field."""
    tb = await start(dut)
    k = 0

    def seq():
        nonlocal k
        k += 1
        return seq_of(k)

    for slot in range(wire.NUM_KEY_SLOTS):
        s = seq()
        expect_error((await tb.public(s, slot))[0], s, Err.EMPTY_SLOT, Op.PUBLIC_KEY)
    rng = random.Random(SEED + 4)
    keys = {}
    for slot in range(wire.NUM_KEY_SLOTS):  # all three curves across the slots
        curve = Curve(slot % 3)
        secret = (rng.randbytes(32) if curve == Curve.ED25519
                  else rng.randrange(1, ORDER[curve]).to_bytes(32, "big"))
        keys[slot] = (curve, secret)
        s = seq()
        assert (await tb.load(s, slot, curve, secret))[0] == (OK[Op.LOAD_KEY], s, b"")
    for slot, (curve, secret) in keys.items():
        await tb.expect_key(seq(), slot, curve, secret)
    zeroize_cycles, public_cycles = set(), {}
    for slot in (3, 0, 7):
        s = seq()
        response, *cycles = await tb.zeroize(s, slot)
        assert response == (OK[Op.ZEROIZE], s, b""), response
        zeroize_cycles.add(tuple(cycles))
        del keys[slot]
        assert slot_memories(dut, slot) == (0, 0, 0), f"slot {slot} not cleared"
        for other in keys:
            assert slot_memories(dut, other)[0] != 0, f"slot {other} lost its key"
        s = seq()
        expect_error((await tb.public(s, slot))[0], s, Err.EMPTY_SLOT, Op.PUBLIC_KEY)
        for other, (curve, secret) in keys.items():
            s = seq()
            r, *cycles = await tb.public(s, other)
            assert r == (OK[Op.PUBLIC_KEY], s, bytes([curve]) + reference_public(curve, secret))
            public_cycles.setdefault(curve.name.lower(), set()).add(tuple(cycles))
    s = seq()
    response, *cycles = await tb.zeroize(s, 3)  # already empty
    assert response == (OK[Op.ZEROIZE], s, b"")
    zeroize_cycles.add(tuple(cycles))
    secret = rng.randbytes(32)
    s = seq()
    assert (await tb.load(s, 3, Curve.ED25519, secret))[0] == (OK[Op.LOAD_KEY], s, b"")
    await tb.expect_key(seq(), 3, Curve.ED25519, secret)
    log_cycles(dut, "ZEROIZE", 4, zeroize_cycles)
    for name, cycles in sorted(public_cycles.items()):
        log_cycles(dut, f"PUBLIC_KEY {name}", 1, cycles)
    tb.check_no_secrets_on_the_wire()
