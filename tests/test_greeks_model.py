"""Accuracy of the bit-exact fixed-point Greeks model against independent float64 / mpmath.

Quick tests (``make test``, a few seconds): the docs/references.md values, 20k random options
over the whole domain for both models, calls and puts, a grid of domain corners, the integer
corners of the device's range check, input rejection, the coefficient tables and the exact
arithmetic.

Long sweep (opt in with ``pytest --slow``; size from QUANTGATE_SWEEP_N, default 4,000,000):
``pytest tests/test_greeks_model.py --slow -k long``. The same sweep with a report of maximum and
99.9th-percentile errors: ``python -m quantgate.hdl.pricing.model --sweep 10000000``.
"""

from __future__ import annotations

import itertools
import math
import os

import mpmath as mp
import numpy as np
import pytest
from scipy.special import erfcx

from quantgate.hdl.pricing import model as m
from quantgate.hdl.pricing import tables as tb
from quantgate.hdl.pricing.reference import greeks_mp, greeks_ref

# Regression guards, well inside the acceptance limits (m.TOLERANCE): the design reaches
# ~1e-9; a change that loses an order of magnitude fails here long before the limits.
GUARD = {"price": 5e-9, "delta": 1e-8, "gamma": 5e-8, "vega": 1e-8, "theta": 2e-8, "rho": 1e-8}

# The table digest is pinned in docs/numerics.md: a change of platform or of the generator
# cannot silently change the tables the gateware is built with.
_DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "numerics.md")


def _check(a: dict, model: str, guard: bool = True) -> dict:
    got = m.greeks_fixed(model=model, **a)
    ref = greeks_ref(model=model, **a)
    err = m.normalised_errors(got, ref, a["spot"], a["strike"], a["expiry"])
    for k in m.OUTPUTS:
        i = int(np.argmax(err[k]))
        where = {kk: np.asarray(vv).ravel()[i].item() if np.ndim(vv) else vv
                 for kk, vv in a.items()}
        assert err[k][i] <= m.TOLERANCE[k], (model, k, err[k][i], where)
        if guard:
            assert err[k][i] <= GUARD[k], (model, k, err[k][i], where)
    return err


# --------------------------------------------------------------------------- known values

# docs/references.md (Haug via QuantLib's tests; Hull): (inputs, output, value, decimals)
KNOWN = [
    (dict(spot=60, strike=65, expiry=0.25, rate=0.08, carry=0.0, vol=0.30, call=True),
     "bsm", {"price": (2.1334, 4)}),
    (dict(spot=100, strike=95, expiry=0.5, rate=0.10, carry=0.05, vol=0.20, call=False),
     "bsm", {"price": (2.4648, 4)}),
    (dict(spot=19, strike=19, expiry=0.75, rate=0.10, carry=0.0, vol=0.28, call=True),
     "black76", {"price": (1.7011, 4)}),
    (dict(spot=19, strike=19, expiry=0.75, rate=0.10, carry=0.0, vol=0.28, call=False),
     "black76", {"price": (1.7011, 4)}),
    (dict(spot=105, strike=100, expiry=0.5, rate=0.10, carry=0.10, vol=0.36, call=True),
     "bsm", {"delta": (0.5946, 4)}),
    (dict(spot=105, strike=100, expiry=0.5, rate=0.10, carry=0.10, vol=0.36, call=False),
     "bsm", {"delta": (-0.3566, 4)}),
    (dict(spot=55, strike=60, expiry=0.75, rate=0.10, carry=0.0, vol=0.30, call=True),
     "bsm", {"gamma": (0.0278, 4), "vega": (18.9358, 4)}),
    (dict(spot=430, strike=405, expiry=1 / 12, rate=0.07, carry=0.05, vol=0.20, call=False),
     "bsm", {"theta": (-31.1924, 4)}),
    (dict(spot=72, strike=75, expiry=1.0, rate=0.09, carry=0.0, vol=0.19, call=True),
     "bsm", {"rho": (38.7325, 4)}),
    (dict(spot=49, strike=50, expiry=20 / 52, rate=0.05, carry=0.0, vol=0.20, call=True),
     "bsm", {"price": (2.4005, 4), "delta": (0.5216, 4), "gamma": (0.06554, 5),
             "vega": (12.105, 3), "theta": (-4.305, 3), "rho": (8.907, 3)}),
]


