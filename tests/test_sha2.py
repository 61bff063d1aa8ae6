"""amaranth.sim tests of the streaming SHA-2 cores against hashlib/hmac and FIPS 180-4 examples."""

import hashlib
import hmac
import random

import pytest
from amaranth.sim import Simulator

from quantgate.hdl.hash.sha2 import SHA256, SHA512, Sha256, Sha512

HASHES = {Sha256: hashlib.sha256, Sha512: hashlib.sha512}
PARAMS = {Sha256: SHA256, Sha512: SHA512}


def beats_of(msg, raw=False):
    """Input beats for one message: one byte per beat, or a single `last, empty` beat."""
    if not msg:
        return [{"data": 0, "last": 1, "empty": 1}]
    beats = [{"data": x, "last": 0, "empty": 0} for x in msg]
    beats[-1]["last"] = 1
    if raw:
        beats[-1]["raw"] = 1
    return beats


def run(dut, jobs, *, in_stall=0.0, out_stall=0.0, seed=0, max_cycles=100_000):
    """Hash each job on `dut`; return [(digest bytes, cycles first beat -> digest valid)].

    A job is bytes, or a dict with `beats` (explicit beat dicts) and optionally `iv` (bytes),
    `iv_blocks` (int) for a core built with midstate=True.
    """
    jobs = [j if isinstance(j, dict) else {"beats": beats_of(j)} for j in jobs]
    nbytes = len(dut.o.payload) // 8
    digests, cycles = [], []
    rng_in, rng_out = random.Random(seed), random.Random(seed + 1)

    async def driver(ctx):
        for job in jobs:
            if "iv" in job:
                ctx.set(dut.use_iv, 1)
                ctx.set(dut.iv, int.from_bytes(job["iv"], "little"))
                ctx.set(dut.iv_blocks, job.get("iv_blocks", 0))
            elif hasattr(dut, "use_iv"):
                ctx.set(dut.use_iv, 0)
            for beat in job["beats"]:
                while rng_in.random() < in_stall:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
                ctx.set(dut.i.payload, beat)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        n = 0
        while len(digests) < len(jobs):
            ready = rng_out.random() >= out_stall
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid and ready:
                digests.append(int(payload).to_bytes(nbytes, "little"))
            n += 1
            assert n < max_cycles, "timeout"
        ctx.set(dut.o.ready, 0)

    async def monitor(ctx):
        cyc, start, seen = 0, None, False
        sampled = ctx.tick().sample(dut.i.valid, dut.i.ready, dut.o.valid, dut.o.ready)
        async for _, _, i_valid, i_ready, o_valid, o_ready in sampled:
            if i_valid and i_ready and start is None:
                start = cyc
            if o_valid and not seen:
                assert start is not None, "digest without input"
                cycles.append(cyc - start)
                seen = True
            if o_valid and o_ready:
                start, seen = None, False
            cyc += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(sink)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return list(zip(digests, cycles, strict=True))


