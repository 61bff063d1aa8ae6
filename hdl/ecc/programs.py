"""Microcode programs of the curve engine and the program ROM image.

Register conventions (``IO``) shared by every program, so that a controller can use the engine
without knowing its internals: write the scalar to ``IO["k"]``, start the program, read the
results from ``IO["enc"]``, ``IO["x"]``, ``IO["y"]``.

``BASEMUL`` (fixed-base scalar multiplication ``k*G`` with encoding), per curve:

* ``k``: the scalar, a plain integer.  Ed25519: ``k < 2^255`` (clamped secret scalars and
  everything reduced mod L qualify).  secp256k1 / P-256: any ``k < 2^256`` (the result is
  ``(k mod n) * G``); ``k = 0`` gives the point at infinity.
* ``enc``: the public encoding as an integer.  Ed25519: ``int.from_bytes(enc32, "little")``
  (y with the sign of x in bit 255).  Weierstrass: ``int.from_bytes(sec1_33, "big")``
  (``0x02 | y&1`` in bits 256..263 above x); the point at infinity gives 0 (33 zero bytes).
* ``x``, ``y``: the canonical affine coordinates (Weierstrass: ``x = y = 0`` for infinity).

Signing programs (inputs in ``IO`` registers, all values plain integers; every program has one
cycle count, ``rom().info``):

* ``ED_NONCE`` (Ed25519): ``lo = int.from_bytes(h[0:32], "little")``,
  ``hi = int.from_bytes(h[32:64], "little")`` of the 64-byte digest h = SHA-512(prefix || M).
  Leaves ``k = int.from_bytes(h, "little") mod L`` (canonical) and then does exactly BASEMUL
  on it: ``enc`` = encoding of R = r*B (little-endian int), ``x``, ``y``.  (The program is a
  reduction block that falls through into BASEMUL's code.)
* ``ED_S`` (Ed25519): ``k = r`` as ED_NONCE left it (canonical), ``lo``/``hi`` = the digest
  SHA-512(R || A || M) split as above, ``d = a`` (the clamped secret scalar, < 2^255).
  ``enc = S = (r + h a) mod L``, canonical.  ``k``, ``lo``, ``hi``, ``d`` are only read.
* ``ECDSA`` (secp256k1, P-256): ``k`` = nonce (1 <= k < n), ``lo = z`` (the digest as a
  big-endian int, < 2^256, not reduced), ``d`` = private key (1 <= d < n).  R = k*G;
  ``enc = r = R.x mod n``, ``x = s = k^-1 (z + r d) mod n`` (both canonical),
  ``y = v | bad << 2`` with the recovery id ``v = (R.y & 1) | 2 * (R.x >= n)`` and
  ``bad = (r == 0 or s == 0)``.  secp256k1 only: low-S (``s > (n-1)/2`` -> ``n - s``,
  ``v ^= 1``).  ``k`` and ``d`` are overwritten (k R mod n, d R mod n: still secret);
  every other register may hold intermediate values (secret-dependent) afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cache

from quantgate.hdl.arith import model as A

from . import tables as T
from .curves import CURVES, ED25519, P256, SECP256K1, Curve
from .microcode import Flag, Op, Program, encode

__all__ = ["Prog", "IO", "ROM", "rom", "chain_steps", "build_program", "SELFTEST_IN",
           "SELFTEST_OUT", "selftest_expected", "flat_chain", "shifted_chain",
           "shifted_inv_chain", "run_flat"]


class Prog(IntEnum):
    """``cmd.program`` codes."""

    NOP = 0  #: does nothing (done after a few cycles)
    BASEMUL = 1  #: enc, x, y = encode(k * G)
    SELFTEST = 2  #: exercises the logic unit, flags and every unit (any curve code)
    ED_NONCE = 3  #: Ed25519: k = (hi:lo) mod L, then BASEMUL on k
    ED_S = 4  #: Ed25519: enc = (k + (hi:lo) * d) mod L
    ECDSA = 5  #: secp256k1 / P-256: enc = r, x = s, y = recovery id | bad << 2


#: fixed registers of every program
IO = {"k": 0, "enc": 1, "x": 2, "y": 3, "lo": 4, "hi": 5, "d": 6}

WINDOWS = T.WINDOWS


# ---------------------------------------------------------------------------------------------
# Fermat inversion chains


def _ladder_chain(e: int) -> list[tuple]:
    """Steps computing x^e with exactly ``bitlen(e) - 1`` squarings: the binary digits of e
    are read as runs of ones; x^(2^j - 1) for j = 1, 2, 4, ... is built along the first run
    (its squarings are part of the first run) and each later run of length L is appended
    with the powers of two of L.  Slots: 1 = input, 0 = accumulator, 2.. = ladder."""
    bits = bin(e)[2:]
    runs = []  # (zeros before, ones)
    i = 0
    while i < len(bits):
        z = 0
        while i < len(bits) and bits[i] == "0":
            z += 1
            i += 1
        o = 0
        while i < len(bits) and bits[i] == "1":
            o += 1
            i += 1
        runs.append((z, o))
    assert runs[0][0] == 0
    steps: list[tuple] = []
    ladder = {1: 1}  # length -> slot
    first = runs[0][1]
    j = 1
    while 2 * j <= first:
        slot = len(ladder) + 1
        steps += [("sqr", slot, ladder[j], j), ("mul", slot, slot, ladder[j])]
        ladder[2 * j] = slot
        j *= 2
    top = j
    steps.append(("copy", 0, ladder[top]))
    pending_sq = 0

    def append_ones(n):
        nonlocal pending_sq
        for p in sorted(ladder, reverse=True):
            while n >= p:
                steps.append(("sqr", 0, 0, pending_sq + p))
                steps.append(("mul", 0, 0, ladder[p]))
                pending_sq = 0
                n -= p

    append_ones(first - top)
    for z, o in runs[1:]:
        pending_sq += z
        append_ones(o)
    if pending_sq:
        steps.append(("sqr", 0, 0, pending_sq))
    return _fuse_copy(steps)


def _fuse_copy(steps):
    """("copy", 0, s) followed by ("sqr", 0, 0, n) -> ("sqr", 0, s, n)."""
    out = []
    for st in steps:
        if out and out[-1][0] == "copy" and st[0] == "sqr" and st[2] == 0:
            out[-1] = ("sqr", 0, out[-1][2], st[3])
        else:
            out.append(st)
    return out


def _from_inv_chain(sel: int) -> list[tuple]:
    """The arith model's chain (``model.inv_chain``) with runs of in-place squarings merged."""
    out: list[tuple] = []
    for op, dst, s1, s2 in A.inv_chain(sel):
        if op == "copy":
            out.append(("copy", dst, s1))
        elif s1 == s2 and out and out[-1][0] == "sqr" and out[-1][1] == dst == s1:
            out[-1] = ("sqr", dst, out[-1][2], out[-1][3] + 1)
        elif s1 == s2:
            out.append(("sqr", dst, s1, 1))
        else:
            out.append(("mul", dst, s1, s2))
    return out