@pytest.mark.parametrize("inputs,model,expected", KNOWN)
def test_known_values(inputs, model, expected):
    ref = greeks_ref(model=model, **inputs)
    got = m.greeks_fixed(model=model, **inputs)
    for k, (value, dec) in expected.items():
        assert abs(float(ref[k]) - value) <= 0.5 * 10.0**-dec, (k, float(ref[k]))
        assert abs(float(got[k]) - value) <= 0.5 * 10.0**-dec, (k, float(got[k]))
    _check({k: np.array([v]) for k, v in inputs.items()}, model)


def test_black76_is_bsm_with_q_equal_r_except_rho():
    a = dict(spot=19.0, strike=21.0, expiry=0.75, rate=0.10, vol=0.28, call=True)
    g76 = m.greeks_fixed(carry=0.3, model="black76", **a)  # carry is ignored
    gb = m.greeks_fixed(carry=0.10, model="bsm", **a)
    for k in ("price", "delta", "gamma", "vega", "theta"):
        assert g76[k] == gb[k]
    assert g76["rho"] == pytest.approx(-0.75 * g76["price"], rel=1e-12)


# --------------------------------------------------------------------------- the float64 reference


def test_reference_against_mpmath():
    """The float64 reference itself is exact to ~1e-13 in criterion units (50-digit mpmath)."""
    rng = np.random.default_rng(7)
    s = m.sample_domain(60, rng)
    for i in range(60):
        model = "black76" if s["b76"][i] else "bsm"
        a = {k: v[i].item() for k, v in s.items() if k != "b76"}
        ref = greeks_ref(model=model, **a)
        hi = {k: np.array(v) for k, v in greeks_mp(model=model, **a).items()}
        err = m.normalised_errors(ref, hi, a["spot"], a["strike"], a["expiry"])
        for k in m.OUTPUTS:
            assert err[k] <= 1e-12, (k, err[k], a, model)


# --------------------------------------------------------------------------- sweeps


@pytest.mark.parametrize("model", ["bsm", "black76"])
def test_quick_sweep(model):
    """20k random options (calls and puts) per model over the whole domain."""
    rng = np.random.default_rng(2024 if model == "bsm" else 76)
    s = m.sample_domain(20_000, rng)
    s.pop("b76")
    _check(s, model)


def test_corner_grid():
    """Every combination of domain edges and a few interior points, both models, call/put."""
    grid = dict(
        mny=[0.2, 0.2000001, 0.9999, 1.0, 1.0001, 4.99999, 5.0],
        T=[tb.T_MIN, 1 / 8760, 1 / 365, 0.25, 2.9999, 3.0],
        vol=[0.01, 0.0100001, 0.2, 1.0, 4.9999, 5.0],
        r=[-0.05, 0.0, 0.5],
        q=[-0.05, 0.0, 0.5],
        call=[True, False],
    )
    rows = np.array(list(itertools.product(*grid.values())), dtype=np.float64)
    strike = 100.0
    a = dict(spot=strike * rows[:, 0], strike=strike, expiry=rows[:, 1], rate=rows[:, 3],
             carry=rows[:, 4], vol=rows[:, 2], call=rows[:, 5] > 0)
    a["strike"] = np.full_like(a["spot"], strike)
    for model in ("bsm", "black76"):
        _check(a, model)


def test_near_the_money_at_one_hour_and_one_percent_vol():
    """Largest gamma (~3700 S^-1) and sharpest d1: x within a few v of 0 at v = 1.07e-4."""
    v = 0.01 * math.sqrt(tb.T_MIN)
    x = np.concatenate([np.linspace(-6 * v, 6 * v, 2001), [0.0, 1e-15, -1e-15]])
    for model, r, q in (("bsm", 0.5, -0.05), ("bsm", -0.05, 0.5), ("black76", 0.3, 0.0)):
        for call in (True, False):
            a = dict(spot=100 * np.exp(x), strike=np.full_like(x, 100.0), expiry=tb.T_MIN,
                     rate=r, carry=q, vol=0.01, call=call)
            _check(a, model)


