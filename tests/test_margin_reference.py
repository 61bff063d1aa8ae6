"""The float64 margin reference (quantgate.margin) against hand-checkable books and an
independent scalar implementation (stdlib math only), plus the grid, the parameters and input
validation. docs/margin.md is the specification; no expected value here comes from the module
under test."""

import math

import numpy as np
import pytest

from quantgate import margin as M

STD_MOVES = [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16]
EXT_MOVES = [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]


def book_of(*rows):
    """rows: (kind, strike, expiry, quantity, vol, bucket)."""
    b = np.zeros(len(rows), M.BOOK_DTYPE)
    for i, r in enumerate(rows):
        b[i] = r
    return b


# --------------------------------------------------------------------------- scalar reference


def ncdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def b76(F, K, T, vol, r, put):
    """Black-76 price and Greeks, scalar stdlib math."""
    v = vol * math.sqrt(T)
    d1 = (math.log(F / K) + v * v / 2) / v
    d2 = d1 - v
    df = math.exp(-r * T)
    n1 = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    if put:
        price = df * (K * ncdf(-d2) - F * ncdf(-d1))
        delta = -df * ncdf(-d1)
    else:
        price = df * (F * ncdf(d1) - K * ncdf(d2))
        delta = df * ncdf(d1)
    return {"price": price, "delta": delta, "gamma": df * n1 / (F * v),
            "vega": df * F * n1 * math.sqrt(T),
            "theta": r * price - df * F * n1 * vol / (2 * math.sqrt(T))}


def shocks(vol, T, up=0.5, down=0.25, floor=0.5, sp=0.30, lp=0.13):
    dte = T * 365
    f = (30 / dte) ** (sp if dte < 30 else lp)
    vu = max(vol * (1 + up * f), floor)
    vd = vol * (1 - down * f)
    cu, cd = min(max(vu, 0.01), 5.0), min(max(vd, 0.01), 5.0)
    return cu, cd, int(cu != vu) + int(cd != vd)


def loop_margin(rows, forwards, rate, currency, price_range=0.16, ext=EXT_MOVES, mm=0.8):
    """Scalar loop over positions and scenarios, straight from docs/margin.md section 1."""
    std = [-price_range + k * price_range / 4 for k in range(9)]
    scen = [(m, v) for m in std for v in ("up", "same", "down")] + [(m, "up") for m in ext]
    weights = [1.0] * 27 + [price_range / abs(m) for m in ext]
    pnl = [0.0] * 35
    greeks = dict(delta=0.0, gamma=0.0, vega=0.0, theta=0.0)
    clamped = 0
    for kind, K, T, q, vol, b in rows:
        F = forwards[b]
        if kind == 2:
            greeks["delta"] += q
            for j, (m, _) in enumerate(scen):
                Fs = F * (1 + m)
                pnl[j] += q * (Fs - F) if currency == "usd" else q * (Fs - F) / Fs
            continue
        vu, vd, c = shocks(vol, T)
        clamped += c
        base = b76(F, K, T, vol, rate, kind == 1)
        for g in greeks:
            greeks[g] += q * base[g]
        for j, (m, vs) in enumerate(scen):
            Fs = F * (1 + m)
            s = {"up": vu, "same": vol, "down": vd}[vs]
            v = b76(Fs, K, T, s, rate, kind == 1)["price"]
            pnl[j] += q * (v - base["price"]) if currency == "usd" else \
                q * (v / Fs - base["price"] / F)
    loss = [-w * p for w, p in zip(weights, pnl, strict=True)]
    im = max(0.0, max(loss))
    return dict(pnl=pnl, im=im, mm=mm * im, worst=loss.index(max(loss)), clamped=clamped,
                **greeks)


# --------------------------------------------------------------------------- the grid


def test_scenario_order_labels_and_weights():
    moves, vols, weights, labels = M.scenario_grid()
    assert len(labels) == 35 == M.N_SCENARIOS
    exp_moves = [m for m in STD_MOVES for _ in range(3)] + EXT_MOVES
    np.testing.assert_allclose(moves, exp_moves, rtol=0, atol=1e-15)
    assert list(vols) == [0, 1, 2] * 9 + [0] * 8
    assert labels[0] == "-16% vol up" and labels[1] == "-16% vol same"
    assert labels[2] == "-16% vol down" and labels[13] == "+0% vol same"
    assert labels[26] == "+16% vol down" and labels[27] == "-66% vol up"
    assert labels[34] == "+500% vol up"
    assert list(weights[:27]) == [1.0] * 27
    np.testing.assert_allclose(weights[27:], [0.16 / 0.66, 0.16 / 0.33, 0.32, 0.16, 0.08,
                                              0.16 / 3, 0.04, 0.032], rtol=1e-15)


