"""Limb-wise carry helpers shared by the arithmetic units.

No adder in ``hdl/arith`` is wider than ~36 bits: wide values live as lists of K-bit limbs
with their carries kept beside them (redundant form) and are resolved in three registered
steps, each with at most one long route (the limbs of a 291-bit value spread over much of the
die, and on the ECP5 every routed hop costs 1-3 ns while a carry chain costs ~0.07 ns per 2 bits):

* ``gen_prop``: per limb, both candidate sums ``d = x + z`` and ``e = x + z + 1`` (one carry
  chain each) and their carries out: ``gd`` (the limb generates a carry) and ``ge`` (it
  generates or propagates one);
* ``carry_chain``: the carry into every limb, from one adder carry chain over all limbs
  (Kogge-Stone in LUTs was 5-6 LUT levels with a long route each: 13 ns);
* ``select``: per limb ``e`` when a carry comes in, else ``d``.

``csa`` is the 3:2 carry-save compressor (one LUT level).
"""

from amaranth.hdl import Cat, Const, Mux, Signal, Value

__all__ = ["csa", "csa_sum", "gen_prop", "carry_chain", "select", "split", "join"]


def split(value, n: int, k: int) -> list[Value]:
    """``n`` little-endian ``k``-bit slices of ``value`` (zero-extended)."""
    value = Value.cast(value)
    if len(value) < n * k:
        value = value.as_unsigned()
    out = []
    for i in range(n):
        lo, hi = i * k, min((i + 1) * k, len(value))
        out.append(value[lo:hi] if lo < hi else Const(0, k))
    return out


def join(parts) -> Value:
    return Cat(*parts)


def csa(a, b, c):
    """3:2 carry-save compressor: ``a + b + c == s + t`` (one LUT level per bit)."""
    a, b, c = Value.cast(a), Value.cast(b), Value.cast(c)
    s = a ^ b ^ c
    t = ((a & b) | (a & c) | (b & c)) << 1
    return s, t


def csa_sum(terms) -> Value:
    """Sum of ``terms`` as carry-save layers and one final carry chain (yosys maps a plain
    ``a + b + c + d`` to chains in series)."""
    terms = [Value.cast(t) for t in terms]
    while len(terms) > 2:
        terms = list(csa(*terms[:3])) + terms[3:]
    if len(terms) == 1:
        return terms[0]
    return terms[0] + terms[1]


def gen_prop(m, domain: str, x: list, z: list, k: int, name: str):
    """Registered per-limb candidates of the limb-wise sum ``sum((x[j] + z[j]) << (k*j))``.

    For every limb: ``d = (x + z) mod 2**k``, ``e = (x + z + 1) mod 2**k``, ``gd`` = carry out
    of ``x + z`` (the limb generates a carry), ``ge`` = carry out of ``x + z + 1`` (it generates
    or propagates one).  Requires ``x[j] + z[j] + 1 < 2**(k+1)``.  ``e`` is one carry chain
    on the plain operands: ``(2x + 1) + (2z + 1)`` (yosys maps ``x + z + 1`` to two chains in
    series, and ``x - ~z`` needs ``z`` inverted, which ABC merges into whatever computes ``z``,
    duplicating that logic).
    Returns ``(d, e, gd, ge)`` lists of Signals.
    """
    w = k + 1
    d_l, e_l, gd_l, ge_l = [], [], [], []
    for j, (xj, zj) in enumerate(zip(x, z, strict=True)):
        xj, zj = Value.cast(xj), Value.cast(zj)
        assert len(xj) <= k and len(zj) <= w
        d = Signal(k, name=f"{name}_d{j}", reset_less=True)
        e = Signal(k, name=f"{name}_e{j}", reset_less=True)
        gd = Signal(name=f"{name}_gd{j}", reset_less=True)
        ge = Signal(name=f"{name}_ge{j}", reset_less=True)
        sd = (xj + zj)[:w]
        se = (Cat(Const(1, 1), xj) + Cat(Const(1, 1), zj))[1 : w + 1]  # x + z + 1
        m.d[domain] += [d.eq(sd[:k]), gd.eq(sd[k]), e.eq(se[:k]), ge.eq(se[k])]
        d_l.append(d)
        e_l.append(e)
        gd_l.append(gd)
        ge_l.append(ge)
    return d_l, e_l, gd_l, ge_l


def carry_chain(m, domain: str, gd: list, ge: list, name: str, *, cin0: bool = False):
    """Registered carries between limbs, from one adder carry chain.

    Limb ``j`` takes bits ``2j`` (``ge[j] + gd[j]``: carry out = ``gd | (ge & ~gd & c)``, i.e.
    generate or propagate) and ``2j+1`` (``1 + 0``: passes the carry on; its sum bit is the
    inverted carry).  Returns ``nc`` with ``nc[j]`` = NOT(carry into limb j) for
    ``j = 1..len(gd)`` (``nc[0]`` is ``None``; the last one is the inverted carry out).
    ``cin0``: limb 0 has a carry-in of 1, i.e. its value is ``e[0]`` and it carries out when
    ``ge[0]``.
    """
    n = len(gd)
    gen = [ge[0] if cin0 else gd[0]] + list(gd[1:])
    a = Cat(*[Cat(ge[j], Const(1, 1)) for j in range(n)])
    b = Cat(*[Cat(gen[j], Const(0, 1)) for j in range(n)])
    s = Signal(2 * n + 1, name=f"{name}_sum")
    m.d.comb += s.eq(a + b)
    nc = [None]
    for j in range(n):
        r = Signal(name=f"{name}_nc{j + 1}", reset_less=True)
        m.d[domain] += r.eq(s[2 * j + 1])
        nc.append(r)
    return nc


def select(m, domain: str, d: list, e: list, nc: list, name: str, *, cin0: bool = False):
    """Registered exact limbs: ``e[j]`` if a carry comes into limb j (``nc[j] == 0``), else
    ``d[j]``; limb 0 is ``d[0]`` (``e[0]`` with ``cin0``)."""
    out = []
    for j in range(len(d)):
        r = Signal(len(d[j]), name=f"{name}{j}", reset_less=True)
        if j == 0:
            m.d[domain] += r.eq(e[0] if cin0 else d[0])
        else:
            m.d[domain] += r.eq(Mux(nc[j], d[j], e[j]))
        out.append(r)
    return out
