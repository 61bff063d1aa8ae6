"""``CycleStats``: per (operation, curve) count and minimum / maximum / last cycle counts of the
key-slot engine's LOAD_KEY and SIGN, reported by TIMING (docs/protocol.md, "TIMING")."""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

__all__ = ["CycleStats", "RECORDS", "record_index"]

RECORDS = len(wire.TIMING_OPS) * len(wire.Curve)
ALL_ONES = 2**32 - 1


def record_index(op: str, curve: int) -> int:
    return wire.TIMING_OPS.index(op) * len(wire.Curve) + curve


class CycleStats(wiring.Component):
    """``en`` (one cycle): one more operation of record ``index`` took ``cycles`` cycles.
    ``payload``: the TIMING result, record after record, each count, min, max, last (u32le);
    min starts at 2**32-1 and max at 0; the count saturates."""

    en: In(1)
    index: In(range(RECORDS))
    cycles: In(32)
    payload: Out(RECORDS * 4 * 32)

    def elaborate(self, platform):
        m = Module()
        # the inputs are registered, and every record compares against its own registers
        # (no index multiplexer in front of the comparators): the update lands one cycle
        # after `en`, long before a following TIMING request can read it
        en = Signal()
        index = Signal.like(self.index)
        c = Signal(32)
        m.d.sync += [en.eq(self.en), index.eq(self.index), c.eq(self.cycles)]
        fields = []
        for i in range(RECORDS):
            count = Signal(32, name=f"count{i}")
            lo = Signal(32, init=ALL_ONES, name=f"min{i}")
            hi = Signal(32, name=f"max{i}")
            last = Signal(32, name=f"last{i}")
            with m.If(en & (index == i)):
                m.d.sync += [
                    count.eq(Mux(count == ALL_ONES, count, count + 1)),
                    lo.eq(Mux(c < lo, c, lo)),
                    hi.eq(Mux(c > hi, c, hi)),
                    last.eq(c),
                ]
            fields.append(Cat(count, lo, hi, last))
        m.d.comb += self.payload.eq(Cat(*fields))
        return m