# --------------------------------------------------------------------------- hand books


def test_single_long_future_usd():
    F, q = 43_210.5, 3.0
    r = M.reference_margin(book_of((2, 0, 0, q, 0, 0)), [F], rate=0.05)
    exp = [q * F * m for m in STD_MOVES for _ in range(3)] + [q * F * m for m in EXT_MOVES]
    np.testing.assert_allclose(r.pnl, exp, rtol=1e-14, atol=0)
    assert r.initial == pytest.approx(q * F * 0.16, rel=1e-14)
    assert r.maintenance == pytest.approx(0.8 * q * F * 0.16, rel=1e-14)
    # -16 %, -66 % (weight 0.16/0.66) and -33 % all weigh to 0.16 qF: the first of them wins
    assert r.worst_scenario in (0, 27, 28)
    assert (r.delta, r.gamma, r.vega, r.theta, r.clamped) == (q, 0.0, 0.0, 0.0, 0)
    assert r.cycles is None and r.scenarios[0] == "-16% vol up"


def test_single_future_coin():
    q = 7.0
    r = M.reference_margin(book_of((2, 0, 0, q, 0, 0)), [95_000.0], currency="coin")
    exp = [q * m / (1 + m) for m in STD_MOVES for _ in range(3)] + \
        [q * m / (1 + m) for m in EXT_MOVES]
    np.testing.assert_allclose(r.pnl, exp, rtol=1e-14, atol=1e-15)
    # long inverse future: -66 % weighs 0.16/0.66 * 0.66/0.34 = 0.16/0.34, the largest loss
    assert r.worst_scenario == 27
    assert r.initial == pytest.approx(q * 0.16 / 0.34, rel=1e-14)
    s = M.reference_margin(book_of((2, 0, 0, -q, 0, 0)), [95_000.0], currency="coin")
    assert s.worst_scenario == 24  # +16 % (vol up, first of three equal ones): 0.16/1.16
    assert s.initial == pytest.approx(q * 0.16 / 1.16, rel=1e-14)
    assert s.delta == -q  # futures count 1 per unit in both currencies


def test_short_atm_call_vs_black76_and_vol_shock_rules():
    F = K = 60_000.0
    T, vol, q, rate = 0.25, 0.6, -2.0, 0.03
    rep = M.reference_margin(book_of((0, K, T, q, vol, 0)), [F], rate=rate)
    # DTE = 91.25 >= 30: long-term power 0.13
    f = (30 / 91.25) ** 0.13
    vu, vd = max(vol * (1 + 0.5 * f), 0.5), vol * (1 - 0.25 * f)
    base = b76(F, K, T, vol, rate, False)["price"]
    scen = [(m, s) for m in STD_MOVES for s in (vu, vol, vd)] + [(m, vu) for m in EXT_MOVES]
    exp = [q * (b76(F * (1 + m), K, T, s, rate, False)["price"] - base) for m, s in scen]
    np.testing.assert_allclose(rep.pnl, exp, rtol=1e-12, atol=1e-9)
    weights = [1.0] * 27 + [0.16 / abs(m) for m in EXT_MOVES]
    loss = [-w * p for w, p in zip(weights, exp, strict=True)]
    assert rep.worst_scenario == loss.index(max(loss))
    assert rep.initial == pytest.approx(max(loss), rel=1e-12)
    # a short call loses most on the way up: the worst is an up move with vol up
    assert scen[rep.worst_scenario][0] > 0 and scen[rep.worst_scenario][1] == vu
    d = b76(F, K, T, vol, rate, False)
    assert rep.delta == pytest.approx(q * d["delta"], rel=1e-13)
    assert rep.vega == pytest.approx(q * d["vega"], rel=1e-13)
    assert rep.theta == pytest.approx(q * d["theta"], rel=1e-13)
    assert rep.gamma == pytest.approx(q * d["gamma"], rel=1e-13)

    # DTE < 30 uses the short-term power 0.30: scenario 12 (0 move, vol up)
    T2 = 10 / 365
    rep2 = M.reference_margin(book_of((0, K, T2, q, vol, 0)), [F], rate=rate)
    vu2 = vol * (1 + 0.5 * 3.0 ** 0.30)
    b2 = b76(F, K, T2, vol, rate, False)["price"]
    assert rep2.pnl[12] == pytest.approx(q * (b76(F, K, T2, vu2, rate, False)["price"] - b2),
                                         rel=1e-12)
    # DTE exactly 30 is long-term: f = 1 whatever the power
    T3 = 30 / 365
    rep3 = M.reference_margin(book_of((0, K, T3, q, vol, 0)), [F], rate=rate)
    b3 = b76(F, K, T3, vol, rate, False)["price"]
    assert rep3.pnl[14] == pytest.approx(
        q * (b76(F, K, T3, vol * 0.75, rate, False)["price"] - b3), rel=1e-12)
    # min_vol_for_shock_up: 0.2 * (1 + 0.5 f) < 0.5, so vol up is 0.5
    T4, v4 = 2.0, 0.2
    rep4 = M.reference_margin(book_of((0, K, T4, q, v4, 0)), [F], rate=rate)
    b4 = b76(F, K, T4, v4, rate, False)["price"]
    assert rep4.pnl[12] == pytest.approx(q * (b76(F, K, T4, 0.5, rate, False)["price"] - b4),
                                         rel=1e-12)
    assert rep4.clamped == 0  # the floor is part of the shock, not a clamp


