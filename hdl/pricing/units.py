"""Building blocks of the Greeks pipeline: a stage scheduler, limb multipliers, adder trees,
rounding shifters and the segment-quadratic function unit.

The datapath (:mod:`.pipeline`) is written as a dataflow of :class:`Node` values. Each node
knows the pipeline stage (clock cycle after the input register) at which its value is valid;
:meth:`Pipe.reg` registers a function of nodes one stage after the latest of them and delays the
earlier ones automatically (one shared delay chain per node), so the whole datapath is balanced
by construction and has one constant latency. Every operation mirrors one function of
:mod:`.model` and is bit exact with it:

    model.products / model.square   ->  limb_products / limb_square  (one MULT18X18D each)
    model.fold                      ->  Pipe.sum  (adder tree of partial products, floor/round)
    model.rshift_round/shift_round  ->  shift_round  (barrel shifter, then +1 >> 1)
    model.mul_full(a, L2E, 46)      ->  const_mul  (canonical-signed-digit shift-add tree)
    model.seg_quad                  ->  seg_quad  (table ROM in block RAM + 5 MULT18X18D)

Each MULT18X18D is one 18 x 18 product between registers (about 7 ns on the ECP5-85F, speed 6);
every adder stage is one carry chain of at most ~100 bits.
"""

from __future__ import annotations

from amaranth import Cat, Const, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib.memory import Memory

from . import tables as tb

__all__ = ["Node", "Pipe", "fit", "limb_products", "limb_square", "const_mul", "shift_round",
           "SegmentROM", "seg_quad", "csd_digits"]


def fit(value, shape) -> Value:
    """``value`` truncated or sign/zero-extended to ``shape`` (wiring only)."""
    shape = Shape.cast(shape)
    value = Value.cast(value)
    w = shape.width
    if len(value) >= w:
        res = value[:w]
    elif value.shape().signed:
        res = Cat(value, value[-1].replicate(w - len(value)))
    else:
        res = Cat(value, Const(0, w - len(value)))
    return res.as_signed() if shape.signed else res.as_unsigned()


class Node:
    """A value and the pipeline stage at which it is valid."""

    __slots__ = ("value", "stage", "name", "delayed", "reset_less")

    def __init__(self, value, stage: int, name: str, reset_less: bool = True):
        self.value = Value.cast(value)
        self.stage = stage
        self.name = name
        self.delayed = [self.value]  # delayed[k]: the value at stage + k
        self.reset_less = reset_less  # its delay registers need no reset (data, not control)

    def shape(self) -> Shape:
        return self.value.shape()

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"<Node {self.name} @{self.stage} {self.shape()}>"


