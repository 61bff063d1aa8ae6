"""Read-only data of the curve engine: the fixed-base tables and the constants.

Two address ranges behind the ``LDT`` instruction (12-bit addresses):

* ``0 .. TAB_DEPTH-1``: the table block RAM, 256-bit words (canonical Montgomery-form field
  elements, ``x * 2^306 mod p``).  Window ``w`` (0..63), multiple ``m`` (1..8) of a coordinate
  whose base is ``b`` sits at ``b + 8*w + m - 1``, i.e. the point ``m * 16^w * G``:

  =============  =====  ===========================================================
  region         base   content
  =============  =====  ===========================================================
  Ed25519 ypx       0   y + x          (precomputed "Niels" form of the multiple)
  Ed25519 ymx     512   y - x
  Ed25519 t2d    1024   2 d x y
  secp256k1 x    1536   affine x
  secp256k1 y    2048   affine y
  P-256 x        2560   affine x
  P-256 y        3072   affine y
  =============  =====  ===========================================================

* ``CONST_BASE .. CONST_BASE+63``: a small constant ROM in logic, 291-bit words (``CONSTS``).

Everything is generated here at elaboration time from ``curves.py``.
"""

from __future__ import annotations

from functools import cache, lru_cache

from quantgate.hdl.arith import model as A

from .curves import CURVES, ED25519, P256, SECP256K1, Curve

__all__ = [
    "WINDOWS", "MULTIPLES", "TAB_DEPTH", "TAB_WIDTH", "CONST_BASE", "CONST_DEPTH", "BASE",
    "CONSTS", "const_addr", "table_words", "const_words", "window_point",
]

WINDOWS = 64  #: radix-16 windows held in the table (digit 64 of a 256-bit scalar: CONSTS)
MULTIPLES = 8  #: |digit| = 1..8
REGION = WINDOWS * MULTIPLES  # 512 words per coordinate
TAB_WIDTH = 256
CONST_BASE = 7 * REGION  # 3584
TAB_DEPTH = CONST_BASE
CONST_DEPTH = 64

#: table base address of each (curve, coordinate)
BASE = {
    ("ed25519", "ypx"): 0 * REGION,
    ("ed25519", "ymx"): 1 * REGION,
    ("ed25519", "t2d"): 2 * REGION,
    ("secp256k1", "x"): 3 * REGION,
    ("secp256k1", "y"): 4 * REGION,
    ("p256", "x"): 5 * REGION,
    ("p256", "y"): 6 * REGION,
}


@cache
def window_point(curve_name: str, w: int, m: int):
    """Affine ``m * 16^w * G`` (plain integers)."""
    c = _curve(curve_name)
    base = c.g
    for _ in range(4 * w):
        base = c.add(base, base)
    return c.mul(m, base)


def _curve(name: str) -> Curve:
    return {c.name: c for c in CURVES}[name]


@cache
def _window_multiples(curve_name: str) -> tuple:
    """All 64 x 8 table points of a curve (fast: repeated additions)."""
    c = _curve(curve_name)
    out = []
    base = c.g
    for _w in range(WINDOWS):
        acc = base
        row = [acc]
        for _m in range(2, MULTIPLES + 1):
            acc = c.add(acc, base)
            row.append(acc)
        out.append(tuple(row))
        for _ in range(4):
            base = c.add(base, base)
    return tuple(out)


def _mont(c: Curve, v: int) -> int:
    return A.to_mont(v % c.p, c.sel_p)


@lru_cache(maxsize=1)
def table_words() -> tuple:
    """Contents of the table block RAM (``TAB_DEPTH`` words of 256 bits)."""
    words = [0] * TAB_DEPTH
    for c in CURVES:
        rows = _window_multiples(c.name)
        for w, row in enumerate(rows):
            for m, (x, y) in enumerate(row, start=1):
                idx = 8 * w + m - 1
                if c is ED25519:
                    coords = {"ypx": y + x, "ymx": y - x, "t2d": 2 * c.b * x * y}
                else:
                    coords = {"x": x, "y": y}
                for coord, v in coords.items():
                    words[BASE[(c.name, coord)] + idx] = _mont(c, v)
    assert all(0 <= v < 1 << TAB_WIDTH for v in words)
    return tuple(words)


def _point_2_256(c: Curve):
    x, y = window_point(c.name, WINDOWS - 1, 16)  # 16 * 16^63 * G = 2^256 G
    return x, y


def _build_consts() -> dict:
    k = {}
    k["zero"] = 0
    k["one"] = 1  # plain 1: mont_mul(x~, 1) leaves Montgomery form
    for sel, name in enumerate(A.NAMES):
        k[f"mont1_{name}"] = A.PARAMS[sel]["r_mod"]  # 1 in Montgomery form (R mod m)
        k[f"r2_{name}"] = A.PARAMS[sel]["r2_mod"]  # R^2 mod m: mont_mul(x, r2) = x~
    k["sec1_even"] = 2 << 256  # the SEC1 prefix byte 0x02 above a 256-bit x
    k["b3_secp256k1"] = _mont(SECP256K1, 3 * SECP256K1.b)
    k["b_p256"] = _mont(P256, P256.b)
    for c in (SECP256K1, P256):
        x, y = _point_2_256(c)
        k[f"g256x_{c.name}"] = _mont(c, x)
        k[f"g256y_{c.name}"] = _mont(c, y)
    # ---- signing programs (programs.py: ED_NONCE, ED_S, ECDSA) ----
    L = ED25519.n
    k["l_2e256_r"] = (1 << 256) * A.R % L  # mont_mul(hi, .) = hi * 2^256 mod L (plain)
    k["l_2e256_r2"] = (1 << 256) * A.R * A.R % L  # mont_mul(hi, .) = hi * 2^256 * R (Mont.)
    k["two"] = 2
    k["four"] = 4
    k["mask256"] = (1 << 256) - 1
    for c in (SECP256K1, P256):
        # x + (2^256 - n) < 2^290: AddSub adds exactly (no fold); bit 256 is (x >= n)
        k[f"ncomp_{c.name}"] = (1 << 256) - c.n
    # low-S (secp256k1): s + 2^256 - (n+1)/2 has bit 256 iff s > (n-1)/2; n - s from
    # (s ^ mask256) + (n + 1) = 2^256 + n - s
    k["hcomp_secp256k1"] = (1 << 256) - (SECP256K1.n + 1) // 2
    k["np1_secp256k1"] = SECP256K1.n + 1
    assert len(k) <= CONST_DEPTH
    assert all(0 <= v < 1 << A.W for v in k.values())
    return k


#: name -> value of the constant ROM (291-bit words)
CONSTS = _build_consts()
_CONST_INDEX = {name: i for i, name in enumerate(CONSTS)}


def const_addr(name: str) -> int:
    """``LDT`` address of a named constant."""
    return CONST_BASE + _CONST_INDEX[name]


def const_words() -> tuple:
    return tuple(CONSTS.values())
