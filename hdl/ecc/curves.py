"""The three curves in plain Python integers: parameters, affine group law, encodings.

Pure Python (no Amaranth), deliberately simple and *not* constant time: this is the reference
arithmetic that generates the precomputed tables (``tables.py``) and that the microcode
interpreter's results are compared with.  The tests also check it against PyNaCl, coincurve
and cryptography, so nothing here is trusted only because it agrees with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from quantgate.hdl.arith import model as A

__all__ = ["Curve", "CURVES", "ED25519", "SECP256K1", "P256", "by_name"]


@dataclass(frozen=True)
class Curve:
    name: str
    code: int  #: the engine's ``curve`` code (command field)
    kind: str  #: "edwards" (-x^2 + y^2 = 1 + d x^2 y^2) or "weierstrass" (y^2 = x^3 + a x + b)
    p: int
    n: int  #: order of the base point (L for Ed25519)
    a: int
    b: int  #: d for Edwards
    gx: int
    gy: int
    sel_p: int  #: arith ``sel`` of the field modulus
    sel_n: int  #: arith ``sel`` of the group order

    @property
    def g(self):
        return (self.gx, self.gy)

    # ---- group law (affine; None is the Weierstrass point at infinity) ---------------------

    def on_curve(self, pt) -> bool:
        if pt is None:
            return self.kind == "weierstrass"
        x, y = pt
        p = self.p
        if self.kind == "edwards":
            return (-x * x + y * y - 1 - self.b * x * x * y * y) % p == 0
        return (y * y - x * x * x - self.a * x - self.b) % p == 0

    def identity(self):
        return (0, 1) if self.kind == "edwards" else None

    def neg(self, pt):
        if pt is None:
            return None
        x, y = pt
        return ((-x) % self.p, y) if self.kind == "edwards" else (x, (-y) % self.p)

    def add(self, p1, p2):
        p = self.p
        if self.kind == "edwards":
            (x1, y1), (x2, y2) = p1, p2
            t = self.b * x1 * x2 * y1 * y2 % p
            x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, p) % p
            y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, p) % p  # a = -1: y1y2 - a x1x2
            return (x3, y3)
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2:
            if (y1 + y2) % p == 0:
                return None
            lam = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, p) % p
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, p) % p
        x3 = (lam * lam - x1 - x2) % p
        return (x3, (lam * (x1 - x3) - y1) % p)

    def mul(self, k: int, pt=None):
        """k * pt (default the base point) by double-and-add; any integer k >= 0."""
        pt = self.g if pt is None else pt
        acc = self.identity()
        while k:
            if k & 1:
                acc = self.add(acc, pt)
            pt = self.add(pt, pt)
            k >>= 1
        return acc

    # ---- encodings -------------------------------------------------------------------------

    def encode(self, pt) -> bytes:
        """Ed25519: the 32-byte RFC 8032 encoding.  Weierstrass: 33-byte compressed SEC1;
        the point at infinity gives 33 zero bytes (SEC1's single 0x00 octet, padded)."""
        if self.kind == "edwards":
            x, y = pt
            return (y | (x & 1) << 255).to_bytes(32, "little")
        if pt is None:
            return bytes(33)
        x, y = pt
        return bytes([2 | (y & 1)]) + x.to_bytes(32, "big")

    def encoding_int(self, pt) -> int:
        """The integer the engine leaves in its encoding register: Ed25519 little-endian,
        SEC1 big-endian (so ``int.to_bytes`` with that byte order gives :meth:`encode`)."""
        enc = self.encode(pt)
        return int.from_bytes(enc, "little" if self.kind == "edwards" else "big")

    def decode_int(self, value: int) -> bytes:
        """Inverse of :meth:`encoding_int`: the encoding bytes of an engine result."""
        if self.kind == "edwards":
            return value.to_bytes(32, "little")
        return value.to_bytes(33, "big")


_P25519 = A.P25519
_D25519 = -121665 * pow(121666, -1, _P25519) % _P25519
_BY = 4 * pow(5, -1, _P25519) % _P25519


def _ed_x(y: int) -> int:
    """The even x of the Ed25519 point with ordinate y (RFC 8032 5.1.3)."""
    p = _P25519
    u, v = (y * y - 1) % p, (_D25519 * y * y + 1) % p
    x = u * pow(v, 3, p) * pow(u * pow(v, 7, p), (p - 5) // 8, p) % p
    if (v * x * x - u) % p:
        x = x * pow(2, (p - 1) // 4, p) % p
    assert (v * x * x - u) % p == 0
    return p - x if x & 1 else x


ED25519 = Curve(
    "ed25519", 0, "edwards", _P25519, A.L25519, -1, _D25519, _ed_x(_BY), _BY,
    A.SEL["p25519"], A.SEL["l25519"],
)
SECP256K1 = Curve(
    "secp256k1", 1, "weierstrass", A.P256K1, A.N256K1, 0, 7,
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
    A.SEL["p256k1"], A.SEL["n256k1"],
)
P256 = Curve(
    "p256", 2, "weierstrass", A.P256, A.N256, -3,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    A.SEL["p256"], A.SEL["n256"],
)
CURVES = (ED25519, SECP256K1, P256)
for _c in CURVES:
    assert _c.on_curve(_c.g), _c.name


@cache
def by_name(name: str) -> Curve:
    for c in CURVES:
        if c.name == name:
            return c
    raise KeyError(name)
