"""``KeySlots``: the LOAD_KEY, PUBLIC_KEY and ZEROIZE engine (docs/protocol.md, "KEYS").

A link engine (``i``: request frames, ``o``: response frames, ``busy``) around the slot store,
the curve engine and a SHA-512 core::

    i --> request parser: op, seq, length, slot, curve, 32 secret bytes (shift register ``key``)
            |
            v
          control FSM --LOAD_KEY Ed25519--> SHA-512(seed): a = clamp(h[0:32]), prefix = h[32:64]
            |         --LOAD_KEY ECDSA----> range check 1 <= d < n (8 limbs of 32 bits, LSB
            |                               first, borrow and non-zero flags: always 8 cycles)
            |         --> curve engine: k -> register IO["k"], BASEMUL, read IO["enc"]
            |         --> slot store write (scalar, prefix, public key, curve, valid: one cycle)
            |         --> wipe the engine's 32 registers (32 cycles), the SHA-512 state (hash of
            |             the empty message) and ``key`` / ``prefix``
            |
            +--> Responder: header + up to 34 payload bytes --> o

Every LOAD_KEY of a given curve takes the same number of cycles: the SHA-512 core, the range
check and the curve engine's programs have data-independent timing, and the FSM branches only
on public values (opcode, lengths, slot, curve) and, for ECDSA, on the result of the range check
(which the response reveals anyway). A rejected key is rejected before anything is written, so
the slot keeps its previous contents.

**No debug or response path carries secret material.** Every response byte comes from the
``Responder``, whose only inputs are the header fields and ``payload``; ``payload`` is driven by
the error code and request opcode, or by the store's *public* port (curve and public key), or
zero. The secret halves of the store (``scalar``, ``prefix``) are readable only through
``SlotStore.secret``, which this component leaves unconnected. Transient copies of the secret
(``key``, ``prefix``, the curve engine's register file, the SHA-512 core's state) are wiped
before the response is sent, and after reset (memories do not reset: the slot memories and the
engine's registers are overwritten with zeros during the first 32 cycles).
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

from ..arith import model as A
from ..ecc.curves import CURVES
from ..ecc.engine import CurveEngine
from ..ecc.microcode import NREG
from ..ecc.programs import IO, Prog
from ..hash.sha2 import Sha512
from ..link.layouts import FrameStream
from .store import PUBLIC_BITS, SCALAR_BITS, SlotStore

__all__ = ["KeySlots", "Responder", "LOAD_KEY_LEN", "SLOT_ONLY_LEN", "MAX_RESULT"]

LOAD_KEY_LEN = 1 + 1 + 32  # slot, curve, secret
SLOT_ONLY_LEN = 1  # PUBLIC_KEY, ZEROIZE: slot
MAX_RESULT = 1 + 33  # PUBLIC_KEY result: curve, compressed SEC1 key
LIMB = 32

# The curve engine's curve codes are the wire's.
assert {c.name: c.code for c in CURVES} == {c.name.lower(): int(c) for c in wire.Curve}
assert NREG <= 32


def _limbs(value):
    return [(value >> (LIMB * k)) & ((1 << LIMB) - 1) for k in range(SCALAR_BITS // LIMB)]


class Responder(wiring.Component):
    """Sends one response frame: version, ``op``, ``seq``, ``length`` and ``length`` bytes of
    ``payload`` (byte ``i`` at bits ``[8i, 8i+8)``), all latched in the cycle ``start`` is high
    while idle."""

    start: In(1)
    op: In(8)
    seq: In(16)
    length: In(range(MAX_RESULT + 1))
    payload: In(8 * MAX_RESULT)
    busy: Out(1)
    o: Out(FrameStream)

    def elaborate(self, platform):
        m = Module()
        n = wire.HEADER_LEN + MAX_RESULT
        shreg = Signal(8 * n)
        left = Signal(range(n + 1))
        m.d.comb += [
            self.busy.eq(left != 0),
            self.o.valid.eq(left != 0),
            self.o.payload.data.eq(shreg[:8]),
            self.o.payload.last.eq(left == 1),
        ]
        length16 = Cat(self.length, Const(0, 16 - len(self.length)))
        with m.If(self.start & (left == 0)):
            m.d.sync += [
                shreg.eq(Cat(Const(wire.PROTOCOL_VERSION, 8), self.op, self.seq, length16,
                             self.payload)),
                left.eq(wire.HEADER_LEN + self.length),
            ]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += [shreg.eq(shreg >> 8), left.eq(left - 1)]
        return m


class KeySlots(wiring.Component):
    i: In(FrameStream)  # request frames: header + payload, `last` on the final byte
    o: Out(FrameStream)  # response frames: header + payload
    busy: Out(1)

    def __init__(self, *, dsp_primitives: bool | None = None):
        #: passed to the curve engine's multiplier (None: primitives when built for a board)
        self.dsp_primitives = dsp_primitives
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.store = store = SlotStore()
        m.submodules.ecc = ecc = CurveEngine(dsp_primitives=self.dsp_primitives)
        m.submodules.sha = sha = Sha512()
        m.submodules.responder = resp = Responder()
        wiring.connect(m, resp.o, wiring.flipped(self.o))

        # ---- request parser ---------------------------------------------------------------
        beat = self.i.payload
        idx = Signal(range(wire.MAX_FRAME + 1))  # byte index in the frame
        op = Signal(8)
        seq = Signal(16)
        length = Signal(16)
        slot = Signal(8)
        curve = Signal(8)
        key = Signal(SCALAR_BITS)  # secret bytes, then the scalar (secret: wiped per request)
        prefix = Signal(256)  # Ed25519 prefix (secret: wiped per request)
        accept = Signal()
        m.d.comb += accept.eq(self.i.valid & self.i.ready)
        with m.If(accept):
            m.d.sync += idx.eq(idx + 1)
            with m.Switch(idx):
                with m.Case(0):  # version (checked by the link)
                    pass
                with m.Case(1):
                    m.d.sync += op.eq(beat.data)
                with m.Case(2):
                    m.d.sync += seq[:8].eq(beat.data)
                with m.Case(3):
                    m.d.sync += seq[8:].eq(beat.data)
                with m.Case(4):
                    m.d.sync += length[:8].eq(beat.data)
                with m.Case(5):
                    m.d.sync += length[8:].eq(beat.data)
                with m.Case(6):
                    m.d.sync += slot.eq(beat.data)
                with m.Case(7):
                    m.d.sync += curve.eq(beat.data)
                with m.Default():  # idx >= 8: secret bytes, big-endian (key = key << 8 | byte)
                    m.d.sync += key.eq(Cat(beat.data, key[:-8]))
            with m.If(beat.last):
                m.d.sync += idx.eq(0)

        # ---- response fields ---------------------------------------------------------------
        KIND_EMPTY, KIND_PUBLIC, KIND_ERROR = 0, 1, 2
        kind = Signal(2)
        code = Signal(8)
        pub_curve = store.public.curve
        m.d.comb += [
            store.public.slot.eq(slot[:3]),
            resp.seq.eq(seq),
            resp.op.eq(Mux(kind == KIND_ERROR, wire.Op.ERROR, op | wire.RESPONSE_FLAG)),
        ]
        with m.Switch(kind):
            with m.Case(KIND_ERROR):
                m.d.comb += [resp.length.eq(2), resp.payload.eq(Cat(code, op))]
            with m.Case(KIND_PUBLIC):  # the only data: the store's public port
                m.d.comb += [
                    resp.length.eq(Mux(pub_curve == wire.Curve.ED25519, 33, 34)),
                    resp.payload.eq(Cat(pub_curve, Const(0, 6), store.public.key)),
                ]
            with m.Default():
                m.d.comb += [resp.length.eq(0), resp.payload.eq(0)]

        # ---- checks (registered request fields) -------------------------------------------
        is_load = op == wire.Op.LOAD_KEY
        is_pub = op == wire.Op.PUBLIC_KEY
        is_zero = op == wire.Op.ZEROIZE
        args_ok = Signal()
        m.d.comb += args_ok.eq(
            Mux(is_load, (length == LOAD_KEY_LEN) & (curve < len(wire.Curve)),
                (is_pub | is_zero) & (length == SLOT_ONLY_LEN))
            & (slot < wire.NUM_KEY_SLOTS))
        is_ed = curve == wire.Curve.ED25519

        # ---- range check of d: limb-serial d - n, LSB first --------------------------------
        cnt = Signal(range(NREG + 1))
        borrow = Signal()
        nonzero = Signal()
        n_limb = Signal(LIMB)
        m.d.comb += n_limb.eq(Mux(curve == wire.Curve.SECP256K1,
                                  Array(Const(v, LIMB) for v in _limbs(A.N256K1))[cnt[:3]],
                                  Array(Const(v, LIMB) for v in _limbs(A.N256))[cnt[:3]]))
        diff = Signal(LIMB + 1)
        m.d.comb += diff.eq(key[:LIMB] - n_limb - borrow)

        # ---- SHA-512: the seed, then the empty message to overwrite the core's state ------
        h = sha.o.payload
        clamped = Cat(Const(0, 3), h[3:254], Const(1, 1), Const(0, 1))
        flush_req = Signal()
        flush_wait = Signal()
        feeding = Signal()
        taking = Signal()
        m.d.comb += [
            sha.i.valid.eq(feeding | flush_req),
            sha.i.payload.data.eq(Mux(feeding, key[-8:], 0)),
            sha.i.payload.last.eq(Mux(feeding, cnt == 31, 1)),
            sha.i.payload.empty.eq(~feeding),
            sha.o.ready.eq(taking | flush_wait),
        ]
        with m.If(flush_req & sha.i.ready):
            m.d.sync += [flush_req.eq(0), flush_wait.eq(1)]
        with m.If(flush_wait & sha.o.valid):
            m.d.sync += flush_wait.eq(0)

        # ---- curve engine register port: k in, encoding out, zeros over everything -------
        enc = ecc.rf.rdata
        pub_ed = Cat(enc[:256], Const(0, 8))  # little-endian y | sign(x) << 255
        pub_w = Cat(*[enc[8 * (32 - j):8 * (33 - j)] for j in range(33)])  # SEC1, big-endian
        assert len(pub_w) == len(pub_ed) == PUBLIC_BITS
        m.d.comb += [
            ecc.rf.addr.eq(IO["enc"]),  # overridden below only while writing
            ecc.rf.wdata.eq(0),
            ecc.cmd.payload.program.eq(Prog.BASEMUL),
            ecc.cmd.payload.curve.eq(curve[:2]),
        ]

        # ---- slot store writes: all fields at once -----------------------------------------
        m.d.comb += store.write.slot.eq(slot[:3])

        with m.FSM(init="WIPE") as fsm:
            with m.State("WIPE"):  # after reset: every slot and engine register to zero
                m.d.comb += [
                    ecc.rf.we.eq(1),
                    ecc.rf.addr.eq(cnt),
                    store.write.en.eq(cnt < wire.NUM_KEY_SLOTS),
                    store.write.slot.eq(cnt[:3]),
                ]
                m.d.sync += cnt.eq(cnt + 1)
                with m.If(cnt == NREG - 1):
                    m.d.sync += cnt.eq(0)
                    m.next = "RX"
            with m.State("RX"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(accept & beat.last):
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [cnt.eq(0), borrow.eq(0), nonzero.eq(0)]
                with m.If(~args_ok):
                    m.d.sync += [kind.eq(KIND_ERROR), code.eq(wire.Err.BAD_ARGUMENT)]
                    m.next = "SEND"
                with m.Elif(is_pub):
                    with m.If(store.public.valid):
                        m.d.sync += kind.eq(KIND_PUBLIC)
                    with m.Else():
                        m.d.sync += [kind.eq(KIND_ERROR), code.eq(wire.Err.EMPTY_SLOT)]
                    m.next = "SEND"
                with m.Elif(is_zero):
                    m.d.comb += store.write.en.eq(1)  # zeros, valid 0: one cycle
                    m.d.sync += kind.eq(KIND_EMPTY)
                    m.next = "SEND"
                with m.Elif(is_ed):
                    m.next = "HASH"
                with m.Else():
                    m.next = "RANGE"
            with m.State("HASH"):  # 32 seed bytes into SHA-512, first byte first
                m.d.comb += feeding.eq(1)
                with m.If(sha.i.ready):
                    m.d.sync += [key.eq(Cat(Const(0, 8), key[:-8])), cnt.eq(cnt + 1)]
                    with m.If(cnt == 31):
                        m.next = "DIGEST"
            with m.State("DIGEST"):
                m.d.comb += taking.eq(1)
                with m.If(sha.o.valid):
                    m.d.sync += [key.eq(clamped), prefix.eq(h[256:]), flush_req.eq(1)]
                    m.next = "LOAD"
            with m.State("RANGE"):  # d - n limb by limb; key rotates back to d in 8 cycles
                m.d.sync += [
                    key.eq(Cat(key[LIMB:], key[:LIMB])),
                    borrow.eq(diff[LIMB]),
                    nonzero.eq(nonzero | key[:LIMB].any()),
                    cnt.eq(cnt + 1),
                ]
                with m.If(cnt == SCALAR_BITS // LIMB - 1):
                    m.next = "RANGE_END"
            with m.State("RANGE_END"):
                with m.If(borrow & nonzero):  # d < n and d != 0
                    m.next = "LOAD"
                with m.Else():
                    m.d.sync += [kind.eq(KIND_ERROR), code.eq(wire.Err.BAD_ARGUMENT)]
                    m.next = "SEND"
            with m.State("LOAD"):
                m.d.comb += [ecc.rf.we.eq(1), ecc.rf.addr.eq(IO["k"]), ecc.rf.wdata.eq(key)]
                m.next = "START"
            with m.State("START"):
                m.d.comb += ecc.cmd.valid.eq(1)
                with m.If(ecc.cmd.ready):
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(ecc.done):
                    m.next = "READ"  # rf.addr = IO["enc"] in this cycle
            with m.State("READ"):
                m.next = "STORE"
            with m.State("STORE"):  # rf.rdata = register IO["enc"]
                m.d.comb += [
                    store.write.en.eq(1),
                    store.write.valid.eq(1),
                    store.write.curve.eq(curve[:2]),
                    store.write.scalar.eq(key),
                    store.write.prefix.eq(prefix),
                    store.write.public.eq(Mux(is_ed, pub_ed, pub_w)),
                ]
                m.d.sync += [cnt.eq(0), kind.eq(KIND_EMPTY)]
                m.next = "SCRUB"
            with m.State("SCRUB"):  # engine registers to zero; the SHA-512 flush is long done
                m.d.comb += [ecc.rf.we.eq(cnt != NREG), ecc.rf.addr.eq(cnt)]
                with m.If(cnt != NREG):
                    m.d.sync += cnt.eq(cnt + 1)
                with m.Elif(~flush_req & ~flush_wait):
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += resp.start.eq(1)
                m.d.sync += [key.eq(0), prefix.eq(0)]
                with m.If(~resp.busy):
                    m.next = "RX"

        m.d.comb += self.busy.eq(~fsm.ongoing("RX") | (idx != 0) | resp.busy | flush_req
                                 | flush_wait | ecc.busy)
        return m
