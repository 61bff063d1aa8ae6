"""Independent float64 reference for Black-Scholes-Merton (carry q) and Black-76 Greeks.

Closed forms with ``scipy.special.ndtr`` (relative accuracy in both tails), plus an mpmath
version at 50 digits for spot checks of the float64 one. The fixed-point model is tested against
these, never against itself. Units as in docs/numerics.md: vega per 1.00 of vol, theta = -dV/dT
per year, rho = dV/dr per 1.00 of rate (Black-76: with the forward F held fixed, = -T V).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def greeks_ref(spot, strike, expiry, rate, carry, vol, call=True, model="bsm"):
    """float64 price, delta, gamma, vega, theta, rho (arrays broadcast).

    bsm: spot S with continuous carry (dividend / foreign rate) q = ``carry``.
    black76: ``spot`` is the forward F, ``carry`` is ignored; delta and gamma are w.r.t. F.
    """
    S, K, T, r, q, sig = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                              for v in (spot, strike, expiry, rate, carry, vol)))
    w = np.where(np.broadcast_to(np.asarray(call, dtype=bool), S.shape), 1.0, -1.0)
    if model == "black76":
        q = r  # F e^-rT N(d1) - K e^-rT N(d2): the BSM formulas with q = r, b = 0
    elif model != "bsm":
        raise ValueError(f"unknown model {model!r}")
    sq = np.sqrt(T)
    v = sig * sq
    d1 = (np.log(S / K) + (r - q) * T) / v + 0.5 * v
    d2 = d1 - v
    dq = np.exp(-q * T)
    dr = np.exp(-r * T)
    n1 = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    nd1 = ndtr(w * d1)
    nd2 = ndtr(w * d2)
    price = w * (S * dq * nd1 - K * dr * nd2)
    delta = w * dq * nd1
    gamma = dq * n1 / (S * v)
    vega = S * dq * n1 * sq
    theta = -S * dq * n1 * sig / (2.0 * sq) - w * r * K * dr * nd2 + w * q * S * dq * nd1
    rho = -T * price if model == "black76" else w * K * T * dr * nd2
    return {"price": price, "delta": delta, "gamma": gamma, "vega": vega, "theta": theta,
            "rho": rho}


def greeks_mp(spot, strike, expiry, rate, carry, vol, call=True, model="bsm", dps=50):
    """The same closed forms for one option in mpmath (``dps`` digits); returns floats."""
    import mpmath as mp

    with mp.workdps(dps):
        S, K, T, r, q, sig = (mp.mpf(v) for v in (spot, strike, expiry, rate, carry, vol))
        if model == "black76":
            q = r
        w = 1 if call else -1
        sq = mp.sqrt(T)
        v = sig * sq
        d1 = (mp.log(S / K) + (r - q) * T) / v + v / 2
        d2 = d1 - v
        dq, dr = mp.exp(-q * T), mp.exp(-r * T)
        n1 = mp.npdf(d1)
        nd1, nd2 = mp.ncdf(w * d1), mp.ncdf(w * d2)
        price = w * (S * dq * nd1 - K * dr * nd2)
        out = {
            "price": price,
            "delta": w * dq * nd1,
            "gamma": dq * n1 / (S * v),
            "vega": S * dq * n1 * sq,
            "theta": -S * dq * n1 * sig / (2 * sq) - w * r * K * dr * nd2 + w * q * S * dq * nd1,
            "rho": -T * price if model == "black76" else w * K * T * dr * nd2,
        }
        return {k: float(v) for k, v in out.items()}
