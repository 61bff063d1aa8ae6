"""cocotb tests of the Greeks pipeline (hdl/pricing/pipeline.py: GreeksPipeline).

Every result is checked twice: bit for bit against the integer model (hdl/pricing/model.py),
and, independently, against the float64 closed forms (hdl/pricing/reference.py) within the
accuracy limits of docs/numerics.md. Sizes come from the environment (GREEKS_N, GREEKS_SEED)
so the pytest wrapper can keep each testcase short.
"""

import math
import os
import random

import cocotb
import numpy as np
from amaranth import Shape
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from quantgate.hdl.pricing import model as md
from quantgate.hdl.pricing import tables as tb
from quantgate.hdl.pricing.pipeline import GreeksIn, GreeksOut
from quantgate.hdl.pricing.reference import greeks_ref
from quantgate.sim.streams import StreamDriver, StreamMonitor, reset

M64 = (1 << 64) - 1
N = int(os.environ.get("GREEKS_N", "3000"))
SEED = int(os.environ.get("GREEKS_SEED", "1"))


def pack(x, T, sig, r, q, put, b76) -> int:
    word = 0
    for name, value in (("x", x), ("T", T), ("sigma", sig), ("r", r), ("q", q),
                        ("put", put), ("black76", b76)):
        f = GreeksIn[name]
        word |= (int(value) & ((1 << f.width) - 1)) << f.offset
    return word


def unpack(word: int) -> dict:
    out = {}
    for name, f in GreeksOut:
        v = (word >> f.offset) & ((1 << f.width) - 1)
        if Shape.cast(f.shape).signed and v >> (f.width - 1):
            v -= 1 << f.width
        out[name] = v
    return out


class Batch:
    """Q48 inputs (int64 arrays) and flags, with the model's expected outputs."""

    def __init__(self, x, T, sig, r, q, call, b76):
        self.cols = [np.asarray(c, dtype=np.int64) for c in (x, T, sig, r, q)]
        self.call = np.asarray(call, dtype=bool)
        self.b76 = np.asarray(b76, dtype=bool)
        self.expect = md.pipeline(*self.cols, self.call, self.b76)

    def __len__(self):
        return len(self.call)

    def words(self):
        x, T, sig, r, q = (c.tolist() for c in self.cols)
        return [pack(x[i], T[i], sig[i], r[i], q[i], not self.call[i], self.b76[i])
                for i in range(len(self))]

    def check(self, got: list[dict]):
        assert len(got) == len(self)
        for k in (*md.OUTPUTS, "error"):
            want = self.expect[k].astype(np.int64).tolist()
            have = [g[k] for g in got]
            bad = [i for i in range(len(self)) if int(have[i]) != int(want[i])]
            assert not bad, (f"{k}: {len(bad)} mismatches, first at {bad[0]}: rtl {have[bad[0]]} "
                             f"model {want[bad[0]]}, inputs "
                             f"{[int(c[bad[0]]) for c in self.cols]} call={self.call[bad[0]]} "
                             f"b76={self.b76[bad[0]]}")


def float_batch(s: dict, model: str):
    """float64 options -> (Batch, the float inputs) through the host's normalisation."""
    ints = md.host_normalise(s["spot"], s["strike"], s["expiry"], s["rate"], s["carry"],
                             s["vol"], model)
    return Batch(*ints, s["call"], np.full(len(s["call"]), model == "black76"))


def check_accuracy(s: dict, model: str, got: list[dict]):
    """The RTL's results, scaled as the host does, against the float64 reference."""
    out = {k: np.array([g[k] for g in got], dtype=np.int64) for k in md.OUTPUTS}
    res = md.host_scale(out, s["spot"], s["expiry"])
    ref = greeks_ref(s["spot"], s["strike"], s["expiry"], s["rate"], s["carry"], s["vol"],
                     s["call"], model)
    err = md.normalised_errors(res, ref, s["spot"], s["strike"], s["expiry"])
    for k in md.OUTPUTS:
        i = int(np.argmax(err[k]))
        assert err[k][i] <= md.TOLERANCE[k], (model, k, float(err[k][i]),
                                              {kk: vv[i] for kk, vv in s.items()})
    return {k: float(np.max(err[k])) for k in md.OUTPUTS}


class TB:
    def __init__(self, dut, in_stall=0.0, out_stall=0.0, seed=1):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.source = StreamDriver(dut, "i", dut.clk, stall=in_stall, seed=seed)
        self.sink = StreamMonitor(dut, "o", dut.clk, stall=out_stall, seed=seed + 1)

    async def run(self, batch: Batch) -> list[dict]:
        self.source.send(batch.words())
        words = await self.sink.take(len(batch), timeout_cycles=50 * len(batch) + 10_000)
        return [unpack(w) for w in words]


