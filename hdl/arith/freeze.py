"""Canonical reduction ``x mod m`` of a 291-bit operand (see docs/ecc.md, ``model.freeze``).

Restoring division by shifted moduli: for ``j = 38 .. 0``, ``x = x - (m << j)`` when that is
not negative.  Every step computes the full 306-bit subtraction with the limb carry structure of
``limbs`` (per-limb candidates, one carry chain across the limbs, select) and keeps or takes the
difference by its carry out: 4 cycles per step, the same for every value.
One request at a time; 0 DSP.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from . import model
from .limbs import carry_chain, gen_prop, join, select, split

__all__ = ["FreezeRequest", "Freeze", "STEPS", "LATENCY"]

K = model.K
NL = model.NLIMB
RW = K * NL
STEPS = 39  #: m * 2**39 > 2**291 for every modulus (m > 2**252)
LATENCY = 4 * STEPS + 1  #: cycles from the input handshake to ``o.valid`` (157)

FreezeRequest = data.StructLayout({"x": model.W, "sel": 3})


class Freeze(wiring.Component):
    """Canonical reduction.

    Ports:
      ``i``: ``stream.Signature(FreezeRequest)``; ``x`` any value < 2**291, ``sel`` 0..5;
        ``i.ready`` is high when idle.
      ``o``: ``stream.Signature(256, always_ready=True)``; ``x mod m``, ``LATENCY`` cycles after
        the handshake, for one cycle.
    """

    i: In(stream.Signature(FreezeRequest))
    o: Out(stream.Signature(256, always_ready=True))

    def elaborate(self, platform):
        m = Module()
        x = Signal(RW, reset_less=True)
        ms = Signal(RW, reset_less=True)  # m << j
        busy = Signal()
        phase = Signal(2)
        step = Signal(range(STEPS))
        done = Signal()

        m.d.comb += self.i.ready.eq(~busy)
        m.d.sync += done.eq(0)
        with m.If(done):  # the result is taken in this cycle: keep no copy (a new request wins)
            m.d.sync += x.eq(0)
        with m.If(self.i.valid & ~busy):
            m.d.sync += [x.eq(self.i.payload.x), busy.eq(1), phase.eq(0), step.eq(0)]
            with m.Switch(self.i.payload.sel):
                for sel, mod in enumerate(model.MODULI):
                    with m.Case(sel):
                        m.d.sync += ms.eq(mod << (STEPS - 1))

        # phase 0: per-limb candidates of x + ~(m << j) + 1; phase 1: carry chain (the carry
        # out is "no borrow"); phase 2: select; phase 3: keep x or take the difference.  x and
        # ms only change at phase 3, so every register of the chain holds its value from the
        # phase after it is computed until phase 3.
        x_l, ms_l = split(x, NL, K), split(ms, NL, K)
        d, e, gd, ge = gen_prop(m, "sync", x_l, [~t for t in ms_l], K, "fz1")
        nc = carry_chain(m, "sync", gd, ge, "fz2", cin0=True)
        y = select(m, "sync", d, e, nc, "fz3_", cin0=True)
        cout = ~nc[NL]

        with m.If(busy):
            m.d.sync += phase.eq(phase + 1)
            with m.If(phase == 3):
                m.d.sync += [x.eq(Mux(cout, join(y), x)), ms.eq(ms >> 1), step.eq(step + 1)]
                with m.If(step == STEPS - 1):
                    m.d.sync += [busy.eq(0), done.eq(1)]

        m.d.comb += [self.o.valid.eq(done), self.o.payload.eq(x[:256])]
        return m
