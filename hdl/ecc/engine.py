"""``CurveEngine``: the elliptic-curve engine (Ed25519, secp256k1, P-256) of docs/ecc.md part 2.

A small microcoded machine around the modular-arithmetic units of ``hdl/arith``::

    cmd {program, curve} --> sequencer: program ROM (statically scheduled words, loops)
                                  |  issue: one word per cycle at most
                                  v
      rf port (idle) --> register file 32 x 291 b (2 read ports, 1 write port)
      (64-bit words)
                                  |  operands a, b
            +---------+-----------+-----------+----------+-----------+
            v         v           v           v          v           v
         MontMul    AddSub      Freeze    logic unit   recoder    LDT: table and
        (II 19,    (II 1,      (157 c.)   SEL/OR/AND/  (signed     constant BRAM
         lat 27)    lat 7)                 XOR/SETB,   radix-16    (address from the
            |         |           |       TSTB/TEQ)    digits)     digits)
            +---------+-----------+-----------+----------------------+
                                  v  one write per cycle (guaranteed by the schedule)
                            register file

Control interface (all in the ``sync`` domain):

* ``cmd``: stream of ``{program, curve}`` (``programs.Prog``, ``curves.Curve.code``);
  ``cmd.ready`` is high when idle.  The handshake starts the program.
* ``busy``: high from the cycle after the handshake until the program has finished.
* ``done``: one-cycle strobe when the program has finished (all results written).
* ``cycles``: cycles from the handshake to ``done`` of the last program (a constant per
  program: no instruction's timing depends on data).
* ``rf``: register-file access for a controller while the engine is idle, in 64-bit words
  (``PORT_W``; a register is ``NWORDS`` = 5 words, the top one 35 bits) so that no 291-bit
  bus runs between the engine and its controller.  Write: ``rf.shift`` high for a cycle
  shifts ``rf.wdata`` into a staging register, most significant word first; ``rf.we`` high
  for one cycle (with or after the last shift) writes the staging register, zero-extended,
  into register ``rf.addr`` at the end of the next cycle and then clears it (so a 256-bit
  value takes four shifts, and ``rf.we`` with no shift writes zero).  Read: ``rf.rdata`` is
  word ``rf.rword`` (combinational) of register ``rf.raddr`` of the previous cycle.  Drive
  ``rf.raddr`` from a register: it goes through one multiplexer to the address pins of every
  LUT-RAM copy of the register file.  Ignored / meaningless while busy (do not write in the
  ``cmd`` cycle).  Register numbers of the programs' inputs and outputs: ``programs.IO``.
* ``flush``: one cycle while idle: a multiplication of register ``rf.raddr`` by register 0
  (the HALT word's ``b``) runs through MontMul and is not written anywhere.  With both
  registers zero it leaves every register of the multiplier's pipeline (operand, digit,
  product, accumulator, quotient and normaliser registers) holding zero: after the
  controller has wiped the register file, nothing of the last program stays in the
  multiplier.  ``busy`` stays high until it has left the multiplier (28 cycles).
* ``error``: sticky (cleared by the next command) if a unit was issued while not ready or
  two results met at the write port; never set by a correctly scheduled program.

State outside the register file that a program derives from a scalar (the signed digits, the
window counter, the recoder, the flags) is cleared in the cycle after ``done``, and Freeze
clears its value register after each result; the register file itself is the controller's to
overwrite (``programs.IO`` and the temporaries), and then ``flush`` clears the multiplier.  The
other units' registers reload every cycle from the register file's read ports (AddSub, the
logic unit, TSTB/TEQ) or from the HALT word (LDT): once the register file holds zeros they
hold values of zeros and constants.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from quantgate.hdl.arith import freeze as freeze_mod
from quantgate.hdl.arith import model as A
from quantgate.hdl.arith.addsub import AddSub
from quantgate.hdl.arith.freeze import Freeze
from quantgate.hdl.arith.montmul import MontMul
from quantgate.hdl.arith.regs import copies

from . import microcode as U
from . import tables as T
from .microcode import FIELDS, NREG, WRITE, Flag, Op
from .programs import rom

__all__ = ["CurveEngine", "CmdLayout", "RegisterPort", "Word", "PORT_W", "NWORDS"]

W = A.W
PORT_W = 64  # the register port's word
NWORDS = -(-W // PORT_W)
Word = data.StructLayout({name: width for name, width in FIELDS})
CmdLayout = data.StructLayout({"program": 4, "curve": 2})
#: the controller's side of the register-file port
RegisterPort = wiring.Signature({
    "addr": Out(range(NREG)),  # write address
    "we": Out(1),
    "shift": Out(1),
    "wdata": Out(PORT_W),
    "raddr": Out(range(NREG)),
    "rword": Out(range(NWORDS)),
    "rdata": In(PORT_W),
})

NDIG = 65
assert freeze_mod.LATENCY == U.FREEZE_LATENCY
assert WRITE[Op.MUL] == 1 + A.MUL_LATENCY and WRITE[Op.ADD] == 1 + A.ADDSUB_LATENCY
assert WRITE[Op.FRZ] == 1 + freeze_mod.LATENCY and WRITE[Op.LDT] == 4
assert all(WRITE[op] == 2 for op in U.LU_OPS)
assert U.STATE_WRITE == {Op.TSTB: 2, Op.TEQ: 2, Op.RCD: 2 + NDIG - 1}


def bit_positions(img, op) -> list:
    """The bit positions (``imm``) that the program image's ``op`` words use.  SETB and TSTB
    are built for these alone: a general 291-way bit decoder / multiplexer cost ~600 LUTs on
    the operand bus, and the ROM is fixed when the engine is built."""
    pos = sorted({w["imm"] for w in map(U.decode, img.words) if w["op"] == op})
    assert all(p < W for p in pos), (op, pos)
    return pos


def _delay(m, name, n, valid, value, width):
    """n-stage delay line of (valid, value); returns the last stage."""
    v, x = valid, value
    for i in range(n):
        nv, nx = Signal(name=f"{name}_v{i}"), Signal(width, name=f"{name}_d{i}")
        m.d.sync += [nv.eq(v), nx.eq(x)]
        v, x = nv, nx
    return v, x


class CurveEngine(wiring.Component):
    cmd: In(stream.Signature(CmdLayout))
    rf: In(RegisterPort)
    flush: In(1)
    busy: Out(1)
    done: Out(1)
    cycles: Out(32)
    error: Out(1)

    def __init__(self, *, dsp_primitives: bool | None = None, b3_adds: bool = True):
        #: passed to MontMul (``None``: MULT18X18D primitives when built for a platform); also
        #: selects ``TRELLIS_FF`` instances for the engine's own register copies (regs.py)
        self.dsp_primitives = dsp_primitives
        self.rom = rom(b3_adds)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        img = self.rom
        prim = self.dsp_primitives if self.dsp_primitives is not None else platform is not None
        m.submodules.mul = mul = MontMul(dsp_primitives=self.dsp_primitives)
        m.submodules.addsub = asu = AddSub()
        m.submodules.frz = frz = Freeze()

        m.submodules.pmem = pmem = memory.Memory(
            shape=Word.size, depth=img.depth, init=img.words)
        prd = pmem.read_port()
        m.submodules.rmem = rmem = memory.Memory(shape=W, depth=NREG, init=[])
        wr = rmem.write_port()
        rda = rmem.read_port()
        rdb = rmem.read_port()

        # ---- sequencer ---------------------------------------------------------------------
        running = Signal()
        fvalid = Signal()  # prd.data holds a fetched word
        fpc = Signal(range(img.depth))  # its address
        ir = Signal(Word)  # the word being issued / waited on
        ir_valid = Signal()
        cnt = Signal(8)  # cycles left of the current word (1: last)
        issue = Signal()  # ir was loaded last cycle: issue it now
        loop_start = Signal(range(img.depth))
        loop_end = Signal(12, init=(1 << 12) - 1)  # address of the body's last word
        loop_cnt = Signal(12, init=1)
        cyc = Signal(32)
        fw = data.View(Word, prd.data)

        halting = issue & (ir.op == Op.HALT)
        last = ir_valid & (cnt == 1)
        advance = running & fvalid & (~ir_valid | last) & ~halting
        start = self.cmd.valid & self.cmd.ready
        # the branch depends on registers only (fetch address vs the loop's end address), not
        # on the block-RAM output, whose clock-to-out (5.6 ns) would leave no room for logic
        at_end = fpc == loop_end
        taken = at_end & (loop_cnt != 1)
        next_pc = Mux(taken, loop_start, fpc + 1)

        entry = Signal(range(img.depth))
        with m.Switch(Cat(self.cmd.payload.program, self.cmd.payload.curve)):
            for (prog, curve), addr in img.entries.items():
                with m.Case(int(prog) | curve << 4):
                    m.d.comb += entry.eq(addr)
            with m.Default():
                m.d.comb += entry.eq(0)

        fl_busy = Signal()  # a flush is in the multiplier
        m.d.comb += [
            self.cmd.ready.eq(~running & ~fl_busy),
            self.busy.eq(running | fl_busy),
            prd.en.eq(start | advance),
            prd.addr.eq(Mux(start, entry, next_pc)),
        ]
        m.d.sync += [issue.eq(advance), self.done.eq(halting)]
        with m.If(start):
            m.d.sync += [running.eq(1), fvalid.eq(1), ir_valid.eq(0), fpc.eq(entry),
                         cyc.eq(1), loop_end.eq(loop_end.init), loop_cnt.eq(1)]
        with m.Elif(running):
            m.d.sync += cyc.eq(cyc + 1)
        with m.If(halting):
            m.d.sync += [running.eq(0), fvalid.eq(0), ir_valid.eq(0),
                         self.cycles.eq(cyc + 1)]
        with m.Elif(advance):
            m.d.sync += [ir.eq(fw), ir_valid.eq(1), cnt.eq(fw.wait), fpc.eq(next_pc)]
            with m.If(taken):
                m.d.sync += loop_cnt.eq(loop_cnt - 1)
        with m.Elif(ir_valid):
            m.d.sync += cnt.eq(cnt - 1)
        # A LOOP word sets the loop registers when it issues (from ir, not from the block-RAM
        # output); it waits 2 cycles, so they are set before the fetch reaches the body's end.
        # In its issue cycle fpc is the address of the first body word.
        with m.If(issue & (ir.op == Op.LOOP)):
            m.d.sync += [loop_start.eq(fpc), loop_cnt.eq(ir.imm), loop_end.eq(Cat(ir.dst, ir.a))]

        # ---- digit state: recoded scalar (shift register) and window counter ----------------
        sr = Signal(5 * NDIG + 5)  # digit i at [5i, 5i+5): magnitude (4 bits), sign; 0 above
        win = Signal(7)
        d0, d1 = sr[0:5], sr[5:10]
        flags = Signal(4)
        # advance the digits at the end of the loop-end word's issue cycle; the enable is a
        # register loaded with the word (it fans out to the 330 digit flip-flops)
        adv_en = Signal()
        m.d.sync += adv_en.eq(advance & fw.end & fw.adv)
        with m.If(adv_en):
            m.d.sync += [sr.eq(sr >> 5), win.eq(win + 1)]

        # ---- issue stage (cycle t) -> ex stage (t+1) --------------------------------------
        op = ir.op
        m.d.comb += [
            rda.addr.eq(Mux(running, ir.a, self.rf.raddr)),
            rdb.addr.eq(ir.b),
        ]
        # the controller's read: one 64-bit word of the read port's data
        with m.Switch(self.rf.rword):
            for i in range(NWORDS):
                with m.Case(i):
                    m.d.comb += self.rf.rdata.eq(rda.data[PORT_W * i: PORT_W * (i + 1)])
        ex_mul, ex_as, ex_sub, ex_frz, ex_lu, ex_tst, ex_teq, ex_rcd = (
            Signal(name=n) for n in
            ("ex_mul", "ex_as", "ex_sub", "ex_frz", "ex_lu", "ex_tst", "ex_teq", "ex_rcd"))
        ex_op = Signal(5)
        ex_dst = Signal(range(NREG))
        ex_sel = Signal(3)
        ex_imm = Signal(9)
        ex_flag = Signal()
        flagv = Signal()
        with m.Switch(ir.imm[:3]):
            with m.Case(Flag.NEG0):
                m.d.comb += flagv.eq(d0[4])
            with m.Case(Flag.ZERO0):
                m.d.comb += flagv.eq(d0[:4] == 0)
            with m.Case(Flag.NEG1):
                m.d.comb += flagv.eq(d1[4])
            with m.Case(Flag.ZERO1):
                m.d.comb += flagv.eq(d1[:4] == 0)
            with m.Default():
                m.d.comb += flagv.eq(flags.bit_select(ir.imm[:2], 1))
        m.d.sync += [
            ex_mul.eq(issue & (op == Op.MUL)),
            ex_as.eq(issue & ((op == Op.ADD) | (op == Op.SUB))),
            ex_sub.eq(op == Op.SUB),
            ex_frz.eq(issue & (op == Op.FRZ)),
            ex_lu.eq(issue & (op >= Op.SEL) & (op <= Op.SETB)),
            ex_tst.eq(issue & (op == Op.TSTB)),
            ex_teq.eq(issue & (op == Op.TEQ)),
            ex_rcd.eq(issue & (op == Op.RCD)),
            ex_op.eq(op),
            ex_dst.eq(ir.dst),
            ex_sel.eq(ir.sel),
            ex_imm.eq(ir.imm),
            ex_flag.eq(flagv),
        ]
        a, b = rda.data, rdb.data

        # ---- flush: a zero multiplication through MontMul (request at t+1, like ex_mul) ---
        # Its operands are the read ports' data while idle: register rf.raddr and register
        # ir.b, which after a program is the HALT word's b (0).  The result is not written.
        assert all(w["b"] == 0 for w in map(U.decode, img.words) if w["op"] == Op.HALT)
        fl_ex = Signal()
        m.d.sync += fl_ex.eq(self.flush & ~running & ~fl_busy)
        with m.If(fl_ex):
            m.d.sync += fl_busy.eq(1)
        with m.Elif(mul.o.valid):
            m.d.sync += fl_busy.eq(0)

        # ---- arithmetic units (requests at t+1) ---------------------------------------------
        m.d.comb += [
            mul.i.valid.eq(ex_mul | fl_ex),
            mul.i.payload.a.eq(a),
            mul.i.payload.b.eq(b),
            mul.i.payload.sel.eq(ex_sel),
            asu.i.valid.eq(ex_as),
            asu.i.payload.a.eq(a),
            asu.i.payload.b.eq(b),
            asu.i.payload.sub.eq(ex_sub),
            asu.i.payload.sel.eq(ex_sel),
            frz.i.valid.eq(ex_frz),
            frz.i.payload.x.eq(a),
            frz.i.payload.sel.eq(ex_sel),
        ]
        # destination pipelines; "pre": the cycle before the write (see the write port)
        mul_pv, mul_pd = _delay(m, "mul_dst", A.MUL_LATENCY - 1, ex_mul, ex_dst, len(ex_dst))
        as_pv, as_pd = _delay(m, "as_dst", A.ADDSUB_LATENCY - 1, ex_as, ex_dst, len(ex_dst))
        frz_dst = Signal(range(NREG))
        frz_cnt = Signal(range(U.FREEZE_LATENCY + 1))
        with m.If(ex_frz):
            m.d.sync += [frz_dst.eq(ex_dst), frz_cnt.eq(U.FREEZE_LATENCY - 1)]
        with m.Elif(frz_cnt != 0):
            m.d.sync += frz_cnt.eq(frz_cnt - 1)
        frz_pv = frz_cnt == 1

        # ---- logic unit (result register at t+2) -------------------------------------------
        lu_v = Signal()
        lu_dst = Signal(range(NREG))
        lu_out = Signal(W)
        # SETB: its positions decoded from ir.imm in the issue cycle (registered)
        setb_at = {p: Signal(name=f"setb_at{p}") for p in bit_positions(img, Op.SETB)}
        for p, hit in setb_at.items():
            m.d.sync += hit.eq(ir.imm[:9] == p)
        setb_val = Cat(*[Mux(setb_at[i], b[0], a[i]) if i in setb_at else a[i]
                         for i in range(W)])
        lu_val = Signal(W)
        with m.Switch(ex_op):
            with m.Case(Op.SEL):
                m.d.comb += lu_val.eq(Mux(ex_flag, a, b))
            with m.Case(Op.OR):
                m.d.comb += lu_val.eq(a | b)
            with m.Case(Op.AND):
                m.d.comb += lu_val.eq(a & b)
            with m.Case(Op.XOR):
                m.d.comb += lu_val.eq(a ^ b)
            with m.Default():  # SETB
                m.d.comb += lu_val.eq(setb_val)
        m.d.sync += [lu_v.eq(ex_lu), lu_dst.eq(ex_dst), lu_out.eq(lu_val)]

        # ---- flags: TSTB / TEQ (written at the end of t+2) ---------------------------------
        # t+1: the bits TSTB can test (bit_positions) with a one-hot select, and per-group
        # equality (registered); t+2: the selected bit / all groups equal -> flag (a 291-bit
        # comparison in one cycle was the slowest path of the engine's own logic)
        tstb = bit_positions(img, Op.TSTB)
        ngrp = (W + 15) // 16
        a_pad = Cat(a, Const(0, 16 * ngrp - W))
        b_pad = Cat(b, Const(0, 16 * ngrp - W))
        tf_v = Signal()
        tf_teq = Signal()
        tf_f = Signal(2)
        tf_bits = Signal(len(tstb))
        tf_hit = Signal(len(tstb))
        tf_eq = Signal(ngrp)
        m.d.sync += [
            tf_v.eq(ex_tst | ex_teq),
            tf_teq.eq(ex_teq),
            tf_f.eq(ex_dst[:2]),
            tf_bits.eq(Cat(*[a[p] for p in tstb])),
            tf_hit.eq(Cat(*[ex_imm == p for p in tstb])),
            tf_eq.eq(Cat(*[a_pad[16 * i: 16 * i + 16] == b_pad[16 * i: 16 * i + 16]
                           for i in range(ngrp)])),
        ]
        with m.If(tf_v):
            m.d.sync += flags.bit_select(tf_f, 1).eq(
                Mux(tf_teq, tf_eq.all(), (tf_bits & tf_hit).any()))

        # ---- recoder: one digit per cycle, t+2 .. t+66 (sr complete at the end of t+66) ---
        # v = nibble + carry; carry' = (v >= 9); digit = v - 16 carry' as (|digit|, carry')
        r_busy = Signal()
        r_k = Signal(256)
        r_c = Signal()
        r_n = Signal(range(NDIG + 1))
        with m.If(ex_rcd):
            m.d.sync += [r_busy.eq(1), r_k.eq(a[:256]), r_c.eq(0), r_n.eq(NDIG), win.eq(0)]
        with m.Elif(r_busy):
            v = r_k[:4] + r_c
            c1 = v >= 9
            mag = Mux(c1, 16 - v, v)[:4]
            m.d.sync += [
                r_k.eq(r_k >> 4),
                r_c.eq(c1),
                r_n.eq(r_n - 1),
                sr[: 5 * NDIG].eq(Cat(sr[5: 5 * NDIG], mag, c1)),
            ]
            with m.If(r_n == 1):
                m.d.sync += r_busy.eq(0)

        # ---- scrub: nothing derived from a scalar outlives the program ---------------------
        # The digits (the top digit, 0 or 1, is still in sr after the last window), the window
        # counter, the recoder's state and the flags are cleared at the end of the cycle after
        # HALT (``done``: a register, so the clear of ~600 flip-flops is not behind the HALT
        # decode).  Every program has finished its writes when it halts and the next program
        # issues its first word two cycles after its command, so cycle counts are unchanged.
        # ex_flag, the LDT address and the TSTB/TEQ registers reload every cycle from these
        # and from the HALT word (or, idle, from the register-file port).
        with m.If(self.done):
            m.d.sync += [sr.eq(0), win.eq(0), flags.eq(0),
                         r_busy.eq(0), r_k.eq(0), r_c.eq(0), r_n.eq(0)]

        # ---- LDT: address at t, BRAM read at t+1, bank registers at t+2, select at t+3 -----
        # The table is 7 banks x 8 slices of 512 x 32 bits (one DP16KD each); the constants
        # (CONST_BASE = 7 * 512) are an eighth bank of 32-bit slices, as wide as the widest
        # constant, zero above CONST_DEPTH.  Every BRAM output goes straight into a register
        # (no logic after the 5.6 ns clock-to-out); the bank selection follows in the next
        # cycle.  (The constants were a 64-case multiplexer in logic, decoded from l_addr in
        # one cycle: 11.5 ns, the engine's critical path.)
        dsel = Mux(ir.off, d1, d0)
        mag = dsel[:4]
        magm1 = Mux(mag == 0, 0, mag - 1)[:3]
        tab_off = Cat(magm1, (win + ir.off)[:7])
        l_addr = Signal(12)
        l_v = [Signal(name=f"l_v{i}") for i in range(1, 5)]
        l_d = [Signal(range(NREG), name=f"l_d{i}") for i in range(1, 5)]
        l_bank = Signal(3)
        l_out = Signal(W)
        m.d.sync += [
            l_addr.eq(ir.imm + Mux(ir.tab, tab_off, 0)),
            l_v[0].eq(issue & (op == Op.LDT)),
            l_d[0].eq(ir.dst),
            l_bank.eq(l_addr[9:12]),
        ]
        for i in range(1, 4):
            m.d.sync += [l_v[i].eq(l_v[i - 1]), l_d[i].eq(l_d[i - 1])]
        sw = 32
        nbank = T.TAB_DEPTH // 512
        assert T.TAB_DEPTH == 512 * nbank == T.CONST_BASE and T.CONST_DEPTH <= 512
        consts = T.const_words()
        cbits = max(v.bit_length() for v in consts)
        assert cbits <= W
        table = T.table_words()
        bank_words = [table[512 * bk:512 * (bk + 1)] for bk in range(nbank)]
        bank_words.append(consts)
        bank_slices = [T.TAB_WIDTH // sw] * nbank + [-(-cbits // sw)]
        bank_q = []
        for bk, (words, nslice) in enumerate(zip(bank_words, bank_slices, strict=True)):
            parts = []
            for sl in range(nslice):
                init = [(v >> (sw * sl)) & ((1 << sw) - 1) for v in words]
                mem = memory.Memory(shape=sw, depth=512, init=init)
                m.submodules[f"tab{bk}_{sl}"] = mem
                rd = mem.read_port()
                q = Signal(sw, name=f"tab{bk}_{sl}_q")
                m.d.comb += rd.addr.eq(l_addr[:9])
                m.d.sync += q.eq(rd.data)
                parts.append(q)
            bank_q.append(Cat(*parts))
        # bank select at t+3: one-hot, registered at t+2, one copy per 32-bit column (a
        # single 3-bit bank register decoded in t+3 and fanned out to the 291 multiplexers
        # was the critical path after the constants moved into BRAM: 10.15 ns)
        ncol = max(bank_slices)
        onehot = Cat(*[l_bank == bk for bk in range(len(bank_q))])
        bsel = copies(m, onehot, ncol, prim=prim, name="ldt_bsel")
        cols = []
        for c in range(ncol):
            col = Const(0, sw)
            for bk, q in enumerate(bank_q):
                if c < bank_slices[bk]:
                    col = col | Mux(bsel[c][bk], q[sw * c: sw * (c + 1)], 0)
            cols.append(col)
        m.d.sync += l_out.eq(Cat(*cols)[:W])

        # ---- register-file write port: one source per cycle --------------------------------
        # Every source's write cycle is known a cycle ahead ("pre"), so the write enable and
        # address are registers (they fan out to every LUT-RAM cell); only the data goes
        # through the AND-OR multiplexer in the write cycle, selected by registered valids.
        ext_pv = ~running & self.rf.we
        ext_d = Signal(W)  # the controller's staging register: words shift in at the bottom
        pre = [  # (valid in the cycle before the write, destination)
            (mul_pv, mul_pd),
            (as_pv, as_pd),
            (frz_pv, frz_dst),
            (ex_lu, ex_dst),
            (l_v[2], l_d[2]),
            (ext_pv, self.rf.addr),
        ]
        srcs = [mul.o.payload, asu.o.payload, frz.o.payload, lu_out, l_out, ext_d]
        fin = []  # registered: this source writes in this cycle
        for k, (v, _d) in enumerate(pre):
            r = Signal(name=f"wb_v{k}")
            m.d.sync += r.eq(v)
            fin.append(r)
        wr_en = Signal()
        wr_addr = Signal(range(NREG))
        addr_or = Const(0, len(wr_addr))
        for v, d in pre:
            addr_or = addr_or | Mux(v, d, 0)
        m.d.sync += [wr_en.eq(Cat(*[v for v, _ in pre]).any()), wr_addr.eq(addr_or)]
        ext_base = Mux(fin[-1], 0, ext_d)  # cleared in its write cycle (last in `pre`)
        with m.If(self.rf.shift):
            m.d.sync += ext_d.eq(Cat(self.rf.wdata, ext_base[:W - PORT_W]))
        with m.Elif(fin[-1]):
            m.d.sync += ext_d.eq(0)
        data_or = Const(0, W)
        for v, x in zip(fin, srcs, strict=True):
            data_or = data_or | Mux(v, x, 0)
        m.d.comb += [wr.en.eq(wr_en), wr.addr.eq(wr_addr), wr.data.eq(data_or)]

        # ---- error: a schedule violation (never for a correct program) ---------------------
        two = Const(0, 1)
        seen = Const(0, 1)
        for v in fin:
            two = two | (seen & v)
            seen = seen | v
        bad = ((ex_mul & ~mul.i.ready) | (fl_ex & ~mul.i.ready) | (ex_frz & ~frz.i.ready)
               | two | ((mul.o.valid & ~fl_busy) != fin[0]) | (frz.o.valid != fin[2])
               | (asu.o.valid != fin[1]))
        with m.If(start):
            m.d.sync += self.error.eq(0)
        with m.Elif(bad):
            m.d.sync += self.error.eq(1)
        return m
