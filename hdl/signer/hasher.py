"""``MessageHasher``: the signer engine's SHA-512 unit (docs/signing.md, "Signing controller").

A SHA-512 core, the 1 KiB message memory the request parser fills, and one feeder::

    load (pre_in, npre, mlen) --> pre: 512-bit shift register, byte 0 first --+
    msg_we/addr/data ---------> message memory (block RAM) ------------------+--> Sha512.i
                                                                                |
    flush: 8 zero bytes (overwrite the core's state after the last use) -------+
    Sha512.o --> digest (take: consume it)

One message is ``npre`` bytes of ``pre`` (seed, prefix, or R || A) followed by ``mlen`` bytes of
the message memory, one byte per cycle; the memory's read address runs one byte ahead of the
core's handshake, so the message is hashed twice from the memory without the host sending it
twice. ``pre`` shifts on every step (zeros once past ``npre``) so that its 512 enables are one
signal; ``load`` and ``clear`` come from the controller's registered state.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..hash.sha2 import Sha512

__all__ = ["MessageHasher", "MSG_DEPTH", "PRE_BITS"]

MSG_DEPTH = 1024  # message memory (>= wire.MAX_SIGN_MESSAGE)
PRE_BITS = 512
FLUSH_BYTES = 8


class MessageHasher(wiring.Component):
    # the request parser's writes into the message memory
    msg_we: In(1)
    msg_addr: In(range(MSG_DEPTH))
    msg_data: In(8)
    # one cycle: pre = pre_in; the next message is npre bytes of it, then mlen message bytes
    load: In(1)
    pre_in: In(PRE_BITS)
    npre: In(range(PRE_BITS // 8 + 1))
    mlen: In(range(MSG_DEPTH + 1))
    feed: In(1)  # offer the message's bytes to the core (held until `fed`)
    fed: Out(1)  # the message's last byte is taken in this cycle
    digest: Out(512)
    digest_valid: Out(1)
    take: In(1)  # consume the digest
    flush: In(1)  # one cycle: hash FLUSH_BYTES zero bytes and drop the digest
    flushing: Out(1)
    clear: In(1)  # one cycle: zero `pre` (it may hold a secret prefix or seed)

    def elaborate(self, platform):
        m = Module()
        m.submodules.sha = sha = Sha512()
        m.submodules.msg = msg = memory.Memory(shape=8, depth=MSG_DEPTH, init=[])

        msg_w = msg.write_port()
        m.d.comb += [msg_w.addr.eq(self.msg_addr), msg_w.data.eq(self.msg_data),
                     msg_w.en.eq(self.msg_we)]

        pre = Signal(PRE_BITS)  # byte 0 at bits [0, 8)
        npre = Signal.like(self.npre)
        mlen = Signal.like(self.mlen)
        j = Signal(range(PRE_BITS // 8 + MSG_DEPTH + 1))  # index of the byte on the output
        in_pre = j < npre
        last = j == npre + mlen - 1
        adv = Signal()
        m.d.comb += [adv.eq(self.feed & sha.i.ready), self.fed.eq(adv & last)]
        msg_r = msg.read_port()  # data of the address of the previous cycle
        m.d.comb += msg_r.addr.eq(j + adv - npre)

        flush_req = Signal()
        flush_wait = Signal()
        flush_cnt = Signal(range(FLUSH_BYTES))
        m.d.comb += [
            sha.i.valid.eq(self.feed | flush_req),
            sha.i.payload.data.eq(Mux(self.feed, Mux(in_pre, pre[:8], msg_r.data), 0)),
            sha.i.payload.last.eq(Mux(self.feed, last, flush_cnt == FLUSH_BYTES - 1)),
            sha.o.ready.eq(self.take | flush_wait),
            self.digest.eq(sha.o.payload),
            self.digest_valid.eq(sha.o.valid),
            self.flushing.eq(flush_req | flush_wait),
        ]
        with m.If(self.load):
            m.d.sync += [pre.eq(self.pre_in), npre.eq(self.npre), mlen.eq(self.mlen), j.eq(0)]
        with m.Elif(adv):
            m.d.sync += [j.eq(j + 1), pre.eq(pre >> 8)]
        with m.If(self.clear):
            m.d.sync += pre.eq(0)

        # zero bytes rather than the empty message: they also overwrite the core's word register
        with m.If(self.flush):
            m.d.sync += flush_req.eq(1)
        with m.If(flush_req & sha.i.ready):
            m.d.sync += flush_cnt.eq(flush_cnt + 1)
            with m.If(flush_cnt == FLUSH_BYTES - 1):
                m.d.sync += [flush_cnt.eq(0), flush_req.eq(0), flush_wait.eq(1)]
        with m.If(flush_wait & sha.o.valid):
            m.d.sync += flush_wait.eq(0)
        return m
