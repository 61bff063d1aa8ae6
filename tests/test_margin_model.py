"""The margin unit's bit-exact model (hdl/margin/model.py) against the float64 reference
(quantgate.margin.reference_margin), its record format, cycle formula and error paths, and the
widened pricing pipeline (|ln(F/K)| <= 4) it relies on. docs/margin.md is the specification."""

import math
import os

import numpy as np
import pytest
from scipy.stats import norm

from quantgate import margin as M
from quantgate.hdl.margin import model as D
from quantgate.hdl.pricing import model as P
from quantgate.hdl.pricing import tables as tb
from quantgate.hdl.pricing.reference import greeks_ref

BUDGET = 1e-9  # of gross notional (docs/margin.md section 7)
OTHER_PARAMS = M.MarginParams(price_range=0.2, vol_range_up=0.7, vol_range_down=0.3,
                              min_vol_for_shock_up=0.4, short_term_vega_power=0.35,
                              long_term_vega_power=0.1, mm_factor=0.9,
                              extended_moves=(-0.6, -0.3, 0.4, 1, 2, 3, 4, 4.5))
FORWARDS = np.array([95_000.0, 96_200.0, 3_400.0, 97_500.0, 0.25])


random_book = D.sample_book


def gross_greeks(book, forwards, rate):
    """sum |qty * greek| per Greek (scipy.stats.norm; only a scale for the tolerance)."""
    opt = book["kind"] != 2
    F = forwards[book["bucket"][opt]]
    K, T, s = book["strike"][opt], book["expiry"][opt], book["vol"][opt]
    q = np.abs(book["quantity"][opt])
    w = np.where(book["kind"][opt] == 1, -1.0, 1.0)
    v = s * np.sqrt(T)
    d1 = (np.log(F / K) + v * v / 2) / v
    disc = np.exp(-rate * T)
    dens = disc * norm.pdf(d1)
    price = disc * w * (F * norm.cdf(w * d1) - K * norm.cdf(w * (d1 - v)))
    fq = np.abs(book["quantity"][~opt]).sum()
    return {"delta": q @ (disc * norm.cdf(w * d1)) + fq, "gamma": q @ (dens / (F * v)),
            "vega": q @ (F * dens * np.sqrt(T)),
            # theta: the pipeline's criterion (absolute in max(F, K), relative where larger),
            # summed over the book; its error is not relative to |theta| where theta ~ 0
            "theta": q @ np.maximum(np.maximum(F, K),
                                    np.abs(rate * price - F * dens * s / (2 * np.sqrt(T))))}


def compare(book, forwards, rate, params, currency):
    """Worst errors of the model against the reference, in units of the budget's scales."""
    got = D.fixed_margin(book, forwards, rate=rate, params=params, currency=currency)
    ref = M.reference_margin(book, forwards, rate=rate, params=params, currency=currency)
    G = M.gross_notional(book, forwards, currency)
    gg = gross_greeks(book, forwards, rate)
    err = {"pnl": np.max(np.abs(got.pnl - ref.pnl)) / G,
           "initial": abs(got.initial - ref.initial) / G,
           "maintenance": abs(got.maintenance - ref.maintenance) / G}
    for g in gg:
        err[g] = abs(getattr(got, g) - getattr(ref, g)) / gg[g]
    return got, ref, G, err


def slot_clock_count(n):
    """Clocks to issue 36 n position-scenarios when clock k of the loop is GREEKS's if
    k % 64 == 63 (docs/margin.md 3.1), plus the stated overhead: simulated clock by clock."""
    items, clock = 36 * n, 0
    while items:
        if clock % 64 != 63:
            items -= 1
        clock += 1
    return clock + 1024


# --------------------------------------------------------------------------- against float64


@pytest.mark.parametrize("currency", ["usd", "coin"])
@pytest.mark.parametrize("params", [None, OTHER_PARAMS], ids=["default", "other"])
def test_random_books_within_budget(currency, params):
    rng = np.random.default_rng(1500 + (currency == "coin") + 2 * (params is None))
    for n, rate in ((120, 0.0), (80, 0.07), (60, -0.04)):
        book = random_book(rng, n, FORWARDS)
        assert set(book["kind"]) == {0, 1, 2} and len(set(book["bucket"])) == len(FORWARDS)
        got, ref, G, err = compare(book, FORWARDS, rate, params, currency)
        for k, e in err.items():
            assert e <= BUDGET, (k, e)
        assert got.clamped == ref.clamped and got.cycles == slot_clock_count(n)
        loss = np.sort(-M.scenario_grid(params)[2] * ref.pnl)
        if loss[-1] - loss[-2] > 1e-8 * G:  # not a near tie
            assert got.worst_scenario == ref.worst_scenario
        assert got.scenarios == ref.scenarios


