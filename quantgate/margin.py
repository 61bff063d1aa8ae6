"""Portfolio margin: the book format, the parameters, validation and the float64 reference.

docs/margin.md is the specification. This module is what the host driver, the demo, the
benchmark and the tests share; it imports without Amaranth. SciPy (``ndtr``) is imported only
by :func:`reference_margin`, so a driver that only validates and packs books stays light.

The reference is written directly from the closed forms (Black-76 on the bucket's forward,
discounted at the rate); it shares no code with the gateware's fixed-point model
(``quantgate.hdl.margin.model``), which is tested against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from quantgate import greeks as pricing

BOOK_DTYPE = np.dtype([("kind", "u1"), ("strike", "<f8"), ("expiry", "<f8"),
                       ("quantity", "<f8"), ("vol", "<f8"), ("bucket", "u1")])
CALL, PUT, FUTURE = 0, 1, 2
KINDS = (CALL, PUT, FUTURE)

N_STANDARD = 27  # 9 moves x (vol up, unchanged, down)
N_EXTENDED = 8  # extended moves, vol up only
N_SCENARIOS = N_STANDARD + N_EXTENDED
VOL_UP, VOL_SAME, VOL_DOWN = 0, 1, 2
VOL_NAMES = ("up", "same", "down")

# The pricing domain the shocked vols are clamped into, and the book domain (docs/margin.md 1.1)
VOL_MIN, VOL_MAX = pricing.SIGMA_MIN, pricing.SIGMA_MAX
EXPIRY_MAX = pricing.T_MAX
MONEYNESS_MIN, MONEYNESS_MAX = pricing.MONEYNESS_MIN, pricing.MONEYNESS_MAX
RATE_MIN, RATE_MAX = pricing.RATE_MIN, pricing.RATE_MAX
CURRENCIES = ("usd", "coin")
DAYS_PER_YEAR = 365.0
SHORT_TERM_DAYS = 30.0


@dataclass(frozen=True)
class MarginParams:
    """Deribit-style portfolio-margin parameters (defaults: its published BTC-USD model)."""

    price_range: float = 0.16
    vol_range_up: float = 0.50
    vol_range_down: float = 0.25
    min_vol_for_shock_up: float = 0.50
    short_term_vega_power: float = 0.30
    long_term_vega_power: float = 0.13
    mm_factor: float = 0.80
    extended_moves: tuple[float, ...] = field(
        default=(-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0))

    def __post_init__(self):
        object.__setattr__(self, "extended_moves", tuple(float(m) for m in self.extended_moves))
        for f in fields(self):
            if f.name == "extended_moves":
                continue
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"MarginParams.{f.name} must be a finite number, not {v!r}")
        if not 0 < self.price_range < 1:
            raise ValueError(f"MarginParams.price_range must be in (0, 1), not {self.price_range}")
        for name in ("vol_range_up", "vol_range_down", "min_vol_for_shock_up",
                     "short_term_vega_power", "long_term_vega_power"):
            if getattr(self, name) < 0:
                raise ValueError(f"MarginParams.{name} must be >= 0, not {getattr(self, name)}")
        if not 0 < self.mm_factor <= 1:
            raise ValueError(f"MarginParams.mm_factor must be in (0, 1], not {self.mm_factor}")
        em = self.extended_moves
        if len(em) != N_EXTENDED:
            raise ValueError(f"MarginParams.extended_moves must hold {N_EXTENDED} moves, "
                             f"not {len(em)}")
        for m in em:
            if not math.isfinite(m) or not -1 < m <= 5:
                raise ValueError(f"extended move {m!r} must be finite and in (-1, 5]")
            if abs(m) < self.price_range:
                raise ValueError(f"extended move {m!r} is inside the standard range "
                                 f"+-{self.price_range} (its weight price_range/|move| would "
                                 "exceed 1)")


@dataclass
class MarginReport:
    """The risk report of one revaluation (docs/margin.md section 1). Money in the book's
    currency (USD, or the coin for "coin"); the Greeks in USD terms in both currencies."""

    pnl: np.ndarray  # 35 scenario P&Ls in the grid's order
    scenarios: tuple[str, ...]
    initial: float
    maintenance: float
    worst_scenario: int
    delta: float
    gamma: float
    vega: float  # per 1.00 of vol
    theta: float  # -dV/dT per year
    clamped: int  # shocked vols clamped into [0.01, 5] (per option and shock)
    cycles: int | None = None  # device cycles (None for the reference)


# --------------------------------------------------------------------------- the grid


def scenario_grid(params: MarginParams | None = None):
    """(moves, vol codes, weights, labels) of the 35 scenarios, in the report's order."""
    p = params or MarginParams()
    std = [-p.price_range + k * p.price_range / 4 for k in range(9)]
    std[4] = 0.0  # exactly
    moves = [m for m in std for _ in range(3)] + list(p.extended_moves)
    vols = [VOL_UP, VOL_SAME, VOL_DOWN] * 9 + [VOL_UP] * N_EXTENDED
    weights = [1.0] * N_STANDARD + [p.price_range / abs(m) for m in p.extended_moves]
    labels = tuple(f"{100 * m:+g}% vol {VOL_NAMES[v]}" for m, v in zip(moves, vols, strict=True))
    return (np.array(moves), np.array(vols, dtype=np.int8), np.array(weights), labels)


