"""Bit-exact fixed-point model of the Greeks pipeline (BSM with carry, and Black-76).

Pure NumPy integers, no Amaranth: the host-side simulation and the long accuracy sweeps run it,
and the RTL is checked against it bit for bit. Every multiplication is written as the partial
products the MULT18X18D blocks compute (18-bit limbs, split from the top), so the model counts
the multipliers too (:func:`multiplier_count`). docs/numerics.md explains every format.

    greeks_fixed(spot, strike, expiry, rate, carry, vol, call=True, model="bsm")
        float64 in -> host normalisation -> Q48 integers -> pipeline() -> Q48 integers
        -> host scaling -> dict of float64 arrays (price, delta, gamma, vega, theta, rho)

Long sweep: ``python -m quantgate.hdl.pricing.model --sweep 1000000``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from quantgate import greeks as greeks_host

from . import tables as tb
from .tables import EXP2, FD, FIN, FM, FOUT, FP, FX, FZ, MILLS, RECIP, SQRT

OUTPUTS = greeks_host.OUTPUTS

# --------------------------------------------------------------------------- exact integer helpers

_DB = 30  # digit size of the exact accumulator
_DM = (1 << _DB) - 1
_I64 = np.int64


def _asi(a) -> np.ndarray:
    return np.asarray(a, dtype=_I64)


def fold(terms, s: int, rnd: bool = True) -> np.ndarray:
    """Exact ``floor((sum(t * 2**e for t, e in terms) + [2**(s-1)]) / 2**s)``.

    ``t`` are int64 arrays with |t| < 2**62, ``e >= 0`` static shifts, ``s >= 0``. The sum may be
    far wider than 64 bits (it is accumulated in base-2**30 digits); the result must fit int64.
    This is what an adder tree of partial products followed by a truncation computes.
    """
    terms = [(_asi(t), e) for t, e in terms]
    if rnd and s > 0:
        terms.append((_asi(1), s - 1))
    top = max(e for _, e in terms) // _DB + 4
    acc = [np.zeros((), _I64) for _ in range(top + 1)]
    for t, e in terms:
        q, r = divmod(e, _DB)
        digits = (t & _DM, (t >> _DB) & _DM, t >> (2 * _DB))  # last one signed, |.| <= 4
        for j, d in enumerate(digits):
            v = d << r  # < 2**59
            acc[q + j] = acc[q + j] + (v & _DM)
            acc[q + j + 1] = acc[q + j + 1] + (v >> _DB)
    for k in range(top):  # carry-normalise: digits in [0, 2**30), top digit signed
        c = acc[k] >> _DB
        acc[k] = acc[k] & _DM
        acc[k + 1] = acc[k + 1] + c
    qs, rs = divmod(s, _DB)
    res = (acc[qs] >> rs).astype(np.uint64)
    for k in range(qs + 1, top + 1):
        sh = _DB * (k - qs) - rs
        if sh < 64:  # higher digits only add multiples of 2**64: the result fits int64
            res = res + (acc[k].astype(np.uint64) << np.uint64(sh))
    return res.astype(_I64)


def mul_full(a, b, s: int, rnd: bool = True) -> np.ndarray:
    """Exact ``round(a * b / 2**s)`` for |a|, |b| < 2**62 (constant multipliers in LUTs)."""
    a, b = _asi(a), _asi(b)
    al, ah = a & _DM, a >> _DB
    bl, bh = b & _DM, b >> _DB
    return fold([(al * bl, 0), (al * bh, _DB), (ah * bl, _DB), (ah * bh, 2 * _DB)], s, rnd)


def rshift_round(a, s) -> np.ndarray:
    """round-half-up(a / 2**s) for per-element shifts s >= 0 (barrel shifter + rounding)."""
    a = _asi(a)
    s = np.minimum(_asi(s), 62)
    half = np.where(s > 0, np.left_shift(_I64(1), np.maximum(s - 1, 0)), 0)
    return (a + half) >> s


def shift_round(a, s) -> np.ndarray:
    """a * 2**s for per-element s: left shift if s > 0, else round-half-up right shift."""
    a, s = _asi(a), _asi(s)
    return np.where(s > 0, a << np.maximum(s, 0), rshift_round(a, np.maximum(-s, 0)))


def bit_length(a) -> np.ndarray:
    """Bit length of non-negative int64 values < 2**53 (leading-zero counter)."""
    a = _asi(a)
    return np.frexp(a.astype(np.float64))[1].astype(_I64)


# --------------------------------------------------------------------------- multipliers

_MULTS: dict[str, int] = {}  # unit name -> MULT18X18D count (filled as the pipeline runs)


def _limbs(a: np.ndarray, w: int):
    """Split a w-bit operand (w <= 36) into an 18-bit high limb and a (w-18)-bit low limb."""
    if w <= 18:
        return a, None, 0
    lb = w - 18
    return a >> lb, a & ((1 << lb) - 1), lb


def products(name: str, a, wa: int, b, wb: int, drop_ll: bool = False,
             signed: tuple[bool, bool] = (False, False)) -> list:
    """Partial products of a (wa bits) x b (wb bits), each one MULT18X18D, as fold() terms.

    Operands are two's-complement (``signed``) or unsigned values of the stated width, split
    from the top: the 18-bit high limb carries the sign, the low limb (wa - 18 bits) is unsigned.
    ``drop_ll`` omits low x low (a truncated multiplier: error < 2**(la + lb) product LSBs).
    """
    assert wa <= 36 and wb <= 36
    for v, wv, sv in ((a, wa, signed[0]), (b, wb, signed[1])):
        v = _asi(v)
        lo, hi = (-(1 << (wv - 1)), (1 << (wv - 1)) - 1) if sv else (0, (1 << wv) - 1)
        if v.size and (int(v.min()) < lo or int(v.max()) > hi):
            raise OverflowError(f"{name}: operand outside {'s' if sv else 'u'}{wv}")
    ah, al, la = _limbs(_asi(a), wa)
    bh, bl, lb = _limbs(_asi(b), wb)
    terms = [(ah * bh, la + lb)]
    if al is not None:
        terms.append((al * bh, lb))
    if bl is not None:
        terms.append((ah * bl, la))
    if al is not None and bl is not None and not drop_ll:
        terms.append((al * bl, 0))
    _MULTS[name] = len(terms)
    return terms


def square(name: str, a, w: int, drop_ll: bool = False) -> list:
    """Partial products of a**2 for unsigned a (w <= 36 bits): hi*hi, 2*hi*lo, lo*lo."""
    a = _asi(a)
    if a.size and (int(a.min()) < 0 or int(a.max()) >= 1 << w):
        raise OverflowError(f"{name}: operand outside u{w}")
    ah, al, la = _limbs(a, w)
    terms = [(ah * ah, 2 * la)]
    if al is not None:
        terms.append((ah * al, la + 1))
        if not drop_ll:
            terms.append((al * al, 0))
    _MULTS[name] = len(terms)
    return terms


def multiplier_count() -> dict[str, int]:
    """MULT18X18D blocks per unit of the pipeline (runs it once on one option)."""
    _MULTS.clear()
    pipeline(0, tb.q_in(0.5), tb.q_in(0.5), 0, 0, True, False)
    return dict(_MULTS)


# --------------------------------------------------------------------------- segment-quadratic unit


def seg_quad(name: str, t: tb.SegmentTable, idx, delta) -> np.ndarray:
    """One table-driven quadratic: C0 + C1*delta + C2*delta^2, delta = delta_int / 2**W.

    5 MULT18X18D: C1 x delta truncated (3), delta_hi^2 (1), C2 x (delta^2)_hi (1).
    Output at t.out_frac fractional bits, saturated to [0, t.out_max].
    """
    w = t.delta_bits
    idx, delta = _asi(idx), _asi(delta)
    c0, c1, c2 = t.c0[idx], t.c1[idx], t.c2[idx]
    dh = delta >> (w - 18)  # top 18 bits of delta (unsigned)
    dsq = (dh * dh) >> 18  # (delta^2) at 18 fractional bits
    _MULTS[name + ".dsq"] = 1
    _MULTS[name + ".c2d2"] = 1
    # one adder tree at 2**-(f1 + w): C1*delta has f1 + w fractional bits, C2*dsq f2 + 18, C0 f0
    base = t.f1 + w
    e2, e0 = base - (t.f2 + 18), base - t.f0
    assert e2 >= 0 and e0 >= 0
    c1d = products(name + ".c1d", c1, tb.C1_BITS, delta, w, drop_ll=True, signed=(True, False))
    terms = [(c0, e0), (c2 * dsq, e2)] + c1d
    y = fold(terms, base - t.out_frac)
    return np.clip(y, 0, t.out_max)


def exp2_unit(name: str, p) -> tuple[np.ndarray, np.ndarray]:
    """2**p for p at FX fractional bits: (mantissa u1.35 in [1, 2), integer exponent k)."""
    p = _asi(p)
    k = p >> FX
    f = p & ((1 << FX) - 1)
    m = seg_quad(name, EXP2, f >> EXP2.delta_bits, f & ((1 << EXP2.delta_bits) - 1))
    return np.minimum(m, (2 << FM) - 1), k


def mills_address(u) -> tuple[np.ndarray, np.ndarray]:
    """Table address and 24-bit offset of u in [0, 8) (u3.32): segments of 2**-9 below 2,
    2**-8 in [2, 4), 2**-7 in [4, 8) (bit-field selections and a 3:1 mux in hardware)."""
    u = _asi(u)
    r = np.minimum(u >> 33, 2)  # 0: [0, 2), 1: [2, 4), 2: [4, 8)
    idx = np.select([r == 0, r == 1], [u >> 23, 512 + (u >> 24)], 1024 + (u >> 25))
    dl = np.select([r == 0, r == 1], [(u & ((1 << 23) - 1)) << 1, u & ((1 << 24) - 1)],
                   (u & ((1 << 25) - 1)) >> 1)
    return idx, dl


def log2e_mul(a) -> np.ndarray:
    """p = a * log2(e) at FX fractional bits (a constant multiplier in LUTs, exact product)."""
    return mul_full(a, tb.L2E, tb.FL2E)


# --------------------------------------------------------------------------- the pipeline


# The margin unit's widened domain (docs/margin.md section 6): |x| <= 4 instead of ln 5, and T
# down to one minute (of a 366-day year) instead of one hour. Only these bounds and the formats
# below change; no table does. ``wide=False`` is today's RTL.
X_WIDE_LIM = tb.q_in(4.0)
T_WIDE_MIN = 1.0 / (366 * 24 * 60)
T_WIDE_MIN_FX = tb.q_in(T_WIDE_MIN)


def domain_error(x, T, sig, r, q, b76, wide: bool = False) -> np.ndarray:
    """The on-device range check of the five Q48 inputs (True = reject)."""
    x, T, sig, r, q, b76 = (_asi(v) for v in (x, T, sig, r, q, b76))
    xmin, xmax = (-X_WIDE_LIM, X_WIDE_LIM) if wide else (tb.X_MIN_FX, tb.X_MAX_FX)
    bad = (x < xmin) | (x > xmax)
    bad |= (T < (T_WIDE_MIN_FX if wide else tb.T_MIN_FX)) | (T > tb.T_MAX_FX)
    bad |= (sig < tb.SIGMA_MIN_FX) | (sig > tb.SIGMA_MAX_FX)
    bad |= (r < tb.RATE_MIN_FX) | (r > tb.RATE_MAX_FX)
    bad |= (b76 == 0) & ((q < tb.RATE_MIN_FX) | (q > tb.RATE_MAX_FX))
    return bad


# Every pipeline signal: (signed, integer bits, fractional bits, meaning). Width = signed + int +
# frac. The model checks every value against its format on every run, so these are the RTL widths.
SIGNALS: dict[str, tuple[bool, int, int, str]] = {
    "x": (True, 1, 48, "ln(S/K) (Black-76: ln(F/K)), input Q48"),
    "T": (False, 2, 48, "expiry in years, input Q48"),
    "sig": (False, 3, 48, "volatility, input Q48"),
    "r": (True, 0, 48, "rate, input Q48"),
    "q": (True, 0, 48, "carry, input Q48 (Black-76: forced to r)"),
    "b": (True, 0, 48, "b = r - q (Black-76: 0)"),
    "e": (True, 3, 0, "T = t * 2**(2e), e in -7..0"),
    "tm": (False, 2, 34, "t in [1, 4)"),
    "es": (True, 3, 0, "sigma = sm * 2**es, es in -7..2"),
    "sm": (False, 1, 35, "sigma mantissa in [1, 2)"),
    "qq": (True, 0, 35, "q rounded for the multipliers"),
    "rq": (True, 0, 35, "r rounded for the multipliers"),
    "bq": (True, 0, 35, "b rounded for the multipliers"),
    "st": (False, 1, 35, "sqrt(t) in [1, 2); sqrt(T) = st * 2**e"),
    "pv": (False, 2, 35, "sm * st in [1, 4)"),
    "vm": (False, 1, 35, "v mantissa in [1, 2); v = sigma sqrt(T) = vm * 2**ev"),
    "ev": (True, 4, 0, "v exponent, -14..3"),
    "rvm": (False, 1, 35, "1/vm in (0.5, 1]; 1/v = rvm * 2**-ev"),
    "bt56": (True, 2, 56, "bq * tm before the 2**(2e) shift"),
    "bT": (True, 2, 48, "b T"),
    "qt56": (True, 2, 56, "qq * tm before the 2**(2e) shift"),
    "qT": (True, 2, 48, "q T"),
    "y": (True, 2, 48, "y = x + bT = ln(F/K)"),
    "yw": (True, 5, 30, "y * 2**-ev, saturated to |.| < 32"),
    "z": (True, 5, 36, "z = y / v"),
    "vh": (False, 3, 36, "v / 2"),
    "d1": (True, 6, 32, "d1 = z + v/2, rounded"),
    "d2": (True, 6, 32, "d2 = z - v/2, rounded"),
    "u1": (False, 4, 32, "|d1| saturated below 16"),
    "u2": (False, 4, 32, "|d2| saturated below 16"),
    "d1sq": (False, 7, 40, "d1^2 / 2"),
    "qT40": (True, 2, 40, "q T"),
    "y40": (True, 2, 40, "y"),
    "a_a": (True, 6, 40, "ln A = -(qT + d1^2/2 + ln sqrt(2 pi)), clamped at -64"),
    "p_a": (True, 7, 40, "log2 A"),
    "p_q": (True, 2, 40, "log2 e^-qT"),
    "p_r": (True, 3, 40, "log2 (K/S) e^-rT"),
    "ka": (True, 7, 0, "A = ma * 2**ka, -93..-2"),
    "kq": (True, 2, 0, "e^-qT = mq * 2**kq, -3..0"),
    "kr": (True, 3, 0, "(K/S) e^-rT = mr * 2**kr, -5..2"),
    "ma": (False, 1, 35, "mantissa of A = e^-qT n(d1) = (K/S) e^-rT n(d2)"),
    "mq": (False, 1, 35, "mantissa of e^-qT"),
    "mr": (False, 1, 35, "mantissa of (K/S) e^-rT"),
    "m1": (False, 3, 32, "Mills argument |d1| saturated below 8"),
    "m2": (False, 3, 32, "Mills argument |d2| saturated below 8"),
    "r1": (False, 1, 35, "R(|d1|)"),
    "r2": (False, 1, 35, "R(|d2|)"),
    "ar1m": (False, 2, 50, "ma * R1"),
    "ar2m": (False, 2, 50, "ma * R2"),
    "ar1": (False, 1, FP, "A R(|d1|) = e^-qT N(-|d1|)"),
    "ar2": (False, 1, FP, "A R(|d2|) = (K/S) e^-rT N(-|d2|)"),
    "dq": (False, 1, FP, "e^-qT"),
    "kk": (False, 3, FP, "(K/S) e^-rT"),
    "p1": (False, 1, FP, "P1 = e^-qT N(w d1)"),
    "p2": (False, 3, FP, "P2 = (K/S) e^-rT N(w d2)"),
    "gm": (False, 1, 35, "mantissa of G = A / v, in (0.5, 2)"),
    "vg": (False, 2, 35, "mantissa of A sqrt(T), in [1, 4)"),
    "hm": (False, 2, 34, "sm^2 in [1, 4)"),
    "th": (False, 3, 36, "gm * hm"),
    "th1": (False, 7, FP, "theta1 = A sigma / (2 sqrt T) = G sigma^2 / 2"),
    "th2": (True, 0, FP, "q P1"),
    "th3": (True, 2, FP, "r P2"),
    "price": (True, 3, FOUT, "price / S, output Q48"),
    "delta": (True, 1, FOUT, "delta, output Q48"),
    "gamma": (False, 13, FOUT, "gamma * S, output Q48"),
    "vega": (False, 0, FOUT, "vega / S, output Q48"),
    "theta": (True, 7, FOUT, "theta / S, output Q48"),
    "rho": (True, 3, FOUT, "rho / (S T), output Q48"),
}

# The formats that widen (docs/margin.md section 6): with |x| <= 4, (K/S) e^-rT = e^-(y + qT)
# reaches e^4.15 = 63.4, so kk, P2, price, rho and r P2 gain three integer bits; with T down to
# one minute, e reaches -10 and ev -17, gamma S = A/v reaches 29,000 and theta1 725.
WIDE_INT_BITS = {"x": 3, "y": 3, "y40": 3, "kk": 6, "p2": 6, "th3": 5, "price": 6, "rho": 6,
                 "e": 4, "ev": 5, "gamma": 15, "th1": 10, "theta": 10}
WIDE_SIGNALS: dict[str, tuple[bool, int, int, str]] = SIGNALS | {
    k: (SIGNALS[k][0], ib, SIGNALS[k][2], SIGNALS[k][3]) for k, ib in WIDE_INT_BITS.items()}
P2_OPERAND_FRAC = {False: 33, True: 30}  # r*P2 multiplier operand: P2 at u3.33 or u6.30 (36 bits)

_RANGES: dict[str, list] = {}  # observed [min, max] per signal (--formats)


def _s_checked(name: str, a, formats=SIGNALS) -> np.ndarray:
    """Check a signal against its declared format (and record its observed range)."""
    a = _asi(a)
    sg, ib, fb, _ = formats[name]
    lo, hi = (-(1 << (ib + fb)), (1 << (ib + fb)) - 1) if sg else (0, (1 << (ib + fb)) - 1)
    if a.size:
        amin, amax = int(a.min()), int(a.max())
        if amin < lo or amax > hi:
            raise OverflowError(f"{name} = [{amin}, {amax}] outside its format {formats[name]}")
        r = _RANGES.setdefault(name, [amin, amax])
        r[0], r[1] = min(r[0], amin), max(r[1], amax)
    return a


def pipeline(x, T, sig, r, q, call, b76, wide: bool = False) -> dict[str, np.ndarray]:
    """The integer pipeline. Inputs Q48 int64 (x = ln(S/K), T, sigma, r, q) and flags.

    Returns Q48 int64 arrays ``price, delta, gamma, vega, theta, rho`` normalised by the spot
    (price/S, delta, gamma*S, vega/S, theta/S, rho/(S*T)) and ``error`` (domain check failed;
    the outputs of that lane are 0). Black-76: x = ln(F/K), q is ignored (q := r, b = 0).
    ``wide``: the margin unit's domain |x| <= 4 with WIDE_SIGNALS (docs/margin.md 6.2); the
    default is the RTL of today, bit for bit.
    """
    formats = WIDE_SIGNALS if wide else SIGNALS

    def _s(name, a):
        return _s_checked(name, a, formats)

    x, T, sig, r, q = np.broadcast_arrays(*(_asi(v) for v in (x, T, sig, r, q)))
    call = np.broadcast_to(np.asarray(call, dtype=bool), x.shape)
    b76 = np.broadcast_to(np.asarray(b76, dtype=bool), x.shape)

    # ---- stage 0: domain check; a rejected lane computes on a harmless stand-in
    err = domain_error(x, T, sig, r, q, b76, wide)
    if np.any(err):
        x = np.where(err, 0, x)
        T = np.where(err, tb.T_MAX_FX, T)
        sig = np.where(err, tb.SIGMA_MAX_FX, sig)
        r = np.where(err, 0, r)
        q = np.where(err, 0, q)
    x, T, sig, r = _s("x", x), _s("T", T), _s("sig", sig), _s("r", r)
    q = _s("q", np.where(b76, r, q))
    b = _s("b", r - q)  # exact; Black-76: 0
    w = np.where(call, 1, -1).astype(_I64)

    # ---- normalise T = t * 2**(2e), t in [1, 4); sigma = sm * 2**es, sm in [1, 2)
    e = _s("e", (bit_length(T) - 49) >> 1)
    ts = 14 + 2 * e  # < 0 only under one hour (wide): T's leading bit is below 2**-14
    tm = _s("tm", np.where(ts >= 0, T >> np.maximum(ts, 0), T << np.maximum(-ts, 0)))  # floor
    ls = bit_length(sig)
    es = _s("es", ls - 49)
    sm = _s("sm", sig >> (ls - 36))
    qq = _s("qq", rshift_round(q, FIN - 35))
    rq = _s("rq", rshift_round(r, FIN - 35))
    bq = _s("bq", rshift_round(b, FIN - 35))

    # ---- sqrt(T) = st * 2**e: t in [2, 4) -> 512 segments of 2**-8, [1, 2) -> 512 of 2**-9
    hi = (tm >> 35) == 1
    sidx = np.where(hi, 512 + ((tm >> 26) & 511), (tm >> 25) & 511)
    sdel = np.where(hi, (tm >> 1) & ((1 << 25) - 1), tm & ((1 << 25) - 1))  # W = 25
    st = _s("st", seg_quad("sqrt", SQRT, sidx, sdel))

    # ---- v = sigma sqrt(T) = vm * 2**ev (floor, so vm < 2 always)
    pv = _s("pv", fold(products("v", sm, 36, st, 36, drop_ll=True), FM, rnd=False))
    vhi = pv >> 36
    vm = _s("vm", pv >> vhi)
    ev = _s("ev", es + e + vhi)

    # ---- 1/v = rvm * 2**-ev
    rvm = _s("rvm", seg_quad("recip", RECIP, (vm >> 25) & 1023, vm & ((1 << 25) - 1)))

    # ---- b T (exact product) and q T (truncated), frac 69 -> 56 -> 48 after the 2**(2e) shift
    bt56 = _s("bt56", fold(products("bT", bq, 36, tm, 36, signed=(True, False)), 13, rnd=False))
    bT = _s("bT", rshift_round(bt56, 8 - 2 * e))
    qt56 = _s("qt56", fold(products("qT", qq, 36, tm, 36, drop_ll=True, signed=(True, False)),
                           13, rnd=False))
    qT = _s("qT", rshift_round(qt56, 8 - 2 * e))

    # ---- y = x + bT; window y' = y * 2**-ev at frac 30, saturating (|z| >= 16 is deep ITM/OTM)
    y = _s("y", x + bT)
    ysat = (1 << 35) - 1
    yw = _s("yw", np.clip(rshift_round(y, 18 + ev), -ysat, ysat))

    # ---- z = y' * rvm (exact product), d1,2 = z +- v/2 rounded to frac 32
    z = _s("z", fold(products("z", yw, 36, rvm, 36, signed=(True, False)), 30 + FM - FZ))
    vh = _s("vh", shift_round(vm, ev - 1 + FZ - FM))
    d1 = _s("d1", rshift_round(z + vh, FZ - FD))
    d2 = _s("d2", rshift_round(z - vh, FZ - FD))
    neg1 = (w * d1) < 0  # N(w d1) is a lower tail: Mills form directly
    neg2 = (w * d2) < 0
    u1 = _s("u1", np.minimum(np.abs(d1), tb.D_MAX))
    u2 = _s("u2", np.minimum(np.abs(d2), tb.D_MAX))

    # ---- exponents (frac 40), p = a log2(e), three exp2 units
    d1sq = _s("d1sq", fold(square("d1sq", u1, 36), 2 * FD + 1 - FX))  # d1^2 / 2
    qT40 = _s("qT40", rshift_round(qT, FIN - FX))
    y40 = _s("y40", rshift_round(y, FIN - FX))
    a_a = _s("a_a", np.maximum(-(qT40 + d1sq + tb.LN_SQRT_2PI), tb.A_ARG_MIN))
    p_a = _s("p_a", log2e_mul(a_a))
    p_q = _s("p_q", log2e_mul(-qT40))
    p_r = _s("p_r", log2e_mul(-(y40 + qT40)))
    ma, ka = exp2_unit("expA", p_a)  # A = e^-qT n(d1) = ma * 2**ka
    mq, kq = exp2_unit("expDq", p_q)  # e^-qT
    mr, kr = exp2_unit("expKr", p_r)  # (K/S) e^-rT
    ma, ka, mq, kq = _s("ma", ma), _s("ka", ka), _s("mq", mq), _s("kq", kq)
    mr, kr = _s("mr", mr), _s("kr", kr)

    # ---- Mills ratio R(u), u in [0, 8) (one dual-port table, two reads)
    m1 = _s("m1", np.minimum(u1, tb.U_MAX))
    m2 = _s("m2", np.minimum(u2, tb.U_MAX))
    r1 = _s("r1", seg_quad("mills1", MILLS, *mills_address(m1)))
    r2 = _s("r2", seg_quad("mills2", MILLS, *mills_address(m2)))

    # ---- tails A R(u) = e^-qT N(-|d1|), (K/S) e^-rT N(-|d2|): frac 70 -> 50 -> FP
    ar1m = _s("ar1m", fold(products("AR1", ma, 36, r1, 36, drop_ll=True), 20, rnd=False))
    ar2m = _s("ar2m", fold(products("AR2", ma, 36, r2, 36, drop_ll=True), 20, rnd=False))
    ar1 = _s("ar1", rshift_round(ar1m, 50 - FP - ka))
    ar2 = _s("ar2", rshift_round(ar2m, 50 - FP - ka))
    dq = _s("dq", mq << (FP - FM + kq))
    kk = _s("kk", mr << (FP - FM + kr))
    p1 = _s("p1", np.where(neg1, ar1, dq - ar1))
    p2 = _s("p2", np.where(neg2, ar2, kk - ar2))

    # ---- density Greeks: G = A/v, vega/S = A sqrt(T), theta1 = G sigma^2 / 2
    gm = _s("gm", np.minimum(fold(products("G", ma, 36, rvm, 36, drop_ll=True), FM),
                             (1 << 36) - 1))
    vg = _s("vg", fold(products("vega", ma, 36, st, 36, drop_ll=True), FM))
    hm = _s("hm", fold(square("sigma2", sm, 36, drop_ll=True), 36, rnd=False))
    th = _s("th", fold(products("theta1", gm, 36, hm, 36, drop_ll=True), 33, rnd=False))
    g_out = shift_round(gm, ka - ev + FOUT - FM)
    v_out = shift_round(vg, ka + e + FOUT - FM)
    th1 = _s("th1", shift_round(th, ka - ev + 2 * es - 1 + FP - 36))

    # ---- carry and rate terms of theta: q P1, r P2
    th2 = _s("th2", fold(products("qP1", qq, 36, p1 >> (FP - 35), 36, drop_ll=True,
                                  signed=(True, False)), 35 + 35 - FP))
    pf = P2_OPERAND_FRAC[wide]
    th3 = _s("th3", fold(products("rP2", rq, 36, p2 >> (FP - pf), 36, drop_ll=True,
                                  signed=(True, False)), 35 + pf - FP))

    # ---- outputs, normalised by S
    price = w * (p1 - p2)
    theta = -th1 + w * (th2 - th3)
    rho = np.where(b76, -price, w * p2)
    sh = FP - FOUT
    out = {
        "price": rshift_round(price, sh),
        "delta": rshift_round(w * p1, sh),
        "gamma": g_out,
        "vega": v_out,
        "theta": rshift_round(theta, sh),
        "rho": rshift_round(rho, sh),
    }
    for k in OUTPUTS:
        out[k] = _s(k, np.where(err, 0, out[k]))
    out["error"] = err
    return out


# --------------------------------------------------------------------------- host side


# The host's validation, normalisation and scaling are the driver's own (quantgate.greeks, a
# pure module both sides import); the model uses exactly the same functions.
host_validate = greeks_host.domain_mask
host_normalise = greeks_host.normalise
host_scale = greeks_host.scale


def greeks_fixed(spot, strike, expiry, rate, carry, vol, call=True, model="bsm", strict=True):
    """Price and Greeks through the bit-exact fixed-point pipeline.

    Arguments broadcast (numpy arrays or scalars); ``model`` is "bsm" (carry = continuous
    dividend/foreign rate q) or "black76" (spot = the forward F, carry ignored). Units: vega
    per 1.00 of vol, theta = -dV/dT per year, rho per 1.00 of rate (Black-76: F fixed).
    Out-of-domain inputs raise ValueError, or with ``strict=False`` give NaN outputs and
    ``error`` True.
    """
    if model not in ("bsm", "black76"):
        raise ValueError(f"unknown model {model!r}")
    arrs = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                 for v in (spot, strike, expiry, rate, carry, vol)))
    spot, strike, expiry, rate, carry, vol = arrs
    call = np.broadcast_to(np.asarray(call, dtype=bool), spot.shape)
    ok = host_validate(spot, strike, expiry, rate, carry, vol, model)
    if strict and not np.all(ok):
        raise ValueError(f"{int(np.sum(~ok))} option(s) outside the pricing domain")
    if not np.all(ok):  # rejected lanes are evaluated on a stand-in and masked below
        spot, strike, expiry, rate, carry, vol = (
            np.where(ok, a, d) for a, d in zip(arrs, (1.0, 1.0, 0.5, 0.0, 0.0, 0.5), strict=True))
    xi, ti, si, ri, qi = host_normalise(spot, strike, expiry, rate, carry, vol, model)
    out = pipeline(xi, ti, si, ri, qi, call, model == "black76")
    res = host_scale(out, spot, expiry)
    bad = ~ok | out["error"]
    for k in OUTPUTS:
        res[k] = np.where(bad, np.nan, res[k])
    res["error"] = bad
    return res


# --------------------------------------------------------------------------- accuracy sweep

TOLERANCE = {"price": 1e-7, "delta": 1e-7, "gamma": 1e-6, "vega": 1e-6, "theta": 1e-6,
             "rho": 1e-6}


def normalised_errors(got, ref, spot, strike, expiry) -> dict[str, np.ndarray]:
    """Errors in the units of the acceptance criteria (compare with TOLERANCE).

    price/max(S,K) and delta: absolute. gamma*S, vega/S, theta/max(S,K), rho/(K*T): absolute,
    or relative where the normalised reference value exceeds 1.
    """
    mx = np.maximum(spot, strike)
    scale = {"price": mx, "delta": 1.0, "gamma": 1.0 / spot, "vega": spot, "theta": mx,
             "rho": strike * expiry}
    errs = {}
    for k in OUTPUTS:
        e = np.abs(got[k] - ref[k]) / scale[k]
        if k not in ("price", "delta"):
            e = e / np.maximum(1.0, np.abs(ref[k]) / scale[k])
        errs[k] = e
    return errs


def sample_domain(n, rng, focus=0.5):
    """Random options over the whole domain; a fraction ``focus`` aimed at |d1| < 8.

    Uniform-domain points are log-uniform in S/K, T and sigma (most short-dated low-vol ones are
    deep in or out of the money); the focused ones choose d1 first and solve for S/K so the
    density Greeks are exercised where they are large, including T = 1 hour with sigma = 1%.
    """
    T = np.exp(rng.uniform(np.log(tb.T_MIN), np.log(tb.T_MAX), n))
    vol = np.exp(rng.uniform(np.log(tb.SIGMA_MIN), np.log(tb.SIGMA_MAX), n))
    r = rng.uniform(tb.RATE_MIN, tb.RATE_MAX, n)
    q = rng.uniform(tb.RATE_MIN, tb.RATE_MAX, n)
    b76 = rng.random(n) < 0.5
    b = np.where(b76, 0.0, r - q)
    x = rng.uniform(np.log(tb.MONEYNESS_MIN), np.log(tb.MONEYNESS_MAX), n)
    v = vol * np.sqrt(T)
    d1 = rng.uniform(-8, 8, n)
    xf = d1 * v - b * T - 0.5 * v * v
    foc = (rng.random(n) < focus) & (np.abs(xf) <= np.log(tb.MONEYNESS_MAX) - 1e-9)
    x = np.where(foc, xf, x)
    strike = np.exp(rng.uniform(np.log(1.0), np.log(1e5), n))
    spot = strike * np.exp(x)
    inside = (spot / strike >= tb.MONEYNESS_MIN) & (spot / strike <= tb.MONEYNESS_MAX)
    spot = np.where(inside, spot, strike)
    call = rng.random(n) < 0.5
    return dict(spot=spot, strike=strike, expiry=T, rate=r, carry=q, vol=vol, call=call,
                b76=b76)


def sweep(n: int, seed: int = 1, chunk: int = 200_000, report=None):
    """Compare the model with the float64 reference on n random options (both models).

    Returns {output: (max error, 99.9th percentile, argmax inputs)} in criterion units.
    """
    from .reference import greeks_ref

    rng = np.random.default_rng(seed)
    errs = {k: [] for k in OUTPUTS}
    worst = {k: (-1.0, None) for k in OUTPUTS}
    done = 0
    while done < n:
        m = min(chunk, n - done)
        s = sample_domain(m, rng)
        for model, sel in (("bsm", ~s["b76"]), ("black76", s["b76"])):
            if not np.any(sel):
                continue
            a = {k: v[sel] for k, v in s.items() if k != "b76"}
            got = greeks_fixed(model=model, **a)
            ref = greeks_ref(model=model, **a)
            e = normalised_errors(got, ref, a["spot"], a["strike"], a["expiry"])
            for k in OUTPUTS:
                errs[k].append(e[k])
                i = int(np.argmax(e[k]))
                if e[k][i] > worst[k][0]:
                    worst[k] = (float(e[k][i]), {kk: (vv[i].item()) for kk, vv in a.items()}
                                | {"model": model})
        done += m
        if report:
            report(done)
    res = {}
    for k in OUTPUTS:
        e = np.concatenate(errs[k])
        res[k] = (float(np.max(e)), float(np.quantile(e, 0.999)), worst[k][1])
    return res


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quantgate.hdl.pricing.model",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", type=int, default=1_000_000, help="number of random options")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mults", action="store_true", help="print the MULT18X18D count per unit")
    ap.add_argument("--formats", action="store_true",
                    help="print every signal's format and the range the sweep reached")
    args = ap.parse_args(argv)
    if args.mults:
        mc = multiplier_count()
        for k, v in mc.items():
            print(f"  {k:12s} {v}")
        print(f"MULT18X18D total: {sum(mc.values())}")
        return 0
    t0 = time.time()
    res = sweep(args.sweep, args.seed,
                report=lambda d: print(f"  {d} options, {time.time() - t0:.1f} s",
                                       file=sys.stderr))
    print(f"{args.sweep} options (seed {args.seed}), errors in criterion units:")
    print(f"{'output':7s} {'max':>10s} {'p99.9':>10s} {'limit':>8s}  worst case")
    for k in OUTPUTS:
        mx, p, where = res[k]
        print(f"{k:7s} {mx:10.3e} {p:10.3e} {TOLERANCE[k]:8.0e}  {where}")
    if args.formats:
        print(f"\n{'signal':6s} {'format':>8s} {'bits':>4s} {'observed min':>14s} "
              f"{'observed max':>14s}  meaning")
        for name, (sg, ib, fb, text) in SIGNALS.items():
            lo, hi = _RANGES.get(name, (0, 0))
            fmt = f"{'s' if sg else 'u'}{ib}.{fb}"
            print(f"{name:6s} {fmt:>8s} {sg + ib + fb:4d} {lo / 2.0**fb:14.6g} {hi / 2.0**fb:14.6g}"
                  f"  {text}")
    ok = all(res[k][0] <= TOLERANCE[k] for k in OUTPUTS)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(_main())