@cache
def chain_steps(sel: int) -> tuple:
    """The shorter of the two chains for x^(m-2) mod m[sel] (slot 1 in, slot 0 out)."""
    e = A.MODULI[sel] - 2
    cands = [_ladder_chain(e), _from_inv_chain(sel)]
    return tuple(min(cands, key=chain_cost))


def chain_cost(steps) -> int:
    """Number of multiplications of a chain."""
    return sum(st[3] if st[0] == "sqr" else int(st[0] == "mul") for st in steps)


def run_chain(steps, x: int, m: int) -> int:
    """Evaluate a chain on plain integers (for tests)."""
    slots = {1: x}
    for st in steps:
        if st[0] == "sqr":
            slots[st[1]] = pow(slots[st[2]], 1 << st[3], m)
        elif st[0] == "mul":
            slots[st[1]] = slots[st[2]] * slots[st[3]] % m
        else:
            slots[st[1]] = slots[st[2]]
    return slots[0]


def emit_inverse(prog: Program, x, out, sel: int, label: str = "inv"):
    """out = x^(m-2) (Montgomery form in, Montgomery form out) with the chain of ``sel``."""
    steps = chain_steps(sel)
    used = sorted({s for st in steps for s in st[1:3]} - {1})
    slot = {1: x}
    for s in used:
        slot[s] = out if s == 0 else prog.reg(f"{label}{s}")
    for st in steps:
        if st[0] == "mul":
            with prog.block(f"{label}_mul") as b:
                b.mul(slot[st[2]], slot[st[3]], sel, dst=slot[st[1]])
        elif st[0] == "copy":
            with prog.block(f"{label}_copy") as b:
                b.or_(slot[st[2]], slot[st[2]], dst=slot[st[1]])
        else:
            d, s, n = slot[st[1]], slot[st[2]], st[3]
            with prog.block(f"{label}_sqr") as b:
                b.mul(s, s, sel, dst=d)
            if n == 2:
                with prog.block(f"{label}_sqr") as b:
                    b.mul(d, d, sel, dst=d)
            elif n > 2:
                with prog.loop(n - 1, f"{label}_sqr_loop") as b:
                    b.mul(d, d, sel, dst=d)
    prog.release(*[slot[s] for s in used if s != 0])


def flat_chain(sel: int) -> list[tuple]:
    """``chain_steps(sel)`` as single operations over the same slots: ``("mul", dst, a, b)``
    (a squaring has a == b) or ``("copy", dst, src)``."""
    ops: list[tuple] = []
    for st in chain_steps(sel):
        if st[0] == "mul":
            ops.append(("mul", st[1], st[2], st[3]))
        elif st[0] == "copy":
            ops.append(("copy", st[1], st[2]))
        else:
            d, s, k = st[1], st[2], st[3]
            ops.append(("mul", d, s, s))
            ops += [("mul", d, d, d)] * (k - 1)
    return ops


def _ladder_terms(e: int, powers) -> list[tuple[int, int]]:
    """e as a sum of terms (2^p - 1) 2^pos, p in ``powers``: each run of ones split greedily
    into the largest powers first (the ladder method).  Returns [(pos, p)]."""
    terms = []
    i = 0
    while i < e.bit_length():
        if not e >> i & 1:
            i += 1
            continue
        j = i
        while e >> j & 1:
            j += 1
        top, left = j, j - i
        for p in sorted(powers, reverse=True):
            while left >= p:
                terms.append((top - p, p))
                top -= p
                left -= p
        i = j
    return terms