class Pipe:
    """Stage bookkeeping for a free-running (no clock enable) pipeline in module ``m``."""

    def __init__(self, m, domain: str = "sync", mul_input_reg: bool = True):
        self.m = m
        self.domain = domain
        self.mul_input_reg = mul_input_reg
        self.reg_bits = 0  # datapath registers
        self.delay_bits = 0  # registers in delay chains that balance the stages
        self.bram_bits = 0  # register bits replaced by block-RAM delay lines
        self.mults: dict[str, int] = {}  # unit -> MULT18X18D count (model.multiplier_count)
        self.memories: list = []  # the coefficient ROMs (amaranth.lib.memory.Memory)

    # -- nodes ---------------------------------------------------------------------------------

    def input(self, value, name: str, stage: int = 0) -> Node:
        return Node(value, stage, name)

    def at(self, x, stage: int):
        """The value of node ``x`` at ``stage`` (a delayed copy); ints pass through."""
        if not isinstance(x, Node):
            return x
        if isinstance(x.value, Const):
            return x.value
        k = stage - x.stage
        if k < 0:
            raise ValueError(f"{x.name} is valid at stage {x.stage}, needed at {stage}")
        while len(x.delayed) <= k:
            prev = x.delayed[-1]
            sig = Signal(prev.shape(), name=f"{x.name}_d{len(x.delayed)}",
                         reset_less=x.reset_less)
            self.m.d[self.domain] += sig.eq(prev)
            self.delay_bits += len(sig)
            x.delayed.append(sig)
        return x.delayed[k]

    @staticmethod
    def _stage(args, stage=None) -> int:
        stages = [a.stage for a in args if isinstance(a, Node)]
        if stage is not None:
            stages.append(stage)
        return max(stages) if stages else 0

    def comb(self, name: str, fn, *args) -> Node:
        """A combinational function of nodes (wiring: slices, concatenations), no register."""
        s = self._stage(args)
        return Node(fn(*(self.at(a, s) for a in args)), s, name)

    def reg(self, name: str, fn, *args, shape=None, stage=None, control=False) -> Node:
        """``fn`` of the nodes at the latest of their stages, registered (valid one stage
        later). ``shape`` truncates/extends the result (default: the expression's shape).

        Data registers have no reset (no reset net to ~24,000 flip-flops); ``control``
        registers (the valid bits) and their delay chains do."""
        s = self._stage(args, stage)
        expr = Value.cast(fn(*(self.at(a, s) for a in args)))
        sig = Signal(expr.shape() if shape is None else shape, name=name, reset_less=not control)
        self.m.d[self.domain] += sig.eq(expr)
        self.reg_bits += len(sig)
        return Node(sig, s + 1, name, reset_less=not control)

    def bram_delay(self, name: str, nodes, stage: int) -> list[Node]:
        """The values of ``nodes`` at ``stage``, delayed through one block-RAM ring buffer
        instead of register chains (for long, wide delays: one DP16KD holds 36 bits x 512).

        The pipeline has no clock enable, so a write pointer that advances every clock and a
        read pointer ``stage - s0 - 2`` behind it (one clock for the synchronous read, one
        for the output register) reproduce the register chain exactly.
        """
        s0 = max(n.stage for n in nodes)
        d = stage - s0
        assert d >= 3, (name, d)
        vals = [self.at(n, s0) for n in nodes]
        word = Cat(*vals)
        depth = max(16, 1 << (d - 1).bit_length())
        mem = Memory(shape=unsigned(len(word)), depth=depth, init=[],
                     attrs={"ram_style": "block"})
        self.m.submodules[name] = mem
        self.memories.append(mem)
        wp = mem.write_port(domain=self.domain)
        rp = mem.read_port(domain=self.domain, transparent_for=())
        ptr = Signal(range(depth), name=f"{name}_ptr")
        self.m.d[self.domain] += ptr.eq(ptr + 1)
        self.m.d.comb += [
            wp.addr.eq(ptr), wp.data.eq(word), wp.en.eq(1),
            rp.addr.eq((ptr - (d - 2))[:len(ptr)]),
        ]
        out = Signal(len(word), name=f"{name}_q", reset_less=True)
        self.m.d[self.domain] += out.eq(rp.data)
        self.reg_bits += len(out)
        self.bram_bits += len(word) * d
        res, off = [], 0
        for n, v in zip(nodes, vals, strict=True):
            w = len(v)
            bits = out[off:off + w]
            res.append(Node(bits.as_signed() if v.shape().signed else bits, stage,
                            f"{n.name}_b"))
            off += w
        return res

    def mul(self, unit: str, a: Node, b: Node) -> Node:
        """One MULT18X18D: a registered product of two operands of at most 18 bits.

        The operands get their own register in front of the block (``mul_input_reg``): the
        DSP columns are far from most logic, and without it the route to the block plus the
        multiplier itself is the longest path of the design (~9.6 ns)."""
        assert len(a) <= 18 and len(b) <= 18, (unit, len(a), len(b))
        self.mults[unit] = self.mults.get(unit, 0) + 1
        name = f"{unit.replace('.', '_')}_p{self.mults[unit]}"
        if self.mul_input_reg:
            s = self._stage((a, b))
            a = self.reg(f"{name}_a", lambda v: v, a, stage=s)
            b = self.reg(f"{name}_b", lambda v: v, b, stage=s)
        return self.reg(name, lambda x, y: x * y, a, b)

    # -- adder trees ---------------------------------------------------------------------------

    def sum(self, name: str, terms, shift: int = 0, rnd: bool = False, shape=None) -> Node:
        """``floor((sum(+-t * 2**e) + [2**(shift-1)]) / 2**shift)``, exactly (model.fold).

        ``terms``: (node, e) or (node, e, negate) with e >= 0. Two terms are added per stage,
        always the two that are ready first. The result is wiring on the last adder's register,
        truncated/extended to ``shape`` if given (it must fit, as in the model).
        """
        items = []  # (stage, exponent, negate, value-or-node)
        const = 0
        for t in terms:
            node, e = t[0], t[1]
            neg = len(t) > 2 and t[2]
            if isinstance(node, int):
                const += (-node if neg else node) << e
            else:
                items.append([node.stage, e, neg, node])
        if rnd and shift > 0:
            const += 1 << (shift - 1)
        if const:
            tz = (const & -const).bit_length() - 1
            c = const >> tz
            cval = Const(c, signed(c.bit_length() + 1) if c < 0 else unsigned(c.bit_length()))
            items.append([-1, tz, False, Node(cval, -1, f"{name}_c")])
        assert items, name
        level = 0
        while len(items) > 1:
            items.sort(key=lambda it: (it[0], it[1]))
            a, b = items[0], items[1]
            if a[1] > b[1]:
                a, b = b, a  # a has the lower exponent: its low bits pass through
            k = b[1] - a[1]
            level += 1
            node = self.reg(f"{name}_s{level}", lambda x, y, k=k, na=a[2], nb=b[2]:
                            _add_shifted(x, y, k, na, nb), a[3], b[3])
            items = items[2:] + [[node.stage, a[1], a[2] and b[2], node]]
        stage, e, neg, node = items[0]
        if neg:  # every term was negated
            node = self.reg(f"{name}_neg", lambda x: -x, node)
        v = node.value
        if e >= shift:
            v = v.shift_left(e - shift) if e > shift else v
        else:
            v = v.shift_right(shift - e)
        return Node(v if shape is None else fit(v, shape), node.stage, name)


