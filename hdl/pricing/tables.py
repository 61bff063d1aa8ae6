"""Fixed-point formats and coefficient tables of the Greeks pipeline.

Shared by the bit-exact model (:mod:`quantgate.hdl.pricing.model`) and the RTL: both import the
constants and the tables from here, so they cannot drift apart. No Amaranth import.

Every elementary function of the pipeline is one *segment-quadratic unit*: the reduced argument
is split into a table index (top bits) and an offset ``delta`` in [0, 1) (the remaining ``W``
bits), and

    f ~= C0 / 2**F0 + (C1 / 2**F1) * delta + (C2 / 2**F2) * delta**2

with the three integer coefficients per segment read from block RAM. The coefficients are the
quadratic interpolating ``f`` at the three Chebyshev nodes of each segment (within a few percent
of the minimax quadratic for these smooth functions), rounded to their formats. They are computed
here at import time from float64 function values (stdlib ``math``: sqrt, pow, exp, erfc), in a
fixed order without BLAS/LAPACK, so the tables are the same on every machine
(``table_digest()`` pins them in the tests).

See docs/numerics.md for the formats and the error budget.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------- wire formats
# The domain, its Q48 device bounds and the input/output formats are shared with the host
# driver, so they live in the pure module quantgate.greeks; re-exported here.
from quantgate.greeks import (  # noqa: E402, F401
    FIN,
    FOUT,
    MONEYNESS_MAX,
    MONEYNESS_MIN,
    RATE_MAX,
    RATE_MAX_FX,
    RATE_MIN,
    RATE_MIN_FX,
    SIGMA_MAX,
    SIGMA_MAX_FX,
    SIGMA_MIN,
    SIGMA_MIN_FX,
    T_MAX,
    T_MAX_FX,
    T_MIN,
    T_MIN_FX,
    X_LIM,
    X_MAX_FX,
    X_MIN_FX,
    q_in,
)

# --------------------------------------------------------------------------- internal formats

FM = 35  # mantissas (sqrt(t), sigma_m, v_m, 1/v_m, 2**f, R): u1.35, 36-bit unsigned
FX = 40  # exponent arguments a, p = a*log2(e): s?.40
FD = 32  # d1, d2 after rounding: sign + |d| in u4.32 (36 bits)
FZ = 36  # z = y / v and d = z +- v/2 before rounding
FP = 52  # P1 = e^-qT N(w d1), P2 = (K/S) e^-rT N(w d2), theta terms: u3.52
FL2E = 46  # log2(e) constant
L2E = round(math.log2(math.e) * 2**FL2E)
LN_SQRT_2PI = round(0.5 * math.log(2 * math.pi) * 2**FX)
A_ARG_MIN = -64 << FX  # A = e^(a_A) is flushed long before this; clamp keeps widths bounded
D_MAX = (16 << FD) - 1  # |d| saturates just below 16
U_MAX = (8 << FD) - 1  # Mills-ratio argument saturates just below 8


# --------------------------------------------------------------------------- Mills ratio


def mills_ratio(u: float) -> float:
    """R(u) = (1 - Phi(u)) / phi(u) for u >= 0, float64 (stdlib erfc; exact enough for u < 27)."""
    return math.sqrt(math.pi / 2) * math.exp(0.5 * u * u) * math.erfc(u / math.sqrt(2.0))


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class SegmentTable:
    """Coefficients of one segment-quadratic unit (see module docstring)."""

    name: str
    index_bits: int  # address width
    delta_bits: int  # W: width of the in-segment offset fed to the unit
    c0: np.ndarray  # int64, unsigned, F0 fractional bits (adder input only)
    c1: np.ndarray  # int64, signed, C1_BITS (2 multiplier limbs)
    c2: np.ndarray  # int64, signed, C2_BITS (1 multiplier limb)
    f0: int
    f1: int
    f2: int
    out_frac: int = FM
    out_max: int = (1 << 36) - 1  # outputs saturate to the 36-bit unsigned range

    @property
    def entries(self) -> int:
        return len(self.c0)

    def word_bits(self) -> tuple[int, int, int]:
        """Bits per coefficient as stored (c0 unsigned, c1 and c2 two's complement)."""

        def width(a: np.ndarray, signed: bool) -> int:
            hi = int(np.max(a))
            lo = int(np.min(a))
            if signed:
                return max(hi.bit_length(), (-lo - 1).bit_length()) + 1
            return hi.bit_length()

        return width(self.c0, False), width(self.c1, True), width(self.c2, True)


# Chebyshev nodes of degree-2 interpolation on [0, 1]
_NODES = tuple(0.5 + 0.5 * math.cos((2 * j + 1) * math.pi / 6) for j in range(3))


def _quad_coeffs(ys: tuple[float, float, float]) -> tuple[float, float, float]:
    """Monomial coefficients (c0, c1, c2) of the quadratic through (_NODES[j], ys[j])."""
    c0 = c1 = c2 = 0.0
    for j in range(3):
        a, b = (_NODES[m] for m in range(3) if m != j)
        den = (_NODES[j] - a) * (_NODES[j] - b)
        c2 += ys[j] / den
        c1 -= ys[j] * (a + b) / den
        c0 += ys[j] * (a * b) / den
    return c0, c1, c2


C1_BITS = 32  # signed width of C1 (high limb 18 bits + low limb 14)
C2_BITS = 18  # signed width of C2 (one limb)
C0_GUARD = 2  # fractional bits of C0 beyond the unit's output


def _build(name, index_bits, delta_bits, segments, func, f0=FM + C0_GUARD) -> SegmentTable:
    """segments: list of (start, width) in the function's argument, one per table entry."""
    coeffs = []
    for start, width in segments:
        ys = tuple(func(start + width * t) for t in _NODES)
        coeffs.append(_quad_coeffs(ys))
    c = np.array(coeffs, dtype=np.float64)
    # c1 and c2 use their whole signed ranges
    f1 = C1_BITS - 1 - math.ceil(math.log2(float(np.max(np.abs(c[:, 1])))))
    f2 = C2_BITS - 1 - math.ceil(math.log2(float(np.max(np.abs(c[:, 2])))))
    c0 = np.array([round(v * 2.0**f0) for v in c[:, 0]], dtype=np.int64)
    c1 = np.array([round(v * 2.0**f1) for v in c[:, 1]], dtype=np.int64)
    c2 = np.array([round(v * 2.0**f2) for v in c[:, 2]], dtype=np.int64)
    assert np.all(np.abs(c1) < 2 ** (C1_BITS - 1)) and np.all(np.abs(c2) < 2 ** (C2_BITS - 1))
    assert len(c0) == 1 << index_bits
    return SegmentTable(name, index_bits, delta_bits, c0, c1, c2, f0, f1, f2)


def build_sqrt_table() -> SegmentTable:
    """sqrt(t) for t in [1, 4): 512 segments of 2**-9 on [1, 2), 512 of 2**-8 on [2, 4)."""
    segs = [(1 + i * 2.0**-9, 2.0**-9) for i in range(512)]
    segs += [(2 + i * 2.0**-8, 2.0**-8) for i in range(512)]
    return _build("sqrt", 10, 25, segs, math.sqrt)


def build_recip_table() -> SegmentTable:
    """1/v for v in [1, 2): 1024 segments of 2**-10."""
    segs = [(1 + i * 2.0**-10, 2.0**-10) for i in range(1024)]
    return _build("recip", 10, 25, segs, lambda v: 1.0 / v)


def build_exp2_table() -> SegmentTable:
    """2**f for f in [0, 1): 1024 segments of 2**-10."""
    segs = [(i * 2.0**-10, 2.0**-10) for i in range(1024)]
    return _build("exp2", 10, 30, segs, lambda f: 2.0**f)


def build_mills_table() -> SegmentTable:
    """Mills ratio R(u) for u in [0, 8), 2048 segments growing with u as the third derivative
    shrinks: 1024 of 2**-9 on [0, 2), 512 of 2**-8 on [2, 4), 512 of 2**-7 on [4, 8)."""
    segs = [(i * 2.0**-9, 2.0**-9) for i in range(1024)]
    segs += [(2 + i * 2.0**-8, 2.0**-8) for i in range(512)]
    segs += [(4 + i * 2.0**-7, 2.0**-7) for i in range(512)]
    return _build("mills", 11, 24, segs, mills_ratio)


SQRT = build_sqrt_table()
RECIP = build_recip_table()
EXP2 = build_exp2_table()
MILLS = build_mills_table()
TABLES = (SQRT, RECIP, EXP2, MILLS)


def table_digest() -> str:
    """SHA-256 over every coefficient and format of every table (pins reproducibility)."""
    h = hashlib.sha256()
    for t in TABLES:
        h.update(f"{t.name}:{t.index_bits}:{t.delta_bits}:{t.f0}:{t.f1}:{t.f2};".encode())
        for a in (t.c0, t.c1, t.c2):
            h.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
    return h.hexdigest()