def shifted_chain(e: int, shift: int, px: int) -> list[tuple]:
    """Flat chain for x^e from x (slot 1) and y = x^(2^shift) (slot 2), out in slot 0:
    x^e = y^(e >> shift) * x^(e mod 2^shift), both parts evaluated on one accumulator
    (Straus): the accumulator starts at the top of y's exponent, so it is squared only
    bitlen(e) - shift - 1 times (y's squarings are done elsewhere, e.g. in the spare
    multiplier slot of the window loop).  y's ladder y^(2^j - 1) is built along the first
    run of ones as in ``_ladder_chain``; x's ladder goes up to 2^j = ``px``."""
    e1, e0 = e >> shift, e & ((1 << shift) - 1)
    ops: list[tuple] = []
    nxt = [3]

    def build(base_slot, limit):
        lad = {1: base_slot}
        j = 1
        while 2 * j <= limit:
            s = nxt[0]
            nxt[0] += 1
            ops.append(("mul", s, lad[j], lad[j]))
            ops.extend([("mul", s, s, s)] * (j - 1))
            ops.append(("mul", s, s, lad[j]))
            lad[2 * j] = s
            j *= 2
        return lad, j

    first = 0
    while first < e1.bit_length() and e1 >> (e1.bit_length() - 1 - first) & 1:
        first += 1
    lady, py = build(2, first)
    ladx, _ = build(1, px)
    start = e1.bit_length() - py  # acc = y^((2^py - 1) 2^start) after ``start`` squarings
    rest = e1 - ((1 << py) - 1 << start)
    # terms (position, ladder slot), highest first: y^c multiplied in at position q
    # contributes y^(c 2^q); x's terms (e0 < 2^shift) share the accumulator's last squarings
    terms = [(pos, lady[p]) for pos, p in _ladder_terms(rest, lady)]
    terms += [(pos, ladx[p]) for pos, p in _ladder_terms(e0, ladx)]
    terms.sort(key=lambda t: -t[0])
    acc, cur = lady[py], start
    for pos, slot in terms + [(0, None)]:
        while cur > pos:
            ops.append(("mul", 0, acc, acc))
            acc = 0
            cur -= 1
        if slot is not None:
            ops.append(("mul", 0, acc, slot))
            acc = 0
    assert acc == 0
    return ops


def run_flat(ops, x: int, m: int, inputs: dict | None = None) -> int:
    """Evaluate a flat chain on plain integers (for tests); ``inputs``: further slots."""
    slots = {1: x, **(inputs or {})}
    for op in ops:
        if op[0] == "mul":
            slots[op[1]] = slots[op[2]] * slots[op[3]] % m
        else:
            slots[op[1]] = slots[op[2]]
    return slots[0]


def _in_place_run(ops, i: int) -> int:
    """Number of consecutive in-place squarings of one slot from ``ops[i]`` on."""
    k = 0
    while i + k < len(ops) and ops[i + k] == ops[i] and ops[i][0] == "mul" \
            and ops[i][1] == ops[i][2] == ops[i][3]:
        k += 1
    return k


#: interleaved inversions: a run of paired in-place squarings this long becomes a loop (a
#: shorter one stays straight-line: a loop costs a barrier and its drain)
PAIR_LOOP_MIN = 12
#: the second chain of a pair may end this many steps after the first (overlapping the tail)
PAIR_SLACK = 8
#: straight-line blocks are cut at this many steps (scheduling time grows with the square of
#: the block size; a cut costs a barrier, ~20 cycles)
PAIR_MAX_BLOCK = 160
#: steps of the chains in the last block (with the tail): constants the tail loads live
#: through the whole block, so it must not be long
PAIR_LAST = 24


def pair_segments(ops_a, ops_b, loop_min: int = PAIR_LOOP_MIN, slack: int = PAIR_SLACK,
                  max_block: int = PAIR_MAX_BLOCK, last: int = PAIR_LAST):
    """Merge two flat chains into segments: ``("block", [(chain, op), ...])`` (straight-line,
    the scheduler interleaves the two chains) or ``("loop", count, op_a, op_b)`` (both chains
    squaring in place: one squaring of each per iteration).  Outside loops the chains advance
    in proportion to their lengths, the second one finishing ``slack`` steps after the
    first.  The last segment is always a block (possibly empty): the tail joins it."""
    segs: list = []
    cur: list = []
    i = j = 0
    na, nb = len(ops_a), len(ops_b)
    nb_eff = max(nb - slack, 1)
    while i < na or j < nb:
        m = min(_in_place_run(ops_a, i), _in_place_run(ops_b, j))
        if m >= loop_min:
            if cur:
                segs.append(("block", cur))
                cur = []
            segs.append(("loop", m, ops_a[i], ops_b[j]))
            i += m
            j += m
            continue
        take_b = j < nb and (i >= na or (j + 1) * na <= (i + 1) * nb_eff)
        if take_b:
            cur.append((1, ops_b[j]))
            j += 1
        else:
            cur.append((0, ops_a[i]))
            i += 1
    segs.append(("block", cur))
    out = []
    for seg in segs:
        if seg[0] == "loop":
            out.append(seg)
            continue
        ops = seg[1]
        while len(ops) > max_block:
            out.append(("block", ops[:max_block]))
            ops = ops[max_block:]
        out.append(("block", ops))
    if len(out[-1][1]) > last:
        ops = out.pop()[1]
        out += [("block", ops[:-last]), ("block", ops[-last:])]
    return out


def _emit_op(b, op, slot, sel):
    if op[0] == "mul":
        b.mul(slot[op[2]], slot[op[3]], sel, dst=slot[op[1]])
    else:
        b.or_(slot[op[2]], slot[op[2]], dst=slot[op[1]])


@cache
def shifted_inv_chain(sel: int, shift: int = 64) -> tuple:
    """``shifted_chain`` for x^(m-2) with the shortest x ladder."""
    e = A.MODULI[sel] - 2
    return tuple(min((shifted_chain(e, shift, px) for px in (1, 2, 4, 8)), key=len))


