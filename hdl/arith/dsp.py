"""17x17 unsigned multiply with the product registered, in one MULT18X18D.

Behavioural form (simulation, and any non-ECP5 flow): ``out <= rst ? 0 : a * b`` in ``sync``.
Primitive form (``prim=True``): a MULT18X18D instance using the DSP's own output register
(``REG_OUTPUT_CLK = CLK0``, synchronous reset on RST0).  Yosys infers the multiplier from
``a * b`` by itself but never packs the product register into the DSP; with the register in
the fabric, each cycle carries routing into the DSP block, the ~3.9 ns multiplier and the
routing back out, which missed 100 MHz.  Inside the block only the routing in remains.
Cycle behaviour is identical in both forms.

``in_reg=True`` also registers both inputs inside the block (``REG_INPUTA_CLK`` and
``REG_INPUTB_CLK = CLK0``): ``out`` is then the product of the inputs of two cycles earlier, and
the routing into the block ends at a register (setup ~0.1 ns instead of ~3.5 ns through the
multiplier).  The multiplier itself then sits between the input and the output register inside
the block (A/B -> P ~3.9 ns in the timing database), which nextpnr does not report.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Mux, Signal, Value

__all__ = ["mul_reg", "site", "DSP_ROWS_85F", "DSP_BLOCK_X_85F"]

#: LFE5U-85F: the three DSP rows and the X of the sysDSP blocks in each row.  A block holds
#: four MULT18X18D sites: MULT18_0 at X, MULT18_1 at X+1, MULT18_4 at X+4, MULT18_5 at X+5
#: (the blocks share CLK/CE/RST: at most four distinct nets of each per block).
DSP_ROWS_85F = (10, 34, 58)
DSP_BLOCK_X_85F = (4, 13, 22, 31, 40, 49, 58, 69, 78, 87, 96, 105, 114)
_SUB = ((0, 0), (1, 1), (4, 4), (5, 5))  # (X offset, MULT18_k) of the four sites of a block


def site(row: int, index: int) -> str:
    """nextpnr BEL name of the ``index``-th MULT18X18D site (left to right) of DSP row ``row``."""
    dx, k = _SUB[index % 4]
    return f"X{DSP_BLOCK_X_85F[index // 4] + dx}/Y{row}/MULT18_{k}"


def mul_reg(
    m,
    a,
    b,
    out,
    *,
    rst=None,
    in_reg: bool = False,
    prim: bool = False,
    bel: str | None = None,
    name: str = "dsp",
):
    a, b = Value.cast(a), Value.cast(b)
    assert len(a) <= 18 and len(b) <= 18 and len(out) <= 36
    assert not (in_reg and rst is not None), "the reset would clear the input registers too"
    if not prim:
        if in_reg:
            ra = Signal(len(a), name=f"{name}_ra", reset_less=True)
            rb = Signal(len(b), name=f"{name}_rb", reset_less=True)
            m.d.sync += [ra.eq(a), rb.eq(b)]
            a, b = ra, rb
        m.d.sync += out.eq(Mux(rst, 0, a * b) if rst is not None else a * b)
        return
    ports = {
        "i_CLK0": ClockSignal("sync"),
        "i_CE0": Const(1),
        "i_RST0": rst if rst is not None else Const(0),
        "i_SIGNEDA": Const(0),
        "i_SIGNEDB": Const(0),
        "i_SOURCEA": Const(0),
        "i_SOURCEB": Const(0),
    }
    for i in (1, 2, 3):
        ports[f"i_CLK{i}"] = Const(0)
        ports[f"i_CE{i}"] = Const(0)
        ports[f"i_RST{i}"] = Const(0)
    for i in range(18):
        ports[f"i_A{i}"] = a[i] if i < len(a) else Const(0)
        ports[f"i_B{i}"] = b[i] if i < len(b) else Const(0)
        ports[f"i_C{i}"] = Const(0)
    for i in range(len(out)):
        ports[f"o_P{i}"] = out[i]
    attrs = {"a_BEL": bel} if bel is not None else {}
    m.submodules[name] = Instance(
        "MULT18X18D",
        **attrs,
        p_REG_INPUTA_CLK="CLK0" if in_reg else "NONE",
        p_REG_INPUTA_CE="CE0",
        p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK="CLK0" if in_reg else "NONE",
        p_REG_INPUTB_CE="CE0",
        p_REG_INPUTB_RST="RST0",
        p_REG_INPUTC_CLK="NONE",
        p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0",
        p_REG_OUTPUT_CE="CE0",
        p_REG_OUTPUT_RST="RST0",
        p_RESETMODE="SYNC",
        p_GSR="DISABLED",
        p_CLK0_DIV="ENABLED",
        **ports,
    )