def test_saturation_deep_in_and_out_of_the_money():
    """|d| >> 1: the density Greeks are exactly 0 and price, delta, rho the limiting values."""
    a = dict(spot=np.array([5.0, 0.2]), strike=np.array([1.0, 1.0]), expiry=tb.T_MIN,
             rate=0.5, carry=-0.05, vol=0.01, call=True)
    got = m.greeks_fixed(**a)
    assert np.all(got["gamma"] == 0) and np.all(got["vega"] == 0)
    dq = math.exp(0.05 * tb.T_MIN)
    dr = math.exp(-0.5 * tb.T_MIN)
    assert got["delta"][0] == pytest.approx(dq, rel=2**-33)  # the exp2 unit's accuracy
    assert got["price"][0] == pytest.approx(5.0 * dq - dr, rel=2**-32)
    assert got["delta"][1] == 0 and got["price"][1] == 0 and got["rho"][1] == 0
    assert got["rho"][0] == pytest.approx(dr * tb.T_MIN, rel=2**-33)


def test_tail_of_n_keeps_relative_accuracy():
    """N(-u) = n(u) R(u): delta (and BSM rho) of far out-of-the-money options stay relatively
    exact down to ~1e-8 (the Q48 output step), where Abramowitz-Stegun's CDF is off by
    1e-4..1e-2. (Black-76 rho = -T V inherits the price's absolute accuracy instead.)"""
    rng = np.random.default_rng(11)
    for model in ("bsm", "black76"):
        s = m.sample_domain(20_000, rng, focus=1.0)
        s.pop("b76")
        got = m.greeks_fixed(model=model, **s)
        ref = greeks_ref(model=model, **s)
        checks = [("delta", 1e-8)]
        if model == "bsm":
            checks.append(("rho", 1e-8 * s["spot"] * s["expiry"]))
        for k, floor in checks:
            sel = np.abs(ref[k]) >= floor
            rel = np.abs(got[k][sel] / ref[k][sel] - 1)
            assert sel.sum() > 10_000 and np.max(rel) < 1e-6, (model, k, np.max(rel))


@pytest.mark.slow
def test_long_sweep():
    """Millions of options in the bit-exact model against float64 (opt in: --slow)."""
    n = int(os.environ.get("QUANTGATE_SWEEP_N", "4000000"))
    res = m.sweep(n, seed=12345)
    for k in m.OUTPUTS:
        mx, p999, where = res[k]
        assert mx <= m.TOLERANCE[k], (k, mx, where)
        assert mx <= GUARD[k], (k, mx, where)


# --------------------------------------------------------------------------- domain checks

GOOD = dict(spot=100.0, strike=100.0, expiry=0.5, rate=0.05, carry=0.01, vol=0.6)


@pytest.mark.parametrize("field,value", [
    ("spot", 19.99), ("spot", 500.01), ("spot", 0.0), ("spot", -1.0), ("spot", np.nan),
    ("strike", np.inf), ("expiry", tb.T_MIN * 0.999), ("expiry", 3.0001), ("expiry", 0.0),
    ("vol", 0.00999), ("vol", 5.0001), ("rate", -0.0501), ("rate", 0.5001),
    ("carry", -0.0501), ("carry", 0.5001),
])
def test_host_rejects_out_of_domain(field, value):
    a = dict(GOOD, **{field: value})
    with pytest.raises(ValueError):
        m.greeks_fixed(**a)
    out = m.greeks_fixed(strict=False, **a)
    assert out["error"] and all(np.isnan(out[k]) for k in m.OUTPUTS)


