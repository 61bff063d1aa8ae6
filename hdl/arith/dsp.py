"""17x17 unsigned multiply with the product registered, in one MULT18X18D.

Behavioural form (simulation, and any non-ECP5 flow): ``out <= rst ? 0 : a * b`` in ``sync``.
Primitive form (``prim=True``): a MULT18X18D instance using the DSP's own output register
(``REG_OUTPUT_CLK = CLK0``, synchronous reset on RST0).  Yosys infers the multiplier from
``a * b`` by itself but never packs the product register into the DSP; with the register in
the fabric, each cycle carries routing into the DSP block, the ~3.9 ns multiplier and the
routing back out, which missed 100 MHz.  Inside the block only the routing in remains.
Cycle behaviour is identical in both forms.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Mux, Value

__all__ = ["mul_reg"]


def mul_reg(m, a, b, out, *, rst=None, prim: bool = False, name: str = "dsp"):
    a, b = Value.cast(a), Value.cast(b)
    assert len(a) <= 18 and len(b) <= 18 and len(out) <= 36
    if not prim:
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
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="NONE",
        p_REG_INPUTB_CLK="NONE",
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