def test_hand_books_on_the_device():
    F, q = 43_210.5, 3.0
    fut = np.zeros(1, M.BOOK_DTYPE)
    fut[0] = (2, 0, 0, q, 0, 0)
    moves = [-0.16 + k * 0.04 for k in range(9)]
    r = D.fixed_margin(fut, [F])
    exp = [q * F * m for m in moves for _ in range(3)] + [q * F * m for m in
                                                         (-0.66, -0.33, .5, 1, 2, 3, 4, 5)]
    np.testing.assert_allclose(r.pnl, exp, rtol=0, atol=1e-12 * q * F)
    assert abs(r.initial - 0.16 * q * F) <= 1e-12 * q * F and r.delta == q
    c = D.fixed_margin(fut, [F], currency="coin")
    assert c.worst_scenario == 27 and abs(c.initial - q * 0.16 / 0.34) <= 1e-12 * q
    # short ATM call: compare the worst scenario's P&L with a Black-76 written out here
    call = np.zeros(1, M.BOOK_DTYPE)
    call[0] = (0, F, 0.25, -2.0, 0.6, 0)
    rep = D.fixed_margin(call, [F], rate=0.03)
    f = (30 / 91.25) ** 0.13
    vu = max(0.6 * (1 + 0.5 * f), 0.5)

    def b76(Fx, s):
        v = s * 0.5
        d1 = math.log(Fx / F) / v + v / 2
        return math.exp(-0.03 * 0.25) * (Fx * norm.cdf(d1) - F * norm.cdf(d1 - v))

    j = rep.worst_scenario
    m = moves[j // 3] if j < 27 else (-0.66, -0.33, .5, 1, 2, 3, 4, 5)[j - 27]
    vol = vu if (j >= 27 or j % 3 == 0) else (0.6 if j % 3 == 1 else 0.6 * (1 - 0.25 * f))
    assert abs(rep.pnl[j] - (-2.0) * (b76(F * (1 + m), vol) - b76(F, 0.6))) <= 2e-9 * F


@pytest.mark.parametrize("currency", ["usd", "coin"])
def test_book_at_the_format_edges(currency):
    """Where the formats are tightest: one to five minutes at 1-5 % vol at the money (gamma F
    up to ~29,000), deep in-the-money puts at K = 5 F (price/F' = 14.7 after -66 %), 500 % vol
    at three years, huge and tiny quantities side by side, a rate of 50 %."""
    rng = np.random.default_rng(99)
    fw = np.array([100_000.0, 0.001])
    rows = []
    for b in (0, 1):
        F = fw[b]
        for k in range(12):
            T = P.T_WIDE_MIN * (1 + 4 * k / 11)
            rows.append((k % 2, F * (1 + 1e-5 * (k - 6)), T, (-1) ** k * 10 ** (k % 7 - 2),
                         0.01 + 0.04 * k / 11, b))
        rows += [(1, 5 * F, 0.5, -1e6, 0.3, b), (1, 5 * F, 3.0, 2.0, 5.0, b),
                 (0, 0.2 * F, 3.0, -3.0, 5.0, b), (2, 0, 0, 1e-4, 0, b)]
    book = np.zeros(len(rows), M.BOOK_DTYPE)
    for i, r in enumerate(rows):
        book[i] = r
    rng.shuffle(book)
    got, ref, G, err = compare(book, fw, 0.5, None, currency)
    for k, e in err.items():
        assert e <= BUDGET, (k, e)
    assert got.clamped == ref.clamped > 0


def test_order_of_positions_changes_nothing():
    """Exact integer accumulation: any order of the records gives the same result bytes."""
    rng = np.random.default_rng(7)
    book = random_book(rng, 60, FORWARDS)
    perm = rng.permutation(len(book))
    out = []
    for b in (book, book[perm]):
        image = D.encode_book(b)
        req, _ = D.encode_margin(image, FORWARDS, rate=0.02)
        out.append(D.device_margin(image.records, D.encode_scenarios(), req))
    assert out[0] == out[1] and len(out[0]) == D.RESULT_BYTES == 338


# --------------------------------------------------------------------------- formats


def test_record_layout():
    assert sum(w for _, _, w, _ in D.RECORD_FIELDS) == 288 == 8 * D.RECORD_BYTES
    ends = [lo + w for _, lo, w, _ in D.RECORD_FIELDS]
    assert [lo for _, lo, _, _ in D.RECORD_FIELDS] == [0] + ends[:-1]  # contiguous
    zero = dict.fromkeys((f[0] for f in D.RECORD_FIELDS), 0)
    raw = D.pack_record(zero | {"Q": 1, "kind": 2, "bucket": 3, "clamp_down": 1})
    assert raw == b"\x01" + bytes(34) + bytes([0b1000_1110])  # bits 281, 282, 283, 287
    neg = D.pack_record(zero | {"Q": -1})
    assert neg[:7] == b"\xff" * 7 and neg[7:] == bytes(29)  # s56 two's complement
    rec = zero | {"Q": -12345, "lnK": -(1 << 47), "T": (1 << 44) - 1, "sig_up": 77}
    assert D.unpack_record(D.pack_record(rec)) == rec
    with pytest.raises(ValueError, match="bucket = 16 does not fit u4"):
        D.pack_record(zero | {"bucket": 16})


def test_wire_sizes_fit_the_payload_limit():
    frames = D.encode_scenarios()
    assert [len(f) for f in frames] == [10 + 30 * 33, 10 + 5 * 33] and max(map(len, frames)) <= 1024
    image = D.encode_book(random_book(np.random.default_rng(1), 10, np.full(16, 100.0)))
    req, _ = D.encode_margin(image, np.full(16, 100.0))
    assert len(req) == 20 + 24 * 16 == 404
    with pytest.raises(ValueError, match="incomplete"):
        D.scenario_table(frames[:1])
    assert D.scenario_table(frames[1:] + frames)[0] == 0.8 * 2**53  # first = 0 restarts


@pytest.mark.parametrize("n", [0, 1, 2, 7, 64, 1024, 4096])
def test_cycle_formula(n):
    assert D.cycles(n) == slot_clock_count(n)
    if n:  # within 1.05 x positions x scenarios + the overhead
        assert D.cycles(n) - 1024 <= 1.05 * 35 * n


# --------------------------------------------------------------------------- errors


def one(kind=0, strike=100.0, expiry=0.5, q=1.0, vol=0.5, bucket=0):
    b = np.zeros(1, M.BOOK_DTYPE)
    b[0] = (kind, strike, expiry, q, vol, bucket)
    return b


def test_host_rejects_what_the_device_cannot_hold():
    with pytest.raises(ValueError, match="under the device's one-minute minimum"):
        D.encode_book(one(expiry=0.5 * P.T_WIDE_MIN))
    with pytest.raises(ValueError, match="beyond the device's 16 buckets"):
        D.encode_book(one(bucket=16))
    with pytest.raises(ValueError, match="capacity is 4096"):
        D.encode_book(np.concatenate([one()] * 4097))
    with pytest.raises(ValueError, match="at most 16 buckets"):
        D.encode_margin(D.encode_book(one()), np.full(17, 100.0))
    with pytest.raises(ValueError, match="moneyness"):
        D.fixed_margin(one(strike=10.0), [100.0])
    deep = M.MarginParams(extended_moves=(-0.85, -0.33, 0.5, 1, 2, 3, 4, 5))
    M.reference_margin(one(), [100.0], params=deep)  # fine for the reference
    with pytest.raises(ValueError, match="moves down to -0.8"):
        D.encode_scenarios(deep)
    # -0.8 itself, with a put at K = 5 F: price/F' near its bound of 29, within the budget
    edge = M.MarginParams(extended_moves=(-0.8, -0.33, 0.5, 1, 2, 3, 4, 5))
    put = one(kind=1, strike=500.0, expiry=3.0, q=-3.0)
    got = D.fixed_margin(put, [100.0], params=edge, rate=-0.05)
    ref = M.reference_margin(put, [100.0], params=edge, rate=-0.05)
    assert np.max(np.abs(got.pnl - ref.pnl)) <= BUDGET * 300


def test_device_status_for_bad_ticks():
    image = D.encode_book(np.concatenate([one(), one(bucket=2)]))
    # the second position's bucket has no forward in this tick: status 1, index 1
    req, sc = D.encode_margin(image, [100.0, 100.0])
    res = D.device_margin(image.records, D.encode_scenarios(), req)
    assert res[0] == D.STATUS_MONEYNESS and int.from_bytes(res[1:3], "little") == 1
    with pytest.raises(ValueError, match="rejected position 1"):
        D.decode_result(res, sc, M.scenario_grid()[3])
    # a forward that puts position 0 outside [0.2, 5] (the host would have refused it)
    req, _ = D.encode_margin(image, [501.0, 100.0, 100.0])
    res = D.device_margin(image.records, D.encode_scenarios(), req)
    assert res[0] == D.STATUS_MONEYNESS and int.from_bytes(res[1:3], "little") == 0
    assert res[D.RESULT_HEAD.size:] == bytes(8 * 39)  # values are zero
    # then a good tick is answered normally
    req, sc = D.encode_margin(image, [100.0, 100.0, 100.0])
    rep = D.decode_result(D.device_margin(image.records, D.encode_scenarios(), req), sc,
                          M.scenario_grid()[3])
    ref = M.reference_margin(np.concatenate([one(), one(bucket=2)]), [100.0, 100.0, 100.0])
    assert np.max(np.abs(rep.pnl - ref.pnl)) <= BUDGET * 200
    with pytest.raises(ValueError, match="payload of 30 bytes"):
        D.device_margin(image.records, D.encode_scenarios(), req[:30])


# --------------------------------------------------------------------------- wide pipeline


def test_wide_pipeline_bounds_and_corners():
    lim = P.X_WIDE_LIM
    T, s, r = tb.q_in(0.5), tb.q_in(0.5), 0
    for x, bad in ((lim, False), (-lim, False), (lim + 1, True), (-lim - 1, True)):
        assert bool(P.pipeline(x, T, s, r, r, True, True, wide=True)["error"]) == bad
    assert bool(P.pipeline(tb.X_MAX_FX + 1, T, s, r, r, True, True)["error"])  # default: ln 5
    # every box corner at x = +-4 stays inside the wide formats (the model checks each signal)
    assert bool(P.pipeline(0, P.T_WIDE_MIN_FX - 1, s, r, r, True, True, wide=True)["error"])
    assert not P.pipeline(0, P.T_WIDE_MIN_FX, s, r, r, True, True, wide=True)["error"]
    assert bool(P.pipeline(0, tb.T_MIN_FX - 1, s, r, r, True, True)["error"])  # default: 1 hour
    corners = np.array(np.meshgrid([-lim, lim], [P.T_WIDE_MIN_FX, tb.T_MAX_FX],
                                   [tb.SIGMA_MIN_FX, tb.SIGMA_MAX_FX],
                                   [tb.RATE_MIN_FX, tb.RATE_MAX_FX], [0, 1])).reshape(5, -1)
    x, t, sg, rr, put = corners
    for b76 in (True, False):
        out = P.pipeline(x, t, sg, rr, rr, put == 0, b76, wide=True)
        assert not np.any(out["error"])
    # a deep in-the-money put at x = -4: price/F = K/F e^-rT - ..., about e^4
    out = P.pipeline(-lim, tb.q_in(0.1), tb.q_in(0.2), 0, 0, False, True, wide=True)
    assert abs(out["price"] / 2.0**48 - (math.exp(4) - 1)) < 1e-9


def test_wide_pipeline_accuracy():
    rng = np.random.default_rng(4)
    n = 20_000
    T = np.exp(rng.uniform(np.log(P.T_WIDE_MIN), np.log(3), n))
    vol = np.exp(rng.uniform(np.log(0.01), np.log(5), n))
    r = rng.uniform(-0.05, 0.5, n)
    v = vol * np.sqrt(T)
    x = np.where(rng.random(n) < 0.5, rng.uniform(-4, 4, n), rng.uniform(-8, 8, n) * v - v * v / 2)
    x = np.clip(x, -4, 4)  # half of them aimed at |d1| < 8, where the density Greeks are large
    K = np.exp(rng.uniform(0, np.log(1e5), n))
    F = K * np.exp(x)
    call = rng.random(n) < 0.5
    xi, ti, si, ri, qi = P.host_normalise(F, K, T, r, r, vol, "black76")
    out = P.pipeline(xi, ti, si, ri, qi, call, True, wide=True)
    got = P.host_scale(out, F, T)
    ref = greeks_ref(F, K, T, r, r, vol, call=call, model="black76")
    err = P.normalised_errors(got, ref, F, K, T)
    for k in P.OUTPUTS:  # the GREEKS acceptance limits, and 5x the measured maxima
        assert np.max(err[k]) <= P.TOLERANCE[k], k
    assert np.max(err["price"]) < 1e-9 and np.max(err["theta"]) < 1.5e-8


def test_default_pipeline_unchanged_by_the_wide_option():
    rng = np.random.default_rng(9)
    s = P.sample_domain(3000, rng)
    args = P.host_normalise(s["spot"], s["strike"], s["expiry"], s["rate"], s["rate"],
                            s["vol"], "black76")
    a = P.pipeline(*args, s["call"], True)
    b = P.pipeline(*args, s["call"], True, wide=True)
    for k in ("price", "delta", "gamma", "vega", "rho"):
        assert np.array_equal(a[k], b[k]), k
    # theta's r P2 operand is 3 bits shorter in the wide pipeline: a few LSBs
    assert np.max(np.abs(a["theta"] - b["theta"])) < 2**-28 * 2**48


# --------------------------------------------------------------------------- long sweep


@pytest.mark.slow
def test_long_sweep_worst_errors():
    """QUANTGATE_MARGIN_BOOKS random books of 1,024 positions; prints the worst errors
    (recorded in docs/margin.md section 10)."""
    rng = np.random.default_rng(2026)
    worst = {}
    for i in range(int(os.environ.get("QUANTGATE_MARGIN_BOOKS", "8"))):
        fw = np.exp(rng.uniform(np.log(0.1), np.log(1e5), 12))
        params = None if i % 2 else OTHER_PARAMS
        for currency in ("usd", "coin"):
            book = random_book(rng, 1024, fw, short=0.3)
            _, _, _, err = compare(book, fw, float(rng.uniform(-0.05, 0.5)), params, currency)
            for k, e in err.items():
                key = (currency, k)
                worst[key] = max(worst.get(key, 0.0), e)
                assert e <= BUDGET, (key, e)
    for (currency, k), e in sorted(worst.items()):
        print(f"{currency:4s} {k:12s} {e:.3e}")


# --------------------------------------------------------------------------- commands


def test_commands_load_update_and_margin():
    unit = D.MarginUnit()
    rng = np.random.default_rng(21)
    book = random_book(rng, 70, FORWARDS)
    image = D.encode_book(book)
    req, scales = D.encode_margin(image, FORWARDS, rate=0.01)
    assert unit.handle(D.OP_MARGIN, req) == (None, D.ERR_BOOK_NOT_READY)
    for frame in D.encode_scenarios():
        assert unit.handle(D.OP_MARGIN_SCENARIOS, frame) == (b"", None)
    assert unit.handle(D.OP_MARGIN, req) == (None, D.ERR_BOOK_NOT_READY)  # no book yet
    frames = D.load_book_payloads(image)
    assert [len(f) for f in frames] == [4 + 28 * 36, 4 + 28 * 36, 4 + 14 * 36]
    for k, frame in enumerate(frames):
        res, err = unit.handle(D.OP_LOAD_BOOK, frame)
        assert err is None and int.from_bytes(res, "little") == min(70, 28 * (k + 1))
    res, err = unit.handle(D.OP_MARGIN, req)
    assert err is None and res == D.device_margin(image.records, D.encode_scenarios(), req)
    rep = D.decode_result(res, scales, M.scenario_grid()[3])
    ref = M.reference_margin(book, FORWARDS, rate=0.01)
    G = M.gross_notional(book, FORWARDS)
    assert np.max(np.abs(rep.pnl - ref.pnl)) <= BUDGET * G

    # fills and a vol update on positions 3, 10 and 69, then the same tick
    new = book.copy()
    rows = book[[3, 10, 69]].copy()
    rows["quantity"] *= [2.0, -1.0, 0.5]
    rows["vol"][rows["kind"] != 2] = 0.7
    new[[3, 10, 69]] = rows
    image2, ups = D.update_book(image, [3, 10, 69], rows)
    for frame in ups:
        assert unit.handle(D.OP_UPDATE_BOOK, frame) == (b"", None)
    fresh = D.encode_book(new)  # the same records, except Q stays at the loaded book's scale
    for i in range(len(new)):
        rec = D.unpack_record(fresh.records[i * 36:(i + 1) * 36])
        rec["Q"] = int(np.rint(math.ldexp(new["quantity"][i], image.eq)))
        assert D.unpack_record(image2.records[i * 36:(i + 1) * 36]) == rec, i
    req2, scales2 = D.encode_margin(image2, FORWARDS, rate=0.01)
    res2, err = unit.handle(D.OP_MARGIN, req2)
    assert err is None and res2 == D.device_margin(image2.records, D.encode_scenarios(), req2)
    rep2 = D.decode_result(res2, scales2, M.scenario_grid()[3])
    ref2 = M.reference_margin(new, FORWARDS, rate=0.01)
    assert np.max(np.abs(rep2.pnl - ref2.pnl)) <= BUDGET * M.gross_notional(new, FORWARDS)

    # bad frames get BAD_ARGUMENT and change nothing; the next good request is answered
    zero = dict.fromkeys((f[0] for f in D.RECORD_FIELDS), 0)
    kind3 = D.pack_record(zero | {"kind": 3})
    short_t = D.pack_record(zero | {"T": P.T_WIDE_MIN_FX - 1, "sig": 1 << 38,
                                    "sig_up": 1 << 38, "sig_down": 1 << 38})
    bad = [
        (D.OP_LOAD_BOOK, D.LOAD_HEAD.pack(70, 5) + frames[0][4:]),  # first != loaded
        (D.OP_LOAD_BOOK, D.LOAD_HEAD.pack(4097, 0) + kind3[:0]),  # over capacity
        (D.OP_LOAD_BOOK, D.LOAD_HEAD.pack(1, 0) + kind3),  # kind 3
        (D.OP_LOAD_BOOK, D.LOAD_HEAD.pack(1, 0) + short_t),  # T under one minute
        (D.OP_LOAD_BOOK, frames[0][:41]),  # not whole records
        (D.OP_UPDATE_BOOK, b"\x01" + (70).to_bytes(2, "little") + frames[0][4:40]),  # index
        (D.OP_UPDATE_BOOK, b"\x02" + bytes(38)),  # count disagrees with the length
        (D.OP_MARGIN, req2[:-1]),
        (D.OP_MARGIN_SCENARIOS, D.SCENARIOS_HEAD.pack(0, 0, 0)),
    ]
    for opcode, payload in bad:
        assert unit.handle(opcode, payload) == (None, D.ERR_BAD_ARGUMENT), opcode
        assert unit.handle(D.OP_MARGIN, req2) == (res2, None)

    # a restarted load makes MARGIN wait until the book is whole again
    assert unit.handle(D.OP_LOAD_BOOK, frames[0])[1] is None
    assert unit.handle(D.OP_MARGIN, req) == (None, D.ERR_BOOK_NOT_READY)
    assert unit.handle(D.OP_UPDATE_BOOK, ups[0]) == (None, D.ERR_BOOK_NOT_READY)
    for frame in frames[1:]:
        unit.handle(D.OP_LOAD_BOOK, frame)
    assert unit.handle(D.OP_MARGIN, req) == (res, None)


def test_host_update_errors():
    image = D.encode_book(np.concatenate([one(q=1.0), one(q=2.0)]))
    with pytest.raises(ValueError, match="load the book again"):
        D.update_book(image, [0], one(q=2.0 * 16 * 1.01))  # max |Q| = 2**51: room to 2**55
    D.update_book(image, [0], one(q=2.0 * 15))
    with pytest.raises(ValueError, match="outside the book of 2 positions"):
        D.update_book(image, [2], one())
    with pytest.raises(ValueError, match="2 indices for 1 rows"):
        D.update_book(image, [0, 1], one())
    image2, frames = D.update_book(image, [1], one(q=-3.0))
    assert image2.abs_q[0] == image.abs_q[0] + (3 - 2) * 2**image.eq and len(frames) == 1
