#!/usr/bin/env python3
"""Timing probe for the curve engine's own logic (sequencer, register file, LDT, logic unit,
write-back): ``CurveEngine`` with the three arithmetic units replaced by register-only stubs
of the same ports and latencies, so that place-and-route is quick and the critical path
reported is one of the engine's, not one inside MontMul / AddSub / Freeze (those are
measured alone by bench/synth_arith.py).

    .venv/bin/python bench/synth_core.py ecc_probe:EngineProbe --name ecc_probe
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from quantgate.hdl.arith import freeze, model
from quantgate.hdl.arith.addsub import AddSubRequest
from quantgate.hdl.arith.freeze import FreezeRequest
from quantgate.hdl.arith.montmul import MulRequest
from quantgate.hdl.ecc import engine


def _pipe(m, valid, value, n, width):
    for i in range(n):
        v, x = Signal(name=f"pv{i}"), Signal(width, name=f"px{i}")
        m.d.sync += [v.eq(valid), x.eq(value)]
        valid, value = v, x
    return valid, value


class StubMul(wiring.Component):
    i: In(stream.Signature(MulRequest))
    o: Out(stream.Signature(model.W, always_ready=True))

    def __init__(self, **_):
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(1)
        x = Signal(model.W)
        m.d.sync += x.eq(self.i.payload.a ^ self.i.payload.b ^ self.i.payload.sel)
        v, y = _pipe(m, self.i.valid, x, model.MUL_LATENCY - 1, model.W)
        m.d.comb += [self.o.valid.eq(v), self.o.payload.eq(y)]
        return m


class StubAddSub(wiring.Component):
    i: In(stream.Signature(AddSubRequest, always_ready=True))
    o: Out(stream.Signature(model.W, always_ready=True))

    def elaborate(self, platform):
        m = Module()
        x = Signal(model.W)
        p = self.i.payload
        m.d.sync += x.eq(p.a ^ p.b ^ p.sub ^ p.sel)
        v, y = _pipe(m, self.i.valid, x, model.ADDSUB_LATENCY - 1, model.W)
        m.d.comb += [self.o.valid.eq(v), self.o.payload.eq(y)]
        return m


class StubFreeze(wiring.Component):
    i: In(stream.Signature(FreezeRequest))
    o: Out(stream.Signature(256, always_ready=True))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(1)
        x = Signal(256)
        m.d.sync += x.eq(self.i.payload.x[:256] ^ self.i.payload.sel)
        v, y = _pipe(m, self.i.valid, x, 3, 256)
        m.d.comb += [self.o.valid.eq(v), self.o.payload.eq(y)]
        return m


class EngineProbe(engine.CurveEngine):
    """CurveEngine with stub arithmetic units (timing of the engine's own logic only)."""

    def elaborate(self, platform):
        saved = engine.MontMul, engine.AddSub, engine.Freeze
        engine.MontMul, engine.AddSub, engine.Freeze = StubMul, StubAddSub, StubFreeze
        try:
            return super().elaborate(platform)
        finally:
            engine.MontMul, engine.AddSub, engine.Freeze = saved


_ = freeze
