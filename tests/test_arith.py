"""Modular arithmetic units (hdl/arith) against Python integers and the pure-Python model."""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from quantgate.hdl.arith import model as M
from quantgate.hdl.arith.addsub import AddSub
from quantgate.hdl.arith.freeze import LATENCY as FREEZE_LATENCY
from quantgate.hdl.arith.freeze import Freeze
from quantgate.hdl.arith.limbs import carry_chain, gen_prop, join, select
from quantgate.hdl.arith.montmul import MontMul

SELS = list(range(len(M.MODULI)))
TOP = (1 << M.W) - 1


def edge_values(sel: int) -> list[int]:
    m = M.MODULI[sel]
    return [0, 1, 2, m - 1, m, m + 1, 2 * m - 1, M.R % m, TOP, TOP - 1, 1 << 256, (1 << 290) - 1]


# --------------------------------------------------------------------------------------------
# pure-Python model against Python ints (fast)

operand = st.integers(min_value=0, max_value=TOP)
sel_st = st.sampled_from(SELS)


@settings(max_examples=300, deadline=None)
@given(operand, operand, sel_st)
def test_model_mont_mul(a, b, sel):
    m = M.MODULI[sel]
    r = M.mont_mul(a, b, sel)
    assert 0 <= r < 1 << M.W
    assert r == M.mont_mul_ref(a, b, sel)
    assert r % m == a * b * pow(M.R, -1, m) % m
    assert M.from_mont(r, sel) == M.from_mont(a, sel) * M.from_mont(b, sel) % m


@settings(max_examples=300, deadline=None)
@given(operand, operand, st.booleans(), sel_st)
def test_model_add_sub(a, b, sub, sel):
    m = M.MODULI[sel]
    r = M.add_sub(a, b, sub, sel)
    assert 0 <= r < 1 << M.W
    assert r % m == ((a - b) if sub else (a + b)) % m


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0), sel_st)
def test_model_conversions(x, sel):
    m = M.MODULI[sel]
    x %= m
    y = M.to_mont(x, sel)
    assert M.from_mont(y, sel) == x
    # on the device: to Montgomery = mont_mul(x, R^2), from = mont_mul(y, 1) then freeze
    assert M.mont_mul(x, M.r2(sel), sel) % m == y
    assert M.freeze(M.mont_mul(y, 1, sel), sel) == x
    assert M.freeze(TOP - x, sel) == (TOP - x) % m


def test_model_edges():
    for sel in SELS:
        m = M.MODULI[sel]
        for a in edge_values(sel):
            for b in edge_values(sel):
                assert M.mont_mul(a, b, sel) % m == a * b * pow(M.R, -1, m) % m
                assert M.add(a, b, sel) % m == (a + b) % m
                assert M.sub(a, b, sel) % m == (a - b) % m


@pytest.mark.parametrize("sel", SELS)
def test_model_inverse(sel):
    m = M.MODULI[sel]
    rng = random.Random(sel)
    for x in (1, 2, m - 1, rng.randrange(1, m)):
        y, nmul = M.mont_inv(M.to_mont(x, sel), sel)
        assert M.from_mont(y, sel) == pow(x, -1, m)
        assert nmul <= (265 if M.MODULI[sel] == M.P25519 else 330)
    assert M.mont_inv(0, sel)[0] % m == 0


# --------------------------------------------------------------------------------------------
# gateware (amaranth.sim)


def run_stream(dut, requests, *, gaps=None, max_cycles=20000):
    """Drive ``requests`` (payload dicts) into ``dut.i`` as fast as ``i.ready`` allows (plus
    ``gaps[k]`` idle cycles before request k); return [(issue_cycle, out_cycle, result)]."""
    issued, outs = [], []

    async def bench(ctx):
        pending = list(requests)
        wait = list(gaps) if gaps else [0] * len(requests)
        cyc = 0
        while len(outs) < len(requests):
            assert cyc < max_cycles
            want = bool(pending) and wait[len(issued)] <= 0
            ctx.set(dut.i.valid, want)
            if want:
                ctx.set(dut.i.payload, pending[0])
            if ctx.get(dut.o.valid):
                outs.append((cyc, ctx.get(dut.o.payload)))
            if want and ctx.get(dut.i.ready):
                issued.append(cyc)
                pending.pop(0)
            elif pending:
                wait[len(issued)] -= 1
            await ctx.tick()
            cyc += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(issued) == len(outs)
    return [(i, o, r) for i, (o, r) in zip(issued, outs, strict=True)]


def mul_requests(sel: int, rng: random.Random, n_random: int):
    vals = edge_values(sel)
    pairs = [(a, b) for a in vals for b in vals if rng.random() < 0.35]
    pairs += [(rng.getrandbits(M.W), rng.getrandbits(M.W)) for _ in range(n_random)]
    pairs += [(rng.randrange(M.MODULI[sel]), M.r2(sel)), (TOP, TOP)]
    return [{"a": a, "b": b, "sel": sel} for a, b in pairs]


def check_mul(results, requests):
    for (_i, _o, r), req in zip(results, requests, strict=True):
        a, b, sel = req["a"], req["b"], req["sel"]
        m = M.MODULI[sel]
        assert r < 1 << M.W
        assert r % m == a * b * pow(M.R, -1, m) % m, (a, b, sel)
        assert r == M.mont_mul(a, b, sel)


@pytest.mark.parametrize("sel", SELS)
def test_montmul_hw(sel):
    rng = random.Random(100 + sel)
    reqs = mul_requests(sel, rng, 24)
    res = run_stream(MontMul(), reqs)
    check_mul(res, reqs)
    # back-to-back: one issue every MUL_II cycles, fixed latency
    assert all(o - i == M.MUL_LATENCY for i, o, _ in res)
    assert all(b[0] - a[0] == M.MUL_II for a, b in zip(res, res[1:], strict=False))