def test_host_accepts_domain_edges_and_black76_ignores_carry():
    for a in (dict(GOOD, spot=20.0), dict(GOOD, spot=500.0), dict(GOOD, expiry=tb.T_MIN),
              dict(GOOD, expiry=3.0), dict(GOOD, vol=0.01), dict(GOOD, vol=5.0),
              dict(GOOD, rate=-0.05, carry=0.5), dict(GOOD, rate=0.5, carry=-0.05)):
        assert not m.greeks_fixed(**a)["error"]
    assert not m.greeks_fixed(**dict(GOOD, carry=7.0), model="black76")["error"]
    with pytest.raises(ValueError):
        m.greeks_fixed(**GOOD, model="heston")


BOUNDS = dict(x=(tb.X_MIN_FX, tb.X_MAX_FX), T=(tb.T_MIN_FX, tb.T_MAX_FX),
              sig=(tb.SIGMA_MIN_FX, tb.SIGMA_MAX_FX), r=(tb.RATE_MIN_FX, tb.RATE_MAX_FX),
              q=(tb.RATE_MIN_FX, tb.RATE_MAX_FX))


def test_device_box_corners_are_accurate():
    """All 2**5 integer corners of the device's range check, call/put, both models: no format
    overflows (the model checks every signal) and the criteria hold at the exact inputs."""
    corners = np.array(list(itertools.product(*BOUNDS.values())), dtype=np.int64)
    for b76 in (False, True):
        for call in (True, False):
            cols = [corners[:, i] for i in range(5)]
            out = m.pipeline(*cols, call, b76)
            assert not np.any(out["error"])
            x, T, sig, r, q = (c.astype(np.float64) * 2.0**-tb.FIN for c in cols)
            spot = np.exp(x)
            model = "black76" if b76 else "bsm"
            ref = greeks_ref(spot, 1.0, T, r, q, sig, call, model)
            got = m.host_scale(out, spot, T)
            err = m.normalised_errors(got, ref, spot, 1.0, T)
            for k in m.OUTPUTS:
                assert np.max(err[k]) <= GUARD[k], (k, model, call, np.max(err[k]))


