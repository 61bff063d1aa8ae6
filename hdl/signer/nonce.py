"""``NonceGen``: RFC 6979 deterministic ECDSA nonces with HMAC-SHA256 (docs/signing.md,
"RFC 6979 nonce").

For secp256k1 and P-256, qlen = hlen = 256, so ``bits2int`` is the identity on 32-byte strings,
``bits2octets(h1) = int2octets(z mod n)`` and one HMAC output is one candidate::

    h = z - n if z >= n else z                (z < 2**256 < 2n: one conditional subtraction)
    V = 0x01 * 32, K = 0x00 * 32
    K = HMAC_K(V || 0x00 || int2octets(d) || int2octets(h));  V = HMAC_K(V)
    K = HMAC_K(V || 0x01 || int2octets(d) || int2octets(h));  V = HMAC_K(V)
    V = HMAC_K(V);  k1 = int(V)                                       candidate 1
    K = HMAC_K(V || 0x00);  V = HMAC_K(V);  V = HMAC_K(V);  k2 = int(V)   candidate 2 (always)
    k = k1 if 1 <= k1 < n else k2 if 1 <= k2 < n else 0;  ok = k != 0

Datapath (registers of 256 bits, loaded in parallel; the message bytes are the top byte of a
register that rotates left by one byte per beat, so every 32-byte operand is sent most
significant byte first and the register is back in place after its 32 bytes)::

    V, D (= d), H (= h), T (= K, then the inner digest) --top byte--> (^ 0x00/0x01/0x36/0x5c)
        --> Sha256(midstate=True).i                                   (one byte per beat)
    Sha256.o --> Si / So (raw midstates of K ^ ipad / K ^ opad), T, V
    Si / So --> Sha256.iv                                             (use_iv, iv_blocks = 1)
    V --> k

(A 32:1 byte select per register instead of the rotation costs about as many LUTs on ECP5,
~1 per bit, but puts the select, and the subtraction below, between the counter and the SHA
core's lane register: 60 MHz instead of ~100.)

A 44-instruction microprogram (``PROGRAM``) drives it; each instruction streams 1, 4 or 32 bytes
from one register (or a constant) into the SHA-256 core, or rotates a register without hashing
(range checks, the subtraction), and the last segment of a message names where its digest
goes. Per key K the midstates cost two blocks (``K ^ ipad``, ``K ^ opad`` with ``raw`` on the
last beat); each HMAC is then an inner hash from ``Si`` and a 32-byte outer hash from ``So``.
``K`` itself is needed only to compute the midstates, so T is free for the inner digest
afterwards.

Range checks are byte-serial, most significant byte first, against a 32-entry ROM of the
order's bytes (32 cycles each): ``1 <= k < n`` for each candidate, and ``z >= n`` once at the
start, which also records the 32 borrows of ``z - n`` (borrow i: the bytes of z after byte i
are below n's), so that a second pass can replace H = z by ``h = z - (n if z >= n else 0)``
byte by byte, most significant first, in the same left rotation (no 256-bit subtractor, no
second rotation direction).

**Constant time**: the FSM and the microprogram branch only on the program counter, the byte
counter and the SHA core's handshakes, whose timing depends only on message lengths; the
second candidate is always computed and the subtraction and the selection are multiplexers.
Every run takes ``CYCLES`` cycles from ``start`` to ``done`` for every d, z and curve.

**Secrets**: d, h, K, V, the midstates, the candidates, the comparison flags and the SHA core's
state. Before ``done``, one cycle (SELECT) zeroes V, T, D, H, Si, So, the borrows and the flags
(k keeps the selected candidate, the other one is gone); then the SHA-256 core hashes the
4-byte message ``00000000``, which overwrites its chaining state, its message schedule window
and its byte-lane register (the empty message would leave the lane register, i.e. the last 4
bytes of the previous, secret, message in place). Only ``k``/``ok`` remain; ``wipe`` zeroes
them (or, while busy, makes the run end with ``k = 0, ok = 0``).
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from quantgate import wire

from ..arith.model import N256, N256K1
from ..hash.sha2 import Sha256

__all__ = ["NonceGen", "PROGRAM", "CYCLES", "rfc6979_candidates"]

# ---- microinstructions --------------------------------------------------------------------
R_NONE, R_V, R_D, R_H, R_T = range(5)  # source register (its top byte), or none (0x00)
PADS = (0x00, 0x01, 0x36, 0x5C)  # XORed into the byte
P_00, P_01, P_36, P_5C = range(4)
IV_STD, IV_SI, IV_SO = range(3)  # start the message from the standard IV, Si or So
D_NONE, D_DROP, D_SI, D_SO, D_T, D_V = range(6)  # where the message's digest goes
# rotate-only segments: z >= n and the borrows, h = z - n, 1 <= k1 < n (and k = V), 1 <= k2 < n
A_NONE, A_GE, A_SUB, A_OK1, A_OK2 = range(5)

INSN = data.StructLayout({
    "reg": 3,
    "pad": 2,
    "lastidx": 5,  # segment length - 1
    "sha": 1,  # bytes go to the SHA core (else: rotate only, one byte per cycle)
    "last": 1,  # the segment ends the message
    "raw": 1,  # ... as a raw midstate (64-byte messages)
    "iv": 2,
    "dest": 3,
    "act": 3,
})


def _seg(reg, n, *, pad=P_00, sha=True, last=False, raw=False, iv=IV_STD, dest=D_NONE,
         act=A_NONE):
    assert n in (1, 4, 32) and (dest == D_NONE or last) and (reg == R_NONE or n == 32)
    return dict(reg=reg, pad=pad, lastidx=n - 1, sha=int(sha), last=int(last), raw=int(raw),
                iv=iv, dest=dest, act=act)


def _midstates():
    """Si, So <- raw SHA-256 states of (K || 0*32) ^ ipad and ^ opad."""
    return [
        _seg(R_T, 32, pad=P_36),
        _seg(R_NONE, 32, pad=P_36, last=True, raw=True, dest=D_SI),
        _seg(R_T, 32, pad=P_5C),
        _seg(R_NONE, 32, pad=P_5C, last=True, raw=True, dest=D_SO),
    ]


def _hmac(parts, dest):
    """dest <- HMAC_K(parts) from the midstates: inner digest into T, then the outer hash."""
    segs = [_seg(reg, n, pad=pad, iv=IV_SI) for reg, n, pad in parts]
    segs[-1].update(last=1, dest=D_T)
    return segs + [_seg(R_T, 32, iv=IV_SO, last=True, dest=dest)]


_V = (R_V, 32, P_00)


def _vdh(sep):
    return [_V, (R_NONE, 1, sep), (R_D, 32, P_00), (R_H, 32, P_00)]


PROGRAM = [
    _seg(R_H, 32, sha=False, act=A_GE),  # ge = z >= n; the borrows of z - n
    _seg(R_H, 32, sha=False, act=A_SUB),  # H = z - n if ge else z
    *_midstates(),  # K = 0
    *_hmac(_vdh(P_00), D_T),  # K = HMAC_K(V || 00 || d || h)
    *_midstates(),
    *_hmac([_V], D_V),  # V = HMAC_K(V)
    *_hmac(_vdh(P_01), D_T),  # K = HMAC_K(V || 01 || d || h)
    *_midstates(),
    *_hmac([_V], D_V),  # V = HMAC_K(V)
    *_hmac([_V], D_V),  # V = HMAC_K(V) (candidate 1)
    _seg(R_V, 32, sha=False, act=A_OK1),  # k = V, ok1 = 1 <= k1 < n
    *_hmac([_V, (R_NONE, 1, P_00)], D_T),  # K = HMAC_K(V || 00)
    *_midstates(),
    *_hmac([_V], D_V),  # V = HMAC_K(V)
    *_hmac([_V], D_V),  # V = HMAC_K(V) (candidate 2)
    _seg(R_V, 32, sha=False, act=A_OK2),  # ok2 = 1 <= k2 < n; then SELECT
    _seg(R_NONE, 4, last=True, dest=D_DROP),  # flush the SHA core: hash 00000000
]
SELECT_AFTER = len(PROGRAM) - 2  # SELECT runs between these two instructions


def _check_program():
    """Of the messages that start from a midstate, those from So are exactly those whose
    previous digest went to T (an HMAC's outer hash follows its inner hash): the hardware
    selects ``iv`` with a flip-flop set that way, so that no ROM decoding sits in front of the
    core's adders."""
    prev_dest, first = D_NONE, True
    for ins in PROGRAM:
        if ins["sha"] and first and ins["iv"] != IV_STD:
            assert (ins["iv"] == IV_SO) == (prev_dest == D_T), ins
        if ins["sha"]:
            first = bool(ins["last"])
            if ins["last"]:
                prev_dest = ins["dest"]
        if ins["iv"] != IV_STD:
            assert ins["sha"]


_check_program()

#: cycles from the clock edge that samples ``start`` to the one after which ``done`` is high
#: (tests/test_nonce.py asserts it for every run). With cycles(n) the SHA-256 core's latency for
#: an n-byte message (docs/hash.md; 116 for a raw 64-byte midstate) and one cycle per digest
#: taken: 64 (z >= n, h = z - n) + 8 * 117 (midstates) + 2 * 209 (97-byte inner hashes)
#: + 14 * 93 (32/33-byte inner and outer hashes) + 2 * 32 (checks of k1, k2) + 1 (SELECT)
#: + 72 (flush, 4 bytes) = 2857.
CYCLES = 2857


def rfc6979_candidates(d, z, n, count=2):
    """The first ``count`` RFC 6979 candidates (HMAC-SHA256, qlen = 256) in Python, with the
    hardware's bits2octets (one conditional subtraction): reference for the docs/tests."""
    import hashlib
    import hmac

    def mac(key, msg):
        return hmac.new(key, msg, hashlib.sha256).digest()

    x = d.to_bytes(32, "big")
    h = (z - n if z >= n else z).to_bytes(32, "big")
    v, k = b"\x01" * 32, b"\x00" * 32
    k = mac(k, v + b"\x00" + x + h)
    v = mac(k, v)
    k = mac(k, v + b"\x01" + x + h)
    v = mac(k, v)
    out = []
    while True:
        v = mac(k, v)
        out.append(int.from_bytes(v, "big"))
        if len(out) == count:
            return out
        k = mac(k, v + b"\x00")
        v = mac(k, v)


def _bytes_be(x):
    """Digest payload (byte i at bits [8i+7:8i]) -> integer value (byte 0 most significant)."""
    return Cat(*[x[8 * i:8 * i + 8] for i in reversed(range(len(x) // 8))])


class NonceGen(wiring.Component):
    """RFC 6979 nonce k for ECDSA over secp256k1 (``curve`` 1) and P-256 (any other ``curve``).

    ``start`` (one cycle, while not busy) latches ``d``, ``z`` and ``curve``; ``done`` pulses in
    the first idle cycle, exactly ``CYCLES`` cycles later, with ``k`` and ``ok`` valid until the
    next ``start`` (``start`` zeroes them; ``wipe`` zeroes them when idle). ``orders``: the group
    orders for curve 1 and for the rest; tests may override them (for n < 2**255 the hardware
    still does one conditional subtraction, ``h = z - n if z >= n else z``).
    """

    start: In(1)
    curve: In(2)
    d: In(256)
    z: In(256)
    wipe: In(1)
    busy: Out(1)
    done: Out(1)
    k: Out(256)
    ok: Out(1)

    def __init__(self, *, orders=(N256K1, N256)):
        if len(orders) != 2 or not all(1 < n < 2**256 for n in orders):
            raise ValueError("orders: two group orders, 1 < n < 2**256")
        self.orders = tuple(orders)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.sha = sha = Sha256(midstate=True)

        words = [INSN.const(ins).as_value().value for ins in PROGRAM]
        pc = Signal(range(len(PROGRAM)))
        ins = data.View(INSN, Array(Const(w, INSN.size) for w in words)[pc])
        cnt = Signal(5)  # byte index in the segment

        V = Signal(256)
        T = Signal(256)  # K, then the inner digest
        D = Signal(256)
        H = Signal(256)
        Si = Signal(256)
        So = Signal(256)
        is_k1 = Signal()  # curve == secp256k1
        ge = Signal()  # z >= n
        ok1 = Signal()
        ok2 = Signal()
        wiped = Signal()  # wipe while busy: end with k = 0, ok = 0
        iv_so = Signal()  # the current message starts from So (else Si): see _check_program

        # ---- control strobes (from the FSM below) ------------------------------------------
        latch = Signal()  # start accepted: load d, z, curve, V, K
        adv = Signal()  # a byte of the current segment is sent (or rotated) this cycle
        take = Signal()  # the digest is taken this cycle
        clear = Signal()  # SELECT: k, ok from the candidates; zero everything else
        final = Signal()  # the last digest (the flush) is taken: done next cycle
        first = cnt == 0
        end = cnt == ins.lastidx
        k_copy = adv & (ins.act == A_OK1) & first  # V = k1

        # ---- byte-serial comparison against the order, most significant byte first ---------
        rb = Signal(8)  # top byte of the source register
        with m.Switch(ins.reg):
            for code, reg in ((R_V, V), (R_D, D), (R_H, H), (R_T, T)):
                with m.Case(code):
                    m.d.comb += rb.eq(reg[-8:])
        # byte cnt of n (most significant first) for both curves, in registers that follow cnt
        # (so that no ROM sits in front of the comparison and the subtraction)
        nbytes = [[(n >> 8 * (31 - j)) & 0xFF for j in range(32)] for n in self.orders]
        nq = [Signal(8, name=f"n{c + 1}q", init=nbytes[c][0]) for c in range(2)]
        with m.If(latch | (adv & end)):  # cnt -> 0
            m.d.sync += [q.eq(nbytes[c][0]) for c, q in enumerate(nq)]
        with m.Elif(adv):  # cnt -> cnt + 1
            m.d.sync += [q.eq(Array(Const(x, 8) for x in nbytes[c])[(cnt + 1)[:5]])
                         for c, q in enumerate(nq)]
        nb = Signal(8)
        m.d.comb += nb.eq(Mux(is_k1, nq[0], nq[1]))
        # state after the previous byte
        und, lt, nz = (Signal(name=x) for x in ("und", "lt", "nz"))
        und_p = first | und
        lt_n = Mux(und_p, rb < nb, ~first & lt)  # value < n so far
        und_n = und_p & (rb == nb)  # all bytes so far equal to n's
        nz_n = (~first & nz) | rb.any()  # value != 0 so far
        with m.If(clear):
            m.d.sync += [und.eq(0), lt.eq(0), nz.eq(0)]
        with m.Elif(adv & ~ins.sha):  # only in the rotate-only segments
            m.d.sync += [und.eq(und_n), lt.eq(lt_n), nz.eq(nz_n)]
        with m.If(clear):
            m.d.sync += [ge.eq(0), ok1.eq(0), ok2.eq(0)]
        with m.Elif(adv & end):
            with m.Switch(ins.act):
                with m.Case(A_GE):
                    m.d.sync += ge.eq(~lt_n)
                with m.Case(A_OK1):
                    m.d.sync += ok1.eq(lt_n & nz_n)
                with m.Case(A_OK2):
                    m.d.sync += ok2.eq(lt_n & nz_n)

        # ---- h = z - n if z >= n else z, most significant byte first ----------------------
        # borrow[i]: the bytes of z after byte i (less significant) are below n's, i.e. byte i
        # of z - n takes a borrow. In the z >= n pass, byte j decides borrow[i] for every
        # i < j still pending (all later bytes so far equal); undecided at the end: no borrow.
        # The next pass rotates H once more, replacing byte j by z_j - n_j - borrow[j]; borrow
        # shifts along (borrow[0] is byte j's) and ends as zero.
        borrow = Signal(32)
        pend = Signal(32)
        ne, less = rb != nb, rb < nb
        with m.If(clear):
            m.d.sync += [borrow.eq(0), pend.eq(0)]
        with m.Elif(adv & (ins.act == A_GE)):
            for i in range(32):
                p = pend[i] & ~first
                m.d.sync += [
                    borrow[i].eq(Mux(p & ne, less, borrow[i] & ~first)),
                    pend[i].eq((p & ~ne) | (cnt == i)),
                ]
        with m.Elif(adv & (ins.act == A_SUB)):
            m.d.sync += borrow.eq(borrow >> 1)
        hbyte = Signal(8)
        m.d.comb += hbyte.eq(rb - Mux(ge, nb, 0) - (ge & borrow[0]))
        byte = rb ^ Array(Const(p, 8) for p in PADS)[ins.pad]

        # ---- SHA-256 core ---------------------------------------------------------------
        dig = sha.o.payload
        m.d.comb += [
            sha.i.payload.data.eq(byte),
            sha.i.payload.last.eq(ins.last & end),
            sha.i.payload.raw.eq(ins.raw),
            sha.i.payload.empty.eq(0),
            sha.use_iv.eq(ins.iv != IV_STD),
            sha.iv.eq(Mux(iv_so, So, Si)),
            sha.iv_blocks.eq(1),
        ]

        # ---- registers: clear (the flip-flops' synchronous reset), load, rotate -----------
        def update(reg, *, clr, loads, code=None, insert=None):
            with m.If(clr):
                m.d.sync += reg.eq(0)
            for cond, value in loads:
                with m.Elif(cond):
                    m.d.sync += reg.eq(value)
            if code is not None:  # one byte left; the top byte (or `insert`) in at the bottom
                with m.Elif(adv & (ins.reg == code)):
                    m.d.sync += reg.eq(Cat(reg[-8:] if insert is None else insert, reg[:-8]))

        dest = [take & (ins.dest == x) for x in range(D_V + 1)]
        with m.If(latch):  # V = 0x0101...01
            m.d.sync += V.eq(int.from_bytes(b"\x01" * 32, "big"))
        with m.Else():
            update(V, clr=clear, loads=[(dest[D_V], _bytes_be(dig))], code=R_V)
        update(T, clr=latch | clear, loads=[(dest[D_T], _bytes_be(dig))], code=R_T)
        update(D, clr=clear, loads=[(latch, self.d)], code=R_D)
        update(H, clr=clear, loads=[(latch, self.z)], code=R_H,
               insert=Mux(ins.act == A_SUB, hbyte, H[-8:]))
        update(Si, clr=clear, loads=[(dest[D_SI], dig)])
        update(So, clr=clear, loads=[(dest[D_SO], dig)])
        # k: candidate 1 from V, then k = k1 if ok1 else k2 (in V) if ok2 else 0
        idle_wipe = self.wipe & ~self.busy
        end_wipe = final & (wiped | self.wipe)
        update(self.k, clr=latch | idle_wipe | end_wipe | (clear & ~ok1 & ~ok2),
               loads=[(k_copy | (clear & ~ok1), V)])
        update(self.ok, clr=latch | idle_wipe | end_wipe, loads=[(clear, ok1 | ok2)])
        with m.If(take):
            m.d.sync += iv_so.eq(ins.dest == D_T)
        with m.If(latch):
            m.d.sync += [is_k1.eq(self.curve == wire.Curve.SECP256K1), wiped.eq(0)]
        with m.Elif(self.wipe & self.busy):
            m.d.sync += wiped.eq(1)

        # ---- sequencer ------------------------------------------------------------------
        m.d.sync += self.done.eq(final)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += latch.eq(self.start)
                with m.If(self.start):
                    m.d.sync += [pc.eq(0), cnt.eq(0)]
                    m.next = "RUN"

            with m.State("RUN"):
                m.d.comb += [sha.i.valid.eq(ins.sha), adv.eq(~ins.sha | sha.i.ready)]
                with m.If(adv):
                    m.d.sync += cnt.eq(cnt + 1)
                    with m.If(end):
                        m.d.sync += cnt.eq(0)
                        with m.If(ins.dest != D_NONE):
                            m.next = "WAIT"
                        with m.Elif(pc == SELECT_AFTER):
                            m.next = "SELECT"
                        with m.Else():
                            m.d.sync += pc.eq(pc + 1)

            with m.State("WAIT"):  # take the digest
                m.d.comb += [sha.o.ready.eq(1), take.eq(sha.o.valid)]
                with m.If(sha.o.valid):
                    with m.If(pc == len(PROGRAM) - 1):
                        m.d.comb += final.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += pc.eq(pc + 1)
                        m.next = "RUN"

            with m.State("SELECT"):
                m.d.comb += clear.eq(1)
                m.d.sync += pc.eq(pc + 1)
                m.next = "RUN"

        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
