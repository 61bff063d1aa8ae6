"""GREEKS engine: request frames in, the Greeks pipeline, one result frame out per request.

Request payload (docs/protocol.md, "GREEKS"): model u8 (0 BSM, 1 Black-76), then 1..20 option
records of 41 bytes: x, T, sigma, r, q as i64le Q48 and a flags byte (bit 0: put). Result
payload: one 49-byte record per option, in request order: status u8 (0 ok, 1 outside the
domain: the six values are 0), then price/S, delta, gamma*S, vega/S, theta/S, rho/(S*T) as
i64le Q48. A payload of any other length, or an unknown model byte, is answered with the
standard error frame (BAD_ARGUMENT).

The request side and the response side run independently. The request side streams option
records into the pipeline as their bytes arrive and, at the frame's last byte, queues a
descriptor (sequence number, option count, well-formed or not). The response side takes a
descriptor, sends the header, then serialises that many results from the pipeline's output
FIFO, so a response never holds the link's response arbiter while its request is still
arriving, and consecutive requests overlap.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from quantgate import greeks as gk
from quantgate import wire

from ..link.layouts import FrameStream
from .pipeline import GreeksPipeline
from .units import fit

__all__ = ["GreeksEngine"]

OPTION_BITS = 8 * gk.OPTION_BYTES
RESULT_BITS = 8 * gk.RESULT_BYTES


class GreeksEngine(wiring.Component):
    i: In(FrameStream)  # request frames: header + payload, `last` on the final byte
    o: Out(FrameStream)  # response frames: header + payload
    busy: Out(1)

    def __init__(self):
        self.max_options = gk.MAX_OPTIONS
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.pipeline = pipe = GreeksPipeline()
        # descriptors of received requests: seq, option count, well formed
        n_bits = self.max_options.bit_length()
        m.submodules.frames = frames = SyncFIFOBuffered(width=16 + n_bits + 1, depth=4)

        # ---------------------------------------------------------------- request side
        beat = self.i.payload
        idx = Signal(range(wire.MAX_FRAME + 1))  # byte index in the frame
        seq = Signal(16)
        len_lo = Signal(8)
        n_opts = Signal(n_bits)  # options the length field announces (0: malformed)
        ok = Signal()  # length and model byte are valid
        black76 = Signal()
        record = Signal(OPTION_BITS)
        rec_bytes = Signal(range(gk.OPTION_BYTES))
        pending = Signal()  # a complete record waits for the pipeline
        accept = Signal()

        m.d.comb += [
            self.i.ready.eq(~pending & frames.w_rdy),
            accept.eq(self.i.valid & self.i.ready),
        ]
        length = Cat(len_lo, beat.data)
        with m.If(accept):
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx == 2):
                m.d.sync += seq[:8].eq(beat.data)
            with m.If(idx == 3):
                m.d.sync += seq[8:].eq(beat.data)
            with m.If(idx == 4):
                m.d.sync += len_lo.eq(beat.data)
            with m.If(idx == 5):
                m.d.sync += [n_opts.eq(0), ok.eq(0), rec_bytes.eq(0)]
                for k in range(1, self.max_options + 1):
                    with m.If(length == gk.request_length(k)):
                        m.d.sync += n_opts.eq(k)
            with m.If(idx == 6):
                m.d.sync += [ok.eq((n_opts != 0) & (beat.data < len(gk.MODELS))),
                             black76.eq(beat.data == gk.MODELS["black76"])]
            with m.If((idx > 6) & ok):
                m.d.sync += [record.eq(Cat(record[8:], beat.data)), rec_bytes.eq(rec_bytes + 1)]
                with m.If(rec_bytes == gk.OPTION_BYTES - 1):
                    m.d.sync += [rec_bytes.eq(0), pending.eq(1)]
            with m.If(beat.last):
                m.d.sync += idx.eq(0)
        # the descriptor goes in with the frame's last byte; `ok` is final by then (a frame
        # that ends before its model byte has a length field that announces no options)
        m.d.comb += [
            frames.w_en.eq(accept & beat.last),
            frames.w_data.eq(Cat(seq, n_opts, ok & (idx > 6))),
        ]

        opt = pipe.i.payload
        m.d.comb += [
            pipe.i.valid.eq(pending),
            opt.x.eq(record[0:64]),
            opt.T.eq(record[64:128]),
            opt.sigma.eq(record[128:192]),
            opt.r.eq(record[192:256]),
            opt.q.eq(record[256:320]),
            opt.put.eq(record[320]),  # flags bit 0; bits 1..7 reserved
            opt.black76.eq(black76),
        ]
        with m.If(pipe.i.valid & pipe.i.ready):
            m.d.sync += pending.eq(0)

        # ---------------------------------------------------------------- response side
        out_seq = Signal(16)
        out_n = Signal(n_bits)
        out_ok = Signal()
        header = Signal(64)
        hdr_bytes = Signal(range(9))
        result = Signal(RESULT_BITS)
        res_bytes = Signal(range(gk.RESULT_BYTES + 1))
        left = Signal(n_bits)  # results still to load after the current one

        res = pipe.o.payload
        packed = Cat(res.error, Const(0, 7),
                     *(fit(getattr(res, k), signed(64)) for k in gk.OUTPUTS))
        assert len(packed) == RESULT_BITS
        d_seq, d_n, d_ok = frames.r_data[:16], frames.r_data[16:16 + n_bits], frames.r_data[-1]
        ok_header = Cat(Const(wire.PROTOCOL_VERSION, 8),
                        Const(wire.Op.GREEKS | wire.RESPONSE_FLAG, 8), d_seq,
                        fit(d_n * gk.RESULT_BYTES, unsigned(16)))
        err_header = Cat(Const(wire.PROTOCOL_VERSION, 8), Const(wire.Op.ERROR, 8), d_seq,
                         Const(2, 16), Const(wire.Err.BAD_ARGUMENT, 8), Const(wire.Op.GREEKS, 8))

        with m.FSM(name="tx") as tx:
            with m.State("IDLE"):
                m.d.comb += frames.r_en.eq(1)
                with m.If(frames.r_rdy):
                    m.d.sync += [out_seq.eq(d_seq), out_n.eq(d_n), out_ok.eq(d_ok),
                                 header.eq(Mux(d_ok, ok_header, err_header)),
                                 hdr_bytes.eq(Mux(d_ok, wire.HEADER_LEN, wire.HEADER_LEN + 2))]
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(header[:8]),
                    self.o.payload.last.eq((hdr_bytes == 1) & ~out_ok),
                ]
                with m.If(self.o.ready):
                    m.d.sync += [header.eq(header >> 8), hdr_bytes.eq(hdr_bytes - 1)]
                    with m.If(hdr_bytes == 1):
                        m.d.sync += left.eq(out_n)
                        with m.If(out_ok):
                            m.next = "LOAD"
                        with m.Else():
                            m.next = "IDLE"
            with m.State("LOAD"):
                m.d.comb += pipe.o.ready.eq(1)
                with m.If(pipe.o.valid):
                    m.d.sync += [result.eq(packed), res_bytes.eq(gk.RESULT_BYTES),
                                 left.eq(left - 1)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(result[:8]),
                    self.o.payload.last.eq((res_bytes == 1) & (left == 0)),
                ]
                with m.If(self.o.ready):
                    m.d.sync += [result.eq(result >> 8), res_bytes.eq(res_bytes - 1)]
                    with m.If(res_bytes == 1):
                        with m.If(left == 0):
                            m.next = "IDLE"
                        with m.Else():
                            # the next result, without a bubble when it is already there
                            m.d.comb += pipe.o.ready.eq(1)
                            with m.If(pipe.o.valid):
                                m.d.sync += [result.eq(packed),
                                             res_bytes.eq(gk.RESULT_BYTES),
                                             left.eq(left - 1)]
                            with m.Else():
                                m.next = "LOAD"

        m.d.comb += self.busy.eq((idx != 0) | pending | frames.r_rdy | ~tx.ongoing("IDLE")
                                 | pipe.busy)
        return m
