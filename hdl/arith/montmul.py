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
from .dsp import mul_reg, site
from .limbs import carry_chain, csa_sum, gen_prop, join, select, split
from .regs import copies

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

# Register copies for the high-fanout nets (see regs.py); each copy serves a group of limbs.
N_LD = 6  # operand load enable: ~600 mux/enable inputs over the 18 operand limbs
N_Q = 4  # quotient digit -> 15 DSP blocks (4 per copy, with the 1-bit limb)
N_MH = 2  # M_hat load enable (256 flip-flops)
N_FIN = 6  # normaliser input load enable (18 limbs x 20 bits)

MulRequest = data.StructLayout({"a": W, "b": W, "sel": 3})


def _small_mul(x, y, ybits: int):
    """x * y for a narrow ``y`` as shifted-and-gated adds (kept out of the DSP blocks)."""
    acc = Mux(y[0], x, 0)
    for i in range(1, ybits):
        acc = acc + (Mux(y[i], x, 0) << i)
    return acc


def _group(j: int, n_items: int, n_groups: int) -> int:
    return j * n_groups // n_items


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

    def __init__(
        self,
        *,
        dsp_primitives: bool | None = None,
        dsp_place: tuple[int, int] | None = None,
    ):
        #: MULT18X18D instances with the product register inside the DSP (see dsp.py), and
        #: TRELLIS_FF for the register copies (regs.py); ``None``: when elaborated for a
        #: platform (a real build), not in simulation.
        self.dsp_primitives = dsp_primitives
        #: ``(row, first_site)``: pin the 32 DSP blocks to sites ``first_site ..
        #: first_site + 31`` of DSP row ``row`` (``dsp.site``; LFE5U-85F rows 10, 34, 58 with
        #: 52 sites each; ``first_site`` a multiple of 4): ``a_j x B`` and ``q x M_hat_j`` side
        #: by side (sites 2j, 2j+1), limb after limb, so that every accumulator limb sits next
        #: to its two products and to its neighbours.  ``None``: nextpnr places them (it
        #: scatters them over the rows; unit alone 117-124 MHz instead of 125-131 MHz,
        #: seeds 1-3, docs/ecc.md).
        self.dsp_place = dsp_place
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        prim = self.dsp_primitives
        if prim is None:
            prim = platform is not None

        def bel(kind: str, j: int):
            if self.dsp_place is None or not prim:
                return None
            row, first = self.dsp_place
            assert first % 4 == 0 and first + 32 <= 52
            if j < NMH - 1:
                return site(row, first + 2 * j + (kind == "q"))
            return site(row, first + 2 * (NMH - 1) + j - (NMH - 1))

        # ---- input staging and issue control -----------------------------------------------
        # The request is captured every cycle without an enable (``stage``) and moved into the
        # operand registers one cycle after the handshake under the registered ``ld``: a
        # combinational handshake enabling ~600 flip-flops was the critical net (7.8 ns).
        # ``ld`` itself (reset) drives the control; the operand loads use copies of it.
        stage = Signal(MulRequest, reset_less=True)
        ld = Signal()
        ld1 = Signal()  # P stage at phase 0 (the cycle after ld)
        p_busy = Signal()
        p_phase = Signal(range(NITER + 1))
        p_pre_last = Signal()  # p_phase == NITER - 2, registered
        p_last = Signal()  # p_phase == NITER - 1, registered
        m.d.comb += self.i.ready.eq(~ld & (~p_busy | p_pre_last))
        hs = self.i.valid & self.i.ready
        m.d.sync += [stage.eq(self.i.payload), ld.eq(hs), ld1.eq(ld)]
        ld_c = copies(m, hs, N_LD, prim=prim, name="ld_c")
        with m.If(ld):
            m.d.sync += [
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

        # ---- issue / P stage: a_t x B ------------------------------------------------------
        # The 17 DSP blocks register both inputs (their input registers are the per-block
        # copies of the digit and of B), so the operands are presented one cycle ahead:
        # ``dig_n`` is a_0 in the load cycle, then a_1, a_2, ... from the shift register.
        a_sr = Signal(K * (NL - 1), reset_less=True)  # digits 1..17, shifted down each cycle
        b_reg = Signal(W, reset_less=True)
        sel_p = Signal(3, reset_less=True)
        st_a = split(stage.a, NL, K)
        st_b = split(stage.b, NL, K)
        sr_l = split(a_sr, NL - 1, K)
        b_l = split(b_reg, NL, K)
        b_n = []  # next value of each B limb (b_reg's input, and the DSP B input registers)
        for j in range(NL - 1):
            g = ld_c[_group(j, NL, N_LD)]
            nxt = sr_l[j + 1] if j + 1 < NL - 1 else Const(0, K)
            m.d.sync += sr_l[j].eq(Mux(g, st_a[j + 1], nxt))
        for j in range(NL):
            g = ld_c[_group(j, NL, N_LD)]
            v = Signal(len(b_l[j]), name=f"b_n{j}")
            m.d.comb += v.eq(Mux(g, st_b[j][: len(b_l[j])], b_l[j]))
            m.d.sync += b_l[j].eq(v)
            b_n.append(v)
        with m.If(ld):
            m.d.sync += sel_p.eq(stage.sel)
        dig_n = Signal(K)
        m.d.comb += dig_n.eq(Mux(ld_c[0], st_a[0], sr_l[0]))
        dig = Signal(K, reset_less=True)  # fabric copy for the 2-bit top limb
        m.d.sync += dig.eq(dig_n)

        prod = []  # registered a_t * b_j
        for j in range(NL):
            r = Signal(2 * K, name=f"pa{j}", reset_less=True)
            if j < NL - 1:
                mul_reg(
                    m, dig_n, b_n[j], r, in_reg=True, prim=prim, bel=bel("a", j),
                    name=f"dsp_a{j}",
                )
            else:
                m.d.sync += r.eq(_small_mul(dig, b_l[j], B_TOP))
            prod.append(r)

        # ---- S stage: accumulator ----------------------------------------------------------
        s_busy = Signal()
        s_first = Signal()  # S stage at phase 0 of a request: restart the accumulator
        s_last = Signal()  # S stage at phase 18
        fin = Signal()  # accumulator holds S_18: normaliser input valid
        m.d.sync += [
            s_busy.eq(p_busy),
            s_first.eq(ld1),
            s_last.eq(p_busy & p_last),
            fin.eq(s_busy & s_last),
        ]
        # copies of s_first: one per accumulator limb (~140 LUT inputs each) and one per
        # group of quotient DSP blocks (their output register reset)
        sf = copies(m, ld1, NACC + N_Q, prim=prim, name="sf_c")
        fin_c = copies(m, s_busy & s_last, N_FIN, prim=prim, name="fin_c")

        m_hat = Signal(K * NMH, reset_less=True)
        mh_ld = copies(m, ld, N_MH, prim=prim, name="mh_c")  # == ld1
        mh_l = split(m_hat, NMH, K)
        for j in range(NMH):
            with m.If(mh_ld[_group(j, NMH, N_MH)]):
                with m.Switch(sel_p):
                    for sel, pr in enumerate(model.PARAMS):
                        with m.Case(sel):
                            m.d.sync += mh_l[j].eq((pr["m_hat"] >> (K * j)) & MASK)

        acc = [Signal(ACC_W, name=f"s{j}", reset_less=True) for j in range(NACC)]
        # The quotient digit q = S mod 2**17 feeds 15 DSP blocks spread along a DSP row.  Each
        # group of blocks gets its own copy of q, computed by its own replica of limb 0's sum
        # (low 17 bits only) placed next to it: one route from the accumulator inputs to the
        # group instead of one into limb 0's adder and a second one out to the group.  Each
        # replica is gated by its own copy of s_first, so no two compute the same function
        # and neither yosys nor ABC can merge them.
        qprod = [Signal(2 * K, name=f"pq{j}", reset_less=True) for j in range(NMH)]
        q_c = []
        for g in range(N_Q):
            f = sf[NACC + g]
            terms = [
                Mux(f, 0, acc[1][:K]),
                Mux(f, 0, acc[0][K : 2 * K]),
                prod[0][:K],
                Mux(f, 0, qprod[0][:K]),
            ]
            r = Signal(K, name=f"q_c{g}", reset_less=True)
            m.d.sync += r.eq(csa_sum(terms)[:K])
            q_c.append(r)
        # registered q_{t-1} * M_hat_j (q_{t-2} during phase t)
        for j in range(NMH):
            g = _group(j, NMH, N_Q)
            q, rst = q_c[g], sf[NACC + g]
            if j < NMH - 1:
                mul_reg(
                    m, q, mh_l[j], qprod[j], rst=rst, prim=prim, bel=bel("q", j),
                    name=f"dsp_q{j}",
                )
            else:
                m.d.sync += qprod[j].eq(Mux(rst, 0, Mux(mh_l[j][0], q, 0)))

        # Each limb adds four terms: two 3:2 carry-save layers (one LUT level each) and one
        # 36-bit carry chain.  At phase 0 the accumulator restarts from a_0 * B alone: the
        # three other terms are gated by a per-limb copy of s_first, which adds an input to
        # the first-layer LUTs but no LUT level (a select after the adder was one more level).
        for j in range(NACC):
            f = sf[j]
            terms = []
            if j + 1 < NACC:
                terms.append(Mux(f, 0, acc[j + 1][:K]))
            terms.append(Mux(f, 0, acc[j][K:]))
            if j < NL:
                terms.append(prod[j])
            if j < NMH:
                terms.append(Mux(f, 0, qprod[j]))
            m.d.sync += acc[j].eq(csa_sum(terms)[:ACC_W])

        # ---- normaliser: N1 digit sums, N2 candidates, N3 carry chain, N4 select, N5 out ---
        # The value is sum(S_j 2^(17j)) + sum(P_j 2^(17(j+1))) with P = q_17 * M_hat (the
        # last quotient product, in the DSP registers one cycle after S_18).  N1 sums the
        # four 17-bit slices that land on each limb (< 7 * 2**17: carry <= 6) and holds the
        # sums for the 19 cycles until the next product, so N2..N5 (plain registers) see
        # stable inputs.  Every N stage has at most one long route.
        u = []
        for j in range(NL):  # limb 18 of the result is zero (result < 2**291)
            r = Signal(K + 3, name=f"n1_{j}", reset_less=True)
            terms = [acc[j][:K]]
            if j:
                terms.append(acc[j - 1][K:])
            if 1 <= j <= NMH:
                terms.append(qprod[j - 1][:K])
            if 2 <= j <= NMH + 1:
                terms.append(qprod[j - 2][K:])
            with m.If(fin_c[_group(j, NL, N_FIN)]):
                m.d.sync += r.eq(csa_sum(terms))
            u.append(r)
        d, e, gd, ge = gen_prop(
            m, "sync", [t[:K] for t in u], [Const(0, 1)] + [t[K:] for t in u[:-1]], K, "n2"
        )
        nc = carry_chain(m, "sync", gd[:-1], ge[:-1], "n3")  # carries into limbs 1..17
        res = select(m, "sync", d, e, nc, "n4_")
        out = Signal(K * NL, reset_less=True)
        m.d.sync += out.eq(join(res))

        v1, v2, v3, v4, v5 = (Signal(name=f"nv{i}") for i in range(1, 6))
        m.d.sync += [v1.eq(fin), v2.eq(v1), v3.eq(v2), v4.eq(v3), v5.eq(v4)]
        m.d.comb += [
            self.o.valid.eq(v5),
            self.o.payload.eq(out[:W]),
        ]
        return m