@pytest.mark.parametrize("field", list(BOUNDS))
def test_device_rejects_one_lsb_outside(field):
    lo, hi = BOUNDS[field]
    mid = {k: (a + b) // 2 for k, (a, b) in BOUNDS.items()}
    vals = np.array([lo - 1, lo, hi, hi + 1], dtype=np.int64)
    args = {k: np.full(4, v, dtype=np.int64) for k, v in mid.items()}
    args[field] = vals
    for b76 in (False, True):
        out = m.pipeline(args["x"], args["T"], args["sig"], args["r"], args["q"], True, b76)
        expect = [True, False, False, True]
        if b76 and field == "q":
            expect = [False] * 4  # Black-76 ignores q
        assert out["error"].tolist() == expect
        assert np.all(out["price"][out["error"]] == 0)


# --------------------------------------------------------------------------- tables and units


def test_table_digest_is_stable():
    """Tables are deterministic; the digest is recorded in docs/numerics.md."""
    d = tb.table_digest()
    assert d == tb.table_digest()
    with open(_DOC) as fh:
        lines = [ln for ln in fh.read().splitlines() if "table digest" in ln.lower()]
    assert any(d in ln for ln in lines), d


def test_segment_units_accuracy():
    n = 1 << 18
    ulp = 2.0**-tb.FM
    # sqrt on [1, 4) (t as u2.34), the same index/offset split as the pipeline
    tm = np.arange(n, dtype=np.int64) * ((3 << 34) // n) + (1 << 34)
    tm = np.concatenate([tm, [(1 << 34), (2 << 34) - 1, 2 << 34, (4 << 34) - 1]])
    hi = (tm >> 35) == 1
    idx = np.where(hi, 512 + ((tm >> 26) & 511), (tm >> 25) & 511)
    dl = np.where(hi, (tm >> 1) & ((1 << 25) - 1), tm & ((1 << 25) - 1))
    y = m.seg_quad("t", tb.SQRT, idx, dl) * ulp
    t = tm * 2.0**-34
    assert np.max(np.abs(y - np.sqrt(t))) < 2.0**-34
    # 1/v on [1, 2)
    vm = np.arange(n, dtype=np.int64) * ((1 << 35) // n) + (1 << 35)
    y = m.seg_quad("t", tb.RECIP, (vm >> 25) & 1023, vm & ((1 << 25) - 1)) * ulp
    assert np.max(np.abs(y - 1 / (vm * 2.0**-35))) < 2.0**-34
    # 2**f on [0, 1)
    f = np.arange(n, dtype=np.int64) * ((1 << 40) // n)
    f = np.concatenate([f, [(1 << 40) - 1]])
    y = m.seg_quad("t", tb.EXP2, f >> 30, f & ((1 << 30) - 1)) * ulp
    assert np.max(np.abs(y - 2.0 ** (f * 2.0**-40))) < 2.0**-34
    # Mills ratio on [0, 8)
    u = np.arange(n, dtype=np.int64) * ((8 << 32) // n)
    y = m.seg_quad("t", tb.MILLS, *m.mills_address(u)) * ulp
    uf = u * 2.0**-32
    assert np.max(np.abs(y - math.sqrt(math.pi / 2) * erfcx(uf / math.sqrt(2)))) < 2.0**-32


def test_mills_ratio_generator_against_mpmath():
    for u in (0.0, 0.3, 1.0, 2.5, 4.0, 6.0, 7.99):
        with mp.workdps(40):
            exact = mp.erfc(u / mp.sqrt(2)) / 2 / mp.npdf(u)
        assert tb.mills_ratio(u) == pytest.approx(float(exact), rel=1e-14)


def test_multiplier_budget():
    mc = m.multiplier_count()
    assert sum(mc.values()) <= 96
    assert sum(mc.values()) == 75  # docs/numerics.md, section "Multipliers"


# --------------------------------------------------------------------------- exact arithmetic


def test_fold_is_exact():
    rng = np.random.default_rng(3)
    for _ in range(200):
        nterm = int(rng.integers(1, 6))
        bits = [int(rng.integers(1, 62)) for _ in range(nterm)]
        ts = [rng.integers(-(1 << b), 1 << b, 64) for b in bits]
        es = [int(rng.integers(0, 70)) for _ in range(nterm)]
        s = int(rng.integers(0, 130))
        rnd = bool(rng.integers(0, 2))
        exact = [sum(int(t[i]) << e for t, e in zip(ts, es, strict=True)) for i in range(64)]
        exact = [(v + ((1 << (s - 1)) if rnd and s else 0)) >> s for v in exact]
        got = m.fold(list(zip(ts, es, strict=True)), s, rnd)
        for g, x in zip(got.tolist(), exact, strict=True):
            if -(1 << 63) <= x < (1 << 63):
                assert g == x


def test_products_match_the_limb_decomposition():
    """Full products are exact; truncated ones lose < 2**(la+lb) units, as documented."""
    rng = np.random.default_rng(4)
    for wa, wb, sa, sb in ((36, 36, True, False), (36, 25, True, False), (36, 36, False, False),
                           (36, 18, False, False), (30, 24, True, True)):
        lo_a = -(1 << (wa - 1)) if sa else 0
        lo_b = -(1 << (wb - 1)) if sb else 0
        a = rng.integers(lo_a, (1 << (wa - int(sa))), 500)
        b = rng.integers(lo_b, (1 << (wb - int(sb))), 500)
        full = m.products("t", a, wa, b, wb, signed=(sa, sb))
        trunc = m.products("t", a, wa, b, wb, drop_ll=True, signed=(sa, sb))
        assert all(abs(int(t).bit_length()) <= 36 for tt, _ in full for t in np.ravel(tt))
        for i in range(500):
            x = int(a[i]) * int(b[i])
            assert sum(int(t[i]) << e for t, e in full) == x
            assert 0 <= x - sum(int(t[i]) << e for t, e in trunc) < 1 << (
                max(wa - 18, 0) + max(wb - 18, 0))