def emit_inverse_pair(prog: Program, a, b, tail=None):
    """Two independent chains ``a``, ``b`` = (flat ops, {slot: input register}, out, sel,
    label) interleaved: blocks and loops hold steps of both, so the multiplier issues one
    chain's product while the other's is in flight.  ``tail(block)`` adds further
    instructions to the last block (they may read both results).  Input registers that are
    not fixed (``IO``) are released once dead, as are the chains' own registers."""
    chains = []
    for ops, inputs, out, sel, label in (a, b):
        used = sorted({s for op in ops for s in op[1:]} - set(inputs))
        slot = dict(inputs)
        for s in used:
            slot[s] = out if s == 0 else prog.reg(f"{label}{s}")
        chains.append((ops, slot, sel))
    segs = pair_segments(chains[0][0], chains[1][0])
    last_use: dict = {}  # (chain, slot) -> index of the last segment using it
    for k, seg in enumerate(segs):
        ops = [(0, seg[2]), (1, seg[3])] if seg[0] == "loop" else seg[1]
        for c, op in ops:
            for s in op[1:]:
                last_use[(c, s)] = k
    fixed = list(prog.fixed.values())
    live = {(c, s) for c in (0, 1) for s in chains[c][1]
            if s != 0 and not any(chains[c][1][s] is f for f in fixed)}
    for k, seg in enumerate(segs):
        for c, s in sorted(live):  # dead registers are free for the later blocks
            if last_use.get((c, s), -1) < k:
                prog.release(chains[c][1][s])
                live.discard((c, s))
        if seg[0] == "loop":
            _, count, op_a, op_b = seg
            with prog.loop(count, "inv2_sqr_loop") as blk:
                _emit_op(blk, op_a, chains[0][1], chains[0][2])
                _emit_op(blk, op_b, chains[1][1], chains[1][2])
            continue
        last = k == len(segs) - 1
        with prog.block("inv2_tail" if last else "inv2") as blk:
            for c, op in seg[1]:
                _emit_op(blk, op, chains[c][1], chains[c][2])
            if last and tail is not None:
                tail(blk)
    prog.release(*[chains[c][1][s] for c, s in sorted(live)])


# ---------------------------------------------------------------------------------------------
# Point arithmetic


def ed_madd(b, sel, X, Y, Z, T, qp, qm, qt):
    """Extended twisted Edwards (a = -1) += precomputed (y+x, y-x, 2dxy): complete, 7 M
    (Hisil-Wong-Carter-Dawson 2008, "madd-2008-hwcd-3"); results overwrite X, Y, Z, T."""
    s = b.add(Y, X, sel)
    d = b.sub(Y, X, sel)
    dz = b.add(Z, Z, sel)
    ca = b.mul(d, qm, sel)
    cb = b.mul(s, qp, sel)
    cc = b.mul(T, qt, sel)
    e = b.sub(cb, ca, sel)
    h = b.add(cb, ca, sel)
    f = b.sub(dz, cc, sel)
    g = b.add(dz, cc, sel)
    b.mul(f, g, sel, dst=Z)
    b.mul(e, h, sel, dst=T)
    b.mul(e, f, sel, dst=X)
    b.mul(g, h, sel, dst=Y)


def _mul_small(b, x, k: int, sel):
    """k * x by additions (k a small public constant)."""
    acc = x
    for bit in bin(k)[3:]:
        acc = b.add(acc, acc, sel)
        if bit == "1":
            acc = b.add(acc, x, sel)
    return acc


def w_madd(b, c: Curve, X, Y, Z, qx, qy, bconst, b3_adds: bool):
    """Projective (X:Y:Z) + affine (qx, qy) on y^2 = x^3 + a x + b, complete for every
    (X:Y:Z) including the identity (0:1:0) as long as (qx, qy) is an affine point
    (Renes-Costello-Batina 2016, algorithm 8 for a = 0, algorithm 5 for a = -3).
    Returns the new (X3, Y3, Z3) as temporaries."""
    p = c.sel_p
    t0 = b.mul(X, qx, p)
    t1 = b.mul(Y, qy, p)
    t3 = b.add(qx, qy, p)
    t4 = b.add(X, Y, p)
    t3 = b.mul(t3, t4, p)
    t4 = b.add(t0, t1, p)
    t3 = b.sub(t3, t4, p)
    t4 = b.mul(qy, Z, p)
    t4 = b.add(t4, Y, p)
    y3 = b.mul(qx, Z, p)
    y3 = b.add(y3, X, p)
    if c.a == 0:  # algorithm 8, b3 = 3b
        x3 = b.add(t0, t0, p)
        t0 = b.add(x3, t0, p)
        t2 = _mul_small(b, Z, 3 * c.b, p) if b3_adds else b.mul(bconst, Z, p)
        z3 = b.add(t1, t2, p)
        t1 = b.sub(t1, t2, p)
        y3 = _mul_small(b, y3, 3 * c.b, p) if b3_adds else b.mul(bconst, y3, p)
        x3 = b.mul(t4, y3, p)
        t2 = b.mul(t3, t1, p)
        x3 = b.sub(t2, x3, p)
        y3 = b.mul(y3, t0, p)
        t1 = b.mul(t1, z3, p)
        y3 = b.add(t1, y3, p)
        t0 = b.mul(t0, t3, p)
        z3 = b.mul(z3, t4, p)
        z3 = b.add(z3, t0, p)
        return x3, y3, z3
    assert c.a == -3  # algorithm 5
    z3 = b.mul(bconst, Z, p)
    x3 = b.sub(y3, z3, p)
    z3 = b.add(x3, x3, p)
    x3 = b.add(x3, z3, p)
    z3 = b.sub(t1, x3, p)
    x3 = b.add(t1, x3, p)
    y3 = b.mul(bconst, y3, p)
    t1 = b.add(Z, Z, p)
    t2 = b.add(t1, Z, p)
    y3 = b.sub(y3, t2, p)
    y3 = b.sub(y3, t0, p)
    t1 = b.add(y3, y3, p)
    y3 = b.add(t1, y3, p)
    t1 = b.add(t0, t0, p)
    t0 = b.add(t1, t0, p)
    t0 = b.sub(t0, t2, p)
    t1 = b.mul(t4, y3, p)
    t2 = b.mul(t0, y3, p)
    y3 = b.mul(x3, z3, p)
    y3 = b.add(y3, t2, p)
    x3 = b.mul(t3, x3, p)
    x3 = b.sub(x3, t1, p)
    z3 = b.mul(t4, z3, p)
    t1 = b.mul(t3, t0, p)
    z3 = b.add(z3, t1, p)
    return x3, y3, z3


