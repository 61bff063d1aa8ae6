"""cocotb tests of the margin unit's book memory (hdl/margin/book.py): records written through
the write stream with random stalls, read back through the sequencer's port, compared with the
36-byte records of the model's host encoding (hdl/margin/model.py: encode_book, update_book).
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from quantgate.hdl.margin import book as bk
from quantgate.hdl.margin import model as md
from quantgate.sim.streams import StreamDriver, reset

SEED = int(os.environ.get("MARGIN_SEED", "1"))
FORWARDS = np.array([95_000.0, 96_200.0, 3_400.0, 97_500.0, 0.25, 1e5, 1e-3])


def record_ints(records: bytes) -> list[int]:
    return [int.from_bytes(records[i:i + md.RECORD_BYTES], "little")
            for i in range(0, len(records), md.RECORD_BYTES)]


def write_word(index: int, record: int) -> int:
    return index | record << bk.INDEX_BITS  # BookWrite: index, then the record


class TB:
    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.write = StreamDriver(dut, "w", dut.clk, stall=0.3, seed=SEED)
        dut.read__en.value = 0
        dut.read__addr.value = 0

    async def read_all(self, n: int) -> list[int]:
        """Addresses 0..n-1 one per clock; each record is on data one clock after its read."""
        dut, got = self.dut, []
        for a in range(n + 1):
            dut.read__en.value = int(a < n)
            dut.read__addr.value = a % md.CAPACITY
            await RisingEdge(dut.clk)
            if a:  # the edge shows the value from before it: the read of address a - 1
                got.append(dut.read__data.value.to_unsigned())
        dut.read__en.value = 0
        return got


@cocotb.test()
async def load_update_and_read_back(dut):
    """A full random book (4,096 records of every kind), then fills written over random rows,
    then every record read back: the bytes the model's host encoding produced."""
    tb = TB(dut)
    await reset(dut)
    rng = np.random.default_rng(SEED)
    image = md.encode_book(md.sample_book(rng, md.CAPACITY, FORWARDS))
    records = record_ints(image.records)
    tb.write.send(write_word(i, r) for i, r in enumerate(records))
    await tb.write.wait_idle()
    await RisingEdge(dut.clk)
    assert await tb.read_all(len(records)) == records

    rows = md.sample_book(rng, 300, FORWARDS)
    rows["quantity"] = np.clip(rows["quantity"], -2, 2)  # inside the loaded book's scale
    idx = rng.choice(md.CAPACITY, len(rows), replace=False)
    image, frames = md.update_book(image, idx, rows)
    for frame in frames:  # UPDATE_BOOK payloads: k, then k x {index u16, record}
        for k in range(frame[0]):
            off = 1 + k * (md.RECORD_BYTES + 2)
            index = int.from_bytes(frame[off:off + 2], "little")
            raw = frame[off + 2:off + 2 + md.RECORD_BYTES]
            tb.write.send([write_word(index, int.from_bytes(raw, "little"))])
    await tb.write.wait_idle()
    await RisingEdge(dut.clk)
    got = await tb.read_all(md.CAPACITY)
    want = record_ints(image.records)
    assert sum(g != w for g, w in zip(records, want, strict=True)) > 250  # the fills changed rows
    assert got == want


@cocotb.test()
async def fields_land_where_the_model_packs_them(dut):
    """One record per field holding that field's all-ones value (and the signed fields their
    minimum): the StructLayout's bit positions are the model's RECORD_FIELDS."""
    tb = TB(dut)
    await reset(dut)
    words = []
    for name, lo, width, signed in md.RECORD_FIELDS:
        zero = {f[0]: 0 for f in md.RECORD_FIELDS}
        value = -(1 << (width - 1)) if signed else (1 << width) - 1
        words.append(int.from_bytes(md.pack_record(zero | {name: value}), "little"))
        assert words[-1] == ((1 << (width - 1)) if signed else (1 << width) - 1) << lo
    tb.write.send(write_word(4095 - i, w) for i, w in enumerate(words))
    await tb.write.wait_idle()
    await RisingEdge(dut.clk)
    got = await tb.read_all(md.CAPACITY)
    assert got[4096 - len(words):] == words[::-1]
