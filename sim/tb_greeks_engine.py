"""cocotb tests of the GREEKS engine behind the link core (raw line bytes in and out, COBS and
CRC-32 built and checked independently with the `cobs` package and binascii).

Results are compared bit for bit with the integer model (hdl/pricing/model.py); the wire
layout is decoded with the host's own definitions (quantgate.greeks).
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from quantgate import greeks as gk
from quantgate import wire
from quantgate.hdl.pricing import model as md
from quantgate.sim.streams import reset
from quantgate.sim.tb_link_core import TB, encode, expect_error

Op, Err = wire.Op, wire.Err
GREEKS_OK = Op.GREEKS | wire.RESPONSE_FLAG
FRAMES = int(os.environ.get("GREEKS_FRAMES", "40"))
SEED = int(os.environ.get("GREEKS_SEED", "1"))


def random_options(rng: np.random.Generator, n: int, model: str, bad_fraction: float = 0.1):
    """n options as Q48 integer columns (x, T, sigma, r, q) and put flags; a fraction of them
    pushed outside the device's bounds in one random field."""
    s = md.sample_domain(n, rng)
    cols = [np.array(c, dtype=np.int64) for c in md.host_normalise(
        s["spot"], s["strike"], s["expiry"], s["rate"], s["carry"], s["vol"], model)]
    bounds = [(gk.X_MIN_FX, gk.X_MAX_FX), (gk.T_MIN_FX, gk.T_MAX_FX),
              (gk.SIGMA_MIN_FX, gk.SIGMA_MAX_FX), (gk.RATE_MIN_FX, gk.RATE_MAX_FX),
              (gk.RATE_MIN_FX, gk.RATE_MAX_FX)]
    for i in range(n):
        if rng.random() < bad_fraction:
            f = int(rng.integers(0, 4))  # not q: Black-76 ignores it
            lo, hi = bounds[f]
            cols[f][i] = lo - 1 if rng.random() < 0.5 else hi + 1
    put = ~s["call"]
    return cols, put


def expected(cols, put, model):
    return md.pipeline(*cols, ~put, model == "black76")


def check_result(payload: bytes, cols, put, model: str):
    n = len(put)
    res = gk.decode_result(payload, n)
    exp = expected(cols, put, model)
    assert list(res["status"]) == [gk.STATUS_DOMAIN if e else gk.STATUS_OK
                                   for e in exp["error"]], (list(res["status"]), exp["error"])
    for k in gk.OUTPUTS:
        assert np.array_equal(res[k], exp[k]), (k, res[k], exp[k])


@cocotb.test()
async def frames_of_options_match_the_model(dut):
    """Many GREEKS requests of 1..20 options (both models, some options out of the domain)
    queued at once with random stalls on both sides; ECHO and INFO interleaved."""
    tb = TB(dut, in_stall=0.2, out_stall=0.3, seed=SEED)
    await reset(dut)
    rng = np.random.default_rng(SEED)
    sent = []
    for seq in range(FRAMES):
        if seq % 7 == 3:
            payload = bytes(rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8))
            sent.append((seq, Op.ECHO, payload, None))
            tb.source.send(encode(Op.ECHO, seq, payload))
            continue
        n = int(rng.integers(1, gk.MAX_OPTIONS + 1)) if seq % 5 else gk.MAX_OPTIONS
        model = "black76" if rng.random() < 0.4 else "bsm"
        cols, put = random_options(rng, n, model)
        payload = gk.encode_request(model, *cols, put)
        sent.append((seq, Op.GREEKS, payload, (cols, put, model)))
        tb.source.send(encode(Op.GREEKS, seq, payload))
    responses = await tb.responses(len(sent), timeout_cycles=4_000_000)
    # engines answer independently (an ECHO may overtake a GREEKS): match by sequence number,
    # and the GREEKS results must keep their request order
    by_seq = {rseq: (rop, rpayload) for rop, rseq, rpayload in responses}
    assert sorted(by_seq) == [seq for seq, *_ in sent]
    greeks_order = [rseq for rop, rseq, _ in responses if rop == GREEKS_OK]
    assert greeks_order == sorted(greeks_order)
    for seq, op, payload, opts in sent:
        rop, rpayload = by_seq[seq]
        if op == Op.ECHO:
            assert (rop, rpayload) == (Op.ECHO | wire.RESPONSE_FLAG, payload)
        else:
            assert rop == GREEKS_OK, (rop, rpayload)
            check_result(rpayload, *opts)


