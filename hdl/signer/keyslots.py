"""``KeySlots``: the signer engine. LOAD_KEY, PUBLIC_KEY, ZEROIZE, SIGN and TIMING
(docs/protocol.md, "KEYS", "SIGN", "TIMING"; docs/signing.md).

A link engine (``i``: request frames, ``o``: response frames, ``busy``) around the slot store,
one curve engine, a SHA-512 core and the RFC 6979 nonce generator (with its SHA-256 core)::

    i --> request parser: op, seq, length, slot, curve; payload bytes into ``key`` (the last 32)
            |              and, for SIGN, into the message memory (1 KiB block RAM)
            v
          control FSM
            LOAD_KEY Ed25519: SHA-512(seed) -> a = clamp(h[0:32]), prefix = h[32:64]
            LOAD_KEY ECDSA:   range check 1 <= d < n (8 limbs of 32 bits, always 8 cycles)
                              -> BASEMUL(k) -> slot store (scalar, prefix, public key, curve)
            SIGN Ed25519:     SHA-512(prefix || M) -> ED_NONCE (r = h mod L, R = r*B)
                              -> SHA-512(R || A || M) -> ED_S (S = r + h*a mod L)
            SIGN ECDSA:       NonceGen (RFC 6979) -> ECDSA (r, s, v; low-S on secp256k1)
            then: wipe the engine's 32 registers (32 cycles), the SHA-512 state (hash of 8 zero
            bytes), the nonce generator's k and the request registers
            |
            +--> Responder: header + up to 96 payload bytes --> o

The SHA-512 core, its feeder and the message memory are ``MessageHasher`` (hasher.py): a
message is the first ``npre`` bytes of its shift register ``pre`` (seed, prefix, or R || A),
then ``mlen`` bytes of the message memory.

Every LOAD_KEY of a given curve takes the same number of cycles, and so does every SIGN of a
given curve (Ed25519: and message length). The SHA cores, the range check, the nonce
generator and the curve engine's programs have data-independent timing, and the FSM branches
only on public values (opcode, lengths, slot, curve, slot occupancy) and on results the
response reveals anyway (range check, nonce validity, r or s zero).

**No debug or response path carries secret material.** Every response byte comes from the
``Responder``, whose payload is driven by the error code and request opcode, by the store's
*public* port (curve and public key), by the signature register (filled from the curve
engine's output registers after a signing program), by the cycle statistics, or zero. The
secret halves of the store (``scalar``, ``prefix``) reach only the curve engine's register
port, the SHA-512 feeder and the nonce generator. Transient copies of secrets (``key``,
``pre``, ``prefix``, the curve engine's register file, the SHA cores' states, the nonce) are
wiped before the response is sent, and after reset (memories do not reset: the slot memories
and the engine's registers are overwritten with zeros during the first 32 cycles). The
register writer's ``wbuf`` and the engine's staging register empty themselves as each value
is written.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

from ..arith import model as A
from ..ecc.curves import CURVES
from ..ecc.engine import NWORDS, PORT_W, CurveEngine
from ..ecc.microcode import NREG
from ..ecc.programs import IO, Prog
from ..link.layouts import FrameStream
from .hasher import MSG_DEPTH, MessageHasher
from .nonce import NonceGen
from .responder import MAX_RESULT, Responder
from .store import PUBLIC_BITS, SCALAR_BITS, SlotStore
from .timing import RECORDS, CycleStats, record_index

__all__ = ["KeySlots", "LOAD_KEY_LEN", "SLOT_ONLY_LEN", "ECDSA_SIGN_LEN", "MAX_RESULT"]

LOAD_KEY_LEN = 1 + 1 + 32  # slot, curve, secret
SLOT_ONLY_LEN = 1  # PUBLIC_KEY, ZEROIZE: slot
SIGN_HEAD = 1  # SIGN: slot | curve << 4, then the message
ECDSA_SIGN_LEN = SIGN_HEAD + wire.ECDSA_DIGEST_LEN
LIMB = 32
PAYLOAD_AT = wire.HEADER_LEN + SIGN_HEAD  # frame byte index of the first message byte

# The curve engine's curve codes are the wire's.
assert {c.name: c.code for c in CURVES} == {c.name.lower(): int(c) for c in wire.Curve}
assert NREG <= 32 and MSG_DEPTH >= wire.MAX_SIGN_MESSAGE


def _limbs(value):
    return [(value >> (LIMB * k)) & ((1 << LIMB) - 1) for k in range(SCALAR_BITS // LIMB)]


def _byteswap(value, nbytes):
    """Byte ``i`` of the result is byte ``nbytes-1-i`` of ``value``."""
    return Cat(*[value[8 * (nbytes - 1 - i): 8 * (nbytes - i)] for i in range(nbytes)])


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
        m.submodules.hasher = hasher = MessageHasher()
        m.submodules.nonce = nonce = NonceGen()
        m.submodules.stats = stats = CycleStats()
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
        key = Signal(SCALAR_BITS)  # last 32 payload bytes, big-endian (secret for LOAD_KEY)
        prefix = Signal(256)  # LOAD_KEY Ed25519 prefix (secret: wiped per request)
        accept = Signal()
        m.d.comb += accept.eq(self.i.valid & self.i.ready)
        is_load = op == wire.Op.LOAD_KEY
        is_pub = op == wire.Op.PUBLIC_KEY
        is_zero = op == wire.Op.ZEROIZE
        is_sign = op == wire.Op.SIGN
        is_timing = op == wire.Op.TIMING
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
                    with m.If(is_sign):  # slot | curve << 4
                        m.d.sync += [slot.eq(beat.data[:4]), curve.eq(beat.data[4:])]
                    with m.Else():
                        m.d.sync += slot.eq(beat.data)
                with m.Case(7):
                    with m.If(is_sign):  # the first message byte
                        m.d.sync += key.eq(Cat(beat.data, key[:-8]))
                    with m.Else():
                        m.d.sync += curve.eq(beat.data)
                with m.Default():  # idx >= 8: key = key << 8 | byte
                    m.d.sync += key.eq(Cat(beat.data, key[:-8]))
            with m.If(beat.last):
                m.d.sync += idx.eq(0)

        # SIGN messages go to the message memory (only SIGN: key bytes never do)
        m.d.comb += [
            hasher.msg_addr.eq(idx - PAYLOAD_AT),
            hasher.msg_data.eq(beat.data),
            hasher.msg_we.eq(accept & is_sign & (idx >= PAYLOAD_AT)),
        ]

        # slot checks: registered in LOOKUP, used in CHECK and in the response (the store's
        # curve mux is slow)
        c_args_ok = Signal()
        c_valid = Signal()
        c_curve = Signal(2)
        c_wrong_curve = Signal()
        c_bad_digest = Signal()

        # ---- response fields ---------------------------------------------------------------
        KIND_EMPTY, KIND_PUBLIC, KIND_ERROR, KIND_SIG, KIND_TIMING = range(5)
        kind = Signal(3)
        code = Signal(8)
        sig = Signal(8 * (1 + wire.ECDSA_SIGNATURE_LEN))  # curve byte + signature (public)
        pub_curve = store.public.curve
        m.d.comb += [
            store.public.slot.eq(slot[:3]),
            store.secret.slot.eq(slot[:3]),
            resp.seq.eq(seq),
            resp.op.eq(Mux(kind == KIND_ERROR, wire.Op.ERROR, op | wire.RESPONSE_FLAG)),
        ]
        with m.Switch(kind):
            with m.Case(KIND_ERROR):
                m.d.comb += [resp.length.eq(2), resp.payload.eq(Cat(code, op))]
            with m.Case(KIND_PUBLIC):  # the only data: the store's public port
                m.d.comb += [
                    resp.length.eq(Mux(c_curve == wire.Curve.ED25519, 33, 34)),
                    resp.payload.eq(Cat(c_curve, Const(0, 6), store.public.key)),
                ]
            with m.Case(KIND_SIG):
                m.d.comb += [
                    resp.length.eq(Mux(curve == wire.Curve.ED25519,
                                       1 + wire.ED25519_SIGNATURE_LEN,
                                       1 + wire.ECDSA_SIGNATURE_LEN)),
                    resp.payload.eq(sig),
                ]
            with m.Case(KIND_TIMING):
                m.d.comb += [resp.length.eq(MAX_RESULT), resp.payload.eq(stats.payload)]
            with m.Default():
                m.d.comb += [resp.length.eq(0), resp.payload.eq(0)]

        # ---- checks (registered request fields) -------------------------------------------
        args_ok = Signal()
        slot_ok = slot < wire.NUM_KEY_SLOTS
        with m.If(is_load):
            m.d.comb += args_ok.eq((length == LOAD_KEY_LEN) & (curve < len(wire.Curve)) & slot_ok)
        with m.Elif(is_pub | is_zero):
            m.d.comb += args_ok.eq((length == SLOT_ONLY_LEN) & slot_ok)
        with m.Elif(is_sign):
            m.d.comb += args_ok.eq((length >= SIGN_HEAD) & slot_ok
                                   & ((curve < len(wire.Curve)) | (curve == wire.CURVE_ANY)))
        with m.Elif(is_timing):
            m.d.comb += args_ok.eq(length == 0)
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

        # ---- SHA-512: what PRELOAD loads into the hasher's `pre` ----------------------------
        PRE_PREFIX, PRE_SEED, PRE_R_A = range(3)
        pre_src = Signal(2)
        h = hasher.digest
        m.d.comb += [
            hasher.npre.eq(Mux(pre_src == PRE_R_A, 64, 32)),
            hasher.mlen.eq(Mux(pre_src == PRE_SEED, 0, length - SIGN_HEAD)),
        ]
        clamped = Cat(Const(0, 3), h[3:254], Const(1, 1), Const(0, 1))

        # ---- nonce generator (ECDSA) --------------------------------------------------------
        m.d.comb += [
            nonce.curve.eq(curve[:2]),
            nonce.d.eq(store.secret.scalar),
            nonce.z.eq(key),
        ]

        # ---- curve engine register port and program --------------------------------------
        # The port carries 64-bit words.  Reads: `rword` steps through a register's words and
        # they shift into `sig_r` or `sig_s` (the top word only for a public key's SEC1
        # prefix byte).  Writes: `wbuf` loads a 256-bit value in one cycle and shifts it out
        # most significant word first, `we` with the last word (the writer below).
        word = ecc.rf.rdata
        prog = Signal(4)
        # the read address is a register: it fans out to every LUT-RAM copy of the engine's
        # register file, so no state decoding may sit in front of it
        raddr = Signal(range(NREG), init=IO["enc"])
        rword = Signal(range(NWORDS))
        m.d.comb += [
            ecc.rf.raddr.eq(raddr),
            ecc.rf.rword.eq(rword),
            ecc.cmd.payload.program.eq(prog),
            ecc.cmd.payload.curve.eq(curve[:2]),
        ]
        # what a finished program leads to
        PH_LOAD, PH_ED_R, PH_ED_S, PH_ECDSA = range(4)
        phase = Signal(2)
        sig_r = Signal(256)  # Ed25519 R encoding (LE) / ECDSA r (integer); a public key
        sig_s = Signal(256)
        pub_ed = Cat(sig_r, Const(0, 8))  # little-endian y | sign(x) << 255
        pub_w = _byteswap(Cat(sig_r, word[:8]), 33)  # SEC1, big-endian (prefix: word 4)
        assert len(pub_w) == len(pub_ed) == PUBLIC_BITS
        assert 4 * PORT_W == 256 and NWORDS == 5

        # ---- register writer: one 256-bit value, four words --------------------------------
        wbuf = Signal(256)  # shifts out zeros behind it: empty once written
        wleft = Signal(range(5))  # words still to shift out
        waddr = Signal(range(NREG))
        w_go = Signal()  # load `w_val` for register `w_dst` (only when `w_idle`)
        w_val = Signal(256)
        w_dst = Signal(range(NREG))
        w_idle = wleft == 0
        with m.If(w_go):
            m.d.sync += [wbuf.eq(w_val), wleft.eq(4), waddr.eq(w_dst)]
        with m.Elif(~w_idle):
            m.d.sync += [wbuf.eq(wbuf << PORT_W), wleft.eq(wleft - 1)]
        m.d.comb += [
            ecc.rf.shift.eq(~w_idle),
            ecc.rf.wdata.eq(wbuf[256 - PORT_W:]),
            ecc.rf.we.eq(wleft == 1),
            ecc.rf.addr.eq(waddr),
        ]

        # ---- cycle statistics -------------------------------------------------------------
        opcyc = Signal(32)  # cycles since the request's last byte
        ok_op = Signal()  # the operation succeeded: count it
        m.d.sync += opcyc.eq(opcyc + 1)
        m.d.comb += [
            stats.cycles.eq(opcyc),
            stats.index.eq(Mux(is_sign, record_index("sign", 0), record_index("load_key", 0))
                           + curve[:2]),
        ]
        assert RECORDS == 2 * len(wire.Curve)

        # ---- slot store writes: all fields at once -----------------------------------------
        m.d.comb += store.write.slot.eq(slot[:3])

        def rf_write(addr, value):
            """Start writing ``value`` (256 bits) to engine register ``addr``; the state must
            hold while ``w_idle`` is low (the previous write is still shifting)."""
            m.d.comb += [w_go.eq(1), w_dst.eq(addr), w_val.eq(value)]

        def fail(err):
            m.d.sync += [kind.eq(KIND_ERROR), code.eq(err)]

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
                m.d.sync += opcyc.eq(0)
                with m.If(accept & beat.last):
                    m.next = "LOOKUP"
            with m.State("LOOKUP"):  # the slot's flags and the argument checks, registered
                m.d.sync += [
                    c_args_ok.eq(args_ok),
                    c_valid.eq(store.public.valid),
                    c_curve.eq(pub_curve),
                    c_wrong_curve.eq((curve != wire.CURVE_ANY) & (curve[:2] != pub_curve)),
                    c_bad_digest.eq((pub_curve != wire.Curve.ED25519)
                                    & (length != ECDSA_SIGN_LEN)),
                ]
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [cnt.eq(0), borrow.eq(0), nonzero.eq(0), ok_op.eq(0),
                             kind.eq(KIND_EMPTY)]
                with m.If(~c_args_ok):
                    fail(wire.Err.BAD_ARGUMENT)
                    m.next = "SEND"
                with m.Elif(is_timing):
                    m.d.sync += kind.eq(KIND_TIMING)
                    m.next = "SEND"
                with m.Elif(is_pub):
                    with m.If(c_valid):
                        m.d.sync += kind.eq(KIND_PUBLIC)
                    with m.Else():
                        fail(wire.Err.EMPTY_SLOT)
                    m.next = "SEND"
                with m.Elif(is_zero):
                    m.d.comb += store.write.en.eq(1)  # zeros, valid 0: one cycle
                    m.next = "SEND"
                with m.Elif(is_sign):
                    with m.If(~c_valid):
                        fail(wire.Err.EMPTY_SLOT)
                        m.next = "SEND"
                    with m.Elif(c_wrong_curve):
                        fail(wire.Err.WRONG_CURVE)
                        m.next = "SEND"
                    with m.Elif(c_bad_digest):
                        fail(wire.Err.BAD_ARGUMENT)
                        m.next = "SEND"
                    with m.Elif(c_curve == wire.Curve.ED25519):
                        # SHA-512(prefix || M); the store's secret port reads `slot` already
                        m.d.sync += [
                            curve.eq(c_curve), phase.eq(PH_ED_R), prog.eq(Prog.ED_NONCE),
                            pre_src.eq(PRE_PREFIX),
                        ]
                        m.next = "PRELOAD"
                    with m.Else():
                        m.d.sync += [curve.eq(c_curve), phase.eq(PH_ECDSA),
                                     prog.eq(Prog.ECDSA)]
                        m.next = "NONCE"
                with m.Elif(is_ed):  # LOAD_KEY Ed25519: SHA-512(seed)
                    m.d.sync += [
                        phase.eq(PH_LOAD), prog.eq(Prog.BASEMUL),
                        pre_src.eq(PRE_SEED),
                    ]
                    m.next = "PRELOAD"
                with m.Else():
                    m.d.sync += [phase.eq(PH_LOAD), prog.eq(Prog.BASEMUL)]
                    m.next = "RANGE"

            # -- SHA-512 ---------------------------------------------------------------------
            with m.State("PRELOAD"):  # `pre` loads under a registered select (512-bit fan-out)
                m.d.comb += hasher.load.eq(1)
                with m.Switch(pre_src):
                    with m.Case(PRE_PREFIX):
                        m.d.comb += hasher.pre_in.eq(store.secret.prefix)
                    with m.Case(PRE_SEED):
                        m.d.comb += hasher.pre_in.eq(_byteswap(key, 32))
                    with m.Case(PRE_R_A):
                        m.d.comb += hasher.pre_in.eq(Cat(sig_r, store.public.key[:256]))
                m.next = "FEED"
            with m.State("FEED"):
                m.d.comb += hasher.feed.eq(1)
                with m.If(hasher.fed):
                    m.next = "DIGEST"
            with m.State("DIGEST"):
                with m.If(phase == PH_LOAD):
                    m.d.comb += hasher.take.eq(1)
                    with m.If(hasher.digest_valid):
                        m.d.sync += [key.eq(clamped), prefix.eq(h[256:])]
                        m.d.comb += hasher.flush.eq(1)
                        m.next = "LOAD"
                with m.Elif(hasher.digest_valid & w_idle):
                    rf_write(IO["lo"], h[:256])
                    m.next = "DIGEST_HI"
            with m.State("DIGEST_HI"):  # the digest is held until taken
                with m.If(w_idle):
                    m.d.comb += hasher.take.eq(1)
                    rf_write(IO["hi"], h[256:])
                    with m.If(phase == PH_ED_R):
                        m.next = "START"
                    with m.Else():  # the last hash of the request: overwrite the core's state
                        m.d.comb += hasher.flush.eq(1)
                        m.next = "WRITE_D"
            with m.State("WRITE_D"):  # the secret scalar (Ed25519 a, ECDSA d) into IO["d"]
                with m.If(w_idle):
                    rf_write(IO["d"], store.secret.scalar)
                    m.next = "START"

            # -- LOAD_KEY ECDSA range check ------------------------------------------------
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
                    fail(wire.Err.BAD_ARGUMENT)
                    m.next = "SEND"
            with m.State("LOAD"):
                with m.If(w_idle):
                    rf_write(IO["k"], key)
                    m.next = "START"

            # -- ECDSA nonce ---------------------------------------------------------------
            with m.State("NONCE"):
                m.d.comb += nonce.start.eq(1)
                m.next = "NONCE_WAIT"
            with m.State("NONCE_WAIT"):
                with m.If(nonce.done):
                    with m.If(nonce.ok):
                        m.next = "NONCE_K"
                    with m.Else():
                        fail(wire.Err.SIGN_FAILED)
                        m.next = "SCRUB"
            with m.State("NONCE_K"):
                with m.If(w_idle):
                    rf_write(IO["k"], nonce.k)
                    m.d.comb += nonce.wipe.eq(1)
                    m.next = "NONCE_Z"
            with m.State("NONCE_Z"):
                with m.If(w_idle):
                    rf_write(IO["lo"], key)
                    m.next = "WRITE_D"

            # -- curve engine ----------------------------------------------------------------
            with m.State("START"):  # the last write's `we` is out: the engine may start
                m.d.sync += cnt.eq(0)  # SCRUB counts from 0 (RANGE left it at 8)
                with m.If(w_idle):
                    m.d.comb += ecc.cmd.valid.eq(1)
                    with m.If(ecc.cmd.ready):
                        m.next = "RUN"
            with m.State("RUN"):
                m.d.sync += [raddr.eq(IO["enc"]), rword.eq(0)]
                with m.If(ecc.done):
                    m.next = "READ"
            with m.State("READ"):  # the last results are written: read address IO["enc"]
                m.next = "READ_ENC"
            with m.State("READ_ENC"):  # rf.rdata = word `rword` of IO["enc"], 5 cycles
                m.d.sync += rword.eq(rword + 1)
                with m.If(rword != 4):  # words 0-3: R / S / r / a public key's 256 bits
                    with m.If(phase == PH_ED_S):
                        m.d.sync += sig_s.eq(Cat(sig_s[PORT_W:], word))
                    with m.Else():
                        m.d.sync += sig_r.eq(Cat(sig_r[PORT_W:], word))
                with m.If((rword == 3) & (phase == PH_ECDSA)):
                    m.d.sync += raddr.eq(IO["x"])  # s: its data from the next cycle on
                with m.If(rword == 4):  # word 4: a SEC1 public key's prefix byte
                    m.d.sync += rword.eq(0)
                    with m.Switch(phase):
                        with m.Case(PH_LOAD):  # all fields of the slot at once
                            m.d.comb += [
                                store.write.en.eq(1),
                                store.write.valid.eq(1),
                                store.write.curve.eq(curve[:2]),
                                store.write.scalar.eq(key),
                                store.write.prefix.eq(prefix),
                                store.write.public.eq(Mux(is_ed, pub_ed, pub_w)),
                            ]
                            m.d.sync += ok_op.eq(1)
                            m.next = "SCRUB"
                        with m.Case(PH_ED_R):  # SHA-512(R || A || M)
                            m.d.sync += [pre_src.eq(PRE_R_A), phase.eq(PH_ED_S),
                                         prog.eq(Prog.ED_S)]
                            m.next = "PRELOAD"
                        with m.Case(PH_ED_S):
                            m.d.sync += [
                                sig.eq(Cat(curve, sig_r, sig_s, Const(0, 8))),
                                kind.eq(KIND_SIG), ok_op.eq(1),
                            ]
                            m.next = "SCRUB"
                        with m.Case(PH_ECDSA):
                            m.next = "READ_S"
            with m.State("READ_S"):  # rf.rdata = word `rword` of IO["x"] = s, 4 cycles
                m.d.sync += [rword.eq(rword + 1), sig_s.eq(Cat(sig_s[PORT_W:], word))]
                with m.If(rword == 2):
                    m.d.sync += raddr.eq(IO["y"])  # v: its data from READ_V on
                with m.If(rword == 3):
                    m.d.sync += rword.eq(0)
                    m.next = "READ_V"
            with m.State("READ_V"):  # rf.rdata = word 0 of IO["y"] = v | bad << 2
                # `sig` loads either way (its enable stays a state bit); it is sent only as
                # KIND_SIG and cleared when the response is latched
                m.d.sync += sig.eq(Cat(curve, _byteswap(sig_r, 32), _byteswap(sig_s, 32),
                                       word[:2], Const(0, 6)))
                with m.If(word[2]):
                    fail(wire.Err.SIGN_FAILED)
                with m.Else():
                    m.d.sync += [kind.eq(KIND_SIG), ok_op.eq(1)]
                m.next = "SCRUB"
            with m.State("SCRUB"):  # engine registers to zero; wait for the SHA-512 flush
                # Register 0 holds zero from the third cycle on (written at the end of the
                # second): the multiplier's flush then reads it on both ports and is out of
                # the multiplier before the last register is wiped.
                m.d.comb += [ecc.rf.we.eq(cnt != NREG), ecc.rf.addr.eq(cnt),
                             ecc.flush.eq(cnt == 2)]
                m.d.sync += raddr.eq(0)
                with m.If(cnt != NREG):
                    m.d.sync += cnt.eq(cnt + 1)
                with m.Elif(~hasher.flushing & ~ecc.busy):
                    m.d.comb += stats.en.eq(ok_op)
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += resp.start.eq(1)
                m.d.sync += [key.eq(0), prefix.eq(0), sig_r.eq(0), sig_s.eq(0)]
                m.d.comb += hasher.clear.eq(1)
                with m.If(~resp.busy):  # the responder latches the payload in this cycle
                    m.d.sync += sig.eq(0)
                    m.next = "RX"

        m.d.comb += self.busy.eq(~fsm.ongoing("RX") | (idx != 0) | resp.busy
                                 | hasher.flushing | ecc.busy | nonce.busy)
        return m
