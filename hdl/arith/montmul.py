"""Pipelined Montgomery multiplier for the six curve moduli (see docs/ecc.md).

``MontMul`` computes ``o = a * b / 2**306 (mod m)`` for 291-bit operands, ``m`` chosen per
request by ``sel`` (``model.SEL``).  32 MULT18X18D: one row of 17 ``a_t x b_j`` and one row of 15
``q x M_hat_j`` 17x17 products per cycle; the accumulator is a per-limb redundant register (no
carry chain longer than 36 bits); the quotient digit is the low 17 bits of accumulator limb 0.

Timing: a request is accepted at most every 19 cycles (``model.MUL_II``); its result is valid
27 cycles after the handshake (``model.MUL_LATENCY``), whatever the operand values.
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from . import model
from .dsp import mul_reg
from .limbs import csa_round, join, resolve, split

__all__ = ["MulRequest", "MontMul"]

K = model.K
MASK = model.MASK
NL = model.NLIMB  # 18 operand limbs
NACC = model.NACC  # 19 accumulator limbs
NMH = model.NMHAT  # 16 M_hat limbs (the top one is 1 bit)
NITER = model.NITER  # 19 accumulator updates per multiplication
ACC_W = 36  # accumulator limb width (bound: 2**17 + 2**19 + 2 * 2**34 < 2**36)
W = model.W
B_TOP = W - K * (NL - 1)  # bits of the top operand limb (2)

MulRequest = data.StructLayout({"a": W, "b": W, "sel": 3})


def _csa(a, b, c):
    """3:2 carry-save compressor: a + b + c == s + t."""
    s = a ^ b ^ c
    t = ((a & b) | (a & c) | (b & c)) << 1
    return s, t


def _small_mul(x, y, ybits: int):
    """x * y for a narrow ``y`` as shifted-and-gated adds (kept out of the DSP blocks)."""
    acc = Mux(y[0], x, 0)
    for i in range(1, ybits):
        acc = acc + (Mux(y[i], x, 0) << i)
    return acc


class MontMul(wiring.Component):
    """Montgomery multiplier.

    Ports:
      ``i``: ``stream.Signature(MulRequest)``; payload fields ``a``, ``b`` (291 bits each, any
        value < 2**291) and ``sel`` (0..5).  ``i.ready`` is high when the request can enter,
        i.e. when idle or in the second-to-last cycle of the previous request's 19-cycle
        issue slot (never in the cycle right after a handshake).
      ``o``: ``stream.Signature(291, always_ready=True)``; ``o.payload`` is the result (< 2**291),
        present for exactly one cycle with ``o.valid``; there is no back-pressure.
    """

    i: In(stream.Signature(MulRequest))
    o: Out(stream.Signature(W, always_ready=True))

    def __init__(self, *, dsp_primitives: bool | None = None):
        #: MULT18X18D instances with the product register inside the DSP (see dsp.py);
        #: ``None``: when elaborated for a platform (a real build), not in simulation.
        self.dsp_primitives = dsp_primitives
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        prim = self.dsp_primitives
        if prim is None:
            prim = platform is not None

        # ---- input staging -----------------------------------------------------------------
        # The request is captured every cycle without an enable (``stage``) and moved into the
        # operand registers one cycle after the handshake under the registered ``ld``: a
        # combinational handshake enabling ~600 flip-flops was the critical net (7.8 ns).
        stage = Signal(MulRequest)
        ld = Signal()
        p_busy = Signal()
        p_phase = Signal(range(NITER))
        p_pre_last = Signal()  # p_phase == NITER - 2, registered
        p_last = Signal()  # p_phase == NITER - 1, registered
        m.d.comb += self.i.ready.eq(~ld & (~p_busy | p_pre_last))
        m.d.sync += [stage.eq(self.i.payload), ld.eq(self.i.valid & self.i.ready)]

        # ---- issue / P stage: a_t x B ------------------------------------------------------
        a_sr = Signal(K * NL)
        b_reg = Signal(W)
        sel_p = Signal(3)
        m.d.sync += a_sr.eq(Mux(ld, stage.a, a_sr >> K))
        with m.If(ld):
            m.d.sync += [
                b_reg.eq(stage.b),
                sel_p.eq(stage.sel),
                p_busy.eq(1),
                p_phase.eq(0),
                p_pre_last.eq(0),
                p_last.eq(0),
            ]
        with m.Elif(p_busy):
            m.d.sync += [
                p_phase.eq(p_phase + 1),
                p_pre_last.eq(p_phase == NITER - 3),
                p_last.eq(p_phase == NITER - 2),
            ]
            with m.If(p_last):
                m.d.sync += p_busy.eq(0)

        digit = a_sr[:K]
        b_l = split(b_reg, NL, K)
        prod = []  # registered a_t * b_j
        for j in range(NL):
            r = Signal(2 * K, name=f"pa{j}")
            if j < NL - 1:
                mul_reg(m, digit, b_l[j], r, prim=prim, name=f"dsp_a{j}")
            else:
                m.d.sync += r.eq(_small_mul(digit, b_l[j], B_TOP))
            prod.append(r)

        # ---- S stage: accumulator ----------------------------------------------------------
        s_busy = Signal()
        s_first = Signal()  # S stage at phase 0 of a request: clear the shifted accumulator
        s_last = Signal()  # S stage at phase 18
        fin = Signal()  # accumulator holds S_18: normaliser input valid
        m.d.sync += [
            s_busy.eq(p_busy),
            s_first.eq(p_busy & (p_phase == 0)),
            s_last.eq(p_busy & p_last),
            fin.eq(s_busy & s_last),
        ]

        m_hat = Signal(K * NMH)
        with m.If(p_busy & (p_phase == 0)):
            with m.Switch(sel_p):
                for sel, pr in enumerate(model.PARAMS):
                    with m.Case(sel):
                        m.d.sync += m_hat.eq(pr["m_hat"])

        acc = [Signal(ACC_W, name=f"s{j}") for j in range(NACC)]
        q = acc[0][:K]
        mh_l = split(m_hat, NMH, K)
        qprod = []  # registered q_{t-1} * M_hat_j (q_{t-2} during phase t)
        for j in range(NMH):
            r = Signal(2 * K, name=f"pq{j}")
            if j < NMH - 1:
                mul_reg(m, q, mh_l[j], r, rst=s_first, prim=prim, name=f"dsp_q{j}")
            else:
                m.d.sync += r.eq(Mux(s_first, 0, Mux(mh_l[j][0], q, 0)))
            qprod.append(r)

        # Each limb adds four terms.  Two 3:2 carry-save layers (one LUT level each) and one
        # 36-bit carry chain; yosys' own mapping of a + b + c + d was two chains in series.
        # At phase 0 the accumulator restarts from a_0 * B alone.  The select comes after the
        # adder (not as gating of its inputs): s_first drives ~700 flip-flops, and its routing
        # delay then runs in parallel with the carry chain instead of in series.
        for j in range(NACC):
            lo_up = acc[j + 1][:K] if j + 1 < NACC else Const(0, K)
            terms = [lo_up, acc[j][K:]]
            if j < NL:
                terms.append(prod[j])
            if j < NMH:
                terms.append(qprod[j])
            while len(terms) > 2:
                terms = list(_csa(*terms[:3])) + terms[3:]
            v = terms[0] + terms[1]
            m.d.sync += acc[j].eq(Mux(s_first, prod[j] if j < NL else 0, v[:ACC_W]))

        # ---- normaliser: N1..N3 carry-save rounds, N4/N5 carry resolution ------------------
        t1 = []
        for j in range(NL):  # limb 18 of the result is zero (result < 2**291)
            r = Signal(35, name=f"n1_{j}")
            v = acc[j][:K]
            if j:
                v = v + acc[j - 1][K:]
            if 0 < j <= NMH:
                v = v + qprod[j - 1]
            m.d.sync += r.eq(v)
            t1.append(r)
        t2 = csa_round(m, "sync", t1, K, [19] * NL, "n2_")
        t3 = csa_round(m, "sync", t2, K, [18] * NL, "n3_")
        out = resolve(m, "sync", t3, K, "n45")

        v1, v2, v3, v4, v5 = (Signal(name=f"nv{i}") for i in range(1, 6))
        m.d.sync += [v1.eq(fin), v2.eq(v1), v3.eq(v2), v4.eq(v3), v5.eq(v4)]
        m.d.comb += [
            self.o.valid.eq(v5),
            self.o.payload.eq(join(out)[:W]),
        ]
        return m
