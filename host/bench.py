"""``quantgate bench``: the benchmark report, ``bench/results.md`` and ``bench/results.json``.

    quantgate bench [--quick] [--out DIR] [--json] [--url URL] [--n N]

Every device figure is what the appliance as built sustains, at the clock its bitstream runs
at (the PLL clock of the full appliance's build report; 100 MHz appears only as a column
labelled "not built"):

* **signing**: cycles per signature from the TIMING counters of a run against the simulated
  full appliance (``bench/results/sign_timing.json``, written by
  ``python bench/sign_timing.py --url sim://``), or with ``--url`` from a device's TIMING in
  this run; the device's min and max are compared, not assumed equal;
* **Greeks**: clocks per option of the GREEKS engine through its real input path, the link
  core fed one byte per clock (``bench/results/greeks_engine.json``, written by
  ``python bench/greeks_engine.py``), and what the 3 Mbaud line carries; the whole appliance
  sustains the lower of the two;
* **resources and fmax** from the build report (``build/ulx3s-85f/report.json``, else the
  committed ``bench/results/build_ulx3s-85f.json``); the routed fmax is the timing margin, not
  the clock the figures use;
* the **software peers measured in this run on this machine** (PyNaCl, coincurve,
  cryptography; NumPy + SciPy float64 Greeks), with ratios in time (operations per second);
* **what others reach**: published figures (ANCHORS, from docs/references.md), compared in time;
  an anchor given only in cycles gets no ratio.

Inputs that do not exist are reported as "not measured" together with the command that
produces them. ``--quick`` measures the peers with small counts (for tests); a full run takes
well under a minute on one core.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from quantgate import wire

__all__ = ["ANCHORS", "PEERS", "collect", "device_sign_timing", "main", "measure_greeks_peer",
           "measure_signing_peers", "render_markdown", "run"]

from .bench_markdown import render_markdown
from .bench_settings import (
    ANCHORS,
    ANCHORS_SOURCE,
    ARITH_UNITS,
    BENCH_SLOT,
    CURVES,
    DESIGN_MHZ,
    GREEKS_LATENCY_CYCLES,
    GREEKS_MAX_ERRORS,
    INPUTS,
    OOC,
    PEER_MESSAGE_BYTES,
    RECORDED,
    ROOT,
    SIGN_ENGINES,
    SIGN_KEYS,
    SIGN_MESSAGES,
    UART_BAUD,
)
from .peers import PEERS, _load_average, cpu_name, measure_greeks_peer, measure_signing_peers  # noqa: F401

# -- inputs --------------------------------------------------------------------------------------


def _read_json(path: Path) -> tuple[Any, str]:
    if not path.exists():
        return None, "missing"
    try:
        return json.loads(path.read_text()), "read"
    except (OSError, ValueError) as exc:
        return None, f"unreadable: {exc}"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _min_fmax(value) -> float | None:
    if isinstance(value, dict):
        vals = [_min_fmax(v) for v in value.values()]
        vals = [v for v in vals if v]
        return min(vals) if vals else None
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    return None


def _ooc_record(data: dict, source: str) -> dict | None:
    """One out-of-context figure from synth_core's summary.json, synth_arith's JSON, or the
    "fpga" part of greeks.json."""
    if "fpga" in data and isinstance(data["fpga"], dict):  # greeks.json
        data = data["fpga"]
        fmax = _min_fmax(data.get("fmax_mhz"))
        res = {k: data.get(k) for k in ("mult18x18d", "lut4", "ff", "dp16kd")}
    else:
        fmax = _min_fmax(data.get("fmax_mhz"))
        util = data.get("nextpnr_utilization") or {}
        res = {"lut4": data.get("lut4_equiv", util.get("TRELLIS_COMB")),
               "ff": data.get("ff", util.get("TRELLIS_FF")),
               "mult18x18d": data.get("mult18x18d", util.get("MULT18X18D")),
               "dp16kd": data.get("dp16kd", util.get("DP16KD"))}
    if fmax is None:
        return None
    return {"fmax_mhz": round(fmax, 2), **res, "mode": "out-of-context", "source": source,
            "command": data.get("command")}


def _bench_message(curve: str, key: int, n: int) -> bytes:
    """What the TIMING run signs: Ed25519 a PEER_MESSAGE_BYTES order, ECDSA a SHA-256 digest;
    different for every (key, n), one length per curve."""
    text = f"quantgate bench order {key}.{n}".encode()
    return hashlib.shake_256(text).digest(PEER_MESSAGE_BYTES) if curve == "ed25519" \
        else hashlib.sha256(text).digest()


def device_sign_timing(url: str, timeout: float | None = None) -> dict:
    """Cycles per signature from a device's TIMING counters: for every curve INFO lists,
    SIGN_KEYS throw-away keys loaded into BENCH_SLOT, each signing SIGN_MESSAGES messages of one
    length (Ed25519: PEER_MESSAGE_BYTES bytes); after each signature TIMING's last_cycles, at the
    end its count, min and max since reset. BENCH_SLOT is ZEROIZEd afterwards."""
    from .appliance import Appliance

    options = {} if timeout is None else {"timeout": timeout}
    curves = {}
    with Appliance.open(url, **options) as dev:
        info = dev.info()
        try:
            for curve in CURVES:
                if curve not in info["cores"]:
                    continue
                each = []
                for key in range(SIGN_KEYS):
                    secret = hashlib.sha256(f"quantgate bench {curve} key {key}".encode()).digest()
                    dev.load_key(BENCH_SLOT, curve, secret)
                    for n in range(SIGN_MESSAGES):
                        dev.sign(BENCH_SLOT, _bench_message(curve, key, n), curve=curve)
                        each.append(dev.timing()["sign"][curve]["last_cycles"])
                rec = dev.timing()["sign"][curve]
                curves[curve] = {"cycles_each": each, "count": rec["count"],
                                 "min_cycles": rec["min_cycles"], "max_cycles": rec["max_cycles"],
                                 "message_bytes": len(_bench_message(curve, 0, 0))}
        finally:
            dev.zeroize(BENCH_SLOT)
    return {"url": url, "clock_hz": info.get("clock_hz"),
            "gateware_version": info.get("gateware_version"), "cores": info.get("cores"),
            "curves": curves}


def _sign_cycles(timing: dict, source: str) -> dict:
    """Per curve: the cycles the rates use (the most any signature of this run took) and the
    device's min and max since reset, compared."""
    out = {}
    for curve in CURVES:
        rec = (timing.get("curves") or {}).get(curve)
        if not rec or not rec.get("cycles_each"):
            continue
        lo, hi = rec.get("min_cycles"), rec.get("max_cycles")
        out[curve] = {"status": "measured", "source": source,
                      "cycles": max(rec["cycles_each"]), "cycles_each": rec["cycles_each"],
                      "message_bytes": rec.get("message_bytes"), "engines": SIGN_ENGINES,
                      "device_count": rec.get("count"), "device_min_cycles": lo,
                      "device_max_cycles": hi,
                      "device_min_equals_max": lo == hi if lo is not None and hi is not None
                      else None}
    return out


