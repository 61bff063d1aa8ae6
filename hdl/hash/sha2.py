"""Streaming SHA-2 cores (FIPS 180-4): :class:`Sha256` and :class:`Sha512`.

Both are the same parameterised engine, :class:`Sha2`, one compression round per clock cycle.

Interface (see docs/hash.md for timing):

* ``i``: ``stream.Signature(input_layout(midstate))``, one message byte per beat:

  - ``data`` (8 bits): the byte, in message order;
  - ``last``: this beat ends the message;
  - ``empty``: the beat carries no byte (``data`` ignored). ``last=1, empty=1`` ends a message
    without adding a byte, which is how a zero-length message is hashed. ``empty=1, last=0``
    beats are consumed and ignored.
  - ``raw`` (only with ``midstate=True``): on the ``last`` beat of a message whose length is a
    non-zero multiple of the block size, skip the padding and output the raw chaining state
    (a "midstate", e.g. the HMAC ipad/opad state). Ignored for any other length.

* ``o``: ``stream.Signature(digest_bits)``; ``payload`` bits ``[8*i+7:8*i]`` are digest byte ``i``,
  so ``int(payload).to_bytes(digest_bits // 8, "little") == hashlib.sha512(msg).digest()``.

* with ``midstate=True`` only: ``iv`` (``digest_bits`` wide, same byte order as ``o.payload``),
  ``iv_blocks`` (``block_count_bits`` wide) and ``use_iv``. They must be valid when the first beat
  of a message is accepted and stay unchanged for one more cycle (``iv`` is loaded then): with
  ``use_iv`` high the message is hashed starting from chaining state ``iv`` as if ``iv_blocks``
  whole blocks had already been hashed (they count in the length field of the padding). This is
  how HMAC can precompute its ipad and opad states once per key.

Timing never depends on the content of the message, only on its length and on the
valid/ready handshakes. The input stalls (``ready`` low) while a full block is being compressed;
rounds 0..15 overlap the block fill (each word's round is issued as soon as the word is complete).
"""

from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Sha2Params", "SHA256", "SHA512", "Sha2", "Sha256", "Sha512", "input_layout"]