def _add_shifted(x: Value, y: Value, k: int, nx: bool, ny: bool) -> Value:
    """(+-x) + (+-y) * 2**k, exact; if both are negated, the negated sum (caller keeps the flag).
    When x is added (not subtracted), its k low bits pass through without a carry chain."""
    if nx and not ny:
        return y.shift_left(k) - x
    sub = (ny and not nx)
    if k == 0:
        return x - y if sub else x + y
    xs = x.shape().signed
    if not xs and len(x) <= k:
        low, hi = fit(x, unsigned(k)), (-y if sub else y)
    else:
        low = x[:k]
        xh = x.shift_right(k)
        hi = xh - y if sub else xh + y
    res = Cat(low, hi)
    return res.as_signed() if hi.shape().signed else res


# --------------------------------------------------------------------------- multipliers


def _limbs(p: Pipe, unit: str, a: Node, w: int, sgn: bool):
    """High 18-bit limb (carries the sign) and unsigned low limb of a w-bit operand."""
    if w <= 18:
        return p.comb(f"{unit}_a", lambda v: fit(v, signed(w) if sgn else unsigned(w)), a), None, 0
    lb = w - 18
    hi = p.comb(f"{a.name}_hi", lambda v: v[lb:w].as_signed() if sgn else v[lb:w], a)
    lo = p.comb(f"{a.name}_lo", lambda v: v[:lb], a)
    return hi, lo, lb


def limb_products(p: Pipe, unit: str, a: Node, wa: int, b: Node, wb: int,
                  drop_ll: bool = False, signed_: tuple[bool, bool] = (False, False)) -> list:
    """Partial products of model.products as adder-tree terms, one MULT18X18D each."""
    assert wa <= 36 and wb <= 36
    ah, al, la = _limbs(p, unit, a, wa, signed_[0])
    bh, bl, lb = _limbs(p, unit, b, wb, signed_[1])
    terms = [(p.mul(unit, ah, bh), la + lb)]
    if al is not None:
        terms.append((p.mul(unit, al, bh), lb))
    if bl is not None:
        terms.append((p.mul(unit, ah, bl), la))
    if al is not None and bl is not None and not drop_ll:
        terms.append((p.mul(unit, al, bl), 0))
    return terms


