"""Greeks: the pricing domain, the Q48 host normalisation and the GREEKS wire layout.

Shared by the gateware side (hdl/pricing: the device's range check uses the same bounds) and
the host driver (validation, normalisation, request packing and result scaling). Pure NumPy:
no Amaranth, no host or hdl import. docs/numerics.md explains the formats, docs/protocol.md the
GREEKS command.

The device takes five Q48 integers per option: x = ln(S/K) (Black-76: ln(F/K)), T, sigma, r
and q, and returns six Q48 integers normalised by the spot (the forward for Black-76):
price/S, delta, gamma*S, vega/S, theta/S and rho/(S*T).
"""

from __future__ import annotations

import math

import numpy as np

from quantgate import wire

FIN = 48  # fractional bits of the five inputs: int64 * 2**-48
FOUT = 48  # fractional bits of the six outputs: int64 * 2**-48
OUTPUTS = ("price", "delta", "gamma", "vega", "theta", "rho")
INPUTS = ("spot", "strike", "expiry", "rate", "carry", "vol")

# Domain: S/K in [0.2, 5], T in [1 hour, 3 years], sigma in [1%, 500%], r and q in
# [-5%, +50%]. One hour is taken in the longest common convention (366-day year), so every
# day-count's "one hour" is accepted.
MONEYNESS_MIN, MONEYNESS_MAX = 0.2, 5.0
T_MIN, T_MAX = 1.0 / (366 * 24), 3.0
SIGMA_MIN, SIGMA_MAX = 0.01, 5.0
RATE_MIN, RATE_MAX = -0.05, 0.50

MODELS = {"bsm": 0, "black76": 1}  # the request's model byte


def q_in(value: float) -> int:
    """Round a real to the Q48 input format exactly as the host driver does (np.rint)."""
    return int(np.rint(np.float64(value) * 2.0**FIN))


# Device-side bounds, inclusive, in Q48 integers. The host rounds with the same np.rint, so a
# float input inside the domain always lands inside these bounds (rint is monotonic).
X_LIM = q_in(math.log(MONEYNESS_MAX))  # |x| <= X_LIM; log(0.2) = -log(5) up to one ulp
X_MIN_FX = min(q_in(math.log(MONEYNESS_MIN)), -X_LIM)
X_MAX_FX = X_LIM
T_MIN_FX, T_MAX_FX = q_in(T_MIN), q_in(T_MAX)
SIGMA_MIN_FX, SIGMA_MAX_FX = q_in(SIGMA_MIN), q_in(SIGMA_MAX)
RATE_MIN_FX, RATE_MAX_FX = q_in(RATE_MIN), q_in(RATE_MAX)

# --------------------------------------------------------------------------- wire layout

FLAG_PUT = 0x01  # option flags byte: bit 0 = put; bits 1..7 reserved (send 0)
STATUS_OK = 0  # per-option result status
STATUS_DOMAIN = 1  # an input is outside the device's bounds; the six values are 0

# Request payload: model u8, then n options of OPTION_DTYPE. Result payload: n RESULT_DTYPE.
OPTION_DTYPE = np.dtype([("x", "<i8"), ("T", "<i8"), ("sigma", "<i8"), ("r", "<i8"),
                         ("q", "<i8"), ("flags", "u1")])
RESULT_DTYPE = np.dtype([("status", "u1")] + [(k, "<i8") for k in OUTPUTS])
OPTION_BYTES = OPTION_DTYPE.itemsize  # 41
RESULT_BYTES = RESULT_DTYPE.itemsize  # 49
MAX_OPTIONS = min((wire.MAX_PAYLOAD - 1) // OPTION_BYTES, wire.MAX_PAYLOAD // RESULT_BYTES)  # 20


def request_length(n: int) -> int:
    return 1 + OPTION_BYTES * n


def result_length(n: int) -> int:
    return RESULT_BYTES * n


# --------------------------------------------------------------------------- host side

_DOMAIN_TEXT = {
    "spot/strike": f"[{MONEYNESS_MIN:g}, {MONEYNESS_MAX:g}]",
    "expiry": f"[{T_MIN:.9g}, {T_MAX:g}] years (one hour to three years)",
    "vol": f"[{SIGMA_MIN:g}, {SIGMA_MAX:g}]",
    "rate": f"[{RATE_MIN:g}, {RATE_MAX:g}]",
    "carry": f"[{RATE_MIN:g}, {RATE_MAX:g}]",
}


def _checks(spot, strike, expiry, rate, carry, vol, model):
    """(field, ok mask, domain text) in the order the driver reports them."""
    with np.errstate(all="ignore"):
        yield "spot", np.isfinite(spot) & (spot > 0), "a positive finite number"
        yield "strike", np.isfinite(strike) & (strike > 0), "a positive finite number"
        m = spot / strike
        yield ("spot/strike", (m >= MONEYNESS_MIN) & (m <= MONEYNESS_MAX),
               _DOMAIN_TEXT["spot/strike"])
        yield "expiry", (expiry >= T_MIN) & (expiry <= T_MAX), _DOMAIN_TEXT["expiry"]
        yield "vol", (vol >= SIGMA_MIN) & (vol <= SIGMA_MAX), _DOMAIN_TEXT["vol"]
        yield "rate", (rate >= RATE_MIN) & (rate <= RATE_MAX), _DOMAIN_TEXT["rate"]
        if model == "bsm":
            yield "carry", (carry >= RATE_MIN) & (carry <= RATE_MAX), _DOMAIN_TEXT["carry"]


def check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    return model


def domain_mask(spot, strike, expiry, rate, carry, vol, model="bsm") -> np.ndarray:
    """True where the float inputs are inside the domain (Black-76 ignores carry)."""
    check_model(model)
    arrs = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                 for v in (spot, strike, expiry, rate, carry, vol)))
    ok = np.ones(arrs[0].shape, dtype=bool)
    for _, good, _ in _checks(*arrs, model):
        ok &= good
    return ok