# -- frames on the wire --------------------------------------------------------------------------


def _wire_bytes(op: int, payload_len: int, response: bool) -> int:
    """Encoded size on the wire (COBS worst case: no zero byte in the data, + delimiter)."""
    from .codec import encode_frame

    return len(encode_frame(op | (wire.RESPONSE_FLAG if response else 0), 0x0101,
                            b"\xff" * payload_len))


def frame_sizes() -> dict:
    sizes = {}
    for curve in CURVES:
        msg = PEER_MESSAGE_BYTES if curve == "ed25519" else wire.ECDSA_DIGEST_LEN
        sig = wire.ED25519_SIGNATURE_LEN if curve == "ed25519" else wire.ECDSA_SIGNATURE_LEN
        sizes[curve] = {"request_bytes": _wire_bytes(wire.Op.SIGN, 1 + msg, False),
                        "response_bytes": _wire_bytes(wire.Op.SIGN, 1 + sig, True),
                        "per_frame": 1}
    from quantgate import greeks as gk

    n = gk.MAX_OPTIONS
    sizes["greeks"] = {"request_bytes": _wire_bytes(wire.Op.GREEKS, 1 + gk.OPTION_BYTES * n,
                                                    False),
                       "response_bytes": _wire_bytes(wire.Op.GREEKS, gk.RESULT_BYTES * n, True),
                       "per_frame": n, "option_bytes": gk.OPTION_BYTES,
                       "result_bytes": gk.RESULT_BYTES}
    return sizes


