"""The fixed-point Black-Scholes-Merton / Black-76 Greeks pipeline (one option per clock).

:func:`build_datapath` is the integer algorithm of :mod:`.model` (``model.pipeline``) in
gateware, operation for operation and bit for bit; docs/numerics.md describes every format and
rounding. :class:`GreeksPipeline` wraps it in ``amaranth.lib.stream`` interfaces:

    i: In(stream.Signature(GreeksIn))    x = ln(S/K), T, sigma, r, q as Q48 (signed 64-bit),
                                         put, black76 flags
    o: Out(stream.Signature(GreeksOut))  price/S, delta, gamma*S, vega/S, theta/S, rho/(S T)
                                         as Q48 in their formats, and ``error`` (the domain
                                         check failed; the outputs are then 0)

Back-pressure: the datapath itself has no clock enable (a global enable would fan out to every
one of its registers and limit the clock). It runs freely, and its results go into an output
FIFO of ``fifo_depth`` entries. A credit counter admits an option only while the options in
flight plus those waiting in the FIFO are fewer than the FIFO holds, so nothing is ever dropped
and ``i.ready`` stays high for as long as the consumer keeps up: initiation interval 1 and a
constant ``latency`` (input handshake to output valid) whenever ``o.ready`` is high.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from . import model as md
from . import tables as tb
from .units import (
    Node,
    Pipe,
    SegmentROM,
    const_mul,
    limb_products,
    limb_square,
    seg_quad,
    shift_round,
)

__all__ = ["GreeksIn", "GreeksOut", "GreeksPipeline", "build_datapath", "fmt"]


def fmt(name: str):
    """The shape of a pipeline signal, from model.SIGNALS (the formats of docs/numerics.md)."""
    sg, ib, fb, _ = md.SIGNALS[name]
    return signed(1 + ib + fb) if sg else unsigned(ib + fb)


GreeksIn = data.StructLayout({
    "x": signed(64),  # ln(S/K) (Black-76: ln(F/K)), Q48
    "T": signed(64),  # expiry in years, Q48
    "sigma": signed(64),  # volatility, Q48
    "r": signed(64),  # rate, Q48
    "q": signed(64),  # carry, Q48 (ignored by Black-76)
    "put": 1,
    "black76": 1,
})

GreeksOut = data.StructLayout({name: fmt(name) for name in md.OUTPUTS} | {"error": 1})


def _priority(conds_values, default):
    """Mux chain: the value of the first true condition, else ``default``."""
    res = default
    for cond, value in reversed(conds_values):
        res = Mux(cond, value, res)
    return res


def build_datapath(m: Module, valid, inp) -> tuple[Node, dict, Pipe]:
    """Instantiate the datapath in ``m``. ``valid`` and ``inp`` (a GreeksIn view) are sampled
    every clock. Returns (valid node, {output: node}, pipe); every node is at the same stage,
    the latency in clocks."""
    p = Pipe(m)
    f = inp
    v_in = p.reg("in_valid", lambda v: v, p.input(valid, "valid"), control=True)
    x_in, t_in, s_in, r_in, q_in = (
        p.reg(f"in_{k}", lambda v: v, p.input(getattr(f, k), k))
        for k in ("x", "T", "sigma", "r", "q"))
    put = p.reg("in_put", lambda v: v, p.input(f.put, "put"))
    b76 = p.reg("in_b76", lambda v: v, p.input(f.black76, "black76"))

    # ---- domain check (model.domain_error); a rejected lane runs on a stand-in
    def checks(x, t, s, r, q, b):
        return Cat(x < tb.X_MIN_FX, x > tb.X_MAX_FX, t < tb.T_MIN_FX, t > tb.T_MAX_FX,
                   s < tb.SIGMA_MIN_FX, s > tb.SIGMA_MAX_FX, r < tb.RATE_MIN_FX,
                   r > tb.RATE_MAX_FX, ~b & (q < tb.RATE_MIN_FX), ~b & (q > tb.RATE_MAX_FX))

    bad = p.reg("bad", checks, x_in, t_in, s_in, r_in, q_in, b76)
    err = p.reg("err", lambda c: c.any(), bad)
    x = p.reg("x", lambda c, v: Mux(c.any(), 0, v), bad, x_in, shape=fmt("x"))
    T = p.reg("T", lambda c, v: Mux(c.any(), tb.T_MAX_FX, v), bad, t_in, shape=fmt("T"))
    sig = p.reg("sig", lambda c, v: Mux(c.any(), tb.SIGMA_MAX_FX, v), bad, s_in,
                shape=fmt("sig"))
    r = p.reg("r", lambda c, v: Mux(c.any(), 0, v), bad, r_in, shape=fmt("r"))
    q = p.reg("q", lambda c, b, rv, qv: Mux(c.any(), 0, Mux(b, rv, qv)), bad, b76, r_in, q_in,
              shape=fmt("q"))
    b = p.reg("b", lambda rv, qv: rv - qv, r, q, shape=fmt("b"))
    call = p.comb("call", lambda v: ~v, put)

    # ---- normalise T = tm * 2**(2e), sigma = sm * 2**es: a priority encoder of the leading
    # bits, then a barrel shift (two stages)
    def lead_t(t):  # e + 7, from bit_length(T) in 35..50: e = (bit_length - 49) >> 1
        return _priority([(t[48 + 2 * e:].any(), Const(e + 7, 3)) for e in range(0, -7, -1)],
                         Const(0, 3))

    def lead_s(s):  # bit_length(sigma) - 42, bit_length in 42..51
        return _priority([(s[ls - 1:].any(), Const(ls - 42, 4)) for ls in range(51, 42, -1)],
                         Const(0, 4))

    te = p.reg("te", lead_t, T)  # T >> (14 + 2e) = T >> 2 (e + 7)
    tm = p.reg("tm", lambda t, k: (t >> Cat(Const(0, 1), k))[:36], T, te, shape=fmt("tm"))
    e = p.reg("e", lambda k: k - 7, te, shape=fmt("e"))
    sl = p.reg("sl", lead_s, sig)  # sigma >> (bit_length - 36) = (sigma >> 6) >> sl
    sm = p.reg("sm", lambda v, k: (v.shift_right(6) >> k)[:36], sig, sl, shape=fmt("sm"))
    es = p.reg("es", lambda k: k - 7, sl, shape=fmt("es"))
    qq = p.sum("qq", [(q, 0)], tb.FIN - 35, rnd=True, shape=fmt("qq"))
    rq = p.sum("rq", [(r, 0)], tb.FIN - 35, rnd=True, shape=fmt("rq"))
    bq = p.sum("bq", [(b, 0)], tb.FIN - 35, rnd=True, shape=fmt("bq"))

    # ---- sqrt(T) = st * 2**e
    sqrt_rom = SegmentROM(tb.SQRT)
    recip_rom = SegmentROM(tb.RECIP)
    exp2_rom = SegmentROM(tb.EXP2)
    mills_rom = SegmentROM(tb.MILLS)
    p.memories.extend(rom.memory for rom in (sqrt_rom, recip_rom, exp2_rom, mills_rom))
    m.submodules.sqrt_rom = sqrt_rom.memory
    m.submodules.recip_rom = recip_rom.memory
    m.submodules.exp2_rom = exp2_rom.memory
    m.submodules.mills_rom = mills_rom.memory

    sidx = p.reg("sidx", lambda t: Cat(Mux(t[35], t[26:35], t[25:34]), t[35]), tm)
    sdel = p.reg("sdel", lambda t: Mux(t[35], t[1:26], t[0:25]), tm)
    st = seg_quad(p, "sqrt", sqrt_rom, sidx, sdel)

    # ---- v = sigma sqrt(T) = vm * 2**ev
    pv = p.sum("pv", limb_products(p, "v", sm, 36, st, 36, drop_ll=True), tb.FM, rnd=False,
               shape=fmt("pv"))
    vm = p.reg("vm", lambda v: Mux(v[36], v[1:37], v[0:36]), pv, shape=fmt("vm"))
    ev = p.reg("ev", lambda a, b_, v: a + b_ + v[36], es, e, pv, shape=fmt("ev"))

    # ---- 1/v = rvm * 2**-ev
    rvm = seg_quad(p, "recip", recip_rom, p.comb("ridx", lambda v: v[25:35], vm),
                   p.comb("rdel", lambda v: v[0:25], vm))

    # ---- b T (exact) and q T (truncated), then the 2**(2e) shift with rounding
    e2 = p.comb("e2", lambda v: v.shift_left(1), e)
    bt56 = p.sum("bt56", limb_products(p, "bT", bq, 36, tm, 36, signed_=(True, False)), 13,
                 rnd=False, shape=fmt("bt56"))
    bT = shift_round(p, "bT", bt56, e2, -22, -8, fmt("bT"), s_offset=-8)
    qt56 = p.sum("qt56", limb_products(p, "qT", qq, 36, tm, 36, drop_ll=True,
                                       signed_=(True, False)), 13, rnd=False, shape=fmt("qt56"))
    qT = shift_round(p, "qT", qt56, e2, -22, -8, fmt("qT"), s_offset=-8)

    # ---- y = x + bT; window yw = y * 2**-ev, saturating
    y = p.reg("y", lambda a, c: a + c, x, bT, shape=fmt("y"))
    nev = p.reg("nev", lambda v: -v, ev)
    yws = shift_round(p, "yws", y, nev, -21, -4, signed(48), s_offset=-18)
    ysat = (1 << 35) - 1
    yw = p.reg("yw", lambda v: Mux(v > ysat, ysat, Mux(v < -ysat, -ysat, v)), yws,
               shape=fmt("yw"))

    # ---- z = yw * rvm (exact), d1,2 = z +- v/2 rounded
    z = p.sum("z", limb_products(p, "z", yw, 36, rvm, 36, signed_=(True, False)),
              30 + tb.FM - tb.FZ, rnd=True, shape=fmt("z"))
    vh = shift_round(p, "vh", vm, ev, -14, 3, fmt("vh"), s_offset=tb.FZ - tb.FM - 1)
    half = 1 << (tb.FZ - tb.FD - 1)
    vhp = p.reg("vhp", lambda v: v + half, vh)
    vhm = p.reg("vhm", lambda v: half - v, vh)
    d1 = p.reg("d1", lambda a, c: (a + c).shift_right(tb.FZ - tb.FD), z, vhp, shape=fmt("d1"))
    d2 = p.reg("d2", lambda a, c: (a + c).shift_right(tb.FZ - tb.FD), z, vhm, shape=fmt("d2"))

    def negative_tail(d, c):  # w * d < 0
        return Mux(c, d[-1], ~d[-1] & d.any())

    neg1 = p.reg("neg1", negative_tail, d1, call)
    neg2 = p.reg("neg2", negative_tail, d2, call)
    a1 = p.reg("abs1", lambda d: Mux(d[-1], -d, d), d1, shape=unsigned(38))
    a2 = p.reg("abs2", lambda d: Mux(d[-1], -d, d), d2, shape=unsigned(38))
    u1 = p.reg("u1", lambda a: Mux(a[36:].any(), tb.D_MAX, a[:36]), a1, shape=fmt("u1"))
    u2 = p.reg("u2", lambda a: Mux(a[36:].any(), tb.D_MAX, a[:36]), a2, shape=fmt("u2"))

    # ---- exponents: ln A = -(qT + d1^2/2 + ln sqrt(2 pi)), clamped; p = a log2(e)
    d1sq = p.sum("d1sq", limb_square(p, "d1sq", u1, 36), 2 * tb.FD + 1 - tb.FX, rnd=True,
                 shape=fmt("d1sq"))
    qT40 = p.sum("qT40", [(qT, 0)], tb.FIN - tb.FX, rnd=True, shape=fmt("qT40"))
    y40 = p.sum("y40", [(y, 0)], tb.FIN - tb.FX, rnd=True, shape=fmt("y40"))
    aq = p.reg("aq", lambda v: -tb.LN_SQRT_2PI - v, qT40)
    (aq,) = p.bram_delay("dl_aq", [aq], d1sq.stage)
    a_raw = p.reg("a_raw", lambda a, d: a - d, aq, d1sq)
    a_a = p.reg("a_a", lambda v: Mux(v < tb.A_ARG_MIN, tb.A_ARG_MIN, v), a_raw,
                shape=fmt("a_a"))
    yq = p.reg("yq", lambda a, c: a + c, y40, qT40)
    p_a = const_mul(p, "p_a", a_a, tb.L2E, tb.FL2E, shape=fmt("p_a"))
    p_q = const_mul(p, "p_q", qT40, tb.L2E, tb.FL2E, shape=fmt("p_q"), negate=True)
    p_r = const_mul(p, "p_r", yq, tb.L2E, tb.FL2E, shape=fmt("p_r"), negate=True)

    def exp2(unit, pn):
        k = p.comb(f"{unit}_k", lambda v: v.shift_right(tb.FX), pn)
        idx = p.comb(f"{unit}_idx", lambda v: v[tb.EXP2.delta_bits:tb.FX], pn)
        dl = p.comb(f"{unit}_del", lambda v: v[:tb.EXP2.delta_bits], pn)
        return seg_quad(p, unit, exp2_rom, idx, dl), k

    # long delays go through block RAM: the exponents to where ka is, sqrt(t), 1/vm and
    # sigma_m^2 to where the A mantissa is
    ev, e, es = p.bram_delay("dl_exps", [ev, e, es], p_a.stage)
    hm = p.sum("hm", limb_square(p, "sigma2", sm, 36, drop_ll=True), 36, rnd=False,
               shape=fmt("hm"))
    ma, ka = exp2("expA", p_a)
    (st,) = p.bram_delay("dl_st", [st], ma.stage)
    (rvm,) = p.bram_delay("dl_rvm", [rvm], ma.stage)
    (hm,) = p.bram_delay("dl_hm", [hm], ma.stage)
    mq, kq = exp2("expDq", p_q)
    mr, kr = exp2("expKr", p_r)

    # ---- Mills ratio R(|d|), |d| saturated below 8 (model.mills_address)
    def mills(unit, u):
        mu = p.reg(f"{unit}_u", lambda v: Mux(v[35], tb.U_MAX, v[:35]), u, shape=unsigned(35))

        def addr(v):
            return Mux(v[34], Cat(v[25:34], Const(3, 2)), Mux(v[33], Cat(v[24:33], Const(2, 2)),
                                                         Cat(v[23:33], Const(0, 1))))

        def offset(v):
            return Mux(v[34], v[1:25], Mux(v[33], v[0:24], Cat(Const(0, 1), v[0:23])))

        idx = p.reg(f"{unit}_idx", addr, mu, shape=unsigned(11))
        dl = p.reg(f"{unit}_del", offset, mu, shape=unsigned(24))
        return seg_quad(p, unit, mills_rom, idx, dl)

    r1 = mills("mills1", u1)
    r2 = mills("mills2", u2)

    # ---- tails A R and the discount factors in fixed point, P1 and P2
    fp = tb.FP
    ar1m = p.sum("ar1m", limb_products(p, "AR1", ma, 36, r1, 36, drop_ll=True), 20, rnd=False,
                 shape=fmt("ar1m"))
    ar2m = p.sum("ar2m", limb_products(p, "AR2", ma, 36, r2, 36, drop_ll=True), 20, rnd=False,
                 shape=fmt("ar2m"))
    ar1 = shift_round(p, "ar1", ar1m, ka, -91, 0, fmt("ar1"), s_offset=fp - 50)
    ar2 = shift_round(p, "ar2", ar2m, ka, -91, 0, fmt("ar2"), s_offset=fp - 50)
    dq = shift_round(p, "dq", mq, kq, fp - tb.FM - 3, fp - tb.FM, fmt("dq"),
                     s_offset=fp - tb.FM)
    kk = shift_round(p, "kk", mr, kr, fp - tb.FM - 5, fp - tb.FM + 2, fmt("kk"),
                     s_offset=fp - tb.FM)
    dq, kk = p.bram_delay("dl_disc", [dq, kk], max(ar1.stage, ar2.stage))
    p1 = p.reg("p1", lambda n, a, d: Mux(n, a, d - a), neg1, ar1, dq, shape=fmt("p1"))
    p2 = p.reg("p2", lambda n, a, d: Mux(n, a, d - a), neg2, ar2, kk, shape=fmt("p2"))

    # ---- density Greeks: G = A / v, vega / S = A sqrt(T), theta1 = G sigma^2 / 2
    gms = p.sum("gms", limb_products(p, "G", ma, 36, rvm, 36, drop_ll=True), tb.FM, rnd=True)
    gm = p.reg("gm", lambda v: Mux(v[36:].any(), (1 << 36) - 1, v[:36]), gms, shape=fmt("gm"))
    vg = p.sum("vg", limb_products(p, "vega", ma, 36, st, 36, drop_ll=True), tb.FM, rnd=True,
               shape=fmt("vg"))
    th = p.sum("th", limb_products(p, "theta1", gm, 36, hm, 36, drop_ll=True), 33, rnd=False,
               shape=fmt("th"))
    fo = tb.FOUT
    kg = p.reg("kg", lambda a, c: a - c, ka, ev)  # ka - ev
    kv = p.reg("kv", lambda a, c: a + c, ka, e)  # ka + e
    kt = p.reg("kt", lambda a, c, s: a - c + s.shift_left(1), ka, ev, es)  # ka - ev + 2 es
    g_out = shift_round(p, "gamma", gm, kg, -83, 25, fmt("gamma"), s_offset=fo - tb.FM)
    v_out = shift_round(p, "vega", vg, kv, -87, 11, fmt("vega"), s_offset=fo - tb.FM)
    th1 = shift_round(p, "th1", th, kt, -95, 31, fmt("th1"), s_offset=fp - 36 - 1)

    # ---- carry and rate terms of theta
    qq, rq = p.bram_delay("dl_rates", [qq, rq], max(p1.stage, p2.stage))
    p1h = p.comb("p1h", lambda v: v[fp - 35:], p1)
    p2h = p.comb("p2h", lambda v: v[fp - 33:], p2)
    th2 = p.sum("th2", limb_products(p, "qP1", qq, 36, p1h, 36, drop_ll=True,
                                     signed_=(True, False)), 35 + 35 - fp, rnd=True,
                shape=fmt("th2"))
    th3 = p.sum("th3", limb_products(p, "rP2", rq, 36, p2h, 36, drop_ll=True,
                                     signed_=(True, False)), 35 + 33 - fp, rnd=True,
                shape=fmt("th3"))

    # ---- outputs normalised by S, rounded to Q48, zero on a domain error
    pdiff = p.reg("pdiff", lambda c, a, d: Mux(c, a - d, d - a), call, p1, p2)
    delta_w = p.reg("delta_w", lambda c, a: Mux(c, a, -a), call, p1)
    rho_w = p.reg("rho_w", lambda bb, c, pd, a: Mux(bb, -pd, Mux(c, a, -a)), b76, call, pdiff,
                  p2)
    t23 = p.reg("t23", lambda c, a, d: Mux(c, a - d, d - a), call, th2, th3)
    theta_w = p.reg("theta_w", lambda a, c: a - c, t23, th1)
    sh = fp - fo
    raw = {
        "price": p.sum("price_r", [(pdiff, 0)], sh, rnd=True, shape=fmt("price")),
        "delta": p.sum("delta_r", [(delta_w, 0)], sh, rnd=True, shape=fmt("delta")),
        "gamma": g_out,
        "vega": v_out,
        "theta": p.sum("theta_r", [(theta_w, 0)], sh, rnd=True, shape=fmt("theta")),
        "rho": p.sum("rho_r", [(rho_w, 0)], sh, rnd=True, shape=fmt("rho")),
    }
    last = max(n.stage for n in raw.values())
    outs = {k: p.reg(f"out_{k}", lambda er, v: Mux(er, 0, v), err, n, shape=fmt(k), stage=last)
            for k, n in raw.items()}
    outs["error"] = p.reg("out_error", lambda v: v, err, stage=last)
    valid = p.reg("out_valid", lambda v: v, v_in, stage=last, control=True)
    return valid, outs, p


def _measure_latency() -> int:
    """Elaborate the datapath once, into a scratch module, to learn its depth."""
    m = Module()
    valid, _, pipe = build_datapath(m, Signal(), Signal(GreeksIn))
    for obj in (m, *pipe.memories):
        obj._MustUse__silence = True  # never used: only the stage count is wanted
    return valid.stage


class GreeksPipeline(wiring.Component):
    """The Greeks datapath with stream interfaces and a credit-counted output FIFO.

    ``latency``: clocks from an input handshake to ``o.valid`` while the output is not stalled.
    """

    i: In(stream.Signature(GreeksIn))
    o: Out(stream.Signature(GreeksOut))
    busy: Out(1)  # an option is in flight or waiting in the output FIFO

    def __init__(self, fifo_depth: int | None = None):
        self.datapath_latency = _measure_latency()
        # the FIFO covers the round trip so that i.ready stays high while o.ready does
        self.fifo_depth = fifo_depth or max(64, -(-(self.datapath_latency + 8) // 16) * 16)
        self.latency = self.datapath_latency + 2  # + the FIFO (write, then output register)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        accept = Signal()
        m.d.comb += accept.eq(self.i.valid & self.i.ready)
        valid, outs, pipe = build_datapath(m, accept, self.i.payload)
        self.pipe = pipe
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=GreeksOut.size,
                                                     depth=self.fifo_depth)
        packed = Signal(GreeksOut)
        for k, n in outs.items():
            m.d.comb += getattr(packed, k).eq(n.value)
        m.d.comb += [
            fifo.w_en.eq(valid.value),
            fifo.w_data.eq(packed.as_value()),
            self.o.valid.eq(fifo.r_rdy),
            self.o.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.o.ready),
        ]
        credits = Signal(range(self.fifo_depth + 1), init=self.fifo_depth)
        pop = Signal()
        m.d.comb += pop.eq(self.o.valid & self.o.ready)
        m.d.sync += credits.eq(credits - accept + pop)
        m.d.comb += [
            self.i.ready.eq(credits != 0),
            self.busy.eq(credits != self.fifo_depth),
        ]
        return m