def limb_square(p: Pipe, unit: str, a: Node, w: int, drop_ll: bool = False) -> list:
    """Partial products of model.square (unsigned a): hi*hi, 2*hi*lo, lo*lo."""
    ah, al, la = _limbs(p, unit, a, w, False)
    terms = [(p.mul(unit, ah, ah), 2 * la)]
    if al is not None:
        terms.append((p.mul(unit, ah, al), la + 1))
        if not drop_ll:
            terms.append((p.mul(unit, al, al), 0))
    return terms


def csd_digits(k: int) -> list[tuple[int, int]]:
    """Canonical signed digits of k > 0: [(position, +1 or -1)], fewest nonzero digits."""
    digits, i = [], 0
    while k:
        if k & 1:
            d = 2 - (k & 3)
            digits.append((i, d))
            k -= d
        k >>= 1
        i += 1
    return digits


def const_mul(p: Pipe, name: str, a: Node, k: int, shift: int, shape=None,
              negate: bool = False) -> Node:
    """round(a * k / 2**shift) exactly, k a positive constant (model.mul_full): a shift-add
    tree of its canonical signed digits in LUTs, no MULT18X18D. ``negate``: of -a instead
    (the digits change sign; no negation stage)."""
    terms = [(a, pos, (d < 0) != negate) for pos, d in csd_digits(k)]
    return p.sum(name, terms, shift, rnd=True, shape=shape)


# --------------------------------------------------------------------------- shifters


def shift_round(p: Pipe, name: str, a: Node, s: Node, smin: int, smax: int, shape,
                s_offset: int = 0, split: int = 3) -> Node:
    """model.shift_round(a, s + s_offset) for s + s_offset in [smin, smax] (smin may be < 0):
    left shift for positive amounts, round-half-up right shift for negative ones.

    round-half-up(a / 2**n) = ((2a >> n) + 1) >> 1, and a * 2**n = ((2a * 2**n) + 1) >> 1, so
    both directions are one right barrel shift of a * 2**(smax + 1) by smax - amount (at most
    ``split`` mux levels per stage), an incrementer and wiring.
    """
    shape = Shape.cast(shape)
    span = smax - smin
    kbits = max(span.bit_length(), 1)
    out_w = shape.width + 1  # the bits of 2a*2**amount the result needs
    kk = p.reg(f"{name}_k", lambda v: fit(smax - s_offset - v, unsigned(kbits)), s)
    if smax + 1 >= 0:
        wide = p.comb(f"{name}_w", lambda v: v.shift_left(smax + 1), a)
    else:  # floor(floor(2a / 2**m) / 2**n) = floor(2a / 2**(m + n))
        wide = p.comb(f"{name}_w", lambda v: v.shift_right(-(smax + 1)), a)
    # right barrel shift by kk, `split` bits of kk per stage, low bits first
    cur = wide
    done = 0
    while done < kbits:
        nb = min(split, kbits - done)
        lo, hi = done, done + nb
        # the bits still needed: the output window plus what later stages shift into it
        keep = out_w + (1 << kbits) - (1 << hi)

        def step(v, k, lo=lo, hi=hi, keep=keep):
            r = v >> (k[lo:hi] << lo)
            return fit(r, Shape(min(keep, len(v)), v.shape().signed))

        cur = p.reg(f"{name}_sh{lo}", step, cur, kk)
        done = hi
    return p.reg(name, lambda v: fit((fit(v, Shape(out_w, v.shape().signed)) + 1)
                                     .shift_right(1), shape), cur)


# --------------------------------------------------------------------------- segment quadratic


