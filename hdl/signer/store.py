"""Key-slot storage: secret and public halves in separate memories, each with its own port.

    write port (KeySlots: LOAD_KEY, ZEROIZE)  --> scalar_mem  prefix_mem  public_mem  valid/curve
                                                     |           |           |           |
    secret port (signing controller only)    <------+-----------+           |           |
    public port (PUBLIC_KEY responses)        <-----------------------------+-----------+

Per slot (``wire.NUM_KEY_SLOTS`` = 8):

* ``scalar`` (256 bits, secret): Ed25519 the clamped scalar ``a`` (RFC 8032 5.1.5, little-endian
  bytes of SHA-512(seed)[0:32] as an integer, bits 0-2 and 255 cleared, bit 254 set); ECDSA ``d``.
  Both plain integers, as the curve engine's register file takes them.
* ``prefix`` (256 bits, secret): Ed25519 SHA-512(seed)[32:64], byte ``i`` at bits ``[8i, 8i+8)``
  (the order the SHA-512 core takes bytes in); ECDSA zero.
* ``public`` (264 bits): the public key in wire order, byte ``i`` at bits ``[8i, 8i+8)``:
  Ed25519 the 32-byte RFC 8032 encoding (byte 32 zero), ECDSA the 33-byte compressed SEC1 key.
* ``valid`` (1 bit) and ``curve`` (2 bits, ``wire.Curve``), in flip-flops.

The write port writes all fields of one slot in one cycle, so ZEROIZE (all fields zero,
``valid`` 0) takes exactly one cycle. The memories are not cleared by a reset; KeySlots wipes
every slot after reset instead.

**No path from secret storage to the wire.** ``scalar_mem`` and ``prefix_mem`` have exactly one
read port each, both on ``secret``; ``public`` reads only ``public_mem`` and the flags. KeySlots,
which builds every response, leaves ``secret`` unconnected; the signing controller (SIGN, next
issue) connects it to the curve engine's register port and the SHA-512 input only.
"""

from amaranth import Array, Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

__all__ = ["SlotStore", "WritePort", "PublicPort", "SecretPort", "SCALAR_BITS", "PREFIX_BITS",
           "PUBLIC_BITS", "SLOT"]

SCALAR_BITS = 256
PREFIX_BITS = 256
PUBLIC_BITS = 33 * 8
SLOT = range(wire.NUM_KEY_SLOTS)
CURVE_BITS = 2

#: the writer's side: all fields of slot ``slot`` are written in the cycle ``en`` is high
WritePort = wiring.Signature({
    "en": Out(1),
    "slot": Out(SLOT),
    "valid": Out(1),
    "curve": Out(CURVE_BITS),
    "scalar": Out(SCALAR_BITS),
    "prefix": Out(PREFIX_BITS),
    "public": Out(PUBLIC_BITS),
})
#: the reader's side of the public half: ``valid``, ``curve`` of ``slot`` combinationally,
#: ``key`` of the ``slot`` of the previous cycle (synchronous memory read)
PublicPort = wiring.Signature({
    "slot": Out(SLOT),
    "valid": In(1),
    "curve": In(CURVE_BITS),
    "key": In(PUBLIC_BITS),
})
#: the reader's side of the secret half (signing controller only): ``scalar`` and ``prefix`` of
#: the ``slot`` of the previous cycle
SecretPort = wiring.Signature({
    "slot": Out(SLOT),
    "scalar": In(SCALAR_BITS),
    "prefix": In(PREFIX_BITS),
})


class SlotStore(wiring.Component):
    write: In(WritePort)
    public: In(PublicPort)
    secret: In(SecretPort)

    def elaborate(self, platform):
        m = Module()
        n = wire.NUM_KEY_SLOTS
        m.submodules.scalar_mem = scalar_mem = memory.Memory(
            shape=SCALAR_BITS, depth=n, init=[])
        m.submodules.prefix_mem = prefix_mem = memory.Memory(
            shape=PREFIX_BITS, depth=n, init=[])
        m.submodules.public_mem = public_mem = memory.Memory(
            shape=PUBLIC_BITS, depth=n, init=[])

        w = self.write
        for mem, data in ((scalar_mem, w.scalar), (prefix_mem, w.prefix),
                          (public_mem, w.public)):
            port = mem.write_port()
            m.d.comb += [port.en.eq(w.en), port.addr.eq(w.slot), port.data.eq(data)]

        valid = Signal(n)
        curves = Array(Signal(CURVE_BITS, name=f"curve{k}") for k in range(n))
        with m.If(w.en):
            m.d.sync += [valid.bit_select(w.slot, 1).eq(w.valid), curves[w.slot].eq(w.curve)]

        # public half: the only reader of public_mem and of the flags
        pub_rd = public_mem.read_port()
        m.d.comb += [
            pub_rd.addr.eq(self.public.slot),
            self.public.key.eq(pub_rd.data),
            self.public.valid.eq(valid.bit_select(self.public.slot, 1)),
            self.public.curve.eq(curves[self.public.slot]),
        ]

        # secret half: the only readers of scalar_mem and prefix_mem
        scalar_rd = scalar_mem.read_port()
        prefix_rd = prefix_mem.read_port()
        m.d.comb += [
            scalar_rd.addr.eq(self.secret.slot),
            prefix_rd.addr.eq(self.secret.slot),
            self.secret.scalar.eq(scalar_rd.data),
            self.secret.prefix.eq(prefix_rd.data),
        ]
        return m
