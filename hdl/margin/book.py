"""The book in block RAM (docs/margin.md section 4): CAPACITY records of 288 bits.

    w:    In(stream.Signature(BookWrite))  one record per clock (index + record), the rows of
                                           LOAD_BOOK and UPDATE_BOOK after their checks
    read: Out(memory.ReadPort.Signature)   the sequencer's port: one whole record per clock,
                                           ``data`` one clock after ``en`` with ``addr``, held
                                           while ``en`` is low

A record is :data:`Record`, the model's ``RECORD_FIELDS`` as a ``data.StructLayout`` (the same
bits as the 36 wire bytes, little-endian). 4,096 x 288 bits map to 64 DP16KD (8 banks of 512
records x 8 lanes of 36 bits). The command decoder does the record checks and the
all-or-nothing rule; this memory writes what it is given.
"""

from amaranth import Module, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from . import model as md

__all__ = ["BookMemory", "BookWrite", "Record"]

Record = data.StructLayout({name: (signed if sg else unsigned)(width)
                            for name, _, width, sg in md.RECORD_FIELDS})
assert Record.size == 8 * md.RECORD_BYTES
assert all(Record[name].offset == lo for name, lo, _, _ in md.RECORD_FIELDS)

INDEX_BITS = (md.CAPACITY - 1).bit_length()
BookWrite = data.StructLayout({"index": unsigned(INDEX_BITS), "record": Record})


class BookMemory(wiring.Component):
    w: In(stream.Signature(BookWrite))
    read: Out(memory.ReadPort.Signature(addr_width=INDEX_BITS, shape=Record))

    def __init__(self, capacity: int = md.CAPACITY):
        assert capacity <= 1 << INDEX_BITS
        self.capacity = capacity
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = memory.Memory(shape=Record, depth=self.capacity, init=[])
        wr = ram.write_port()
        rd = ram.read_port()  # synchronous: block RAM
        m.d.comb += [
            self.w.ready.eq(1),  # a write per clock, never a stall
            wr.en.eq(self.w.valid),
            wr.addr.eq(self.w.payload.index),
            wr.data.eq(self.w.payload.record),
            rd.en.eq(self.read.en),
            rd.addr.eq(self.read.addr),
            self.read.data.eq(rd.data),
        ]
        return m