class SegmentROM:
    """One coefficient table in block RAM: word = c0 + rounding | c1 (s32) | c2 (s18).

    The unit's rounding constant 2**(shift-1) is folded into c0 (it enters the same adder
    tree at a lower or equal weight), so the adder tree has no extra constant input.
    """

    def __init__(self, table: tb.SegmentTable):
        self.table = t = table
        w = t.delta_bits
        base = t.f1 + w
        self.e0 = base - t.f0
        self.e2 = base - (t.f2 + 18)
        self.shift = base - t.out_frac
        assert self.e0 >= 0 and self.e2 >= 0 and self.shift - 1 >= self.e0
        c0 = [int(v) + (1 << (self.shift - 1 - self.e0)) for v in t.c0]
        assert min(c0) >= 0
        self.w0 = max(c0).bit_length()
        self.c1_bits, self.c2_bits = tb.C1_BITS, tb.C2_BITS
        m1, m2 = (1 << self.c1_bits) - 1, (1 << self.c2_bits) - 1
        init = [c0[i] | ((int(t.c1[i]) & m1) << self.w0)
                | ((int(t.c2[i]) & m2) << (self.w0 + self.c1_bits)) for i in range(t.entries)]
        self.width = self.w0 + self.c1_bits + self.c2_bits
        self.memory = Memory(shape=unsigned(self.width), depth=t.entries, init=init)

    def fields(self, word: Value):
        w0, w1 = self.w0, self.c1_bits
        c0 = word[:w0]
        c1 = word[w0:w0 + w1].as_signed()
        c2 = word[w0 + w1:self.width].as_signed()
        return c0, c1, c2


def seg_quad(p: Pipe, unit: str, rom: SegmentROM, idx: Node, delta: Node) -> Node:
    """model.seg_quad: C0 + C1*delta + C2*delta^2 from a table read, saturated to u1.35.

    Stages: address -> ROM (2: read, register) in parallel with delta_hi^2; then C1 x delta
    (3 products) and C2 x (delta^2)_hi; a 5-input adder tree (3); saturation (1). 7 cycles.
    """
    t = rom.table
    w = t.delta_bits
    port = rom.memory.read_port(domain=p.domain)
    s = max(idx.stage, delta.stage)
    p.m.d.comb += port.addr.eq(p.at(idx, s))
    word = p.reg(f"{unit}_word", lambda v: v, Node(port.data, s + 1, f"{unit}_rom"))
    dh = p.comb(f"{unit}_dh", lambda d: d[w - 18:w], delta)
    dl = p.comb(f"{unit}_dl", lambda d: d[:w - 18], delta)
    dsq = p.mul(f"{unit}.dsq", dh, dh)
    dsq_hi = p.comb(f"{unit}_dsqh", lambda v: v[18:36], dsq)
    c0 = p.comb(f"{unit}_c0", lambda v: rom.fields(v)[0], word)
    c1h = p.comb(f"{unit}_c1h", lambda v: rom.fields(v)[1][14:].as_signed(), word)
    c1l = p.comb(f"{unit}_c1l", lambda v: rom.fields(v)[1][:14], word)
    c2 = p.comb(f"{unit}_c2", lambda v: rom.fields(v)[2], word)
    c2d2 = p.mul(f"{unit}.c2d2", c2, dsq_hi)
    lb = w - 18
    terms = [
        (c0, rom.e0),
        (c2d2, rom.e2),
        (p.mul(f"{unit}.c1d", c1h, dh), 14 + lb),
        (p.mul(f"{unit}.c1d", c1l, dh), lb),
        (p.mul(f"{unit}.c1d", c1h, dl), 14),
    ]
    y = p.sum(f"{unit}_sum", terms, rom.shift, rnd=False)
    top = t.out_max
    assert top == (1 << 36) - 1

    def sat(v):
        neg = v[-1] if v.shape().signed else Const(0)
        over = v[36:].any() if len(v) > 36 else Const(0)
        return Mux(neg, 0, Mux(over, top, v[:36]))

    return p.reg(unit, sat, y, shape=unsigned(36))
