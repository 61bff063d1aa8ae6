"""Pure-Python model of the quantgate modular-arithmetic engine (no Amaranth import).

This module is both the specification and a bit-exact model of the hardware in
``montmul.py`` and ``addsub.py``; docs/ecc.md explains the design.  Summary:

* Six moduli, selected at run time by ``sel`` (see ``SEL``): 2^255-19, the Ed25519 group order
  L, secp256k1 p and n, P-256 p and n.
* Field elements travel as plain unsigned integers ``x`` with ``0 <= x < 2**W`` (W = 291 bits,
  18 limbs of K = 17 bits); ``x`` is *not* reduced: any ``x`` congruent to the value works, and
  every unit maps that range into itself.  Multiplication uses Montgomery form ``x * R mod m``
  with ``R = 2**306``.
* The multiplier is Montgomery with quotient pipelining (Orup, ARITH-12, 1995) on a modified
  modulus ``Mt = mq * m`` that is ``-1 mod 2**(2K)``: the quotient digit is then simply the low
  limb of the accumulator, and its product with ``M_hat = (Mt + 1) / 2**(2K)`` may land one
  iteration late, so the multiplier output register sits outside the loop.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Moduli and the run-time selector

P25519 = 2**255 - 19
L25519 = 2**252 + 27742317777372353535851937790883648493
P256K1 = 2**256 - 2**32 - 977
N256K1 = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256 = 2**256 - 2**224 + 2**192 + 2**96 - 1
N256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

#: ``sel`` code -> modulus (the order is the hardware encoding of the ``sel`` input).
MODULI = (P25519, L25519, P256K1, N256K1, P256, N256)
NAMES = ("p25519", "l25519", "p256k1", "n256k1", "p256", "n256")
SEL = {name: i for i, name in enumerate(NAMES)}

# ---------------------------------------------------------------------------------------------
# Representation and multiplier geometry

K = 17  #: limb / digit width (17x17 unsigned products fit one MULT18X18D)
D = 1  #: quotient delay in iterations (the q*M_hat product is registered)
NLIMB = 18  #: limbs of an operand (18 * 17 = 306 bits)
W = 291  #: every operand and result is an integer in [0, 2**W)
R_BITS = K * NLIMB  #: Montgomery radix R = 2**306
R = 1 << R_BITS
NITER = NLIMB + D  #: accumulator updates per multiplication = issue interval (19)
NACC = NLIMB + 1  #: accumulator limbs (the accumulator is < 2**309)
NMHAT = 16  #: limbs of M_hat (M_hat < m < 2**256): 15 DSP limbs and one 1-bit limb
FOLD_BIT = 290  #: add/sub fold point: x = lo + h * 2**290, h <= 4
MASK = (1 << K) - 1

#: cycle counts of the hardware (checked by tests/test_arith.py)
MUL_II = NITER  #: a new multiplication may be issued every 19 cycles
MUL_LATENCY = 27  #: cycles from the input handshake to the output valid
ADDSUB_LATENCY = 7  #: add/sub pipeline depth (initiation interval 1)


def _params(m: int) -> dict:
    mq = (-pow(m, -1, 1 << (2 * K))) % (1 << (2 * K))
    mt = mq * m
    assert (mt + 1) % (1 << (2 * K)) == 0
    m_hat = (mt + 1) >> (2 * K)
    # the closure argument of docs/ecc.md: out < 2**(2W - R_BITS) + Mt <= 2**W
    assert mt + (1 << (2 * W - R_BITS)) <= 1 << W
    assert m_hat < m < 1 << 256 and m_hat.bit_length() <= K * (NMHAT - 1) + 1
    k_sub = -(-(1 << W) // m) * m  # smallest multiple of m >= 2**W
    assert (1 << W) <= k_sub < (1 << W) + m
    fold = tuple((h << FOLD_BIT) % m for h in range(8))
    return {
        "m": m,
        "mq": mq,
        "mt": mt,
        "m_hat": m_hat,
        "k_sub": k_sub,
        "fold": fold,
        "r_mod": R % m,
        "r2_mod": R * R % m,
        "r_inv": pow(R, -1, m),
    }


PARAMS = tuple(_params(m) for m in MODULI)


def limbs(x: int, n: int = NLIMB, k: int = K) -> list[int]:
    """Split ``x`` into ``n`` little-endian ``k``-bit limbs (``x`` must fit)."""
    assert 0 <= x < 1 << (n * k), "value does not fit"
    return [(x >> (k * i)) & ((1 << k) - 1) for i in range(n)]


def from_limbs(ls, k: int = K) -> int:
    return sum(v << (k * i) for i, v in enumerate(ls))


# ---------------------------------------------------------------------------------------------
# Host-side conversions (Python ints; the device does to_mont as mont_mul(x, R^2 mod m))


def to_mont(x: int, sel: int) -> int:
    """Canonical ``x * R mod m``: a valid operand for the multiplier."""
    return x * R % MODULI[sel]


def from_mont(y: int, sel: int) -> int:
    """The canonical integer that the Montgomery-form operand ``y`` (any ``y < 2**W``) means."""
    return y * PARAMS[sel]["r_inv"] % MODULI[sel]


def r2(sel: int) -> int:
    """``R^2 mod m``: ``mont_mul(x, r2(sel))`` converts a plain ``x`` into Montgomery form."""
    return PARAMS[sel]["r2_mod"]


# ---------------------------------------------------------------------------------------------
# Montgomery multiplier


def mont_mul_ref(a: int, b: int, sel: int) -> int:
    """Word-level statement of the algorithm (big ints, same result as the hardware)."""
    pr = PARAMS[sel]
    assert 0 <= a < 1 << W and 0 <= b < 1 << W
    s = 0
    qs = []
    ad = limbs(a)
    for i in range(NITER):  # i = 0..18: shifting iterations, S_i
        a_i = ad[i] if i < NLIMB else 0
        qd = qs[i - 2] if i >= 2 else 0
        s = (s >> K) + a_i * b + qd * pr["m_hat"] if i else a_i * b
        qs.append(s & MASK)
    # final, non-shifting step: the last needed quotient q_17's product lands one limb up
    res = s + (qs[NITER - 2] * pr["m_hat"] << K)
    # equals (a*b + Q*Mt) / R for Q = digits q_0..q_17
    return res


def mont_mul(a: int, b: int, sel: int) -> int:
    """Bit-exact model of ``MontMul``: per-limb redundant accumulator, normaliser.

    Returns the result (an integer < 2**W congruent to a*b/R mod m).
    """
    pr = PARAMS[sel]
    assert 0 <= a < 1 << W and 0 <= b < 1 << W
    ad = limbs(a) + [0]
    bl = limbs(b)
    mh = limbs(pr["m_hat"], NMHAT)
    s = [0] * NACC  # accumulator register, limb j holds up to 36 bits
    qreg = [0] * NMHAT  # registered q * M_hat limb products
    for t in range(NITER):  # S-stage phase t writes S_t
        p = [ad[t] * bl[j] if j < NLIMB else 0 for j in range(NACC)]  # registered a_t * B
        q = s[0] & MASK  # quotient digit q_{t-1} = low 17 bits of the register
        new = []
        for j in range(NACC):
            if t == 0:
                v = p[j]
            else:
                lo_up = (s[j + 1] & MASK) if j + 1 < NACC else 0
                v = lo_up + (s[j] >> K) + p[j] + (qreg[j] if j < NMHAT else 0)
            assert v < 1 << 36
            new.append(v)
        qreg = [0] * NMHAT if t == 0 else [q * m for m in mh]
        s = new
    # the last quotient product P = q_17 * M_hat lands one limb up: value = sum(S_j 2^(17j)) +
    # sum(P_j 2^(17(j+1))), P_j = qreg[j] (34 bits).  It is < 2**291, so everything at limb
    # 18 and above is zero.
    assert s[NACC - 1] == 0 and s[NLIMB - 1] >> K == 0
    # normaliser N1: per result limb, the four 17-bit slices that land on it (carry <= 6)
    u = []
    for j in range(NLIMB):
        v = (s[j] & MASK) + ((s[j - 1] >> K) if j else 0)
        if 1 <= j <= NMHAT:
            v += qreg[j - 1] & MASK
        if 2 <= j <= NMHAT + 1:
            v += qreg[j - 2] >> K
        assert v < 7 << K
        u.append(v)
    # N2..N4: carry resolution (per-limb candidates, carry chain, select)
    out = _carry_resolve(u)
    res = from_limbs(out)
    assert res < 1 << W, "closure bound violated"
    return res


def _carry_resolve(t: list[int]) -> list[int]:
    """Limbs ``t[j] = lo_j + 2^K hi_j`` with small ``hi_j`` -> exact K-bit limbs: limb j is
    ``(lo_j + hi_(j-1) + c_j) mod 2^K`` with the carry c_j from a generate/propagate chain
    (``limbs.gen_prop``, ``carry_chain``, ``select``).  The value must fit the limbs."""
    lo = [v & MASK for v in t]
    g_in = [0] + [v >> K for v in t[:-1]]
    d = [(lo[j] + g_in[j]) for j in range(len(t))]
    assert all(v + 1 < 1 << (K + 1) for v in d)
    gen = [v >> K for v in d]
    prop = [int((v & MASK) == MASK) for v in d]
    c = 0
    out = []
    for j in range(len(t)):
        out.append((d[j] + c) & MASK)
        c = gen[j] | (prop[j] & c)
    assert c == 0 and t[-1] >> K == 0
    return out


# ---------------------------------------------------------------------------------------------
# Add / subtract (closed on [0, 2**W)): s = a + b  or  s = a - b + k_sub,  then fold at 2**290


def add_sub(a: int, b: int, sub: bool, sel: int) -> int:
    pr = PARAMS[sel]
    assert 0 <= a < 1 << W and 0 <= b < 1 << W
    if sub:
        s = (a + (~b & (R - 1)) + 1 + pr["k_sub"]) & (R - 1)  # = a - b + k_sub exactly
    else:
        s = a + b
    assert 0 <= s < (1 << 292) + pr["m"]
    h = s >> FOLD_BIT
    assert h <= 4
    res = (s & ((1 << FOLD_BIT) - 1)) + pr["fold"][h]
    assert res < (1 << FOLD_BIT) + (1 << 256)
    return res


def add(a: int, b: int, sel: int) -> int:
    return add_sub(a, b, False, sel)


def sub(a: int, b: int, sel: int) -> int:
    return add_sub(a, b, True, sel)


# ---------------------------------------------------------------------------------------------
# Canonical reduction and inversion (specification of the sequencers that drive the units)


def freeze(x: int, sel: int) -> int:
    """Canonical ``x mod m`` for ``x < 2**W`` by a fixed 40-step restoring subtraction."""
    m = MODULI[sel]
    assert 0 <= x < 1 << W
    for j in range(39, -1, -1):  # m * 2**40 > 2**291 for every modulus (m > 2**252)
        y = x - (m << j)
        x = x if y < 0 else y  # hardware: both computed, select by the borrow
    assert x < m
    return x


def inv_chain(sel: int) -> list[tuple[str, int, int, int]]:
    """Fixed exponentiation program for x^(m-2) (Fermat inversion); depends only on ``sel``.

    Returns ``(op, dst, src1, src2)`` steps over slots ``t[0..15]`` with ``t[1] = x`` on entry
    and the result in ``t[0]``: ``"mul"`` is ``t[dst] = t[src1] * t[src2]`` (a squaring when
    ``src1 == src2``), ``"copy"`` is ``t[dst] = t[src1]``.  2^255-19 uses the classic addition
    chain (254 squarings + 11 multiplications); the other moduli a left-to-right fixed 4-bit
    window (table t[2], t[3], t[5], ..., t[15], then 4 squarings and at most one
    multiplication per nibble).
    """
    if MODULI[sel] == P25519:
        return _p25519_chain()
    e = MODULI[sel] - 2
    prog: list[tuple[str, int, int, int]] = [("mul", 2, 1, 1)]
    for i in range(3, 16, 2):
        prog.append(("mul", i, i - 2, 2))
    nibbles = [(e >> (4 * i)) & 15 for i in range((e.bit_length() + 3) // 4)][::-1]
    for n, nb in enumerate(nibbles):
        if nb == 0:
            prog.extend([("mul", 0, 0, 0)] * 4)
            continue
        tz = (nb & -nb).bit_length() - 1
        if n == 0:  # leading nibble: acc = x^nb
            prog.append(("copy", 0, nb >> tz, nb >> tz))
        else:
            prog.extend([("mul", 0, 0, 0)] * (4 - tz))
            prog.append(("mul", 0, 0, nb >> tz))
        prog.extend([("mul", 0, 0, 0)] * tz)
    return prog


def _p25519_chain() -> list[tuple[str, int, int, int]]:
    # slots: 1 z, 2 z^2, 3 z^9, 4 z^11, 5 z^(2^5-1), 6 z^(2^10-1), 7 z^(2^20-1),
    # 8 z^(2^50-1), 9 z^(2^100-1), 0 running value
    def sq(dst, src, n):
        return [("mul", dst, src, src)] + [("mul", dst, dst, dst)] * (n - 1)

    prog = sq(2, 1, 1) + sq(0, 2, 2) + [("mul", 3, 0, 1), ("mul", 4, 3, 2)]
    prog += sq(0, 4, 1) + [("mul", 5, 0, 3)]
    prog += sq(0, 5, 5) + [("mul", 6, 0, 5)]
    prog += sq(0, 6, 10) + [("mul", 7, 0, 6)]
    prog += sq(0, 7, 20) + [("mul", 0, 0, 7)]  # 2^40 - 1
    prog += sq(0, 0, 10) + [("mul", 8, 0, 6)]
    prog += sq(0, 8, 50) + [("mul", 9, 0, 8)]
    prog += sq(0, 9, 100) + [("mul", 0, 0, 9)]  # 2^200 - 1
    prog += sq(0, 0, 50) + [("mul", 0, 0, 8)]  # 2^250 - 1
    prog += sq(0, 0, 5) + [("mul", 0, 0, 4)]  # 2^255 - 32 + 11 = 2^255 - 21
    return prog


def mont_inv(y: int, sel: int) -> tuple[int, int]:
    """Montgomery-form inverse: y = x*R  ->  x^-1 * R, by running ``inv_chain`` on ``mont_mul``.

    Returns (result, number of multiplications).  For y == 0 the result is 0 (x^(m-2) of 0).
    """
    t = [0] * 16
    t[1] = y
    n = 0
    for op, dst, s1, s2 in inv_chain(sel):
        if op == "copy":
            t[dst] = t[s1]
        else:
            t[dst] = mont_mul(t[s1], t[s2], sel)
            n += 1
    return t[0], n