def shocked_vols(vol, expiry, params: MarginParams | None = None):
    """Per position: (vol_up, vol_down, clamped_up, clamped_down), clamped into [0.01, 5]."""
    p = params or MarginParams()
    vol = np.asarray(vol, dtype=np.float64)
    dte = np.asarray(expiry, dtype=np.float64) * DAYS_PER_YEAR
    power = np.where(dte < SHORT_TERM_DAYS, p.short_term_vega_power, p.long_term_vega_power)
    f = (SHORT_TERM_DAYS / dte) ** power
    up = np.maximum(vol * (1 + p.vol_range_up * f), p.min_vol_for_shock_up)
    down = vol * (1 - p.vol_range_down * f)
    up_c, down_c = np.clip(up, VOL_MIN, VOL_MAX), np.clip(down, VOL_MIN, VOL_MAX)
    return up_c, down_c, up_c != up, down_c != down


# --------------------------------------------------------------------------- validation


def validate_book(book, capacity: int) -> np.ndarray:
    """Check a book (a BOOK_DTYPE array) and return it as a 1-D array; raise ValueError naming
    the first problem (field, position index, value)."""
    if not isinstance(book, np.ndarray) or book.dtype.names is None:
        raise ValueError(f"the book must be a NumPy structured array of BOOK_DTYPE "
                         f"{BOOK_DTYPE.descr}, not {type(book).__name__}")
    if set(book.dtype.names) != set(BOOK_DTYPE.names) or any(
            book.dtype[n] != BOOK_DTYPE[n] for n in BOOK_DTYPE.names):
        raise ValueError(f"the book has dtype {book.dtype.descr}; BOOK_DTYPE is "
                         f"{BOOK_DTYPE.descr}")
    if book.ndim != 1:
        raise ValueError(f"the book must be one-dimensional, not of shape {book.shape}")
    if len(book) > capacity:
        raise ValueError(f"the book has {len(book)} positions; the capacity is {capacity}")

    def fail(mask, what):
        bad = np.flatnonzero(mask)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"position {i}: {what} ({bad.size} of {len(book)} positions; "
                             f"record {book[i]})")

    fail(~np.isin(book["kind"], KINDS), "kind must be 0 (call), 1 (put) or 2 (future)")
    for name in ("strike", "expiry", "quantity", "vol"):
        fail(~np.isfinite(book[name]), f"{name} is not finite")
    opt = book["kind"] != FUTURE
    fail(opt & (book["strike"] <= 0), "an option's strike must be > 0")
    fail(opt & (book["expiry"] <= 0), "an option's expiry must be > 0 years")
    fail(opt & (book["expiry"] > EXPIRY_MAX), f"an option's expiry must be <= {EXPIRY_MAX} years")
    fail(opt & (book["vol"] <= 0), "an option's vol must be > 0")
    fail(opt & ((book["vol"] < VOL_MIN) | (book["vol"] > VOL_MAX)),
         f"an option's vol must be in the pricing domain [{VOL_MIN}, {VOL_MAX}]")
    return book


def validate_forwards(forwards, book=None) -> np.ndarray:
    """Check the forwards (one per bucket) against the book's buckets and moneyness; return
    them as a float64 array."""
    try:
        fw = np.asarray(forwards, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"forwards must be a sequence of numbers: {exc}") from None
    if fw.ndim != 1 or fw.size == 0:
        raise ValueError(f"forwards must be a non-empty 1-D sequence, not of shape {fw.shape}")
    for i, f in enumerate(fw):
        if not math.isfinite(f) or f <= 0:
            raise ValueError(f"forward of bucket {i} must be a positive finite number, not {f!r}")
    if book is not None and len(book):
        b = book["bucket"]
        missing = np.flatnonzero(b >= fw.size)
        if missing.size:
            i = int(missing[0])
            raise ValueError(f"position {i} is in bucket {int(b[i])}, which has no forward "
                             f"({fw.size} forwards given)")
        opt = np.flatnonzero(book["kind"] != FUTURE)
        m = fw[b[opt]] / book["strike"][opt]
        out = np.flatnonzero((m < MONEYNESS_MIN) | (m > MONEYNESS_MAX))
        if out.size:
            i = int(opt[out[0]])
            raise ValueError(f"position {i}: moneyness F/K = {float(m[out[0]])!r} is outside "
                             f"the book domain [{MONEYNESS_MIN}, {MONEYNESS_MAX}]")
    return fw


