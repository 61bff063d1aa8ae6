#!/usr/bin/env python3
"""Greeks throughput: the software peer, the simulated appliance, the UART, the FPGA core's fmax.

Usage::

    .venv/bin/python bench/greeks_bench.py                 # everything below
    .venv/bin/python bench/greeks_bench.py --skip-sim      # no simulated appliance

* software: the float64 closed forms (NumPy + SciPy ``ndtr``, hdl/pricing/reference.py) on one
  core, vectorised over ``--n`` options (all six outputs), and the bit-exact integer model;
* sim: ``Appliance.greeks_batch`` against ``sim://`` (the Verilated appliance, wall clock);
* uart: options/s a 3 Mbaud link carries, from the encoded sizes of full GREEKS frames
  (the line is full duplex, so the larger direction, the results, is the limit);
* fpga: the fmax and resources nextpnr reports for the pipeline alone
  (``bench/synth_core.py quantgate.hdl.pricing.pipeline:GreeksPipeline --name greeks``,
  read from build/synth/greeks/summary.json when it exists). That fmax bounds the pipeline's
  clock; it is not a rate of the appliance, whose link feeds the pipeline one byte per clock
  (bench/greeks_engine.py measures that path; ``quantgate bench`` reports the rate).

Results go to bench/results/greeks.json.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core (NumPy's elementwise ops are serial anyway)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from quantgate import greeks as gk  # noqa: E402
from quantgate import wire  # noqa: E402
from quantgate.host.peers import best_of, cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
UART_BAUD = 3_000_000


def options(n: int, seed: int = 1) -> dict:
    from quantgate.hdl.pricing.model import sample_domain

    s = sample_domain(n, np.random.default_rng(seed))
    s.pop("b76")
    return s


def bench_software(n: int) -> dict:
    from quantgate.hdl.pricing import model as md
    from quantgate.hdl.pricing.reference import greeks_ref

    s = options(n)
    t_ref = best_of(lambda: greeks_ref(model="bsm", **s), 3)
    m = min(n, 200_000)
    small = {k: v[:m] for k, v in s.items()}
    t_model = best_of(lambda: md.greeks_fixed(model="bsm", **small), 2)
    return {
        "numpy_scipy_float64_options_per_s": n / t_ref,
        "numpy_scipy_float64_n": n,
        "bit_exact_model_options_per_s": m / t_model,
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def frame_sizes() -> dict:
    """Encoded bytes on the wire of full GREEKS frames (COBS + delimiter, with real data)."""
    from quantgate.hdl.pricing import model as md
    from quantgate.host import codec

    s = options(gk.MAX_OPTIONS * 50, seed=3)
    ints = md.host_normalise(s["spot"], s["strike"], s["expiry"], s["rate"], s["carry"],
                             s["vol"], "bsm")
    req, res = [], []
    for k in range(50):
        sl = slice(k * gk.MAX_OPTIONS, (k + 1) * gk.MAX_OPTIONS)
        cols = [c[sl] for c in ints]
        payload = gk.encode_request("bsm", *cols, ~s["call"][sl])
        req.append(len(codec.encode_request(wire.Op.GREEKS, k, payload)))
        out = md.pipeline(*cols, s["call"][sl], False)
        rec = np.zeros(gk.MAX_OPTIONS, dtype=gk.RESULT_DTYPE)
        for name in gk.OUTPUTS:
            rec[name] = out[name]
        res.append(len(codec.encode_frame(wire.Op.GREEKS | 0x80, k, rec.tobytes())))
    return {"request_frame_bytes": max(req), "result_frame_bytes": max(res),
            "options_per_frame": gk.MAX_OPTIONS}


def bench_uart(sizes: dict) -> dict:
    bytes_per_s = UART_BAUD / 10  # start + 8 data + stop bits
    worst = max(sizes["request_frame_bytes"], sizes["result_frame_bytes"])
    return {"baud": UART_BAUD,
            "options_per_s": bytes_per_s / worst * sizes["options_per_frame"]}


def bench_sim(n: int) -> dict:
    from quantgate.host import OPTIONS_DTYPE, Appliance
    from quantgate.sim.serve import SIM_CLOCK_HZ, SIM_DIVISOR

    s = options(n, seed=5)
    arr = np.zeros(n, dtype=OPTIONS_DTYPE)
    for k in arr.dtype.names:
        arr[k] = s[k]
    with Appliance.open("sim://") as dev:
        dev.greeks_batch(arr[:40])  # warm up
        t0 = time.perf_counter()
        dev.greeks_batch(arr)
        wall = time.perf_counter() - t0
    return {"options": n, "wall_s": wall, "options_per_s": n / wall,
            "sim_uart_baud": SIM_CLOCK_HZ // SIM_DIVISOR}


def fpga_synthesis() -> dict:
    path = ROOT / "build" / "synth" / "greeks" / "summary.json"
    if not path.exists():
        return {}
    summary = json.loads(path.read_text())
    fmax = min(summary["fmax_mhz"].values()) if summary["fmax_mhz"] else None
    return {"fmax_mhz": fmax, "mult18x18d": summary["mult18x18d"], "lut4": summary["lut4_equiv"],
            "ff": summary["ff"], "dp16kd": summary["dp16kd"], "command": summary["command"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="options for the software peer")
    ap.add_argument("--sim-n", type=int, default=2000, help="options through sim://")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "greeks.json"))
    args = ap.parse_args(argv)

    res = {"software": bench_software(args.n)}
    sizes = frame_sizes()
    res["frames"] = sizes
    res["uart"] = bench_uart(sizes)
    if not args.skip_sim:
        res["sim"] = bench_sim(args.sim_n)
    res["fpga"] = fpga_synthesis()
    res["command"] = "python bench/greeks_bench.py " + " ".join(argv or [])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