def _neg_flag(off):
    return Flag.NEG1 if off else Flag.NEG0


def _zero_flag(off):
    return Flag.ZERO1 if off else Flag.ZERO0


def ed_prep(b, sel, off, one, zero, qp, qm, qt):
    """Table point of digit (win+off) in precomputed form: negated (swap y+x / y-x, negate
    2dxy) for a negative digit, the identity (1, 1, 0) for digit 0.  Always computed and
    selected: no data-dependent control flow."""
    cp = b.ldt(T.BASE[("ed25519", "ypx")], tab=True, off=off)
    cm = b.ldt(T.BASE[("ed25519", "ymx")], tab=True, off=off)
    ct = b.ldt(T.BASE[("ed25519", "t2d")], tab=True, off=off)
    ctn = b.sub(zero, ct, sel)
    neg, z = _neg_flag(off), _zero_flag(off)
    p1 = b.sel(neg, cm, cp)
    m1 = b.sel(neg, cp, cm)
    t1 = b.sel(neg, ctn, ct)
    b.sel(z, one, p1, dst=qp)
    b.sel(z, one, m1, dst=qm)
    b.sel(z, zero, t1, dst=qt)


def w_prep(b, c: Curve, off, zero, qx, qy):
    """Affine table point of digit (win+off), y negated for a negative digit.  For digit 0
    this is the point of |digit| = 1 (a valid affine point); the sum is discarded."""
    b.ldt(T.BASE[(c.name, "x")], tab=True, off=off, dst=qx)
    y = b.ldt(T.BASE[(c.name, "y")], tab=True, off=off)
    yn = b.sub(zero, y, c.sel_p)
    b.sel(_neg_flag(off), yn, y, dst=qy)


# ---------------------------------------------------------------------------------------------
# Fixed-base scalar multiplication


def basemul_ed25519(prog: Program):
    c = ED25519
    p = c.sel_p
    io = prog.fixed
    X, Y, Z, Tt, qp, qm, qt, one, zero, onep = prog.regs(
        "X", "Y", "Z", "T", "qp", "qm", "qt", "one", "zero", "onep")
    with prog.block("setup") as b:
        b.ldt(T.const_addr("mont1_p25519"), dst=one)
        b.ldt(T.const_addr("zero"), dst=zero)
        b.ldt(T.const_addr("one"), dst=onep)
        b.rcd(io["k"])
        b.ldt(T.const_addr("zero"), dst=X)
        b.ldt(T.const_addr("mont1_p25519"), dst=Y)
        b.ldt(T.const_addr("mont1_p25519"), dst=Z)
        b.ldt(T.const_addr("zero"), dst=Tt)
        ed_prep(b, p, 0, one, zero, qp, qm, qt)
    with prog.loop(WINDOWS, "window", adv=True) as b:
        ed_madd(b, p, X, Y, Z, Tt, qp, qm, qt)
        ed_prep(b, p, 1, one, zero, qp, qm, qt)
    prog.release(qp, qm, qt, Tt)
    zi = prog.reg("zi")
    emit_inverse(prog, Z, zi, p)
    with prog.block("affine") as b:
        zp = b.mul(zi, onep, p)  # Z^-1 as a plain integer
        xa = b.mul(X, zp, p)  # X~ * Z^-1 / R = x
        ya = b.mul(Y, zp, p)
        b.frz(xa, p, dst=io["x"])
        b.frz(ya, p, dst=io["y"])
    with prog.block("encode") as b:
        b.setb(io["y"], io["x"], 255, dst=io["enc"])
    prog.halt()