def check_domain(spot, strike, expiry, rate, carry, vol, model="bsm") -> None:
    """Raise ValueError naming the first field outside the domain (and the option's index
    when the inputs are arrays)."""
    check_model(model)
    arrs = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                 for v in (spot, strike, expiry, rate, carry, vol)))
    values = dict(zip(INPUTS, arrs, strict=True))
    for field, good, text in _checks(*arrs, model):
        if not np.all(good):
            bad = np.flatnonzero(~np.ravel(good))
            i = int(bad[0])
            if field == "spot/strike":
                val = float(np.ravel(values["spot"])[i] / np.ravel(values["strike"])[i])
            else:
                val = float(np.ravel(values[field])[i])
            where = f" (option {i}; {len(bad)} of {good.size} options)" if arrs[0].ndim else ""
            raise ValueError(f"{field} = {val!r} is outside the pricing domain: it must be "
                             f"{'in ' if text.startswith('[') else ''}{text}{where}")


def normalise(spot, strike, expiry, rate, carry, vol, model="bsm"):
    """float64 -> the five Q48 integers the device takes (x = ln(S/K), T, sigma, r, q).
    Black-76 sends q = r (the device ignores q there)."""
    sc = 2.0**FIN
    spot, strike = np.asarray(spot, dtype=np.float64), np.asarray(strike, dtype=np.float64)
    with np.errstate(all="ignore"):
        x = np.log(spot / strike)
    q = rate if model == "black76" else carry
    return tuple(np.rint(np.asarray(v, dtype=np.float64) * sc).astype(np.int64)
                 for v in (x, expiry, vol, rate, q))


def scale(out, spot, expiry) -> dict[str, np.ndarray]:
    """Q48 spot-normalised device outputs -> Greeks in the units of docs/numerics.md:
    vega per 1.00 of vol, theta = -dV/dT per year, rho per 1.00 of rate."""
    u = 2.0**-FOUT
    f = {k: np.asarray(out[k]).astype(np.float64) * u for k in OUTPUTS}
    return {
        "price": f["price"] * spot,
        "delta": f["delta"],
        "gamma": f["gamma"] / spot,
        "vega": f["vega"] * spot,
        "theta": f["theta"] * spot,
        "rho": f["rho"] * spot * expiry,
    }


def encode_request(model: str, x, T, sigma, r, q, put) -> bytes:
    """GREEKS request payload: the model byte and up to MAX_OPTIONS option records."""
    recs = np.zeros(np.shape(x), dtype=OPTION_DTYPE).ravel()
    if not 1 <= len(recs) <= MAX_OPTIONS:
        raise ValueError(f"a GREEKS request carries 1 to {MAX_OPTIONS} options, not {len(recs)}")
    for name, v in (("x", x), ("T", T), ("sigma", sigma), ("r", r), ("q", q)):
        recs[name] = np.ravel(v)
    recs["flags"] = np.where(np.ravel(put), FLAG_PUT, 0)
    return bytes([MODELS[check_model(model)]]) + recs.tobytes()


def decode_result(payload: bytes, n: int) -> np.ndarray:
    """GREEKS result payload -> structured array (status, six Q48 int64)."""
    if len(payload) != result_length(n):
        raise ValueError(f"GREEKS result of {len(payload)} bytes for {n} options "
                         f"(expected {result_length(n)})")
    return np.frombuffer(payload, dtype=RESULT_DTYPE, count=n)
