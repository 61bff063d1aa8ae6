"""Limb-wise carry helpers shared by the arithmetic units.

No adder in ``hdl/arith`` is wider than ~36 bits: wide values live as lists of K-bit limbs
with their carries kept beside them (redundant form) and are resolved by:

* ``csa_round``: each limb keeps its low K bits and adds the carry of the limb below; repeated
  until every carry is at most 1;
* ``resolve``: two registered stages, a per-limb generate/propagate stage (limb+0 and limb+1 are
  both precomputed) and a Kogge-Stone prefix over the limbs that selects one or the other.
"""

from amaranth.hdl import Const, Mux, Signal, Value

__all__ = ["csa_round", "resolve", "split", "join"]


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
    from amaranth.hdl import Cat

    return Cat(*parts)


def csa_round(m, domain: str, t: list, k: int, widths: list[int], name: str) -> list[Signal]:
    """Registered carry-save round: ``out[j] = t[j] mod 2**k + (t[j-1] >> k)``.

    The carry out of the top limb is dropped (callers guarantee it is zero or that the value is
    taken modulo 2**(k*len(t))).
    """
    out = []
    for j in range(len(t)):
        r = Signal(widths[j], name=f"{name}{j}")
        v = t[j][:k]
        if j:
            v = v + t[j - 1][k:]
        m.d[domain] += r.eq(v)
        out.append(r)
    return out


def resolve(m, domain: str, t: list, k: int, name: str, carry_out: bool = False):
    """Two registered stages turning limbs ``t[j] < 2**(k+1)`` (carry <= 1) into exact k-bit
    limbs of ``sum(t[j] << (k*j)) mod 2**(k*len(t))``; with ``carry_out`` also returns the
    registered carry out of the top limb."""
    n = len(t)
    mask = (1 << k) - 1
    dl, dp1, gen, prop = [], [], [], []
    for j in range(n):
        lo = t[j][:k]
        gin = t[j - 1][k] if j else Const(0, 1)
        d = Signal(k, name=f"{name}_d{j}")
        e = Signal(k, name=f"{name}_e{j}")
        g = Signal(name=f"{name}_g{j}")
        p = Signal(name=f"{name}_p{j}")
        s0 = lo + gin
        m.d[domain] += [
            d.eq(s0[:k]),
            e.eq((s0 + 1)[:k]),
            # generate: lo + gin overflows; propagate: lo + gin == all ones
            g.eq(gin & (lo == mask)),
            p.eq(Mux(gin, lo == mask - 1, lo == mask)),
        ]
        dl.append(d)
        dp1.append(e)
        gen.append(g)
        prop.append(p)
    # Kogge-Stone prefix: G[j] = carry out of limbs 0..j
    big_g, big_p = list(gen), list(prop)
    dist = 1
    while dist < n:
        ng, np_ = list(big_g), list(big_p)
        for j in range(dist, n):
            ng[j] = big_g[j] | (big_p[j] & big_g[j - dist])
            np_[j] = big_p[j] & big_p[j - dist]
        big_g, big_p = ng, np_
        dist *= 2
    out = []
    for j in range(n):
        r = Signal(k, name=f"{name}_o{j}")
        m.d[domain] += r.eq(dl[j] if j == 0 else Mux(big_g[j - 1], dp1[j], dl[j]))
        out.append(r)
    if carry_out:
        c = Signal(name=f"{name}_cout")
        m.d[domain] += c.eq(big_g[n - 1] | t[n - 1][k])
        return out, c
    return out