def _w_windows(prog: Program, c: Curve, b3_adds: bool, setup_extra=None, loop_extra=None):
    """Setup, the 64 window additions and digit 64 of the Weierstrass fixed-base scalar
    multiplication of ``IO["k"]``; returns the pinned registers (X, Y, Z, one, zero, onep).
    ``setup_extra(b)`` / ``loop_extra(b)`` add instructions to the setup block / the window
    loop body (ECDSA: Montgomery conversions / a squaring in the spare multiplier slot)."""
    p = c.sel_p
    io = prog.fixed
    X, Y, Z, qx, qy, one, zero, onep, bconst = prog.regs(
        "X", "Y", "Z", "qx", "qy", "one", "zero", "onep", "bconst")
    bname = "b3_secp256k1" if c.a == 0 else "b_p256"
    mont1 = f"mont1_{A.NAMES[p]}"
    use_adds = b3_adds and c.a == 0
    with prog.block("setup") as b:
        b.ldt(T.const_addr(mont1), dst=one)
        b.ldt(T.const_addr("zero"), dst=zero)
        b.ldt(T.const_addr("one"), dst=onep)
        b.ldt(T.const_addr(bname), dst=bconst)
        b.rcd(io["k"])
        b.ldt(T.const_addr("zero"), dst=X)  # identity (0 : 1 : 0)
        b.ldt(T.const_addr(mont1), dst=Y)
        b.ldt(T.const_addr("zero"), dst=Z)
        w_prep(b, c, 0, zero, qx, qy)
        if setup_extra is not None:
            setup_extra(b)
    with prog.loop(WINDOWS, "window", adv=True) as b:
        x3, y3, z3 = w_madd(b, c, X, Y, Z, qx, qy, bconst, use_adds)
        b.sel(Flag.ZERO0, X, x3, dst=X)  # digit 0: keep the old point
        b.sel(Flag.ZERO0, Y, y3, dst=Y)
        b.sel(Flag.ZERO0, Z, z3, dst=Z)
        w_prep(b, c, 1, zero, qx, qy)
        if loop_extra is not None:
            loop_extra(b)
    with prog.block("window64") as b:  # digit 64 (0 or 1; after 64 advances it is d0)
        b.ldt(T.const_addr(f"g256x_{c.name}"), dst=qx)
        b.ldt(T.const_addr(f"g256y_{c.name}"), dst=qy)
        x3, y3, z3 = w_madd(b, c, X, Y, Z, qx, qy, bconst, use_adds)
        b.sel(Flag.ZERO0, X, x3, dst=X)
        b.sel(Flag.ZERO0, Y, y3, dst=Y)
        b.sel(Flag.ZERO0, Z, z3, dst=Z)
    prog.release(qx, qy, bconst)
    return X, Y, Z, one, zero, onep


def basemul_weierstrass(prog: Program, c: Curve, b3_adds: bool = True):
    p = c.sel_p
    io = prog.fixed
    X, Y, Z, one, zero, onep = _w_windows(prog, c, b3_adds)
    zi = prog.reg("zi")
    emit_inverse(prog, Z, zi, p)
    with prog.block("affine") as b:
        zp = b.mul(zi, onep, p)
        xa = b.mul(X, zp, p)
        ya = b.mul(Y, zp, p)
        b.frz(xa, p, dst=io["x"])
        b.frz(ya, p, dst=io["y"])
    with prog.block("encode") as b:
        pre = b.ldt(T.const_addr("sec1_even"))
        t = b.or_(io["x"], pre)
        e = b.setb(t, io["y"], 256)
        b.teq(0, io["y"], zero)  # y = 0 only for the point at infinity (prime order curves)
        b.sel(Flag.F0, zero, e, dst=io["enc"])
    prog.halt()


# ---------------------------------------------------------------------------------------------
# Signing programs


def ed_nonce_prefix(prog: Program):
    """k = (hi * 2^256 + lo) mod L, canonical: mont_mul(hi, 2^256 R mod L) = hi 2^256 mod L,
    plus lo (< 2^256, a valid operand), frozen.  BASEMUL follows (``ed_nonce``)."""
    L = A.SEL["l25519"]
    io = prog.fixed
    with prog.block("nonce") as b:
        c = b.ldt(T.const_addr("l_2e256_r"))
        t = b.mul(io["hi"], c, L)
        s = b.add(t, io["lo"], L)
        b.frz(s, L, dst=io["k"])


def ed_nonce(prog: Program):
    ed_nonce_prefix(prog)
    basemul_ed25519(prog)


def ed_s(prog: Program):
    """enc = (k + h * d) mod L, canonical, h = hi * 2^256 + lo.  h~ = h R mod L from two
    products (hi * 2^256 R^2, lo * R^2), then mont_mul(h~, d) = h d mod L (plain)."""
    L = A.SEL["l25519"]
    io = prog.fixed
    with prog.block("ed_s") as b:
        c1 = b.ldt(T.const_addr("l_2e256_r2"))
        c2 = b.ldt(T.const_addr("r2_l25519"))
        th = b.mul(io["hi"], c1, L)
        tl = b.mul(io["lo"], c2, L)
        hm = b.add(th, tl, L)
        ha = b.mul(hm, io["d"], L)
        s = b.add(ha, io["k"], L)
        b.frz(s, L, dst=io["enc"])
    prog.halt()


#: ECDSA: k^(2^ECDSA_SHIFT) is squared in the window loop's spare multiplier slot
ECDSA_SHIFT = WINDOWS


