"""``CycleStats``: per (operation, curve) count and minimum / maximum / last cycle counts of the
key-slot engine's LOAD_KEY and SIGN, reported by TIMING (docs/protocol.md, "TIMING")."""

from amaranth import Array, Cat, Module, Mux, Signal
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
        count = Array(Signal(32, name=f"count{i}") for i in range(RECORDS))
        lo = Array(Signal(32, init=ALL_ONES, name=f"min{i}") for i in range(RECORDS))
        hi = Array(Signal(32, name=f"max{i}") for i in range(RECORDS))
        last = Array(Signal(32, name=f"last{i}") for i in range(RECORDS))
        c = self.cycles
        with m.If(self.en):
            i = self.index
            m.d.sync += [
                count[i].eq(Mux(count[i] == ALL_ONES, count[i], count[i] + 1)),
                lo[i].eq(Mux(c < lo[i], c, lo[i])),
                hi[i].eq(Mux(c > hi[i], c, hi[i])),
                last[i].eq(c),
            ]
        m.d.comb += self.payload.eq(
            Cat(*[Cat(count[i], lo[i], hi[i], last[i]) for i in range(RECORDS)]))
        return m