def test_delta_hedged_short_straddle():
    F = K = 100.0
    T, vol, rate = 0.25, 0.6, 0.0
    dc, dp = (b76(F, K, T, vol, rate, p)["delta"] for p in (False, True))
    hedge = dc + dp  # short straddle has delta -(dc + dp); buy it back with futures
    rows = [(0, K, T, -1.0, vol, 0), (1, K, T, -1.0, vol, 0), (2, 0, 0, hedge, 0, 0)]
    rep = M.reference_margin(book_of(*rows), [F], rate=rate)
    assert abs(rep.delta) < 1e-14
    exp = loop_margin(rows, [F], rate, "usd")
    np.testing.assert_allclose(rep.pnl, exp["pnl"], rtol=1e-12, atol=1e-12)
    # the short straddle's worst weighted loss is far out, in the extended table
    assert rep.worst_scenario == exp["worst"] >= 27
    w = 0.16 / abs(EXT_MOVES[rep.worst_scenario - 27])
    assert rep.initial == pytest.approx(-w * exp["pnl"][exp["worst"]], rel=1e-12)
    # every standard move but 0 loses less than the chosen extended weighted loss
    assert max(-p for p in exp["pnl"][:27]) < rep.initial


def test_clamp_counting():
    F = 100.0
    rows = [
        (0, 100.0, 2 / 8760, 1.0, 4.0, 0),  # 2 hours, vol 400 %: up > 5 and down < 0.01
        (1, 110.0, 0.5, 1.0, 4.5, 0),  # up = 4.5 * (1 + 0.5 * (60/365)^0.13) > 5: up only
        (0, 95.0, 0.5, -1.0, 0.4, 0),  # no clamp
        (2, 0, 0, 5.0, 0, 0),  # futures have no vol
    ]
    counts = [shocks(vol, T)[2] for k, _, T, _, vol, _ in rows if k != 2]
    assert counts == [2, 1, 0]
    rep = M.reference_margin(book_of(*rows), [F])
    assert rep.clamped == 3
    # the clamped vols are used: position 0 alone, scenario 12 (0 move, vol up) at vol 5
    one = M.reference_margin(book_of(rows[0]), [F])
    b = b76(F, 100.0, 2 / 8760, 4.0, 0.0, False)["price"]
    assert one.pnl[12] == pytest.approx(b76(F, 100.0, 2 / 8760, 5.0, 0.0, False)["price"] - b,
                                        rel=1e-12)
    assert one.pnl[14] == pytest.approx(b76(F, 100.0, 2 / 8760, 0.01, 0.0, False)["price"] - b,
                                        rel=1e-12)