# --------------------------------------------------------------------------- edge cases

BOUNDS = dict(x=(tb.X_MIN_FX, tb.X_MAX_FX), T=(tb.T_MIN_FX, tb.T_MAX_FX),
              sig=(tb.SIGMA_MIN_FX, tb.SIGMA_MAX_FX), r=(tb.RATE_MIN_FX, tb.RATE_MAX_FX),
              q=(tb.RATE_MIN_FX, tb.RATE_MAX_FX))

# docs/references.md: (model, spot, strike, expiry, rate, carry, vol, call)
KNOWN = [
    ("bsm", 60, 65, 0.25, 0.08, 0.0, 0.30, True),
    ("bsm", 100, 95, 0.5, 0.10, 0.05, 0.20, False),
    ("black76", 19, 19, 0.75, 0.10, 0.0, 0.28, True),
    ("black76", 19, 19, 0.75, 0.10, 0.0, 0.28, False),
    ("bsm", 105, 100, 0.5, 0.10, 0.10, 0.36, True),
    ("bsm", 105, 100, 0.5, 0.10, 0.10, 0.36, False),
    ("bsm", 55, 60, 0.75, 0.10, 0.0, 0.30, True),
    ("bsm", 430, 405, 1 / 12, 0.07, 0.05, 0.20, False),
    ("bsm", 72, 75, 1.0, 0.09, 0.0, 0.19, True),
    ("bsm", 49, 50, 20 / 52, 0.05, 0.0, 0.20, True),
]


