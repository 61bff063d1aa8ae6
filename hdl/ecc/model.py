"""Pure-Python model of the curve engine: scalar recoding and a cycle-exact interpreter of the
microcode ROM that the gateware runs (no Amaranth import).

The interpreter executes the *assembled* program words, with the same instruction timing as
the hardware (an operand is read in the issue cycle, a result lands ``WRITE[op]`` cycles
later) and the bit-exact arithmetic of ``quantgate.hdl.arith.model``.  It also checks the
structural rules the static scheduler must respect (multiplier and freeze issue intervals,
one register-file write per cycle), so a scheduling bug shows up here as an exception or a
wrong result rather than only in RTL simulation.  The register contents after a program are
those of the gateware, bit for bit, and so is the cycle count.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from quantgate.hdl.arith import model as A

from . import tables as T
from .curves import CURVES, Curve
from .microcode import (
    II,
    LU_OPS,
    NREG,
    STATE_WRITE,
    WRITE,
    Flag,
    Op,
    decode,
    issue_distance_ok,
    loop_end_addr,
)
from .programs import IO, Prog, rom

__all__ = ["recode", "NDIGITS", "Machine", "basemul", "START_TO_ISSUE"]

NDIGITS = 65  #: signed radix-16 digits of a 256-bit scalar (the last one is 0 or 1)
START_TO_ISSUE = 2  #: cycles from the command handshake to the first issue


def recode(k: int) -> list[tuple[int, int]]:
    """Signed radix-16 digits of ``k < 2^256``: ``k = sum(d_i 16^i)``, ``d_i`` in [-7, 8]
    (``d_64`` in {0, 1}).  Returned as (magnitude, negative) pairs, exactly as the hardware
    stores them (a "negative zero" (0, 1) occurs for a nibble 15 with carry in).

    carry_(i+1) = (nibble_i + carry_i >= 9); digit_i = nibble_i + carry_i - 16 carry_(i+1).
    With the threshold 9 rather than 8, a scalar below 2^255 (top nibble <= 7) never carries
    out of digit 63, so Ed25519 needs only 64 windows.
    """
    assert 0 <= k < 1 << 256
    out = []
    c = 0
    for i in range(64):
        v = ((k >> (4 * i)) & 15) + c
        c = int(v >= 9)
        out.append((16 - v, 1) if c else (v, 0))
    out.append((c, 0))
    return out


def digits_value(digits) -> int:
    return sum((-m if n else m) << (4 * i) for i, (m, n) in enumerate(digits))


@dataclass
class RunResult:
    regs: list
    cycles: int  #: command handshake .. done strobe, as the engine's ``cycles`` output
    issues: int  #: instructions issued


class Machine:
    """Cycle-exact interpreter of the engine's microcode."""

    def __init__(self, words=None):
        self.words = list(rom().words if words is None else words)
        self.tab = T.table_words()
        self.consts = T.const_words()

    def _rom(self, addr: int) -> int:
        if addr >= T.CONST_BASE:
            i = addr - T.CONST_BASE
            return self.consts[i] if i < len(self.consts) else 0
        return self.tab[addr]

    def run(self, entry: int, regs: dict | list | None = None, max_cycles=10**6) -> RunResult:
        rf: list = [None] * NREG  # None: never written (reading it is a program bug)
        if isinstance(regs, dict):
            for i, v in regs.items():
                rf[i] = v
        elif regs is not None:
            rf[: len(regs)] = list(regs)
        flags = [0, 0, 0, 0]
        digits = [(0, 0)] * (NDIGITS + 1)
        win = 0
        pending: list = []  # heap of (commit cycle, seq, kind, target, value)
        seq = 0
        last_issue = {Op.MUL: -(10**9), Op.FRZ: -(10**9)}
        write_cycles: set[int] = set()
        loop_start, loop_end, loop_cnt = 0, -1, 1
        pc, t, issues = entry, START_TO_ISSUE, 0

        def commit_until(cyc):
            nonlocal digits, win
            while pending and pending[0][0] <= cyc:
                _, _, kind, target, value = heapq.heappop(pending)
                if kind == "rf":
                    rf[target] = value
                elif kind == "flag":
                    flags[target] = value
                else:
                    digits, win = list(value) + [(0, 0)], 0

        def read(r):
            v = rf[r]
            if v is None:
                raise RuntimeError(f"r{r} read before written (pc {pc}, cycle {t})")
            return v

        while True:
            if t > max_cycles:
                raise RuntimeError("program does not halt")
            w = decode(self.words[pc])
            op = w["op"]
            commit_until(t - 1)  # results written in cycles < t are visible at t
            issues += 1
            if op == Op.HALT:
                commit_until(10**12)
                return RunResult(rf, t + 1, issues)
            if op in II:
                if not issue_distance_ok(op, t - last_issue[op]):
                    raise RuntimeError(f"{op.name} issued at {t}, {t - last_issue[op]} cycles "
                                       "after the previous one: the unit is not ready")
                last_issue[op] = t
            d0, d1 = digits[0], digits[1]  # a shift register in the hardware
            value = None
            sel = w["sel"]
            if op == Op.MUL:
                value = A.mont_mul_ref(read(w["a"]), read(w["b"]), sel)
            elif op in (Op.ADD, Op.SUB):
                value = A.add_sub(read(w["a"]), read(w["b"]), op == Op.SUB, sel)
            elif op == Op.FRZ:
                value = A.freeze(read(w["a"]), sel)
            elif op == Op.LDT:
                addr = w["imm"]
                if w["tab"]:
                    mag = (d1 if w["off"] else d0)[0]
                    addr += 8 * (win + w["off"]) + max(mag, 1) - 1
                value = self._rom(addr % (1 << 12))
            elif op in LU_OPS:
                a, b = read(w["a"]), read(w["b"])
                if op == Op.SEL:
                    value = a if self._flag(w["imm"], d0, d1, flags) else b
                elif op == Op.OR:
                    value = a | b
                elif op == Op.AND:
                    value = a & b
                elif op == Op.XOR:
                    value = a ^ b
                else:  # SETB
                    pos = w["imm"]
                    value = (a & ~(1 << pos)) | ((b & 1) << pos)
                value &= (1 << A.W) - 1
            elif op in (Op.TSTB, Op.TEQ):
                a = read(w["a"])
                f = (a >> w["imm"]) & 1 if op == Op.TSTB else int(a == read(w["b"]))
                heapq.heappush(pending, (t + STATE_WRITE[op], seq, "flag", w["dst"] & 3, f))
                seq += 1
            elif op == Op.RCD:
                k = read(w["a"]) & ((1 << 256) - 1)
                heapq.heappush(pending, (t + STATE_WRITE[op], seq, "digits", None, recode(k)))
                seq += 1
            if value is not None:
                cyc = t + WRITE[op]
                assert cyc not in write_cycles, f"two register writes in cycle {cyc}"
                write_cycles.add(cyc)
                assert 0 <= value < 1 << A.W
                heapq.heappush(pending, (cyc, seq, "rf", w["dst"], value))
                seq += 1
            # sequencing (the hardware does this at fetch; the order is the same): the word at
            # the address a LOOP word names closes the body
            if w["end"] and w["adv"]:
                digits = digits[1:] + [(0, 0)]
                win += 1
            assert bool(w["end"]) == (pc == loop_end), f"loop end flag / address at {pc}"
            if op == Op.LOOP:
                loop_start, loop_end, loop_cnt = pc + 1, loop_end_addr(w), w["imm"]
                pc += 1
            elif pc == loop_end and loop_cnt != 1:
                loop_cnt -= 1
                pc = loop_start
            else:
                pc += 1
            t += w["wait"]

    @staticmethod
    def _flag(idx, d0, d1, flags) -> int:
        if idx == Flag.NEG0:
            return d0[1]
        if idx == Flag.ZERO0:
            return int(d0[0] == 0)
        if idx == Flag.NEG1:
            return d1[1]
        if idx == Flag.ZERO1:
            return int(d1[0] == 0)
        return flags[idx - Flag.F0]


_MACHINE: Machine | None = None


def basemul(curve: Curve | str, k: int, machine: Machine | None = None) -> dict:
    """Run the BASEMUL program of ``curve`` on scalar ``k`` in the interpreter.

    Returns ``{"enc": bytes, "x": int, "y": int, "cycles": int, "regs": [...]}``."""
    global _MACHINE
    if isinstance(curve, str):
        curve = {c.name: c for c in CURVES}[curve]
    if machine is None:
        if _MACHINE is None:
            _MACHINE = Machine()
        machine = _MACHINE
    entry = rom().entries[(Prog.BASEMUL, curve.code)]
    res = machine.run(entry, {IO["k"]: k})
    enc = res.regs[IO["enc"]]
    return {
        "enc": curve.decode_int(enc),
        "x": res.regs[IO["x"]],
        "y": res.regs[IO["y"]],
        "cycles": res.cycles,
        "regs": res.regs,
    }