def test_parameters_move_the_margin():
    F, q = 2_000.0, 10.0
    fut = book_of((2, 0, 0, q, 0, 0))
    wide = M.MarginParams(price_range=0.25)
    assert M.reference_margin(fut, [F], params=wide).initial == pytest.approx(q * F * 0.25)
    half = M.MarginParams(mm_factor=0.5)
    r = M.reference_margin(fut, [F], params=half)
    assert r.maintenance == pytest.approx(0.5 * r.initial) and r.initial == pytest.approx(
        q * F * 0.16)
    # a short put: no vol-up range leaves vol up = max(vol, floor), so a vol below the floor
    # still shocks to the floor, and a vol above it does not move
    K, T = 2_100.0, 0.5
    for vol, vu in ((0.3, 0.5), (0.8, 0.8)):
        put = book_of((1, K, T, -q, vol, 0))
        r = M.reference_margin(put, [F], params=M.MarginParams(vol_range_up=0.0))
        b = b76(F, K, T, vol, 0.0, True)["price"]
        assert r.pnl[12] == pytest.approx(-q * (b76(F, K, T, vu, 0.0, True)["price"] - b),
                                          rel=1e-12)
    # a larger vol-up range raises the short put's margin
    put = book_of((1, K, T, -q, 0.8, 0))
    lo = M.reference_margin(put, [F]).initial
    hi = M.reference_margin(put, [F], params=M.MarginParams(vol_range_up=1.0)).initial
    assert hi > lo
    # other extended moves: a long future's -80 % move weighs 0.16/0.8 * 0.8 = 0.16 again,
    # and in coin 0.16/0.8 * 0.8/0.2 = 0.8 q
    ext = M.MarginParams(extended_moves=(-0.8, -0.33, 0.5, 1, 2, 3, 4, 5))
    c = M.reference_margin(fut, [F], params=ext, currency="coin")
    assert c.worst_scenario == 27 and c.initial == pytest.approx(q * 0.16 / 0.2, rel=1e-13)


