"""Microcode of the curve engine: instruction set, program builder, static scheduler, assembler.

Pure Python (no Amaranth).  docs/ecc.md part 2 describes the machine; in short:

* One instruction may *issue* per cycle.  An instruction reads its register operands in its
  issue cycle ``t`` (synchronous register-file read; the values reach the unit at ``t+1``) and
  its result is written to the register file in cycle ``t + WRITE[op]`` (committed at the end
  of that cycle, so an instruction issued at ``t + WRITE[op] + 1`` or later reads it; one
  issued at ``t + WRITE[op]`` or earlier still reads the old value).
* Every unit has a fixed latency and the units never stall, so the program is scheduled
  statically here: each ROM word carries ``wait``, the number of cycles until the next word
  issues.  A program is a sequence of *blocks* (straight-line code) and *loops* (a block
  repeated a fixed number of times).  Each block is list-scheduled on its own, honouring data
  dependencies (RAW, WAR, WAW on registers, flags and the digit state), the multiplier's
  19-cycle issue interval, the freeze unit's 157-cycle interval and the single register-file
  write port; a block ends when all its results are written (a barrier), so blocks and loop
  iterations compose without further checks.  The cycle count of a program is therefore a
  constant of the program: nothing in the machine depends on data.
* Temporaries (``Tmp``) live inside one block and get physical registers after scheduling
  (interval colouring); values that cross blocks live in pinned registers (``Reg``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum

from quantgate.hdl.arith import model as A

__all__ = [
    "Op", "Flag", "FIELDS", "WORD_BITS", "WRITE", "STATE_WRITE", "II", "NREG",
    "FREEZE_LATENCY", "II_FORBIDDEN", "issue_distance_ok", "Reg", "Tmp", "Instr", "Block",
    "Program", "encode", "decode", "schedule", "schedule_loop", "loop_end_fields",
    "loop_end_addr",
]

NREG = 32  #: registers of 291 bits
FREEZE_LATENCY = 4 * 39 + 1  #: hdl/arith/freeze.py LATENCY (checked by engine.py and the tests)
MAX_WAIT = 255


class Op(IntEnum):
    NOP = 0  #: nothing
    HALT = 1  #: end of program: ``done``
    LOOP = 2  #: the next words up to address {a, dst} (the one with ``end``) run ``imm`` times
    MUL = 3  #: dst = a * b / 2^306 mod m[sel]                 (Montgomery, MontMul)
    ADD = 4  #: dst = a + b mod m[sel]                          (AddSub, redundant result)
    SUB = 5  #: dst = a - b mod m[sel]
    FRZ = 6  #: dst = a mod m[sel], canonical                  (Freeze)
    LDT = 7  #: dst = ROM[imm]  or, with ``tab``, ROM[imm + 8*(win+off) + max(|d|,1) - 1]
    SEL = 8  #: dst = flag[imm] ? a : b
    OR = 9  #: dst = a | b
    AND = 10  #: dst = a & b
    XOR = 11  #: dst = a ^ b
    SETB = 12  #: dst = a with bit imm replaced by b[0]
    TSTB = 13  #: F[dst] = a[imm]
    TEQ = 14  #: F[dst] = (a == b)
    RCD = 15  #: digits = signed radix-16 recoding of a[0:256] (one digit per cycle); win = 0


class Flag(IntEnum):
    """Flag sources of ``SEL`` (``imm``): digit d0 = digit ``win``, d1 = digit ``win+1``."""

    NEG0 = 0
    ZERO0 = 1
    NEG1 = 2
    ZERO1 = 3
    F0 = 4
    F1 = 5
    F2 = 6
    F3 = 7


#: instruction word fields, least significant first
FIELDS = (
    ("op", 5), ("dst", 6), ("a", 6), ("b", 6), ("sel", 3), ("imm", 12),
    ("tab", 1), ("off", 1), ("end", 1), ("adv", 1), ("wait", 8),
)
WORD_BITS = sum(w for _, w in FIELDS)

LU_OPS = (Op.SEL, Op.OR, Op.AND, Op.XOR, Op.SETB)
#: cycle (after the issue cycle) in which the register file is written
WRITE = {
    Op.MUL: 1 + A.MUL_LATENCY,  # 28: request at t+1, result at t+28
    Op.ADD: 1 + A.ADDSUB_LATENCY,  # 8
    Op.SUB: 1 + A.ADDSUB_LATENCY,
    Op.FRZ: 1 + FREEZE_LATENCY,  # 158
    Op.LDT: 4,  # address at t, ROM read at t+1, bank registers t+2, select t+3, write t+4
    **{op: 2 for op in LU_OPS},  # operands at t+1, result register, write t+2
}
#: cycle in which a flag (TSTB, TEQ) or the digit state (RCD) is written
STATE_WRITE = {Op.TSTB: 2, Op.TEQ: 2, Op.RCD: 2 + 64}
#: the recoder shifts its digits in one per cycle from t+2 on: the digit state is already
#: disturbed then (this offset is what a preceding reader must not overlap: WAR)
FIRST_CHANGE = {Op.RCD: 2}
#: minimum distance between two issues of the same non-pipelined unit
II = {Op.MUL: A.MUL_II, Op.FRZ: FREEZE_LATENCY}
#: distances above II that are still illegal: MontMul is ready in the second-to-last cycle of
#: a request's issue slot (distance 19) and again once idle (21), but not in the last one (20)
II_FORBIDDEN = {Op.MUL: frozenset({A.MUL_II + 1}), Op.FRZ: frozenset()}


def issue_distance_ok(op, distance: int) -> bool:
    """May two issues of ``op`` (a unit in ``II``) be ``distance`` cycles apart?"""
    d = abs(distance)
    return d >= II[op] and d not in II_FORBIDDEN[op]
_USES_A = {Op.MUL, Op.ADD, Op.SUB, Op.FRZ, Op.SEL, Op.OR, Op.AND, Op.XOR, Op.SETB, Op.TSTB,
           Op.TEQ, Op.RCD}
_USES_B = {Op.MUL, Op.ADD, Op.SUB, Op.SEL, Op.OR, Op.AND, Op.XOR, Op.SETB, Op.TEQ}


def loop_end_fields(addr: int) -> dict:
    """A LOOP word names the address of the last word of its body in ``{a, dst}``."""
    assert 0 <= addr < 1 << 12
    return {"dst": addr & 63, "a": addr >> 6}


def loop_end_addr(word: dict) -> int:
    return word["dst"] | word["a"] << 6


def encode(fields: dict) -> int:
    word, pos = 0, 0
    for name, width in FIELDS:
        v = int(fields.get(name, 0))
        assert 0 <= v < 1 << width, (name, v)
        word |= v << pos
        pos += width
    return word


def decode(word: int) -> dict:
    out, pos = {}, 0
    for name, width in FIELDS:
        out[name] = (word >> pos) & ((1 << width) - 1)
        pos += width
    out["op"] = Op(out["op"])
    return out


# ---------------------------------------------------------------------------------------------
# Values and instructions


@dataclass(eq=False)
class Reg:
    """A pinned register: the same physical register in every block until released."""

    name: str
    phys: int

    def __repr__(self):
        return f"{self.name}(r{self.phys})"


@dataclass(eq=False)
class Tmp:
    """A block-local value, written once; its register is chosen after scheduling."""

    name: str
    phys: int | None = None

    def __repr__(self):
        return f"%{self.name}" + (f"(r{self.phys})" if self.phys is not None else "")


@dataclass(eq=False)
class Instr:
    op: Op
    dst: Reg | Tmp | int | None = None  # int: flag number (TSTB, TEQ)
    a: Reg | Tmp | None = None
    b: Reg | Tmp | None = None
    sel: int = 0
    imm: int = 0
    tab: int = 0
    off: int = 0

    def writes_rf(self) -> bool:
        return self.op in WRITE

    def reads(self) -> list:
        res = []
        if self.op in _USES_A:
            res.append(self.a)
        if self.op in _USES_B:
            res.append(self.b)
        if self.op == Op.LDT and self.tab:
            res.append("digits")
        if self.op == Op.SEL:
            res.append("digits" if self.imm < Flag.F0 else ("flag", self.imm - Flag.F0))
        return res

    def writes(self) -> list:
        """(resource, write cycle offset)"""
        if self.op in WRITE:
            return [(self.dst, WRITE[self.op])]
        if self.op in (Op.TSTB, Op.TEQ):
            return [(("flag", self.dst), STATE_WRITE[self.op])]
        if self.op == Op.RCD:
            return [("digits", STATE_WRITE[self.op])]
        return []

    def latency(self) -> int:
        return max([w for _, w in self.writes()], default=0)

    def __repr__(self):
        parts = [self.op.name]
        for f in ("dst", "a", "b"):
            v = getattr(self, f)
            if v is not None:
                parts.append(repr(v))
        if self.op in (Op.MUL, Op.ADD, Op.SUB, Op.FRZ):
            parts.append(f"sel={self.sel}")
        if self.op in (Op.LDT, Op.SEL, Op.SETB, Op.TSTB, Op.LOOP):
            parts.append(f"imm={self.imm}")
        if self.tab:
            parts.append(f"tab off={self.off}")
        return " ".join(parts)


class Block:
    """Straight-line code; ops return their destination (a new ``Tmp`` unless ``dst``)."""

    def __init__(self, prog: Program, label: str):
        self.prog = prog
        self.label = label
        self.instrs: list[Instr] = []
        self._n = 0

    def _dst(self, dst, hint):
        if dst is None:
            self._n += 1
            dst = Tmp(f"{hint}{self._n}")
        return dst

    def _emit(self, ins: Instr):
        for v in (ins.a, ins.b):
            assert v is None or isinstance(v, Reg | Tmp), v
        if isinstance(ins.dst, Tmp):
            assert all(i.dst is not ins.dst for i in self.instrs), "a Tmp is written once"
        self.instrs.append(ins)
        return ins.dst

    def mul(self, a, b, sel, dst=None):
        return self._emit(Instr(Op.MUL, self._dst(dst, "m"), a, b, sel))

    def add(self, a, b, sel, dst=None):
        return self._emit(Instr(Op.ADD, self._dst(dst, "a"), a, b, sel))

    def sub(self, a, b, sel, dst=None):
        return self._emit(Instr(Op.SUB, self._dst(dst, "s"), a, b, sel))

    def frz(self, a, sel, dst=None):
        return self._emit(Instr(Op.FRZ, self._dst(dst, "f"), a, None, sel))

    def ldt(self, addr, *, tab=False, off=0, dst=None):
        return self._emit(Instr(Op.LDT, self._dst(dst, "t"), imm=addr, tab=int(tab), off=off))

    def sel(self, flag, a, b, dst=None):
        """dst = flag ? a : b"""
        return self._emit(Instr(Op.SEL, self._dst(dst, "c"), a, b, imm=int(flag)))

    def or_(self, a, b, dst=None):
        return self._emit(Instr(Op.OR, self._dst(dst, "o"), a, b))

    def and_(self, a, b, dst=None):
        return self._emit(Instr(Op.AND, self._dst(dst, "o"), a, b))

    def xor(self, a, b, dst=None):
        return self._emit(Instr(Op.XOR, self._dst(dst, "o"), a, b))

    def setb(self, a, b, pos, dst=None):
        """dst = a with bit ``pos`` replaced by b[0]"""
        return self._emit(Instr(Op.SETB, self._dst(dst, "o"), a, b, imm=pos))

    def tstb(self, flag, a, pos):
        self._emit(Instr(Op.TSTB, int(flag), a, imm=pos))

    def teq(self, flag, a, b):
        self._emit(Instr(Op.TEQ, int(flag), a, b))

    def rcd(self, a):
        self._emit(Instr(Op.RCD, None, a))


# ---------------------------------------------------------------------------------------------
# Scheduler


@dataclass
class Schedule:
    slots: list  #: (cycle, Instr), sorted by cycle
    length: int  #: cycles from the first issue until every result is written and readable;
    #: for a software-pipelined loop body: the period (cycles between iteration starts)
    drain: int = 0  #: pipelined loop: cycles after the last period until its results land
    period: int | None = None  #: pipelined loop: the period (== length); None for blocks


def _dependencies(instrs):
    """preds[i] = [(j, delta)]: t_i >= t_j + delta."""
    preds = [[] for _ in instrs]
    last_writer = {}  # resource -> (j, write offset)
    readers = {}  # resource -> [j] since the last write
    for i, ins in enumerate(instrs):
        for r in ins.reads():
            if r in last_writer:
                j, wj = last_writer[r]
                preds[i].append((j, wj + 1))  # RAW
            readers.setdefault(r, []).append(i)
        for r, wi in ins.writes():
            first = FIRST_CHANGE.get(ins.op, wi)
            for j in readers.get(r, []):
                if j != i:
                    preds[i].append((j, -first))  # WAR: write at t_i + wi >= read at t_j
            if r in last_writer:
                j, wj = last_writer[r]
                preds[i].append((j, wj + 1 - wi))  # WAW
            last_writer[r] = (i, wi)
            readers[r] = []
    return preds


def schedule(instrs: list[Instr], tries: int = 48) -> Schedule:
    """List scheduling of one block; returns the shortest of several heuristics.

    Priority is the critical path to the end of the block (latency-weighted).  Two ways to
    pick the next op (operation-driven: highest priority first, placed in its earliest free
    slot; cycle-driven: among the ops that can issue at the current cycle, highest priority)
    and, for each, a few deterministic random perturbations of the priorities; the shortest
    schedule wins (ties: the first found).  Deterministic for a given block.
    """
    import random

    preds = _dependencies(instrs)
    succs = [[] for _ in instrs]
    for i, ps in enumerate(preds):
        for j, d in ps:
            succs[j].append((i, d))
    prio = [0] * len(instrs)
    for i in reversed(range(len(instrs))):
        prio[i] = max([instrs[i].latency() + 1] + [d + prio[s] for s, d in succs[i]])
    best = None
    rng = random.Random(len(instrs))
    if sum(ins.op in II for ins in instrs) <= 1:
        tries = 2  # no unit contention: the critical-path order is already the best
    for k in range(tries):
        noise = [0.0] * len(instrs) if k < 2 else [rng.uniform(0, 12) for _ in instrs]
        p = [prio[i] + noise[i] for i in range(len(instrs))]
        s = _list_schedule(instrs, preds, succs, p, cycle_driven=k % 2 == 1)
        if best is None or s.length < best.length:
            best = s
    return best


def _carried(instrs):
    """Loop-carried constraints ``(j, i, delta)``: op i of iteration k+1 and op j of
    iteration k satisfy ``t_i + P >= t_j + delta`` (P: the period)."""
    acc: dict = {}
    for i, ins in enumerate(instrs):
        for r in ins.reads():
            acc.setdefault(r, ([], []))[0].append(i)
        for r, w in ins.writes():
            acc.setdefault(r, ([], []))[1].append((i, w, FIRST_CHANGE.get(ins.op, w)))
    out = []
    for reads, writes in acc.values():
        if not writes:
            continue
        (f, wf, ff), (last, wl, _) = writes[0], writes[-1]
        for i in reads:
            if i <= f:  # reads the previous iteration's last value (RAW)
                out.append((last, i, wl + 1))
            out.append((i, f, -ff))  # WAR: the next iteration's first write comes later
        out.append((last, f, wl + 1 - wf))  # WAW
    return out


def schedule_loop(instrs: list[Instr], upper: int, tries: int = 24) -> Schedule | None:
    """Software-pipelined schedule of a loop body: iteration k+1 starts ``P`` cycles after
    iteration k although k's last results are still in flight.  Every issue lies in
    [0, P); write-port slots and unit issue distances are checked modulo P; loop-carried
    dependencies (``_carried``) are turned into release times and the pass repeated until
    they hold.  Tries P downwards from ``upper - 1`` (``upper``: the plain block schedule's
    length) until two periods in a row fail; None if none below ``upper`` was found."""
    import random

    preds = _dependencies(instrs)
    succs = [[] for _ in instrs]
    for i, ps in enumerate(preds):
        for j, d in ps:
            succs[j].append((i, d))
    carried = _carried(instrs)
    n = len(instrs)
    prio = [0] * n
    for i in reversed(range(n)):
        prio[i] = max([instrs[i].latency() + 1] + [d + prio[s] for s, d in succs[i]])
    n_mul = sum(ins.op == Op.MUL for ins in instrs)
    n_frz = sum(ins.op == Op.FRZ for ins in instrs)
    lower = max(n, n_mul * II[Op.MUL], n_frz * II[Op.FRZ])

    def attempt(period):
        if n_mul and not issue_distance_ok(Op.MUL, period):
            return None
        if n_frz and not issue_distance_ok(Op.FRZ, period):
            return None
        rng = random.Random(period)
        for k in range(tries):
            noise = [0.0] * n if k < 2 else [rng.uniform(0, 16) for _ in range(n)]
            p = [prio[i] + noise[i] for i in range(n)]
            release = [0] * n
            for _round in range(12):  # carried dependencies become release times
                s = _list_schedule(instrs, preds, succs, p, cycle_driven=k % 2 == 1,
                                   period=period, release=release)
                if s is None:
                    break
                late = False
                for j, i, d in carried:
                    need = s.placed[j] + d - period
                    if s.placed[i] < need:
                        release[i] = max(release[i], need)
                        late = True
                if not late:
                    s.drain = max(0, s.length - period)
                    s.length = s.period = period
                    return s
        return None

    # shortest period found going down from the block length; stop after two failures
    best, misses = None, 0
    for period in range(upper - 1, lower - 1, -1):
        s = attempt(period)
        if s is not None:
            best, misses = s, 0
        elif period != 20:
            misses += 1
            if misses == 2:
                break
    return best


def _list_schedule(instrs, preds, succs, prio, cycle_driven: bool,
                   period: int | None = None, release=None) -> Schedule | None:
    """One list-scheduling pass; with ``period``: modulo resources, issues below ``period``
    (None if that fails)."""
    n = len(instrs)
    placed: dict[int, int] = {}
    issue_used: set[int] = set()
    write_used: set[int] = set()
    blocked: dict[Op, set[int]] = {Op.MUL: set(), Op.FRZ: set()}  # issue cycles (mod period)
    waiting = [len(p) for p in preds]
    ready = [i for i in range(n) if waiting[i] == 0]

    def earliest(i):
        return max([release[i] if release else 0] + [placed[j] + d for j, d in preds[i]])

    def wslot(t):
        return t % period if period else t

    offsets = (-1, 0, 1) if period else (0,)

    def fits(i, t):
        ins = instrs[i]
        if t in issue_used:
            return False
        if ins.writes_rf() and wslot(t + WRITE[ins.op]) in write_used:
            return False
        return ins.op not in blocked or wslot(t) not in blocked[ins.op]

    def place(i, t):
        ins = instrs[i]
        placed[i] = t
        issue_used.add(t)
        if ins.writes_rf():
            write_used.add(wslot(t + WRITE[ins.op]))
        if ins.op in blocked:
            span = II[ins.op] + 2
            for d in range(-span, span + 1):
                if any(not issue_distance_ok(ins.op, d + k * (period or 0)) for k in offsets):
                    blocked[ins.op].add(wslot(t + d))
        ready.remove(i)
        for s, _ in succs[i]:
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)

    cyc = 0
    while ready:
        if period and cyc >= period:
            return None
        if cycle_driven:
            cands = [i for i in ready if earliest(i) <= cyc and fits(i, cyc)]
            if not cands:
                cyc += 1
                continue
            place(max(cands, key=lambda k: (prio[k], -k)), cyc)
            continue
        i = max(ready, key=lambda k: (prio[k], -k))
        t = earliest(i)
        while not (period and t >= period) and not fits(i, t):
            t += 1
        if period and t >= period:
            return None
        place(i, t)
    assert len(placed) == n, "dependency cycle"
    slots = sorted(((placed[i], instrs[i]) for i in range(n)), key=lambda x: x[0])
    length = max([t + ins.latency() + 1 for t, ins in slots] + [1])
    s = Schedule(slots, length)
    s.placed = placed
    return s


def _allocate(sched: Schedule, free: list[int]):
    """Give every Tmp a physical register from ``free`` (interval colouring; for a pipelined
    loop the intervals of neighbouring iterations, shifted by the period, count too)."""
    first_write: dict[Tmp, int] = {}
    last_read: dict[Tmp, int] = {}
    for t, ins in sched.slots:
        for v in (ins.a, ins.b):
            if isinstance(v, Tmp):
                last_read[v] = max(last_read.get(v, 0), t)
        if isinstance(ins.dst, Tmp):
            first_write[ins.dst] = t + WRITE[ins.op]
    for v in last_read:
        assert v in first_write, f"{v} read but never written in this block"
    shifts = (-sched.period, 0, sched.period) if sched.period else (0,)
    held: dict[int, list] = {r: [] for r in free}  # physical register -> [(write, last read)]

    def compatible(w, e, w2, e2):
        # a later write may commit in the cycle of the last read (which sees the old value)
        return all(w + k >= e2 or w2 >= e + k for k in shifts)

    for v in sorted(first_write, key=lambda x: first_write[x]):
        w = first_write[v]
        e = max(last_read.get(v, w), w)
        if sched.period:
            assert e <= w + sched.period, f"{v} lives longer than the loop period"
        cands = [r for r in free if all(compatible(w, e, w2, e2) for w2, e2 in held[r])]
        if not cands:
            raise RuntimeError(f"out of registers at {v} (free pool {len(free)})")
        r = min(cands, key=lambda x: (max([e2 for _, e2 in held[x]] + [-1]), x))
        v.phys = r
        held[r].append((w, e))


# ---------------------------------------------------------------------------------------------
# Programs


@dataclass
class Assembled:
    words: list  #: instruction words (ints)
    cycles: int  #: issue of the first word .. issue of HALT, inclusive of the HALT cycle
    blocks: list = field(default_factory=list)  #: (label, cycles per repeat, repeats)


class Program:
    """A microcode program: blocks and loops in order, then ``halt``.

    ``fixed`` names registers with an agreed meaning (program inputs/outputs, e.g. the
    scalar and the results); ``reg`` allocates further pinned registers, ``release`` frees
    them.  Registers not pinned at a block are that block's temporaries.
    """

    def __init__(self, name: str, fixed: dict[str, int], nreg: int = NREG,
                 pipeline: bool = True):
        self.name = name
        self.nreg = nreg
        self.pipeline = pipeline  #: software-pipeline loop bodies (``schedule_loop``)
        self.pinned: dict[int, Reg] = {}
        self.items: list = []
        self.fixed = {}
        for nm, phys in fixed.items():
            self.fixed[nm] = self._pin(nm, phys)

    def _pin(self, name, phys):
        assert phys not in self.pinned, phys
        r = Reg(name, phys)
        self.pinned[phys] = r
        return r

    def reg(self, name: str) -> Reg:
        phys = min(set(range(self.nreg)) - set(self.pinned))
        return self._pin(name, phys)

    def regs(self, *names: str) -> list[Reg]:
        return [self.reg(n) for n in names]

    def release(self, *regs: Reg):
        for r in regs:
            assert self.pinned.get(r.phys) is r
            del self.pinned[r.phys]

    @contextmanager
    def block(self, label: str = "block"):
        b = Block(self, label)
        yield b
        self.items.append(("block", b, sorted(set(range(self.nreg)) - set(self.pinned))))

    @contextmanager
    def loop(self, count: int, label: str = "loop", adv: bool = False):
        assert 1 <= count < 1 << 12
        b = Block(self, label)
        yield b
        free = sorted(set(range(self.nreg)) - set(self.pinned))
        self.items.append(("loop", b, free, count, adv))

    def halt(self):
        self.items.append(("halt",))

    def assemble(self, base: int = 0) -> Assembled:
        """Words for ROM address ``base`` onwards (LOOP words hold absolute addresses)."""
        words: list[dict] = []
        cycles = 0
        blocks = []
        for item in self.items:
            kind = item[0]
            if kind == "halt":
                words.append({"op": Op.HALT, "wait": 1})
                cycles += 1
                continue
            b, free = item[1], item[2]
            if not b.instrs:
                continue
            sched = schedule(b.instrs)
            if kind == "loop" and self.pipeline and len(b.instrs) > 1:
                sched = schedule_loop(b.instrs, sched.length) or sched
            _allocate(sched, free)
            body = _emit(sched)
            if kind == "loop":
                count, adv = item[3], item[4]
                body[-1]["end"] = 1
                body[-1]["adv"] = int(adv)
                end = base + len(words) + len(body)  # the LOOP word comes first
                # LOOP waits 2 cycles: the engine loads its loop registers at issue
                words.append({"op": Op.LOOP, "imm": count, "wait": 2, **loop_end_fields(end)})
                words.extend(body)
                cycles += 2 + count * sched.length
                blocks.append((b.label + "_loopword", 2, 1))
                blocks.append((b.label, sched.length, count))
                if sched.drain:  # the last iteration's results are still in flight
                    words.extend(_emit(Schedule([(0, Instr(Op.NOP))], sched.drain)))
                    cycles += sched.drain
                    blocks.append((b.label + "_drain", sched.drain, 1))
            else:
                words.extend(body)
                cycles += sched.length
                blocks.append((b.label, sched.length, 1))
        assert words and words[-1]["op"] == Op.HALT, "program must end with halt()"
        return Assembled([encode(w) for w in words], cycles, blocks)


def _phys(v) -> int:
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    assert v.phys is not None
    return v.phys


def _emit(sched: Schedule) -> list[dict]:
    """Scheduled block -> word dicts with waits (NOPs fill gaps longer than MAX_WAIT)."""
    slots = list(sched.slots)
    if slots[0][0] != 0:
        slots.insert(0, (0, Instr(Op.NOP)))
    out = []
    for k, (t, ins) in enumerate(slots):
        nxt = slots[k + 1][0] if k + 1 < len(slots) else sched.length
        wait = nxt - t
        assert wait >= 1
        w = {
            "op": ins.op, "dst": _phys(ins.dst), "a": _phys(ins.a), "b": _phys(ins.b),
            "sel": ins.sel, "imm": ins.imm, "tab": ins.tab, "off": ins.off,
        }
        while wait > MAX_WAIT:
            out.append({**w, "wait": MAX_WAIT})
            w = {"op": Op.NOP}
            wait -= MAX_WAIT
        out.append({**w, "wait": wait})
    return out