def ecdsa(prog: Program, c: Curve, b3_adds: bool = True, interleave: bool = True):
    """ECDSA signature core (see the module docstring for the register contract).

    k*G as BASEMUL; the setup block also converts k and d into Montgomery form mod n (into
    their own registers) and copies k~ into ``ky``, which the window loop squares once per
    window in the multiplier's idle slot: ky = k~^(2^64) for free.  Then the two Fermat
    inversions Z^-1 mod p and k^-1 mod n = y^(e >> 64) k^(e mod 2^64) (``shifted_chain``,
    e = n - 2: 58-59 fewer products than the plain chain) are independent; with
    ``interleave`` their steps share blocks and loops, so the multiplier alternates between
    them (one chain alone waits out the 27-cycle latency of every step).  The tail (affine
    x, y, r, s, low-S, recovery id, the bad flag) runs in the last block together with the
    end of the chains.  Comparisons with n use the exact addition of AddSub below 2^290 and
    a bit test: no data-dependent control flow anywhere."""
    p, n = c.sel_p, c.sel_n
    io = prog.fixed
    low_s = c is SECP256K1
    ky = prog.reg("ky")

    def setup_extra(b):
        r2n = b.ldt(T.const_addr(f"r2_{A.NAMES[n]}"))
        b.mul(io["k"], r2n, n, dst=io["k"])  # k~ = k R (after the recoder has read k)
        b.mul(io["d"], r2n, n, dst=io["d"])  # d~ = d R
        b.or_(io["k"], io["k"], dst=ky)

    def loop_extra(b):
        b.mul(ky, ky, n, dst=ky)

    X, Y, Z, one, zero, onep = _w_windows(prog, c, b3_adds, setup_extra, loop_extra)
    prog.release(one, zero, onep)  # reloaded in the tail
    zi, kinv = prog.regs("zi", "kinv")

    def tail(b):
        one_ = b.ldt(T.const_addr("one"))
        zero_ = b.ldt(T.const_addr("zero"))
        zp = b.mul(zi, one_, p)  # Z^-1 (plain)
        xa = b.mul(X, zp, p)
        ya = b.mul(Y, zp, p)
        xc = b.frz(xa, p)  # R.x canonical
        yc = b.frz(ya, p)  # R.y canonical
        # r = x mod n: x < p < 2^256; x + 2^256 - n has bit 256 iff x >= n
        t = b.add(xc, b.ldt(T.const_addr(f"ncomp_{c.name}")), n)
        b.tstb(0, t, 256)
        r = b.sel(Flag.F0, b.setb(t, zero_, 256), xc, dst=io["enc"])
        v = b.or_(b.and_(yc, one_), b.sel(Flag.F0, b.ldt(T.const_addr("two")), zero_))
        # s = k^-1 z + r (k^-1 d): kinv = k^-1 R, d holds d R
        kz = b.mul(kinv, io["lo"], n)  # k^-1 z (plain)
        kd = b.mul(kinv, io["d"], n)  # k^-1 d R
        rkd = b.mul(r, kd, n)  # r k^-1 d (plain)
        s = b.add(kz, rkd, n)
        if low_s:
            sc = b.frz(s, n)
            h = b.add(sc, b.ldt(T.const_addr("hcomp_secp256k1")), n)
            b.tstb(1, h, 256)  # s > (n-1)/2
            w = b.add(b.xor(sc, b.ldt(T.const_addr("mask256"))),
                      b.ldt(T.const_addr("np1_secp256k1")), n)  # 2^256 + n - s
            sf = b.sel(Flag.F1, b.setb(w, zero_, 256), sc, dst=io["x"])
            v = b.sel(Flag.F1, b.xor(v, one_), v)
        else:
            sf = b.frz(s, n, dst=io["x"])
        b.teq(2, r, zero_)
        b.teq(3, sf, zero_)
        four = b.ldt(T.const_addr("four"))
        bad = b.sel(Flag.F3, four, b.sel(Flag.F2, four, zero_))
        b.or_(v, bad, dst=io["y"])

    assert WINDOWS == ECDSA_SHIFT
    zchain = (flat_chain(p), {1: Z}, zi, p, "zinv")
    kchain = (shifted_inv_chain(n, ECDSA_SHIFT), {1: io["k"], 2: ky}, kinv, n, "kinv")
    if interleave:
        emit_inverse_pair(prog, zchain, kchain, tail)
    else:  # one chain after the other (for comparison)
        for ops, inputs, out, sel, label in (zchain, kchain):
            emit_inverse_pair(prog, (ops, inputs, out, sel, label), ([], {}, None, sel, ""))
        with prog.block("tail") as b:
            tail(b)
    prog.halt()


# ---------------------------------------------------------------------------------------------
# Self test: every instruction of the logic unit and the flags, one of each arithmetic unit

SELFTEST_IN = IO["lo"]  #: second operand register ("u", 4); the first is IO["k"]
SELFTEST_OUT = (1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)


def selftest(prog: Program):
    k, u = prog.fixed["k"], prog.fixed["lo"]
    assert u.phys == SELFTEST_IN
    fixed = {r.phys: r for r in prog.fixed.values()}
    r = {i: fixed[i] if i in fixed else prog.reg(f"r{i}") for i in SELFTEST_OUT}
    assert all(reg.phys == i for i, reg in r.items())
    with prog.block("selftest") as b:
        b.or_(k, u, dst=r[1])
        b.and_(k, u, dst=r[2])
        b.xor(k, u, dst=r[3])
        b.setb(k, u, 200, dst=r[5])
        b.setb(k, u, 0, dst=r[6])
        b.setb(k, u, 290, dst=r[7])
        b.tstb(1, k, 7)
        b.sel(Flag.F1, k, u, dst=r[8])
        b.tstb(0, u, 290)
        b.sel(Flag.F0, k, u, dst=r[9])
        b.teq(2, k, u)
        b.sel(Flag.F2, k, u, dst=r[10])
        b.teq(3, k, k)
        b.sel(Flag.F3, k, u, dst=r[11])
        b.frz(k, A.SEL["n256k1"], dst=r[12])
        b.mul(k, u, A.SEL["p25519"], dst=r[13])
        b.sub(k, u, A.SEL["p256"], dst=r[14])
        b.add(k, u, A.SEL["l25519"], dst=r[15])
    prog.halt()