@cocotb.test()
async def malformed_payloads_get_bad_argument(dut):
    """Wrong lengths and unknown model bytes: the standard error frame, BAD_ARGUMENT; the
    engine keeps answering good requests in between."""
    tb = TB(dut, out_stall=0.2, seed=SEED + 1)
    await reset(dut)
    rng = np.random.default_rng(SEED + 1)
    cols, put = random_options(rng, 3, "bsm", bad_fraction=0.0)
    good = gk.encode_request("bsm", *cols, put)
    opt = good[1:1 + gk.OPTION_BYTES]
    bad = [
        b"",  # no model byte
        b"\x00",  # model byte, no option
        good[:-1],  # one byte short
        good + b"\x00",  # one byte long
        b"\x00" + opt * (gk.MAX_OPTIONS + 1),  # 21 options (fits MAX_PAYLOAD: 862 bytes)
        b"\x00" + opt * 24,  # the most that fits a request
        b"\x02" + opt,  # unknown model
        b"\xff" + opt * 2,
        b"\x00" + bytes(1023),
    ]
    for k, payload in enumerate(bad):
        tb.source.send(encode(Op.GREEKS, 100 + k, payload))
        expect_error((await tb.responses(1))[0], 100 + k, Err.BAD_ARGUMENT, Op.GREEKS)
        tb.source.send(encode(Op.GREEKS, 200 + k, good))
        rop, rseq, rpayload = (await tb.responses(1))[0]
        assert (rop, rseq) == (GREEKS_OK, 200 + k)
        check_result(rpayload, cols, put, "bsm")
    # a burst: errors and results in order
    for k, payload in enumerate(bad):
        tb.source.send(encode(Op.GREEKS, 300 + 2 * k, payload))
        tb.source.send(encode(Op.GREEKS, 301 + 2 * k, good))
    responses = await tb.responses(2 * len(bad))
    for k in range(len(bad)):
        expect_error(responses[2 * k], 300 + 2 * k, Err.BAD_ARGUMENT, Op.GREEKS)
        assert responses[2 * k + 1][:2] == (GREEKS_OK, 301 + 2 * k)
        check_result(responses[2 * k + 1][2], cols, put, "bsm")
    await ClockCycles(dut.clk, 10)


@cocotb.test()
async def info_lists_the_greeks_core(dut):
    tb = TB(dut, seed=SEED + 2)
    await reset(dut)
    op, seq, payload = await tb.transact(Op.INFO, 5)
    assert (op, seq) == (Op.INFO | wire.RESPONSE_FLAG, 5)
    n = payload[wire.INFO_FIXED_LEN - 1]
    assert list(payload[wire.INFO_FIXED_LEN:wire.INFO_FIXED_LEN + n]) == [wire.Core.LINK,
                                                                        wire.Core.GREEKS]


def _clock_counter(clk) -> list[int]:
    """A one-element list holding the clocks since the call (updated at every rising edge)."""
    now = [0]

    async def count():
        while True:
            await RisingEdge(clk)
            now[0] += 1

    cocotb.start_soon(count())
    return now


@cocotb.test()
async def full_frames_back_to_back(dut):
    """One 1-option request alone (latency: its last byte in -> the result frame's last byte out),
    then 20-option requests with no back-pressure (throughput). The link core takes one byte
    per clock and its frame parser buffers each request before replaying it, so a frame costs
    a few thousand clocks: the engine's rate through its real input path is clocks per option
    between consecutive results, well below the pipeline's one option per clock. With
    ``GREEKS_ENGINE_OUT`` set the figures go to that JSON file (bench/greeks_engine.py)."""
    tb = TB(dut, seed=SEED + 3)
    await reset(dut)
    rng = np.random.default_rng(SEED + 3)
    now = _clock_counter(dut.clk)

    cols, put = random_options(rng, 1, "bsm", bad_fraction=0.0)
    tb.source.send(encode(Op.GREEKS, 99, gk.encode_request("bsm", *cols, put)))
    await tb.source.wait_idle()
    last_in = now[0]
    while not tb.sink.items:
        await RisingEdge(dut.clk)
    first_out = now[0] - last_in  # the result frame's header leaves before the result is ready
    rop, _, rpayload = (await tb.responses(1))[0]
    latency = now[0] - last_in
    assert rop == GREEKS_OK
    check_result(rpayload, cols, put, "bsm")

    frames = []
    for seq in range(8):
        cols, put = random_options(rng, gk.MAX_OPTIONS, "bsm", bad_fraction=0.0)
        frames.append((cols, put))
        tb.source.send(encode(Op.GREEKS, seq, gk.encode_request("bsm", *cols, put)))
    start = now[0]
    done_at = []
    for cols, put in frames:
        rop, _, rpayload = (await tb.responses(1, timeout_cycles=1_000_000))[0]
        done_at.append(now[0])
        assert rop == GREEKS_OK
        check_result(rpayload, cols, put, "bsm")
    # steady state: between the first and the last result frame (the first one's fill excluded)
    per_frame = (done_at[-1] - done_at[0]) / (len(frames) - 1)
    per_option = per_frame / gk.MAX_OPTIONS
    total = done_at[-1] - start
    dut._log.info(f"{len(frames)} x {gk.MAX_OPTIONS} options in {total} clocks; "
                  f"{per_option:.2f} clocks per option between results through the link core; "
                  f"one option: {latency} clocks from its last byte in to the result's last "
                  f"byte out (first byte out after {first_out})")
    assert per_option < 250
    out = os.environ.get("GREEKS_ENGINE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump({"clocks_per_option": per_option, "clocks_per_frame": per_frame,
                       "options_per_frame": gk.MAX_OPTIONS, "frames": len(frames),
                       "clocks_all_frames": total, "result_frames_done_at": done_at,
                       "one_option_latency_clocks": latency,
                       "one_option_first_byte_out_clocks": first_out}, f, indent=1)
