"""Modular add / subtract on the 291-bit redundant representation (see docs/ecc.md).

``AddSub`` computes ``s = a + b`` or ``s = a - b + k_sub`` (``k_sub``: the smallest multiple of m
that is >= 2**291), then folds the bits above 2**290: ``o = s mod 2**290 + (h * 2**290 mod m)``
with ``h = s >> 290 <= 4``.  Result < 2**290 + 2**256, congruent to a +- b mod m.  Fully
pipelined: one request per cycle, 7 cycles latency (``model.ADDSUB_LATENCY``), 0 DSP.
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from . import model
from .limbs import carry_chain, csa_sum, gen_prop, join, select, split

__all__ = ["AddSubRequest", "AddSub"]

K = model.K
NL = model.NLIMB
W = model.W
RW = K * NL  # 306: subtraction is computed modulo 2**306
FB = model.FOLD_BIT

AddSubRequest = data.StructLayout({"a": W, "b": W, "sub": 1, "sel": 3})


class AddSub(wiring.Component):
    """Add/subtract pipeline.

    Ports:
      ``i``: ``stream.Signature(AddSubRequest, always_ready=True)``; payload fields ``a``, ``b``
        (291 bits, any value < 2**291), ``sub`` (0: a + b, 1: a - b) and ``sel`` (0..5).
      ``o``: ``stream.Signature(291, always_ready=True)``; result 7 cycles after ``i.valid``.
    """

    i: In(stream.Signature(AddSubRequest, always_ready=True))
    o: Out(stream.Signature(W, always_ready=True))

    def elaborate(self, platform):
        m = Module()
        req = self.i.payload

        # A1: per-limb a + (b | ~b) + (0 | k_sub + 1) as one carry-save layer and a 19-bit
        # chain (limb sums < 3 * 2**17: carry <= 2)
        ksub = Signal(RW)
        with m.Switch(req.sel):
            for sel, pr in enumerate(model.PARAMS):
                with m.Case(sel):
                    m.d.comb += ksub.eq(pr["k_sub"] + 1)
        b306 = Signal(RW)
        b_ext = Signal(RW)
        m.d.comb += [b306.eq(req.b), b_ext.eq(Mux(req.sub, ~b306, b306))]
        kk = Mux(req.sub, ksub, 0)
        a_l, b_l, k_l = split(req.a, NL, K), split(b_ext, NL, K), split(kk, NL, K)
        x = []
        for j in range(NL):
            r = Signal(K + 2, name=f"x{j}", reset_less=True)
            m.d.sync += r.eq(csa_sum([a_l[j], b_l[j], k_l[j]]))
            x.append(r)
        # A2: candidates per limb; A3: carry chain; A4: select -> exact s mod 2**306
        d, e, gd, ge = gen_prop(
            m, "sync", [t[:K] for t in x], [Const(0, 1)] + [t[K:] for t in x[:-1]], K, "a2"
        )
        nc = carry_chain(m, "sync", gd[:-1], ge[:-1], "a3")
        d3, e3 = _delay(m, d, "a3_d"), _delay(m, e, "a3_e")
        s = select(m, "sync", d3, e3, nc, "a4_")

        sel_d = [Signal(3, name=f"sel{i}", reset_less=True) for i in range(4)]
        v_d = [Signal(name=f"v{i}") for i in range(7)]
        m.d.sync += [sel_d[0].eq(req.sel), v_d[0].eq(self.i.valid)]
        for i in range(1, 4):
            m.d.sync += sel_d[i].eq(sel_d[i - 1])
        for i in range(1, 7):
            m.d.sync += v_d[i].eq(v_d[i - 1])

        # A5: fold h = s[290:293] (h <= 4) through a (sel, h) -> (h * 2**290 mod m) table and
        # form the candidates of s mod 2**290 + fold; A6: carry chain; A7: select
        s_v = join(s)
        h = s_v[FB : FB + 3]
        fold = Signal(256)
        with m.Switch(sel_d[3]):
            for sel, pr in enumerate(model.PARAMS):
                with m.Case(sel):
                    with m.Switch(h):
                        for hv in range(8):
                            with m.Case(hv):
                                m.d.comb += fold.eq(pr["fold"][hv])
        lo_l = split(s_v[:FB], NL, K)
        f_l = split(fold, NL, K)
        d, e, gd, ge = gen_prop(m, "sync", lo_l, f_l, K, "a5")
        nc = carry_chain(m, "sync", gd[:-1], ge[:-1], "a6")
        d6, e6 = _delay(m, d, "a6_d"), _delay(m, e, "a6_e")
        out = select(m, "sync", d6, e6, nc, "a7_")

        m.d.comb += [
            self.o.valid.eq(v_d[6]),
            self.o.payload.eq(join(out)[:W]),
        ]
        return m


def _delay(m, values, name):
    out = []
    for j, v in enumerate(values):
        r = Signal(len(v), name=f"{name}{j}", reset_less=True)
        m.d.sync += r.eq(v)
        out.append(r)
    return out