def corner_batch() -> Batch:
    """All 2**5 integer corners of the device's range check x call/put x both models, one LSB
    outside every bound, and the mid point."""
    rows = []
    names = list(BOUNDS)
    for bits in range(32):
        v = [BOUNDS[n][(bits >> i) & 1] for i, n in enumerate(names)]
        for call in (True, False):
            for b76 in (False, True):
                rows.append((*v, call, b76))
    mid = [(lo + hi) // 2 for lo, hi in BOUNDS.values()]
    for i, n in enumerate(names):
        lo, hi = BOUNDS[n]
        for val in (lo - 1, lo, hi, hi + 1):
            for b76 in (False, True):
                v = list(mid)
                v[i] = val
                rows.append((*v, True, b76))
    cols = list(zip(*rows, strict=True))
    return Batch(*cols)


def out_of_domain_batch(rng: random.Random, n: int) -> Batch:
    """Random 64-bit garbage, extreme values and near misses, mixed with valid options."""
    rows = []
    extremes = [-(1 << 63), (1 << 63) - 1, 0, -1, 1]
    names = list(BOUNDS)
    for _ in range(n):
        v = [rng.randint(lo, hi) for lo, hi in BOUNDS.values()]
        kind = rng.random()
        i = rng.randrange(5)
        lo, hi = BOUNDS[names[i]]
        if kind < 0.3:
            v[i] = rng.choice(extremes)
        elif kind < 0.6:
            v[i] = rng.choice([lo - rng.randint(1, 1 << 40), hi + rng.randint(1, 1 << 40)])
        elif kind < 0.8:
            v = [rng.randint(-(1 << 63), (1 << 63) - 1) for _ in range(5)]
        rows.append((*v, rng.random() < 0.5, rng.random() < 0.5))
    return Batch(*zip(*rows, strict=True))


# --------------------------------------------------------------------------- tests


@cocotb.test()
async def random_options_match_model_and_reference(dut):
    """Random options over the whole domain (both models, calls and puts, half of them aimed
    at |d1| < 8) with random stalls on both sides: bit exact, and within the limits."""
    tbench = TB(dut, in_stall=0.3, out_stall=0.3, seed=SEED)
    await reset(dut)
    rng = np.random.default_rng(SEED)
    s = md.sample_domain(N, rng)
    b76 = s.pop("b76")
    worst = {}
    for model, sel in (("bsm", ~b76), ("black76", b76)):
        part = {k: v[sel] for k, v in s.items()}
        batch = float_batch(part, model)
        got = await tbench.run(batch)
        batch.check(got)
        assert not any(g["error"] for g in got)
        worst[model] = check_accuracy(part, model, got)
    dut._log.info(f"{N} options bit exact; max errors (criterion units): {worst}")


@cocotb.test()
async def known_values_and_domain_edges(dut):
    """docs/references.md values (to their published decimals), the range check's integer box
    corners, and one LSB inside/outside every bound."""
    tbench = TB(dut, in_stall=0.2, out_stall=0.5, seed=SEED + 10)
    await reset(dut)
    for model, S, K, T, r, q, vol, call in KNOWN:
        s = {k: np.array([v]) for k, v in dict(spot=S, strike=K, expiry=T, rate=r, carry=q,
                                               vol=vol, call=call).items()}
        batch = float_batch(s, model)
        got = await tbench.run(batch)
        batch.check(got)
        check_accuracy(s, model, got)
    batch = corner_batch()
    got = await tbench.run(batch)
    batch.check(got)
    errs = [g["error"] for g in got]
    assert errs[:128] == [0] * 128
    assert sum(errs) > 0


@cocotb.test()
async def out_of_domain_inputs_are_flagged(dut):
    """Every field out of range (garbage, extremes, near misses): error set, outputs 0,
    and the valid options around them are unaffected."""
    tbench = TB(dut, in_stall=0.1, out_stall=0.2, seed=SEED + 20)
    await reset(dut)
    batch = out_of_domain_batch(random.Random(SEED), max(N // 3, 200))
    got = await tbench.run(batch)
    batch.check(got)
    flagged = [g for g in got if g["error"]]
    assert len(flagged) > len(got) // 3
    assert all(g[k] == 0 for g in flagged for k in md.OUTPUTS)


@cocotb.test()
async def latency_constant_and_one_result_per_clock(dut):
    """No back-pressure: i.ready stays high, one result per clock, every option takes the
    same number of clocks. Then the output stalls for a long time: i.ready falls once the
    FIFO's credits are used, and nothing is lost."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.i__valid.value = 0
    dut.o__ready.value = 1
    await reset(dut)
    rng = np.random.default_rng(SEED + 30)
    s = md.sample_domain(400, rng)
    b76 = s.pop("b76")
    batch = float_batch({k: v[~b76] for k, v in s.items()}, "bsm")
    words = batch.words()
    n = len(words)
    in_cycles, out_cycles, outs = [], [], []
    cycle = 0

    async def monitor():
        nonlocal cycle
        while True:
            await RisingEdge(dut.clk)
            if dut.i__valid.value == 1 and dut.i__ready.value == 1:
                in_cycles.append(cycle)
            if dut.o__valid.value == 1 and dut.o__ready.value == 1:
                out_cycles.append(cycle)
                outs.append(unpack(dut.o__payload.value.to_unsigned()))
            cycle += 1

    cocotb.start_soon(monitor())
    await RisingEdge(dut.clk)
    k = 0
    while k < n:  # drive one word per clock; every clock must be accepted
        dut.i__valid.value = 1
        dut.i__payload.value = words[k]
        await RisingEdge(dut.clk)
        assert dut.i__ready.value == 1, f"i.ready low at option {k} without back-pressure"
        k += 1
    dut.i__valid.value = 0
    for _ in range(1000):
        if len(outs) == n:
            break
        await RisingEdge(dut.clk)
    batch.check(outs)
    lat = {o - i for i, o in zip(in_cycles, out_cycles, strict=True)}
    assert len(lat) == 1, f"latency varies: {sorted(lat)}"
    assert all(b - a == 1 for a, b in zip(in_cycles, in_cycles[1:], strict=False))
    assert all(b - a == 1 for a, b in zip(out_cycles, out_cycles[1:], strict=False))
    latency = lat.pop()
    expected = int(os.environ.get("GREEKS_LATENCY", "0"))
    assert not expected or latency == expected, (latency, expected)
    dut._log.info(f"latency {latency} clocks, {n} options in {n} consecutive clocks")

    # long output stall: the input must stop after the credits, nothing is lost
    dut.o__ready.value = 0
    words = words[:200]
    k = 0
    accepted = 0
    for _ in range(400):
        dut.i__valid.value = int(k < len(words))
        if k < len(words):
            dut.i__payload.value = words[k]
        await RisingEdge(dut.clk)
        if dut.i__valid.value == 1 and dut.i__ready.value == 1:
            k += 1
            accepted += 1
    depth = int(os.environ.get("GREEKS_FIFO_DEPTH", "0"))
    assert not depth or accepted == depth, (accepted, depth)
    assert accepted < len(words)
    outs.clear()
    dut.o__ready.value = 1
    while k < len(words) or len(outs) < len(words):
        dut.i__valid.value = int(k < len(words))
        if k < len(words):
            dut.i__payload.value = words[k]
        await RisingEdge(dut.clk)
        if dut.i__valid.value == 1 and dut.i__ready.value == 1:
            k += 1
    dut.i__valid.value = 0
    await ClockCycles(dut.clk, 2)
    sub = Batch(*(c[:len(words)] for c in batch.cols), batch.call[:len(words)],
                batch.b76[:len(words)])
    sub.check(outs[:len(words)])
    assert math.isfinite(latency)
