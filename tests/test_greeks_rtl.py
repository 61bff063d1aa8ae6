"""The Greeks pipeline RTL under cocotb + Verilator (sim/tb_greeks.py), bit exact with the model
and within the accuracy limits of the float64 reference; plus elaboration-level checks.

One Verilator build serves every testcase (sim/runner.py caches it by the Verilog's hash); the
design is converted to Verilog once per session here, since conversion alone takes ~10 s.
"""

import pytest

from quantgate.hdl.pricing import model as md
from quantgate.hdl.pricing.pipeline import GreeksPipeline
from quantgate.sim import runner

TESTS = [
    "random_options_match_model_and_reference",
    "known_values_and_domain_edges",
    "out_of_domain_inputs_are_flagged",
    "latency_constant_and_one_result_per_clock",
]


@pytest.fixture(scope="module")
def core():
    return GreeksPipeline()


@pytest.mark.parametrize("testcase", TESTS)
def test_greeks_pipeline(core, testcase):
    env = {"GREEKS_N": 3000, "GREEKS_SEED": 1, "GREEKS_LATENCY": core.latency,
           "GREEKS_FIFO_DEPTH": core.fifo_depth}
    runner.run(core, "greeks_pipeline", "quantgate.sim.tb_greeks", testcase=testcase, env=env)


def test_multipliers_match_the_model_unit_by_unit():
    """The RTL instantiates exactly the partial products the model counts (75 MULT18X18D)."""
    from amaranth import Module, Signal

    from quantgate.hdl.pricing.pipeline import GreeksIn, build_datapath

    m = Module()
    _, _, pipe = build_datapath(m, Signal(), Signal(GreeksIn))
    for obj in (m, *pipe.memories):
        obj._MustUse__silence = True
    assert pipe.mults == md.multiplier_count()
    assert sum(pipe.mults.values()) == 75 <= 96


def test_datapath_in_amaranth_sim():
    """A quick bit-exactness check in Amaranth's own simulator (no Verilator build): random
    options of both models and the device's box corners, one per clock."""
    import numpy as np
    from amaranth.sim import Simulator

    from quantgate.hdl.pricing import tables as tb

    rng = np.random.default_rng(99)
    s = md.sample_domain(300, rng)
    b76 = s.pop("b76")
    cols = [np.concatenate([c, np.array(v, dtype=np.int64)]) for c, v in zip(
        md.host_normalise(s["spot"], s["strike"], s["expiry"], s["rate"], s["carry"],
                          s["vol"], "bsm"),
        ([tb.X_MIN_FX, tb.X_MAX_FX + 1, 0], [tb.T_MIN_FX, tb.T_MAX_FX, tb.T_MIN_FX - 1],
         [tb.SIGMA_MAX_FX, tb.SIGMA_MIN_FX, tb.SIGMA_MIN_FX],
         [tb.RATE_MAX_FX, tb.RATE_MIN_FX, -(1 << 63)], [tb.RATE_MIN_FX, tb.RATE_MAX_FX, 5]),
        strict=True)]
    call = np.concatenate([s["call"], [True, False, True]])
    b76 = np.concatenate([b76, [False, False, True]])
    expect = md.pipeline(*cols, call, b76)
    n = len(call)
    dut = GreeksPipeline()
    got = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        k = 0
        while len(got) < n:
            ctx.set(dut.i.valid, k < n)
            if k < n:
                ctx.set(dut.i.payload, {"x": int(cols[0][k]), "T": int(cols[1][k]),
                                        "sigma": int(cols[2][k]), "r": int(cols[3][k]),
                                        "q": int(cols[4][k]), "put": int(not call[k]),
                                        "black76": int(b76[k])})
            *_, iv, ir, ov, op = await ctx.tick().sample(dut.i.valid, dut.i.ready,
                                                         dut.o.valid, dut.o.payload)
            k += bool(iv and ir)
            if ov:
                got.append({f: int(getattr(op, f)) for f in (*md.OUTPUTS, "error")})

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for f in (*md.OUTPUTS, "error"):
        assert [g[f] for g in got] == expect[f].astype(np.int64).tolist(), f
    assert [g["error"] for g in got][-3:] == [0, 1, 1]