def _uart_rate(size: dict, baud: int) -> float:
    """Operations/s a full-duplex UART carries (8N1: 10 bits per byte): the larger direction."""
    return baud / 10 / max(size["request_bytes"], size["response_bytes"]) * size["per_frame"]


# -- the report ----------------------------------------------------------------------------------


def _ratio(a, b):
    return a / b if a and b else None


def _per_s(mhz, cycles, engines=1):
    """Operations/s of `engines` engines taking `cycles` clocks each at `mhz` (None if either
    is unknown)."""
    return mhz * 1e6 / cycles * engines if mhz and cycles else None


def _us(cycles, mhz):
    return cycles / mhz if cycles and mhz else None


def _clock(build: dict | None, build_command: str) -> dict:
    """The clock the device figures use: the PLL clock of a full appliance build that met
    timing; the routed fmax if timing failed (a bitstream forced out with
    --allow-timing-failure is not reliable above it); none without a full build."""
    if build is None or build["engines"] != "default":
        return {"mhz": None, "kind": "no build report of the full appliance",
                "produced_by": build_command, "fmax_mhz": None, "timing": None}
    pll = build["pll_mhz"]
    clock = {"pll_mhz": pll, "fmax_mhz": build["fmax_mhz"], "timing": build["timing"],
             "source": build["source"], "command": build["command"],
             "produced_by": build_command}
    if build["timing"] == "PASS":
        return {"mhz": pll, "kind": "the PLL clock of the full appliance build", **clock}
    known = [v for v in (pll, build["fmax_mhz"]) if v]
    return {"mhz": min(known) if known else None,
            "kind": "the routed fmax of a full appliance build that failed timing at its PLL "
                    "clock", **clock}


