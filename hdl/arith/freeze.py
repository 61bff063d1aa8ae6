"""Canonical reduction ``x mod m`` of a 291-bit operand (see docs/ecc.md, ``model.freeze``).

Restoring division by shifted moduli: for ``j = 38 .. 0``, ``x = x - (m << j)`` when that is
not negative.  Every step computes the full 306-bit subtraction with the limb carry structure of
``limbs.resolve`` and selects by its carry: 4 cycles per step, the same for every value.
One request at a time; 0 DSP.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from . import model
from .limbs import join, resolve, split

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
        x = Signal(RW)
        ms = Signal(RW)  # m << j
        busy = Signal()
        phase = Signal(2)
        step = Signal(range(STEPS))
        done = Signal()

        m.d.comb += self.i.ready.eq(~busy)
        m.d.sync += done.eq(0)
        with m.If(self.i.valid & ~busy):
            m.d.sync += [x.eq(self.i.payload.x), busy.eq(1), phase.eq(0), step.eq(0)]
            with m.Switch(self.i.payload.sel):
                for sel, mod in enumerate(model.MODULI):
                    with m.Case(sel):
                        m.d.sync += ms.eq(mod << (STEPS - 1))

        # phase 0 -> u registered; phases 1, 2: resolve; phase 3: select
        x_l, nm_l = split(x, NL, K), split(~ms, NL, K)
        u = []
        for j in range(NL):
            r = Signal(K + 1, name=f"u{j}")
            m.d.sync += r.eq(x_l[j] + nm_l[j] + (1 if j == 0 else 0))
            u.append(r)
        y, cout = resolve(m, "sync", u, K, "fz", carry_out=True)

        with m.If(busy):
            m.d.sync += phase.eq(phase + 1)
            with m.If(phase == 3):
                m.d.sync += [x.eq(Mux(cout, join(y), x)), ms.eq(ms >> 1), step.eq(step + 1)]
                with m.If(step == STEPS - 1):
                    m.d.sync += [busy.eq(0), done.eq(1)]

        m.d.comb += [self.o.valid.eq(done), self.o.payload.eq(x[:256])]
        return m