def selftest_expected(k: int, u: int) -> dict:
    """What SELFTEST leaves in SELFTEST_OUT for inputs k, u (< 2^291)."""

    def setb(a, b, pos):
        return (a & ~(1 << pos)) | ((b & 1) << pos)

    return {
        1: k | u, 2: k & u, 3: k ^ u,
        5: setb(k, u, 200), 6: setb(k, u, 0), 7: setb(k, u, 290),
        8: k if (k >> 7) & 1 else u,
        9: k if (u >> 290) & 1 else u,
        10: k if k == u else u,
        11: k,
        12: A.freeze(k, A.SEL["n256k1"]),
        13: A.mont_mul(k, u, A.SEL["p25519"]),
        14: A.sub(k, u, A.SEL["p256"]),
        15: A.add(k, u, A.SEL["l25519"]),
    }


def build_program(prog_id: Prog, c: Curve, **opts) -> Program:
    prog = Program(f"{prog_id.name.lower()}_{c.name}", IO)
    if prog_id == Prog.SELFTEST:
        selftest(prog)
    elif prog_id == Prog.BASEMUL:
        if c is ED25519:
            basemul_ed25519(prog)
        else:
            basemul_weierstrass(prog, c, **opts)
    elif prog_id == Prog.ED_NONCE and c is ED25519:
        ed_nonce(prog)
    elif prog_id == Prog.ED_S and c is ED25519:
        ed_s(prog)
    elif prog_id == Prog.ECDSA and c is not ED25519:
        ecdsa(prog, c, **opts)
    else:
        prog.halt()
    return prog


# ---------------------------------------------------------------------------------------------
# ROM image


@dataclass
class ProgramInfo:
    name: str
    entry: int
    length: int  #: words
    cycles: int  #: first issue .. HALT issue (inclusive)
    blocks: list


@dataclass
class ROM:
    words: list  #: program ROM contents
    entries: dict  #: (Prog, curve code) -> entry address
    info: dict  #: (Prog, curve code) -> ProgramInfo

    @property
    def depth(self) -> int:
        return max(64, 1 << (len(self.words) - 1).bit_length())


@cache
def rom(b3_adds: bool = True, interleave: bool = True) -> ROM:
    """Program ROM: word 0 is HALT (the NOP program, and the entry of unknown commands),
    then the programs of every (program, curve).  ED_NONCE and ED_S exist for Ed25519 only,
    ECDSA for secp256k1 and P-256 only: other combinations start at word 0 (HALT).

    ED_NONCE's reduction block falls through into the Ed25519 BASEMUL code: BASEMUL's entry
    is the first word after that block (the words are checked to be those of the standalone
    BASEMUL program)."""
    words = [encode({"op": Op.HALT, "wait": 1})]
    entries, info = {}, {}

    def add(prog_id, c, **opts):
        entry = len(words)
        asm = build_program(prog_id, c, **opts).assemble(entry)
        words.extend(asm.words)
        entries[(prog_id, c.code)] = entry
        info[(prog_id, c.code)] = ProgramInfo(
            f"{prog_id.name.lower()}_{c.name}", entry, len(asm.words), asm.cycles, asm.blocks)
        return asm

    for c in CURVES:
        entries[(Prog.NOP, c.code)] = 0
        info[(Prog.NOP, c.code)] = ProgramInfo("nop", 0, 1, 1, [])
    entry = len(words)
    asm = build_program(Prog.SELFTEST, ED25519).assemble(entry)
    words.extend(asm.words)
    for c in CURVES:
        entries[(Prog.SELFTEST, c.code)] = entry
        info[(Prog.SELFTEST, c.code)] = ProgramInfo(
            "selftest", entry, len(asm.words), asm.cycles, asm.blocks)
    # ED_NONCE = reduction block + BASEMUL (Ed25519)
    pre = Program("ed_nonce_prefix", IO)
    ed_nonce_prefix(pre)
    pre.halt()
    pre_asm = pre.assemble(len(words))
    npre, pre_cycles = len(pre_asm.words) - 1, pre_asm.cycles - 1
    nonce = add(Prog.ED_NONCE, ED25519)
    base = entries[(Prog.ED_NONCE, ED25519.code)] + npre
    bm = build_program(Prog.BASEMUL, ED25519).assemble(base)
    assert nonce.words[:npre] == pre_asm.words[:npre] and nonce.words[npre:] == bm.words
    assert nonce.cycles == pre_cycles + bm.cycles
    entries[(Prog.BASEMUL, ED25519.code)] = base
    info[(Prog.BASEMUL, ED25519.code)] = ProgramInfo(
        "basemul_ed25519", base, len(bm.words), bm.cycles, bm.blocks)
    for c in CURVES:
        if c is not ED25519:
            add(Prog.BASEMUL, c, b3_adds=b3_adds)
    add(Prog.ED_S, ED25519)
    for c in CURVES:
        if c is not ED25519:
            add(Prog.ECDSA, c, b3_adds=b3_adds, interleave=interleave)
    assert len(words) <= 1 << 12, "LOOP words address 4096 words"
    return ROM(words, entries, info)


def curve_of(code: int) -> Curve:
    return {c.code: c for c in CURVES}[code]


# re-exported for the documentation / tests
CURVE_CODES = {c.name: c.code for c in CURVES}
_ = (P256, SECP256K1)