def _iroot(n, k):
    """floor(n ** (1/k)) for a non-negative integer n, exactly."""
    lo, hi = 0, 1 << (n.bit_length() // k + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid**k <= n:
            lo = mid
        else:
            hi = mid
    return lo


def _primes(count):
    out, n = [], 2
    while len(out) < count:
        if all(n % p for p in out if p * p <= n):
            out.append(n)
        n += 1
    return out


def _frac_roots(count, root, bits):
    """First `bits` bits of the fractional parts of the `root`-th roots of the first primes."""
    mask = (1 << bits) - 1
    return tuple(_iroot(p << (root * bits), root) & mask for p in _primes(count))


@dataclass(frozen=True)
class Sha2Params:
    name: str
    word: int  # bits per word
    rounds: int
    big_sigma0: tuple  # rotations
    big_sigma1: tuple
    small_sigma0: tuple  # rotation, rotation, shift
    small_sigma1: tuple
    k: tuple
    iv: tuple

    @property
    def block_bytes(self):
        return 2 * self.word

    @property
    def digest_bits(self):
        return 8 * self.word


SHA256 = Sha2Params(
    name="sha256", word=32, rounds=64,
    big_sigma0=(2, 13, 22), big_sigma1=(6, 11, 25),
    small_sigma0=(7, 18, 3), small_sigma1=(17, 19, 10),
    k=_frac_roots(64, 3, 32), iv=_frac_roots(8, 2, 32),
)

SHA512 = Sha2Params(
    name="sha512", word=64, rounds=80,
    big_sigma0=(28, 34, 39), big_sigma1=(14, 18, 41),
    small_sigma0=(1, 8, 7), small_sigma1=(19, 61, 6),
    k=_frac_roots(80, 3, 64), iv=_frac_roots(8, 2, 64),
)


def _csa(x, y, z, width):
    """Carry-save 3:2 compression: x + y + z == s + c (mod 2**width), no carry chain."""
    s = x ^ y ^ z
    c = Cat(Const(0, 1), ((x & y) | (x & z) | (y & z))[:width - 1])
    return s, c


def _reduce(width, *terms):
    """Carry-save tree: two values whose sum is the sum of `terms` mod 2**width."""
    terms = list(terms)
    while len(terms) > 2:
        s, c = _csa(terms[0], terms[1], terms[2], width)
        terms = [*terms[3:], s, c]
    return terms


def _add(width, *terms):
    """Multi-operand sum mod 2**width as an explicit carry-save tree and one carry chain."""
    x, y = _reduce(width, *terms)
    return (x + y)[:width]


def input_layout(midstate=False):
    fields = {"data": 8, "last": 1, "empty": 1}
    if midstate:
        fields["raw"] = 1
    return data.StructLayout(fields)


class Sha2(wiring.Component):
    """One-round-per-cycle SHA-2 engine; use :class:`Sha256` or :class:`Sha512`.

    Parameters
    ----------
    params : Sha2Params
    midstate : bool
        Add the ``iv``/``iv_blocks``/``use_iv`` ports and the ``raw`` input flag (HMAC support).
    block_count_bits : int
        Width of the block counter; messages up to ``2**block_count_bits`` blocks.
    """

    def __init__(self, params, *, midstate=False, block_count_bits=32):
        self.params = params
        self.midstate = midstate
        self.block_count_bits = block_count_bits
        lenbits = 3 + (params.block_bytes.bit_length() - 1) + block_count_bits
        if lenbits > 2 * params.word:
            raise ValueError("block_count_bits too large for the SHA-2 length field")
        members = {
            "i": In(stream.Signature(input_layout(midstate))),
            "o": Out(stream.Signature(params.digest_bits)),
        }
        if midstate:
            members["iv"] = In(params.digest_bits)
            members["iv_blocks"] = In(block_count_bits)
            members["use_iv"] = In(1)
        super().__init__(members)

    @staticmethod
    def _words_to_bytes(words, w):
        """Big-endian words -> flat value with byte i at bits [8i+7:8i]."""
        return Cat(*[word[w - 8 * (j + 1): w - 8 * j] for word in words for j in range(w // 8)])

    def elaborate(self, platform):
        m = Module()
        p = self.params
        w, R = p.word, p.rounds
        nb = w // 8  # bytes per word
        B = p.block_bytes  # bytes per block (16 words)
        lk = nb.bit_length() - 1

        def big_sigma(x, rots):
            return x.rotate_right(rots[0]) ^ x.rotate_right(rots[1]) ^ x.rotate_right(rots[2])

        def small_sigma(x, rs):
            return x.rotate_right(rs[0]) ^ x.rotate_right(rs[1]) ^ (x >> rs[2])

        # Chaining state H and working variables a..h.
        H = [Signal(w, name=f"H{j}", init=p.iv[j]) for j in range(8)]
        V = [Signal(w, name=f"v_{'abcdefgh'[j]}", init=p.iv[j]) for j in range(8)]
        a, b, c, d, e, f, g, h = V

        # Input side: byte lanes of the word being assembled (lane 0 = most significant).
        lanes = Signal(w)
        asm_full = Signal()  # `lanes` holds a complete data word, issue it this cycle
        pos = Signal(range(B))  # data bytes in the current block (mod B)
        nblocks = Signal(self.block_count_bits)  # complete data blocks so far
        fresh = Signal(init=1)  # no beat of the current message accepted yet
        ending = Signal()  # the last beat was seen: padding in progress
        marker_done = Signal()  # the 0x80 marker word was issued
        lenhi_done = Signal()  # the high length word was issued
        final = Signal()  # the block being compressed is the message's last

        # Round issue, stage S: the FSM picks word W_t for round t (t < 16: message or padding
        # word; t >= 16: the schedule) and registers it, so that no control logic sits in front
        # of the adders.
        t = Signal(range(R))  # index of the next round to issue
        issue = Signal()
        w_sel = Signal(w)
        sched = Signal()  # t >= 16: W_t comes from the message schedule
        iq = Signal()  # stage A holds an issued round
        wq = Signal(w)
        sched_q = Signal()
        with m.If(issue):
            m.d.sync += t.eq(Mux(t == R - 1, 0, t + 1))
        m.d.sync += [iq.eq(issue), wq.eq(w_sel), sched_q.eq(sched)]

        # Stage A: W_t into the 15-word window, W_{t+1} from the window, h + K_t + W_t.
        win = [Signal(w, name=f"win{i}") for i in range(15)]  # W[t-15..t-1]
        wnext = Signal(w)  # W_{t+1}, valid when t + 1 >= 16
        pre = Signal(w)  # h + K_t + W_t (h as it will be when the round executes)
        dpre = Signal(w)  # d + h + K_t + W_t
        bv = Signal()  # stage B executes a round this cycle
        finish = Signal()

        # Round constants: kw = K[ta] and kw1 = K[ta+1] are registers that advance with each
        # round in stage A; a LUT ROM indexed directly by the register ta supplies K[ta+2]. (A
        # block RAM's clock-to-out, or a ROM behind next-index logic, would sit on the adders.)
        ta = Signal(range(R))
        kw = Signal(w, init=p.k[0])
        kw1 = Signal(w, init=p.k[1])
        k2 = Array(Const(p.k[(i + 2) % R], w) for i in range(R))[ta]
        with m.If(iq):
            m.d.sync += [ta.eq(Mux(ta == R - 1, 0, ta + 1)), kw.eq(kw1), kw1.eq(k2)]

        # If a round executes this cycle, the state it leaves has h' = g, d' = c.
        hsrc = Mux(bv, g, h)
        dsrc = Mux(bv, c, d)
        wt = Mux(sched_q, wnext, wq)
        with m.If(iq):
            m.d.sync += [
                pre.eq(_add(w, hsrc, kw, wt)),
                dpre.eq(_add(w, hsrc, kw, wt, dsrc)),
                wnext.eq(_add(w, small_sigma(win[14], p.small_sigma1), win[9],
                              small_sigma(win[1], p.small_sigma0), win[0])),
                *[win[i].eq(win[i + 1]) for i in range(14)],
                win[14].eq(wt),
            ]
        m.d.sync += bv.eq(iq)

        # Stage B: the round itself. The carry chains that produce the new a and e also do the
        # feed-forward H + V at the end of a block and the IV load: their operands are muxed in
        # front of the chain (where the mux folds into the carry-save LUTs), so no mux sits
        # between the chain and the a/e flip-flops.
        s1 = big_sigma(e, p.big_sigma1)
        ch = (e & f) ^ (~e & g)
        s0 = big_sigma(a, p.big_sigma0)
        maj = (a & b) ^ (a & c) ^ (b & c)
        # H, V <- init (the IV, or the `iv` input): registered, one cycle after the digest is taken
        # or the first beat is accepted, so that no handshake logic fans out into the adders.
        load = Signal()
        load_iv = Signal()
        m.d.sync += [load.eq(0), load_iv.eq(0)]
        init = [Const(x, w) for x in p.iv]
        if self.midstate:
            for j in range(8):
                word = self.iv.word_select(j, w)
                word = Cat(*[word.word_select(nb - 1 - i, 8) for i in range(nb)])
                init[j] = Mux(load_iv, word, init[j])
        hop = [Mux(load, init[j], H[j]) for j in range(8)]
        vop = [Mux(load, 0, V[j]) for j in range(8)]
        sums = [(hop[j] + vop[j])[:w] for j in range(8)]
        for j, terms in ((0, (pre, s1, ch, s0, maj)), (4, (dpre, s1, ch))):
            x, y = _reduce(w, *terms)
            sums[j] = (Mux(bv, x, hop[j]) + Mux(bv, y, vop[j]))[:w]
        with m.If(bv):
            m.d.sync += [
                h.eq(g), g.eq(f), f.eq(e), e.eq(sums[4]),
                d.eq(c), c.eq(b), b.eq(a), a.eq(sums[0]),
            ]
        with m.If(finish | load):
            m.d.sync += [x.eq(sums[j]) for j in range(8) for x in (H[j], V[j])]

        # Padding words.
        k = pos[:lk]
        marked = Signal(w)
        for j in range(nb):
            sl = slice(w - 8 * (j + 1), w - 8 * j)
            m.d.comb += marked[sl].eq(Mux(k > j, lanes[sl], Mux(k == j, 0x80, 0)))
        length = Cat(Const(0, 3), pos, nblocks)  # message length in bits
        length = Cat(length, Const(0, 2 * w - len(length)))
        len_hi, len_lo = length[w:], length[:w]

        beat = self.i.payload
        accept = self.i.valid & self.i.ready

        with m.FSM():
            with m.State("FILL"):
                m.d.comb += [
                    self.i.ready.eq(~(asm_full & (t == 15))),
                    issue.eq(asm_full),
                    w_sel.eq(lanes),
                ]
                with m.If(asm_full):
                    m.d.sync += asm_full.eq(0)
                    with m.If(t == 15):
                        m.next = "ROUNDS"
                with m.If(accept):
                    m.d.sync += fresh.eq(0)
                    if self.midstate:
                        with m.If(fresh & self.use_iv):
                            m.d.sync += [load.eq(1), load_iv.eq(1)]
                            m.d.sync += nblocks.eq(self.iv_blocks)
                    with m.If(~beat.empty):
                        for j in range(nb):
                            with m.If(k == j):
                                m.d.sync += lanes[w - 8 * (j + 1): w - 8 * j].eq(beat.data)
                        m.d.sync += pos.eq(pos + 1)
                        with m.If(k == nb - 1):
                            m.d.sync += asm_full.eq(1)
                        with m.If(pos == B - 1):
                            m.d.sync += nblocks.eq(nblocks + 1)
                    with m.If(beat.last):
                        raw_ok = ~beat.empty & (pos == B - 1)
                        if self.midstate:
                            raw_ok = raw_ok & beat.raw
                        else:
                            raw_ok = Const(0)
                        with m.If(raw_ok):
                            m.d.sync += final.eq(1)
                        with m.Else():
                            m.d.sync += ending.eq(1)
                            m.next = "PAD"

            with m.State("PAD"):
                m.d.comb += issue.eq(1)
                with m.If(asm_full):
                    m.d.comb += w_sel.eq(lanes)
                    m.d.sync += asm_full.eq(0)
                with m.Elif(~marker_done):
                    m.d.comb += w_sel.eq(marked)
                    m.d.sync += marker_done.eq(1)
                with m.Elif(t == 14):
                    m.d.comb += w_sel.eq(len_hi)
                    m.d.sync += lenhi_done.eq(1)
                with m.Elif(t == 15):
                    m.d.comb += w_sel.eq(Mux(lenhi_done, len_lo, 0))
                    m.d.sync += final.eq(lenhi_done)
                with m.If(t == 15):
                    m.next = "ROUNDS"

            with m.State("ROUNDS"):
                m.d.comb += [issue.eq(1), sched.eq(1)]
                with m.If(t == R - 1):
                    m.next = "DRAIN_A"

            with m.State("DRAIN_A"):  # stage A takes round R-1
                m.next = "DRAIN_B"

            with m.State("DRAIN_B"):  # stage B runs round R-1
                m.next = "FINISH"

            with m.State("FINISH"):
                m.d.comb += finish.eq(1)
                with m.If(final):
                    m.next = "DONE"
                with m.Elif(ending):
                    m.next = "PAD"
                with m.Else():
                    m.next = "FILL"

            with m.State("DONE"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    m.d.sync += [
                        load.eq(1),
                        pos.eq(0), nblocks.eq(0), fresh.eq(1), ending.eq(0),
                        marker_done.eq(0), lenhi_done.eq(0), final.eq(0),
                    ]
                    m.next = "FILL"

        m.d.comb += self.o.payload.eq(self._words_to_bytes(H, w))
        return m


class Sha256(Sha2):
    """SHA-256: 64-byte blocks, 256-bit digest."""

    def __init__(self, **kwargs):
        super().__init__(SHA256, **kwargs)


class Sha512(Sha2):
    """SHA-512: 128-byte blocks, 512-bit digest."""

    def __init__(self, **kwargs):
        super().__init__(SHA512, **kwargs)