def validate_tick(rate: float, currency: str) -> None:
    if not isinstance(rate, (int, float, np.floating)) or not math.isfinite(rate) or not (
            RATE_MIN <= rate <= RATE_MAX):
        raise ValueError(f"rate = {rate!r} must be in the pricing domain [{RATE_MIN}, {RATE_MAX}]")
    if currency not in CURRENCIES:
        raise ValueError(f"currency must be one of {', '.join(CURRENCIES)}, not {currency!r}")


# --------------------------------------------------------------------------- the reference


def _black76(F, K, T, vol, r, put):
    """Black-76 price and its F-normalised Greeks (float64 closed forms, SciPy ndtr)."""
    from scipy.special import ndtr

    v = vol * np.sqrt(T)
    d1 = (np.log(F / K) + 0.5 * v * v) / v
    d2 = d1 - v
    w = np.where(put, -1.0, 1.0)
    disc = np.exp(-r * T)
    price = disc * w * (F * ndtr(w * d1) - K * ndtr(w * d2))
    dens = disc * np.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)  # e^-rT n(d1)
    return {
        "price": price,
        "delta": w * disc * ndtr(w * d1),
        "gamma": dens / (F * v),
        "vega": F * dens * np.sqrt(T),
        "theta": r * price - F * dens * vol / (2 * np.sqrt(T)),
    }


def reference_margin(book, forwards, *, rate: float = 0.0, params: MarginParams | None = None,
                     currency: str = "usd", capacity: int | None = None) -> MarginReport:
    """The float64 reference of docs/margin.md: revalue every position in every scenario."""
    p = params or MarginParams()
    book = validate_book(book, len(book) if capacity is None else capacity)
    fw = validate_forwards(forwards, book)
    validate_tick(rate, currency)
    moves, vcode, weights, labels = scenario_grid(p)

    kind = book["kind"]
    q = book["quantity"]
    F = fw[book["bucket"]] if len(book) else np.zeros(0)
    Fs = F[:, None] * (1 + moves[None, :])  # (N, 35)
    opt = kind != FUTURE
    fut = ~opt

    pnl_pos = np.zeros((len(book), N_SCENARIOS))
    greek = {k: np.zeros(len(book)) for k in ("delta", "gamma", "vega", "theta")}
    greek["delta"][fut] = 1.0
    if currency == "usd":
        pnl_pos[fut] = Fs[fut] - F[fut, None]
    else:
        pnl_pos[fut] = 1 - F[fut, None] / Fs[fut]
    clamped = 0
    if np.any(opt):
        K, T, vol = book["strike"][opt], book["expiry"][opt], book["vol"][opt]
        put = kind[opt] == PUT
        up, down, cu, cd = shocked_vols(vol, T, p)
        clamped = int(np.sum(cu) + np.sum(cd))
        sig = np.select([vcode[None, :] == VOL_UP, vcode[None, :] == VOL_DOWN],
                        [up[:, None], down[:, None]], vol[:, None])
        base = _black76(F[opt], K, T, vol, rate, put)
        scen = _black76(Fs[opt], K[:, None], T[:, None], sig, rate, put[:, None])["price"]
        if currency == "usd":
            pnl_pos[opt] = scen - base["price"][:, None]
        else:
            pnl_pos[opt] = scen / Fs[opt] - (base["price"] / F[opt])[:, None]
        for k in greek:
            greek[k][opt] = base[k]
    pnl = q @ pnl_pos if len(book) else np.zeros(N_SCENARIOS)
    loss = -weights * pnl
    worst = int(np.argmax(loss))
    im = max(0.0, float(loss[worst]))
    return MarginReport(
        pnl=pnl, scenarios=labels, initial=im, maintenance=p.mm_factor * im,
        worst_scenario=worst, delta=float(q @ greek["delta"]), gamma=float(q @ greek["gamma"]),
        vega=float(q @ greek["vega"]), theta=float(q @ greek["theta"]), clamped=clamped,
        cycles=None)


def gross_notional(book, forwards, currency: str = "usd") -> float:
    """The error unit of docs/margin.md section 7: sum |qty| * F (usd) or sum |qty| (coin)."""
    q = np.abs(np.asarray(book["quantity"], dtype=np.float64))
    if currency == "coin":
        return float(q.sum())
    return float(q @ np.asarray(forwards, dtype=np.float64)[book["bucket"]])