def test_montmul_hw_mixed_sel_and_gaps():
    """Modulus changes between back-to-back requests; idle gaps do not change the latency."""
    rng = random.Random(7)
    reqs = []
    for _ in range(30):
        sel = rng.choice(SELS)
        a = rng.choice([rng.getrandbits(M.W), TOP, 0, M.MODULI[sel] - 1])
        reqs.append({"a": a, "b": rng.getrandbits(M.W), "sel": sel})
    gaps = [rng.choice([0, 0, 0, 1, 5, 18, 19, 30]) for _ in reqs]
    res = run_stream(MontMul(), reqs, gaps=gaps)
    check_mul(res, reqs)
    assert {o - i for i, o, _ in res} == {M.MUL_LATENCY}


def test_montmul_hw_inverse_and_conversion():
    """Fermat inversion mod 2^255-19 driven through the gateware multiplier, in and out of
    Montgomery form on the device: x -> x*R (times R^2) -> x^-1 * R -> x^-1 (times 1, freeze)."""
    sel = M.SEL["p25519"]
    m = M.MODULI[sel]
    x = random.Random(5).randrange(2, m)
    dut = MontMul()
    ops = []

    async def bench(ctx):
        async def mul(a, b):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, {"a": a, "b": b, "sel": sel})
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            (r,) = await ctx.tick().sample(dut.o.payload).until(dut.o.valid)
            ops.append(r)
            return r

        t = [0] * 16
        t[1] = await mul(x, M.r2(sel))
        for op, dst, s1, s2 in M.inv_chain(sel):
            t[dst] = t[s1] if op == "copy" else await mul(t[s1], t[s2])
        out = await mul(t[0], 1)
        assert M.freeze(out, sel) == pow(x, -1, m)
        assert out < 1 << M.W

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(ops) == M.mont_inv(1, sel)[1] + 2


@pytest.mark.parametrize("sel", SELS)
def test_addsub_hw(sel):
    rng = random.Random(200 + sel)
    vals = edge_values(sel)
    reqs = [
        {"a": a, "b": b, "sub": s, "sel": sel}
        for a in vals
        for b in vals
        for s in (0, 1)
        if rng.random() < 0.5
    ]
    reqs += [
        {"a": rng.getrandbits(M.W), "b": rng.getrandbits(M.W), "sub": rng.randrange(2), "sel": sel}
        for _ in range(40)
    ]
    res = run_stream(AddSub(), reqs)
    m = M.MODULI[sel]
    for (i, o, r), q in zip(res, reqs, strict=True):
        a, b, sub = q["a"], q["b"], q["sub"]
        assert r < 1 << M.W
        assert r % m == ((a - b) if sub else (a + b)) % m
        assert r == M.add_sub(a, b, sub, sel)
        assert o - i == M.ADDSUB_LATENCY
    assert all(b[0] - a[0] == 1 for a, b in zip(res, res[1:], strict=False))  # one per cycle


def test_freeze_hw():
    """Canonical reduction for each modulus: edge values and random operands, fixed latency."""
    rng = random.Random(11)
    reqs = []
    for sel in SELS:
        m = M.MODULI[sel]
        vals = [0, 1, m - 1, m, m + 1, 2 * m - 1, TOP, m << 35, (m << 38) - 1, (1 << 256) - 1]
        vals += [rng.getrandbits(M.W) for _ in range(3)]
        reqs += [{"x": x, "sel": sel} for x in vals if x <= TOP]
    res = run_stream(Freeze(), reqs, max_cycles=len(reqs) * (FREEZE_LATENCY + 2))
    for (i, o, r), q in zip(res, reqs, strict=True):
        assert r == q["x"] % M.MODULI[q["sel"]]
        assert o - i == FREEZE_LATENCY


def test_limbs_carry_resolution():
    """limbs.gen_prop / carry_chain / select against integers, including carries that run
    through every limb (all-ones limbs) and the maximal limb carries MontMul produces."""
    k, n = M.K, M.NLIMB
    mask = (1 << k) - 1
    m = Module()
    xs = [Signal(k, name=f"x{j}") for j in range(n)]
    zs = [Signal(3, name=f"z{j}") for j in range(n)]
    d, e, gd, ge = gen_prop(m, "sync", xs, zs, k, "t2")
    nc = carry_chain(m, "sync", gd, ge, "t3")
    out = select(m, "sync", d, e, nc, "t4_")
    res = join(out)
    rng = random.Random(3)
    cases = [([mask] * n, [1] + [0] * (n - 1)), ([mask] * n, [0] * n), ([0] * n, [6] * n)]
    cases += [([mask - 1] * n, [1] * n), ([mask] * (n - 1) + [0], [6] + [0] * (n - 1))]
    for _ in range(200):
        xv = [rng.choice([0, mask, mask - 1, rng.getrandbits(k)]) for _ in range(n)]
        zv = [rng.choice([0, 1, rng.randrange(7)]) for _ in range(n)]
        cases.append((xv, zv))

    async def bench(ctx):
        for xv, zv in cases:
            for sig, v in zip(xs + zs, xv + zv, strict=True):
                ctx.set(sig, v)
            await ctx.tick().repeat(3)
            total = sum((xv[j] + zv[j]) << (k * j) for j in range(n))
            assert ctx.get(res) == total % (1 << (k * n)), (xv, zv)
            assert ctx.get(nc[n]) == (total < 1 << (k * n))  # inverted carry out of the top limb

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