def collect(*, root: Path = ROOT, quick: bool = False, n_sign: int | None = None,
            n_options: int | None = None, url: str | None = None,
            timeout: float | None = None, progress=None) -> dict:
    """Measure the peers and assemble the report (a JSON-able dict)."""

    def say(text):
        if progress is not None:
            progress(text)

    t_start = time.perf_counter()
    n_sign = n_sign or (300 if quick else 20_000)
    n_options = n_options or (20_000 if quick else 1_000_000)
    n_latency = 300 if quick else 5000

    # inputs
    inputs, data = {}, {}
    for name, (rel, cmd) in INPUTS.items():
        data[name], status = _read_json(root / rel)
        if status == "missing" and name in RECORDED:
            rel = RECORDED[name]
            data[name], status = _read_json(root / rel)
        inputs[name] = {"path": rel, "status": status, "produced_by": cmd}

    # resources and the clock
    cores = {}
    for core, (paths, cmd) in OOC.items():
        for rel in paths:
            d, status = _read_json(root / rel)
            rec = _ooc_record(d, rel) if isinstance(d, dict) else None
            if rec is not None:
                cores[core] = rec
                break
        else:
            cores[core] = {"status": "not measured", "produced_by": cmd}
    arith = []
    for path in sorted(root.glob(ARITH_UNITS)):
        d, _ = _read_json(path)
        rec = _ooc_record(d, _rel(path, root)) if isinstance(d, dict) else None
        if rec is not None:
            arith.append({"unit": d.get("unit", path.stem), **rec})

    report = data["build_report"] if isinstance(data["build_report"], dict) else None
    build = None
    if report is not None:
        sync = (report.get("fmax") or {}).get("sync") or {}
        build = {"engines": report.get("engines"), "cores": report.get("cores"),
                 "fmax_mhz": sync.get("achieved_mhz"),
                 "pll_mhz": (report.get("pll") or {}).get("fout_mhz") or report.get("target_mhz"),
                 "timing": report.get("timing"), "resources": report.get("resources"),
                 "source": inputs["build_report"]["path"], "command": report.get("command")}
    clock = _clock(build, INPUTS["build_report"][1])
    mhz = clock["mhz"]

    # cycles
    if url is not None:
        say(f"cycles: signing on {url} and reading TIMING")
        sign = _sign_cycles(device_sign_timing(url, timeout), f"device TIMING ({url}), this run")
    elif isinstance(data["sign_timing"], dict):
        recorded = data["sign_timing"]
        sign = _sign_cycles(recorded, f"`{inputs['sign_timing']['path']}` (TIMING of "
                                      f"{recorded.get('url', 'a device')}, by "
                                      f"`{recorded.get('command', INPUTS['sign_timing'][1])}`)")
    else:
        sign = {}
    for curve in CURVES:
        sign.setdefault(curve, {"status": "not measured", "cycles": None,
                                "produced_by": INPUTS["sign_timing"][1]})
    ecc = (data["ecc_cycles"] or {}).get("curves", {}) if isinstance(data["ecc_cycles"],
                                                                     dict) else {}
    basemul = {}
    for curve in CURVES:
        b = ecc.get(curve, {}).get("cycles")
        basemul[curve] = {"cycles": b, "status": "measured" if b else "not measured",
                          "source": INPUTS["ecc_cycles"][0] if b else None,
                          "produced_by": INPUTS["ecc_cycles"][1]}
    engine = data["greeks_engine"] if isinstance(data["greeks_engine"], dict) else {}
    greeks = {"status": "measured" if engine.get("clocks_per_option") else "not measured",
              "clocks_per_option": engine.get("clocks_per_option"),
              "one_option_latency_clocks": engine.get("one_option_latency_clocks"),
              "path": engine.get("path"), "source": inputs["greeks_engine"]["path"]
              if engine else None, "command": engine.get("command"),
              "produced_by": INPUTS["greeks_engine"][1],
              "pipeline_latency_cycles": GREEKS_LATENCY_CYCLES,
              "pipeline_source": "docs/numerics.md section 11 (cocotb, tests/test_greeks_rtl.py)"}
    cycles = {"sign": sign, "basemul": basemul, "greeks": greeks}

    # peers
    say(f"peers: signing, {n_sign:,} signatures per curve")
    peers = {"sign": measure_signing_peers(n_sign)}
    say(f"peers: Greeks, {n_options:,} options vectorised, {n_latency:,} one at a time")
    peers["greeks"] = measure_greeks_peer(n_options, n_latency)

    # throughput and latency, at the clock; the whole appliance is the lower of engine and line
    frames = frame_sizes()
    throughput, latency = {}, {}

    def rates(engine_at_clock, engine_at_design, size, peer_name, peer_rate, unit):
        uart = _uart_rate(size, UART_BAUD)
        whole = min(engine_at_clock, uart) if engine_at_clock else None
        return {"unit": unit, "clock_mhz": mhz, "engine_ops_per_s": engine_at_clock,
                "uart_ops_per_s": uart, "appliance_ops_per_s": whole,
                "limited_by": None if whole is None else "uart" if uart < engine_at_clock
                else "engine",
                "design_mhz": DESIGN_MHZ, "engine_ops_per_s_at_design_not_built":
                engine_at_design, "appliance_ops_per_s_at_design_not_built":
                min(engine_at_design, uart) if engine_at_design else None,
                "peer": peer_name, "peer_ops_per_s": peer_rate,
                "ratio_appliance_over_peer": _ratio(whole, peer_rate)}

    def wire_us(request_bytes, response_bytes):
        return (request_bytes + response_bytes) * 10 / UART_BAUD * 1e6

    for curve in CURVES:
        c = sign[curve].get("cycles")
        peer = peers["sign"].get(curve, {})
        throughput[curve] = rates(_per_s(mhz, c, SIGN_ENGINES), _per_s(DESIGN_MHZ, c, SIGN_ENGINES),
                                  frames[curve], peer.get("peer"), peer.get("ops_per_s"),
                                  "signatures/s")
        line = wire_us(frames[curve]["request_bytes"], frames[curve]["response_bytes"])
        latency[curve] = {
            "clock_mhz": mhz, "device_cycles": c, "device_us": _us(c, mhz),
            "device_us_at_design_not_built": _us(c, DESIGN_MHZ), "uart_transfer_us": line,
            "device_with_uart_us": _us(c, mhz) + line if _us(c, mhz) else None,
            **{f"peer_{k}": peer.get(k) for k in ("p50_us", "p99_us", "p999_us", "max_us")}}
    g_peer = peers["greeks"]
    per_option = greeks["clocks_per_option"]
    throughput["greeks"] = rates(_per_s(mhz, per_option), _per_s(DESIGN_MHZ, per_option),
                                 frames["greeks"], g_peer.get("peer"),
                                 g_peer.get("options_per_s"), "options/s")
    g_cyc = greeks["one_option_latency_clocks"]
    one_option = wire_us(_wire_bytes(wire.Op.GREEKS, 1 + frames["greeks"]["option_bytes"], False),
                         _wire_bytes(wire.Op.GREEKS, frames["greeks"]["result_bytes"], True))
    g_lat = g_peer.get("latency", {})
    latency["greeks"] = {
        "clock_mhz": mhz, "device_cycles": g_cyc, "device_us": _us(g_cyc, mhz),
        "device_us_at_design_not_built": _us(g_cyc, DESIGN_MHZ), "uart_transfer_us": one_option,
        "device_with_uart_us": _us(g_cyc, mhz) + one_option if _us(g_cyc, mhz) else None,
        **{f"peer_{k}": g_lat.get(k) for k in ("p50_us", "p99_us", "p999_us", "max_us")}}

    # anchors, in time at the clock: speed ratio = quantgate's rate / the anchor's, or the
    # anchor's time / quantgate's (below 1: quantgate is slower)
    at = f"at {mhz:.2f} MHz" if mhz else None
    engine_rate = throughput["greeks"]["engine_ops_per_s"]
    ours = {"greeks_options_per_s": (throughput["greeks"]["appliance_ops_per_s"],
                                     f"options/s, whole appliance {at}" + (
                                         f" (the engine alone: {engine_rate:,.0f})"
                                         if engine_rate else "")),
            "greeks_pipeline_latency_us": (_us(GREEKS_LATENCY_CYCLES, mhz),
                                           f"µs {at} (the pipeline's {GREEKS_LATENCY_CYCLES} "
                                           "cycles)")}
    for curve in CURVES:
        c = sign[curve].get("cycles")
        ours[f"{curve}_ops_per_s"] = (throughput[curve]["appliance_ops_per_s"],
                                      f"signatures/s, whole appliance {at}")
        ours[f"{curve}_cycles"] = (c, f"cycles per signature (= {_us(c, mhz):,.0f} µs {at})"
                                   if _us(c, mhz) else "cycles per signature")
        ours[f"{curve}_latency_us"] = (_us(c, mhz), f"µs {at} (TIMING cycles)")
    anchors = []
    for a in ANCHORS:
        value, what = ours.get(a["compare"], (None, None)) if a["compare"] else (None, None)
        row = {**a, "quantgate": value, "quantgate_unit": what, "speed_ratio_in_time": None}
        if a["unit"] in ("options/s", "signatures/s"):
            row["speed_ratio_in_time"] = _ratio(value, a["value"])
        elif a["unit"] == "us":
            row["speed_ratio_in_time"] = _ratio(a["value"], value)
        elif a["unit"] == "cycles":
            row["note"] = "cycles at another, unpublished clock: no ratio in time"
        else:
            row["quantgate"] = ", ".join(f"{k} {v:.1e}" for k, v in GREEKS_MAX_ERRORS.items()) \
                if "accuracy" in a["anchor"] else None
            row["quantgate_unit"] = ("max error vs float64, 10M options (docs/numerics.md)"
                                     if row["quantgate"] else None)
        anchors.append(row)

    resources = {"full_build": build if build is not None and build["engines"] == "default"
                 else None,
                 "link_build": build if build is not None and build["engines"] != "default"
                 else None,
                 "cores_out_of_context": cores, "arith_units_out_of_context": arith,
                 "device_total": {"lut4": 83_640, "ff": 83_640, "mult18x18d": 156,
                                  "dp16kd": 208}}
    return {
        "schema": 2,
        "generated_utc": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": quick,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python":
                    platform.python_version(), "numpy": np.__version__,
                    "platform": platform.platform(), "load_average": _load_average()},
        "inputs": inputs,
        "clock": clock,
        "resources": resources,
        "cycles": cycles,
        "frames": {"baud": UART_BAUD, "encoding": "COBS worst case, with the delimiter",
                   **frames},
        "throughput": throughput,
        "latency": latency,
        "peers": peers,
        "anchors": anchors,
        "anchors_source": ANCHORS_SOURCE,
        "seconds": round(time.perf_counter() - t_start, 1),
    }


