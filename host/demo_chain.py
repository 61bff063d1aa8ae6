"""`quantgate demo`, pricing part: a BTC option chain priced on the appliance beside the float64
reference (Black-76 on the same-expiry future, the Deribit convention)."""

import time

import numpy as np

from quantgate import greeks as gk

EXPIRIES = {"1d": 1 / 365, "1w": 7 / 365, "1m": 30 / 365, "3m": 91 / 365, "6m": 182 / 365,
            "1y": 1.0, "2y": 2.0}
FORWARD = 95_000.0
RATE = 0.04


def btc_chain():
    """Strikes from 40% to 250% of the forward, a vol smile that is steeper for short expiries,
    calls and puts: several hundred options."""
    rows = []
    for t in EXPIRIES.values():
        for m in np.concatenate([np.linspace(0.4, 0.9, 6), np.linspace(0.92, 1.1, 10),
                                 np.linspace(1.2, 2.5, 8)]):
            strike = round(FORWARD * m / 500) * 500
            k = np.log(strike / FORWARD)
            vol = 0.52 + (0.9 * k * k - 0.12 * k) / np.sqrt(max(t, 7 / 365) * 4)
            for call in (True, False):
                rows.append((FORWARD, strike, t, RATE, 0.0, min(vol, 4.0), call))
    dtype = [(name, "f8") for name in gk.INPUTS] + [("call", "?")]
    return np.array(rows, dtype=dtype)


def normalised_errors(chain, got, ref):
    """Errors in the units the accuracy targets use (docs/numerics.md)."""
    s, k, t = chain["spot"], chain["strike"], chain["expiry"]
    scale = {"price": np.maximum(s, k), "delta": 1.0, "gamma": 1.0 / s, "vega": s,
             "theta": np.maximum(s, k), "rho": k * t}
    return {name: float(np.max(np.abs(got[name] - ref[name]) / scale[name]))
            for name in gk.OUTPUTS}


def run(dev, out):
    chain = btc_chain()
    start = time.perf_counter()
    got = dev.greeks_batch(chain, model="black76")
    elapsed = time.perf_counter() - start
    summary = {"options": len(chain), "seconds": elapsed, "options_per_s": len(chain) / elapsed}
    try:  # the float64 reference needs SciPy (a development dependency)
        from quantgate.hdl.pricing.reference import greeks_ref
    except ImportError:
        greeks_ref = None
    if greeks_ref is not None:
        ref = greeks_ref(chain["spot"], chain["strike"], chain["expiry"], chain["rate"],
                         chain["carry"], chain["vol"], chain["call"], model="black76")
        summary["max_error"] = normalised_errors(chain, got, ref)
    if out is None:
        return summary
    print(f"\nBTC option chain, Black-76 on F = {FORWARD:,.0f}, r = {RATE:.0%}: {len(chain)} "
          f"options in {elapsed:.2f} s through the appliance", file=out)
    print(f"  {'expiry':>6} {'strike':>8} {'vol':>6}  {'call':>10} {'delta':>8} {'gamma':>10} "
          f"{'vega':>10} {'theta/day':>10} {'rho':>10}", file=out)
    for label, t in EXPIRIES.items():
        pick = np.flatnonzero((chain["expiry"] == t) & chain["call"])
        atm = pick[np.argmin(np.abs(chain["strike"][pick] - FORWARD))]
        for j in (pick[3], atm, pick[-3]):
            g = got[j]
            print(f"  {label:>6} {chain['strike'][j]:8,.0f} {chain['vol'][j]:6.1%}  "
                  f"{g['price']:10,.2f} {g['delta']:8.4f} {g['gamma']:10.3e} {g['vega']:10,.1f} "
                  f"{g['theta'] / 365:10,.2f} {g['rho']:10,.1f}", file=out)
    if "max_error" in summary:
        err = summary["max_error"]
        print("  largest error vs float64 (price/max(F,K), delta, gamma*F, vega/F, "
              "theta/max(F,K), rho/(K*T)):", file=out)
        print("   " + "  ".join(f"{k} {v:.1e}" for k, v in err.items()), file=out)
    return summary