@pytest.mark.parametrize("kwargs, match", [
    (dict(price_range=0.0), "price_range"),
    (dict(price_range=1.0), "price_range"),
    (dict(price_range=float("nan")), "finite"),
    (dict(vol_range_up=-0.1), "vol_range_up"),
    (dict(long_term_vega_power=-1), "long_term_vega_power"),
    (dict(mm_factor=0.0), "mm_factor"),
    (dict(mm_factor=1.5), "mm_factor"),
    (dict(extended_moves=(-0.66, 0.5)), "8 moves"),
    (dict(extended_moves=(-1.0, -0.33, 0.5, 1, 2, 3, 4, 5)), r"\(-1, 5\]"),
    (dict(extended_moves=(-0.66, -0.33, 0.5, 1, 2, 3, 4, 6)), r"\(-1, 5\]"),
    (dict(extended_moves=(-0.66, -0.1, 0.5, 1, 2, 3, 4, 5)), "inside the standard range"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.MarginParams(**kwargs)


# --------------------------------------------------------------------------- validation

GOOD = (0, 100.0, 0.5, 1.0, 0.6, 0)


@pytest.mark.parametrize("field, value, match", [
    ("strike", float("nan"), "strike is not finite"),
    ("quantity", float("inf"), "quantity is not finite"),
    ("vol", float("nan"), "vol is not finite"),
    ("expiry", 0.0, "expiry must be > 0"),
    ("expiry", -0.1, "expiry must be > 0"),
    ("expiry", 3.5, "expiry must be <= 3"),
    ("strike", -5.0, "strike must be > 0"),
    ("vol", 0.0, "vol must be > 0"),
    ("vol", 6.0, "pricing domain"),
    ("kind", 3, "kind must be 0"),
])
def test_bad_position(field, value, match):
    b = book_of(GOOD, GOOD)
    b[field][1] = value
    with pytest.raises(ValueError, match=f"position 1: .*{match}"):
        M.reference_margin(b, [100.0])


def test_futures_ignore_option_fields_but_not_nan():
    b = book_of((2, 0.0, 0.0, 1.0, 0.0, 0))  # zero strike/expiry/vol are fine for a future
    assert M.validate_book(b, 1) is b
    b["strike"] = float("nan")
    with pytest.raises(ValueError, match="strike is not finite"):
        M.validate_book(b, 1)


def test_bad_book_shape_dtype_and_capacity():
    with pytest.raises(ValueError, match="structured array"):
        M.validate_book(np.zeros(3), 10)
    with pytest.raises(ValueError, match="structured array"):
        M.validate_book([GOOD], 10)
    wrong = np.zeros(2, [(n, "<f8") for n in M.BOOK_DTYPE.names])  # kind as f8
    with pytest.raises(ValueError, match="BOOK_DTYPE"):
        M.validate_book(wrong, 10)
    missing = np.zeros(2, [("kind", "u1"), ("strike", "<f8")])
    with pytest.raises(ValueError, match="BOOK_DTYPE"):
        M.validate_book(missing, 10)
    with pytest.raises(ValueError, match="one-dimensional"):
        M.validate_book(np.zeros((2, 2), M.BOOK_DTYPE), 10)
    with pytest.raises(ValueError, match="5 positions; the capacity is 4"):
        M.validate_book(book_of(*[GOOD] * 5), 4)


@pytest.mark.parametrize("forwards, match", [
    ([100.0, float("nan")], "bucket 1 must be a positive finite"),
    ([100.0, 0.0], "bucket 1 must be a positive finite"),
    ([-3.0], "bucket 0 must be a positive finite"),
    ([float("inf")], "bucket 0"),
    ([], "non-empty"),
    ([[100.0]], "1-D"),
    (["abc"], "sequence of numbers"),
])
def test_bad_forwards(forwards, match):
    with pytest.raises(ValueError, match=match):
        M.validate_forwards(forwards, book_of(GOOD))


def test_bucket_without_forward_and_moneyness():
    b = book_of(GOOD, (2, 0, 0, 1.0, 0, 3))
    with pytest.raises(ValueError, match="position 1 is in bucket 3, which has no forward"):
        M.reference_margin(b, [100.0, 100.0])
    with pytest.raises(ValueError, match=r"moneyness F/K = 6.0 is outside"):
        M.reference_margin(book_of(GOOD), [600.0])


@pytest.mark.parametrize("kw, match", [
    (dict(rate=0.6), "rate"), (dict(rate=float("nan")), "rate"),
    (dict(currency="eur"), "currency"),
])
def test_bad_tick(kw, match):
    with pytest.raises(ValueError, match=match):
        M.reference_margin(book_of(GOOD), [100.0], **kw)


def test_empty_book():
    r = M.reference_margin(np.zeros(0, M.BOOK_DTYPE), [100.0])
    assert r.initial == 0.0 and np.all(r.pnl == 0) and r.delta == 0.0


# --------------------------------------------------------------------------- cross-check


def random_rows(rng, n, forwards):
    """Positions of every kind over the book domain: F/K in [0.21, 4.9], 1.5 hours to 3 years,
    vol 5 % to 300 %, several buckets."""
    rows = []
    for _ in range(n):
        kind, b = int(rng.integers(0, 3)), int(rng.integers(0, len(forwards)))
        q = float(rng.normal(0, 5))
        if kind == 2:
            rows.append((kind, 0.0, 0.0, q, 0.0, b))
            continue
        T = float(np.exp(rng.uniform(np.log(1.5 / 8760), np.log(3.0))))
        K = forwards[b] / float(np.exp(rng.uniform(np.log(0.21), np.log(4.9))))
        rows.append((kind, K, T, q, float(rng.uniform(0.05, 3.0)), b))
    return rows


@pytest.mark.parametrize("currency", ["usd", "coin"])
def test_cross_check_against_scalar_loop(currency):
    rng = np.random.default_rng(15)
    forwards = [95_000.0, 3_400.0, 96_500.0, 0.25]
    rows = random_rows(rng, 40, forwards)
    assert {r[0] for r in rows} == {0, 1, 2}
    rate = 0.04
    rep = M.reference_margin(book_of(*rows), forwards, rate=rate, currency=currency)
    exp = loop_margin(rows, forwards, rate, currency)
    gross = sum(abs(r[3]) * (forwards[r[5]] if currency == "usd" else 1.0) for r in rows)
    np.testing.assert_allclose(rep.pnl, exp["pnl"], rtol=0, atol=1e-12 * gross)
    assert abs(rep.initial - exp["im"]) <= 1e-12 * gross
    assert abs(rep.maintenance - exp["mm"]) <= 1e-12 * gross
    assert rep.worst_scenario == exp["worst"] and rep.clamped == exp["clamped"]
    for g in ("delta", "gamma", "vega", "theta"):
        scale = sum(abs(r[3] * (b76(forwards[r[5]], r[1], r[2], r[4], rate, r[0] == 1)[g]
                                if r[0] != 2 else float(g == "delta"))) for r in rows)
        assert abs(getattr(rep, g) - exp[g]) <= 1e-12 * scale, g


def test_module_imports_without_scipy_or_amaranth():
    """The driver imports quantgate.margin: SciPy only when the reference runs, never Amaranth."""
    import subprocess
    import sys

    code = ("import sys, quantgate.margin; "
            "assert 'scipy' not in sys.modules and 'amaranth' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
