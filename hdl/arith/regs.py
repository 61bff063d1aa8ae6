"""Duplicated registers for high-fanout nets.

``copies(m, value, n, prim=...)`` returns ``n`` registers that all load ``value`` every cycle.
Each copy drives a share of the loads and can be placed next to them, so a net that fans out to
hundreds of flip-flops or to DSP blocks spread over a DSP row becomes a few short nets.

Yosys merges registers with identical inputs (``opt_merge``; a ``keep`` attribute on the wire
does not stop it), so the hardware form (``prim=True``) instantiates one ECP5 ``TRELLIS_FF`` per
bit (clock enable and set/reset unused, the same cell yosys itself maps a plain register to).
The behavioural form (simulation, other flows) is ``n`` ordinary ``sync`` registers.  The
copies have no reset: they are meant for datapath enables and selects whose value during and
right after reset does not matter.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Signal, Value

__all__ = ["copies"]


def copies(m, value, n: int, *, prim: bool, name: str) -> list[Signal]:
    value = Value.cast(value)
    outs = []
    for k in range(n):
        q = Signal(len(value), name=f"{name}{k}", reset_less=True)
        if prim:
            for i in range(len(value)):
                m.submodules[f"{name}{k}_ff{i}"] = Instance(
                    "TRELLIS_FF",
                    p_GSR="AUTO",
                    p_CEMUX="1",
                    p_CLKMUX="CLK",
                    p_LSRMUX="LSR",
                    p_REGSET="RESET",
                    p_SRMODE="LSR_OVER_CE",
                    i_CLK=ClockSignal("sync"),
                    i_LSR=Const(0),
                    i_CE=Const(1),
                    i_DI=value[i],
                    o_Q=q[i],
                )
        else:
            m.d.sync += q.eq(value)
        outs.append(q)
    return outs
