"""The margin unit's gateware components under cocotb + Verilator, bit for bit against the model
(hdl/margin/model.py). One build per component (sim/runner.py caches it); each testbench
module's cocotb tests run in one simulator process."""

import pytest

from quantgate.hdl.margin.book import BookMemory
from quantgate.sim import runner


@pytest.fixture(scope="module")
def book():
    return BookMemory()


def test_book_memory(book):
    assert runner.run(book, "margin_book", "quantgate.sim.tb_margin_book",
                      env={"MARGIN_SEED": 1}) == 2


@pytest.fixture(scope="module")
def front():
    from quantgate.sim.duts import MarginFront

    return MarginFront()


def test_sequencer(front):
    assert runner.run(front, "margin_front", "quantgate.sim.tb_margin_sequencer",
                      env={"MARGIN_SEED": 1, "MARGIN_SIZES": "0,1,2,5,40,300,4096"}) == 2


def test_scenario_accumulator_sums_the_book_exactly():
    """Amaranth simulation: the MAC operands of random books (model.accumulate: the pipeline
    model's prices, the futures' constants) fed one position-slot per clock in the sequencer's
    order with its GREEKS gaps; after the loop every word read back equals the model's 136-bit
    S[bucket][slot]. Two revaluations (usd, then coin with another book) with a clear between."""
    import numpy as np
    from amaranth.sim import Simulator

    from quantgate.hdl.margin import model as md
    from quantgate.hdl.margin.accumulate import ScenarioAccumulator

    rng = np.random.default_rng(3)
    forwards = np.array([95_000.0, 3_400.0, 0.25, 97_500.0, 1e5])
    cases = []
    for n, currency in ((70, "usd"), (45, "coin")):
        image = md.encode_book(md.sample_book(rng, n, forwards))
        request, _ = md.encode_margin(image, forwards, rate=0.03, currency=currency)
        acc = md.accumulate(image.records, md.encode_scenarios(), request)
        assert acc.status == md.STATUS_OK
        cases.append(acc)
    dut = ScenarioAccumulator()
    got = []

    async def bench(ctx):
        for acc in cases:
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            items = [(i, j) for i in range(acc.n) for j in range(md.SLOTS)]
            k = 0
            while items:
                gap = k % md.GREEKS_SLOT_PERIOD == md.GREEKS_SLOT_PERIOD - 1
                ctx.set(dut.i.valid, not gap)
                if not gap:
                    i, j = items.pop(0)
                    ctx.set(dut.i.payload, {"q": int(acc.Q[i]), "p": int(acc.p[i, j]),
                                            "bucket": int(acc.bucket[i]), "slot": j})
                await ctx.tick()
                k += 1
            ctx.set(dut.i.valid, 0)
            await ctx.tick().repeat(3)  # the last write (c2)
            words = []
            for a in range(md.MAX_BUCKETS * md.SLOTS):  # data after the edge that reads a
                ctx.set(dut.read.en, 1)
                ctx.set(dut.read.addr, a)
                await ctx.tick()
                words.append(ctx.get(dut.read.data))
            ctx.set(dut.read.en, 0)
            got.append(words)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for acc, words in zip(cases, got, strict=True):
        assert words == [acc.S[b][j] for b in range(md.MAX_BUCKETS) for j in range(md.SLOTS)]
        assert any(w < 0 for w in words) and max(map(abs, words)).bit_length() > 96  # wide sums