def expected_cycles(params, n):
    """Cycles from the first input beat to digest valid, input at full speed (docs/hash.md)."""
    B, nb, R = params.block_bytes, params.word // 8, params.rounds
    if n == 0:
        return R + 4
    q, r = divmod(n, B)
    cycles = q * (B + R - 12) + R + 3
    if r:
        cycles += r + 1 - -(-r // nb)
    if r >= B - 2 * nb:
        cycles += R + 3
    return cycles


def _random_bytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def test_constants():
    # FIPS 180-4 4.2.2/4.2.3 and 5.3.3/5.3.5, first and last entries.
    assert SHA256.k[0] == 0x428A2F98 and SHA256.k[63] == 0xC67178F2
    assert SHA256.iv == (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                         0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
    assert SHA512.k[0] == 0x428A2F98D728AE22 and SHA512.k[79] == 0x6C44198C4A475817
    assert SHA512.iv[0] == 0x6A09E667F3BCC908 and SHA512.iv[7] == 0x5BE0CD19137E2179


LENGTHS = {
    Sha256: [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 129],
    Sha512: [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 200],
}


@pytest.mark.parametrize("cls", [Sha256, Sha512], ids=["sha256", "sha512"])
def test_lengths(cls):
    """Block-boundary lengths, random content, back to back at full speed; cycle formula."""
    rng = random.Random(1)
    msgs = [_random_bytes(rng, n) for n in LENGTHS[cls]]
    dut = cls()
    for msg, (digest, cycles) in zip(msgs, run(dut, msgs), strict=True):
        assert digest == HASHES[cls](msg).digest(), len(msg)
        assert cycles == expected_cycles(dut.params, len(msg)), len(msg)


# FIPS 180-4 / NIST CSRC example values (independent of hashlib).
FIPS = {
    Sha256: [
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ],
    Sha512: [
        (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
         b"klmnopqrlmnopqrsmnopqrstnopqrstu",
         "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
         "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
    ],
}


@pytest.mark.parametrize("cls", [Sha256, Sha512], ids=["sha256", "sha512"])
def test_fips_examples(cls):
    msgs = [msg for msg, _ in FIPS[cls]]
    results = run(cls(), msgs)
    assert [d.hex() for d, _ in results] == [h for _, h in FIPS[cls]]


@pytest.mark.parametrize("cls", [Sha256, Sha512], ids=["sha256", "sha512"])
def test_stalls(cls):
    """Random valid gaps on the input and random ready on the output, back to back."""
    rng = random.Random(2)
    B = PARAMS[cls].block_bytes
    msgs = [_random_bytes(rng, n) for n in (0, 3, B - 9, B + 1, 2)]
    results = run(cls(), msgs, in_stall=0.3, out_stall=0.5, seed=3)
    assert [d for d, _ in results] == [HASHES[cls](m).digest() for m in msgs]


def test_empty_beats():
    """`empty` beats without `last` are ignored; `last, empty` may end a non-empty message."""
    rng = random.Random(4)
    msg = _random_bytes(rng, 70)
    beats = []
    for i, x in enumerate(msg):
        beats.append({"data": x, "last": 0, "empty": 0})
        if i % 9 == 0:
            beats.append({"data": 0xFF, "last": 0, "empty": 1})
    beats.append({"data": 0xAA, "last": 1, "empty": 1})
    results = run(Sha256(), [{"beats": beats}, b"x"], in_stall=0.2, seed=5)
    assert [d for d, _ in results] == [hashlib.sha256(m).digest() for m in (msg, b"x")]


@pytest.mark.parametrize("cls", [Sha256, Sha512], ids=["sha256", "sha512"])
def test_constant_cycles(cls):
    """Same length, different content: identical cycle counts (also under a stall pattern)."""
    rng = random.Random(6)
    B = PARAMS[cls].block_bytes
    n = B + B // 2 + 5
    contents = [bytes(n), b"\xff" * n, _random_bytes(rng, n), _random_bytes(rng, n)]
    for in_stall, out_stall in ((0.0, 0.0), (0.25, 0.25)):
        counts = set()
        for msg in contents:
            [(digest, cycles)] = run(cls(), [msg], in_stall=in_stall, out_stall=out_stall,
                                     seed=7)
            assert digest == HASHES[cls](msg).digest()
            counts.add(cycles)
        assert len(counts) == 1, counts
    assert counts != {expected_cycles(PARAMS[cls], n)}  # the stalls did change the count


@pytest.mark.parametrize("cls", [Sha256, Sha512], ids=["sha256", "sha512"])
def test_hmac_midstate(cls):
    """HMAC from precomputed ipad/opad midstates (`raw`, `iv`, `iv_blocks`, `use_iv`)."""
    hfn = HASHES[cls]
    B = PARAMS[cls].block_bytes
    rng = random.Random(8)
    key, msg = _random_bytes(rng, 32), _random_bytes(rng, 40)
    kblock = key.ljust(B, b"\0")
    ipad = bytes(x ^ 0x36 for x in kblock)
    opad = bytes(x ^ 0x5C for x in kblock)
    dut = cls(midstate=True)
    (s_in, _), (s_out, _), (plain, _) = run(dut, [
        {"beats": beats_of(ipad, raw=True)},
        {"beats": beats_of(opad, raw=True)},
        # `raw` is ignored unless the length is a multiple of the block size.
        {"beats": beats_of(msg, raw=True)},
    ])
    assert plain == hfn(msg).digest()
    dut = cls(midstate=True)
    (inner, _), = run(dut, [{"beats": beats_of(msg), "iv": s_in, "iv_blocks": 1}])
    assert inner == hfn(ipad + msg).digest()
    dut = cls(midstate=True)
    (mac, _), (again, _) = run(dut, [
        {"beats": beats_of(inner), "iv": s_out, "iv_blocks": 1},
        b"abc",  # use_iv low again: the standard IV
    ])
    assert mac == hmac.new(key, msg, hfn).digest()
    assert again == hfn(b"abc").digest()