# -- entry points --------------------------------------------------------------------------------


def run(out_dir: Path | str | None = None, *, quick: bool = False, root: Path = ROOT,
        url: str | None = None, n_sign: int | None = None, n_options: int | None = None,
        timeout: float | None = None, command: str | None = None, progress=None) -> dict:
    """Collect the report and write results.json and results.md into `out_dir` (default
    <repository>/bench). Returns the report."""
    out = Path(out_dir) if out_dir is not None else root / "bench"
    out.mkdir(parents=True, exist_ok=True)
    report = collect(root=root, quick=quick, url=url, n_sign=n_sign, n_options=n_options,
                     timeout=timeout, progress=progress)
    report["command"] = command or "quantgate bench"
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(render_markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="quantgate bench",
        description="The benchmark report: what the appliance as built sustains (TIMING cycles "
                    "of the simulated appliance, the GREEKS engine's measured clocks per "
                    "option, the 3 Mbaud line) at its bitstream's clock, this machine's "
                    "software peers and the published anchors, in time; writes results.md and "
                    "results.json.")
    ap.add_argument("--quick", action="store_true",
                    help="small sample counts for the software peers (seconds; for tests)")
    ap.add_argument("--out", metavar="DIR", default=None,
                    help="where results.md and results.json go (default: bench/ of the "
                         "repository)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--url", default=None,
                    help="take the cycles per signature from this device's TIMING in this run "
                         "(a board, socket://HOST:PORT or sim://) instead of "
                         "bench/results/sign_timing.json; uses and ZEROIZEs key slot "
                         f"{BENCH_SLOT}")
    ap.add_argument("--n", type=int, default=None, help="signatures per software peer "
                    "(default 20000, --quick 300)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per attempt (--url)")
    args = ap.parse_args(argv)
    command = shlex.join(["quantgate", "bench", *(sys.argv[1:] if argv is None else argv)])

    def progress(text):
        print(f"bench: {text}", file=sys.stderr, flush=True)

    try:
        report = run(args.out, quick=args.quick, url=args.url, n_sign=args.n,
                     timeout=args.timeout, command=command, progress=progress)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a device that does not answer, a library that fails
        from .errors import QuantgateError

        if not isinstance(exc, (QuantgateError, OSError)):
            raise
        print(f"quantgate bench: error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else ROOT / "bench"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_markdown(report))
    print(f"bench: wrote {out / 'results.md'} and {out / 'results.json'} "
          f"({report['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
