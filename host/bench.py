"""``quantgate bench``: the benchmark report, ``bench/results.md`` and ``bench/results.json``.

    quantgate bench [--quick] [--out DIR] [--json] [--url URL] [--n N]

One run puts side by side, for each signature curve and for the Greeks pipeline:

* **cycles per operation** from simulation, read from the files other scripts write
  (``bench/results/ecc_cycles.json``: the curve engine's fixed-base multiplication;
  ``bench/results/greeks.json``; ``bench/results/sign_cycles.json``: cycles per signature), or
  with ``--url`` from a device's TIMING counters (a board, ``socket://``, or ``sim://``);
* **fmax and resources**: the latest full build report (``build/ulx3s-85f/report.json``, when it
  is a build of the whole appliance), else the cores' out-of-context figures
  (``bench/results/synth_*.json``, ``build/synth/*/summary.json``), labelled as such;
* **projected operations per second** of the whole device: signatures/s per curve = fmax /
  cycles per signature x signing engines; options/s = fmax (initiation interval 1); and what a
  3 Mbaud UART carries, from the encoded frame sizes;
* the **software peers measured in this run on this machine** (PyNaCl, coincurve,
  cryptography; NumPy + SciPy float64 Greeks) and the ratio device / peer;
* **latency**: the device's constant cycle count (min = max) in microseconds beside the peers'
  p50 / p99 / p99.9;
* **what others reach**: published figures (ANCHORS, copied from the project's REFERENCES.md
  with their sources) as comparison columns.

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

__all__ = ["ANCHORS", "PEERS", "collect", "main", "measure_greeks_peer", "measure_signing_peers",
           "render_markdown", "run"]

from .bench_markdown import render_markdown
from .bench_settings import (
    ANCHORS,
    ANCHORS_SOURCE,
    ARITH_UNITS,
    CURVES,
    GREEKS_ENGINES,
    GREEKS_LATENCY_CYCLES,
    GREEKS_MAX_ERRORS,
    INPUTS,
    OOC,
    PEER_MESSAGE_BYTES,
    RECORDED,
    ROOT,
    SIGN_ENGINES,
    SIGNER_PARTS,
    TARGET_MHZ,
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


def _sign_cycles_from_file(data: dict) -> dict:
    """sign_cycles.json, read leniently: {"curves" | "sign" | top level: {curve: N | {"cycles":
    N | {length: N}, ...}}}; Ed25519 cycles by message length pick PEER_MESSAGE_BYTES (or the
    nearest length measured). An optional "engines" (top level or per curve) overrides
    SIGN_ENGINES."""
    table = data.get("curves") or data.get("sign") or data
    out = {}
    for curve in CURVES:
        entry = table.get(curve) if isinstance(table, dict) else None
        if entry is None:
            continue
        length = None
        value = entry
        engines = data.get("engines", SIGN_ENGINES)
        if isinstance(entry, dict):
            engines = entry.get("engines", engines)
            for key in ("cycles", "sign_cycles", "engine_cycles", "min_cycles"):
                if key in entry:
                    value = entry[key]
                    break
            length = entry.get("message_bytes")
        if isinstance(value, dict):  # by message length
            by_len = {int(k): v for k, v in value.items() if str(k).isdigit()}
            if not by_len:
                continue
            length = min(by_len, key=lambda n: (abs(n - PEER_MESSAGE_BYTES), n))
            value = by_len[length]
        if isinstance(value, list):
            value = max(value) if value else None
        if isinstance(value, (int, float)) and value > 0:
            out[curve] = {"cycles": int(value), "engines": int(engines),
                          **({"message_bytes": length} if length is not None else {})}
    return out


def device_sign_cycles(url: str, timeout: float | None = None) -> dict:
    """Cycles per signature from a device's TIMING: load a throw-away key into slot 7, sign one
    request per curve (Ed25519: a PEER_MESSAGE_BYTES message), read last_cycles, ZEROIZE slot 7.
    """
    from .appliance import Appliance

    options = {} if timeout is None else {"timeout": timeout}
    out = {}
    with Appliance.open(url, **options) as dev:
        info = dev.info()
        try:
            for curve in CURVES:
                if curve not in info["cores"]:
                    continue
                dev.load_key(7, curve, hashlib.sha256(b"quantgate bench " + curve.encode())
                             .digest())
                message = bytes(range(PEER_MESSAGE_BYTES)) if curve == "ed25519" else \
                    hashlib.sha256(b"order").digest()
                dev.sign(7, message, curve=curve)
                rec = dev.timing()["sign"][curve]
                out[curve] = {"cycles": rec["last_cycles"], "engines": SIGN_ENGINES,
                              "min_cycles": rec["min_cycles"], "max_cycles": rec["max_cycles"],
                              **({"message_bytes": len(message)} if curve == "ed25519" else {})}
        finally:
            dev.zeroize(7)
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
                       "per_frame": n}
    return sizes


def _uart_rate(size: dict, baud: int) -> float:
    """Operations/s a full-duplex UART carries (8N1: 10 bits per byte): the larger direction."""
    return baud / 10 / max(size["request_bytes"], size["response_bytes"]) * size["per_frame"]


# -- the report ----------------------------------------------------------------------------------


def _ratio(a, b):
    return a / b if a and b else None


def _rate(mhz, cycles, engines):
    """Operations/s of `engines` engines taking `cycles` each at `mhz` (None if either is)."""
    return mhz * 1e6 / cycles * engines if mhz and cycles else None


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

    # clock and resources
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
                 "fmax_mhz": sync.get("achieved_mhz"), "target_mhz": report.get("target_mhz"),
                 "timing": report.get("timing"), "resources": report.get("resources"),
                 "source": inputs["build_report"]["path"], "command": report.get("command")}
    full_build = build is not None and build["engines"] == "default" and build["fmax_mhz"]

    def fmax_of(names):
        found = [(cores[n]["fmax_mhz"], n) for n in names if "fmax_mhz" in cores[n]]
        return min(found) if found else (None, None)

    if full_build:
        clock = {"fmax_mhz": build["fmax_mhz"], "kind": "full appliance build",
                 "source": build["source"], "timing": build["timing"],
                 "target_mhz": build["target_mhz"], "limiting": "whole appliance"}
        core_fmax = dict.fromkeys(("link", "signer", "greeks"), build["fmax_mhz"])
    else:
        signer, signer_part = fmax_of(SIGNER_PARTS)
        signer_note = None
        if signer is None and arith:  # the engine's arithmetic units alone: an upper bound
            signer = min(a["fmax_mhz"] for a in arith)
            signer_part = "arith units (upper bound)"
            signer_note = "curve engine not synthesised alone; its arithmetic units' fmax"
        link = (build["fmax_mhz"] if build is not None and build["engines"] == "link"
                and build["fmax_mhz"] else cores["link"].get("fmax_mhz"))
        core_fmax = {"link": link, "signer": signer, "greeks": cores["greeks"].get("fmax_mhz")}
        known = {k: v for k, v in core_fmax.items() if v}
        slowest = min(known, key=known.get) if known else None
        clock = {"fmax_mhz": known[slowest] if slowest else None,
                 "kind": "estimate: the slowest core synthesised alone (out of context)",
                 "source": None, "timing": None,
                 "target_mhz": TARGET_MHZ,
                 "limiting": f"{slowest}" + (f" ({signer_part})" if slowest == "signer"
                                             else "") if slowest else None}
        if signer_note:
            clock["note"] = signer_note
    fmax = clock["fmax_mhz"]
    target = clock.get("target_mhz") or TARGET_MHZ

    # cycles
    say("cycles: reading bench/results")
    sign_cycles = {}
    sign_source = None
    if url is not None:
        say(f"cycles: signing on {url} and reading TIMING")
        sign_cycles = device_sign_cycles(url, timeout)
        sign_source = f"device TIMING ({url})"
    elif isinstance(data["sign_cycles"], dict):
        sign_cycles = _sign_cycles_from_file(data["sign_cycles"])
        sign_source = INPUTS["sign_cycles"][0]
    ecc = (data["ecc_cycles"] or {}).get("curves", {}) if isinstance(data["ecc_cycles"],
                                                                     dict) else {}
    greeks_json = data["greeks"] if isinstance(data["greeks"], dict) else {}
    cycles = {"sign": {}, "basemul": {}, "greeks": {
        "latency_cycles": greeks_json.get("latency_cycles", GREEKS_LATENCY_CYCLES),
        "initiation_interval": 1, "engines": GREEKS_ENGINES,
        "source": "docs/numerics.md section 11 (cocotb, tests/test_greeks_rtl.py)"}}
    for curve in CURVES:
        if curve in sign_cycles:
            cycles["sign"][curve] = {"status": "measured", "source": sign_source,
                                     **sign_cycles[curve]}
        else:
            cycles["sign"][curve] = {"status": "not measured", "cycles": None,
                                     "produced_by": INPUTS["sign_cycles"][1]}
        b = ecc.get(curve, {}).get("cycles")
        cycles["basemul"][curve] = {"cycles": b, "status": "measured" if b else "not measured",
                                    "source": INPUTS["ecc_cycles"][0] if b else None,
                                    "produced_by": INPUTS["ecc_cycles"][1]}

    # peers
    say(f"peers: signing, {n_sign:,} signatures per curve")
    peers = {"sign": measure_signing_peers(n_sign)}
    say(f"peers: Greeks, {n_options:,} options vectorised, {n_latency:,} one at a time")
    peers["greeks"] = measure_greeks_peer(n_options, n_latency)

    # throughput and latency
    frames = frame_sizes()
    throughput, latency = {}, {}
    for curve in CURVES:
        c = cycles["sign"][curve].get("cycles")
        engines = cycles["sign"][curve].get("engines", SIGN_ENGINES)
        peer = peers["sign"].get(curve, {})
        uart = _uart_rate(frames[curve], UART_BAUD)
        dev = _rate(fmax, c, engines)
        base = cycles["basemul"][curve]["cycles"]
        throughput[curve] = {
            "unit": "signatures/s",
            "device_ops_per_s": dev,
            "device_ops_per_s_at_target": _rate(target, c, engines),
            "engines": engines,
            "uart_ops_per_s": uart,
            "uart_limited_ops_per_s": min(dev, uart) if dev else None,
            "basemul_bound_ops_per_s": fmax * 1e6 / base * engines if base and fmax else None,
            "peer": peer.get("peer"), "peer_ops_per_s": peer.get("ops_per_s"),
            "ratio_device_over_peer": _ratio(dev, peer.get("ops_per_s")),
            "ratio_uart_limited_over_peer": _ratio(min(dev, uart) if dev else None,
                                                   peer.get("ops_per_s")),
        }
        size = frames[curve]
        wire_us = (size["request_bytes"] + size["response_bytes"]) * 10 / UART_BAUD * 1e6
        dev_us = c / fmax if c and fmax else None
        latency[curve] = {
            "device_cycles": c, "device_us": dev_us,
            "device_us_at_target": c / target if c else None,
            "device_min_equals_max": True if c else None,
            "device_with_uart_us": dev_us + wire_us if dev_us else None,
            "uart_transfer_us": wire_us,
            **{f"peer_{k}": peer.get(k) for k in ("p50_us", "p99_us", "p999_us", "max_us")},
        }
    g_peer = peers["greeks"]
    g_dev = _rate(fmax, 1, GREEKS_ENGINES)
    g_uart = _uart_rate(frames["greeks"], UART_BAUD)
    throughput["greeks"] = {
        "unit": "options/s", "device_ops_per_s": g_dev,
        "device_ops_per_s_at_target": _rate(target, 1, GREEKS_ENGINES),
        "engines": GREEKS_ENGINES,
        "uart_ops_per_s": g_uart, "uart_limited_ops_per_s": min(g_dev, g_uart) if g_dev else None,
        "peer": g_peer.get("peer"), "peer_ops_per_s": g_peer.get("options_per_s"),
        "ratio_device_over_peer": _ratio(g_dev, g_peer.get("options_per_s")),
        "ratio_uart_limited_over_peer": _ratio(min(g_dev, g_uart) if g_dev else None,
                                               g_peer.get("options_per_s")),
    }
    g_lat = g_peer.get("latency", {})
    g_cyc = cycles["greeks"]["latency_cycles"]
    g_wire = (frames["greeks"]["request_bytes"] + frames["greeks"]["response_bytes"]) \
        / frames["greeks"]["per_frame"]
    one_option = (_wire_bytes(wire.Op.GREEKS, 1 + 41, False)
                  + _wire_bytes(wire.Op.GREEKS, 49, True)) * 10 / UART_BAUD * 1e6
    latency["greeks"] = {
        "device_cycles": g_cyc, "device_us": g_cyc / fmax if fmax else None,
        "device_us_at_target": g_cyc / target, "device_min_equals_max": True,
        "device_with_uart_us": (g_cyc / fmax if fmax else g_cyc / target) + one_option,
        "uart_transfer_us": one_option, "uart_bytes_per_option_full_frames": g_wire,
        **{f"peer_{k}": g_lat.get(k) for k in ("p50_us", "p99_us", "p999_us", "max_us")},
    }

    # anchors: at the clock a board would run at, the PLL clock of the build (the default
    # build's without a full build report), or fmax if that is lower (timing not met)
    anchor_mhz = min(fmax, target) if fmax else None
    clock["anchor_mhz"] = anchor_mhz
    at = f"at {anchor_mhz:g} MHz" if anchor_mhz else None
    ours = {
        "greeks_options_per_s": (_rate(anchor_mhz, 1, GREEKS_ENGINES), f"options/s {at}"),
        "greeks_latency_us": (g_cyc / anchor_mhz if anchor_mhz else None, f"us {at}"),
    }
    for curve in CURVES:
        c = cycles["sign"][curve].get("cycles")
        engines = cycles["sign"][curve].get("engines", SIGN_ENGINES)
        ours[f"{curve}_ops_per_s"] = (_rate(anchor_mhz, c, engines), f"signatures/s {at}")
        ours[f"{curve}_cycles"] = (c, "cycles per signature")
        ours[f"{curve}_latency_us"] = (c / anchor_mhz if c and anchor_mhz else None, f"us {at}")
    anchors = []
    for a in ANCHORS:
        value, what = ours.get(a["compare"], (None, None)) if a["compare"] else (None, None)
        row = {**a, "quantgate": value, "quantgate_unit": what}
        if a["unit"] in ("options/s", "signatures/s"):
            row["ratio_quantgate_over_anchor"] = _ratio(value, a["value"])
        elif a["unit"] in ("cycles", "us"):  # fewer is better: the anchor over quantgate
            row["ratio_quantgate_over_anchor"] = _ratio(a["value"], value)
        else:
            row["quantgate"] = ", ".join(f"{k} {v:.1e}" for k, v in GREEKS_MAX_ERRORS.items()) \
                if "accuracy" in a["anchor"] else None
            row["quantgate_unit"] = ("max error vs float64, 10M options (docs/numerics.md)"
                                     if row["quantgate"] else None)
            row["ratio_quantgate_over_anchor"] = None
        anchors.append(row)

    resources = {"full_build": build if full_build else None,
                 "link_build": build if build is not None and not full_build else None,
                 "cores_out_of_context": cores, "arith_units_out_of_context": arith,
                 "device_total": {"lut4": 83_640, "ff": 83_640, "mult18x18d": 156,
                                  "dp16kd": 208}}
    return {
        "schema": 1,
        "generated_utc": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": quick,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python":
                    platform.python_version(), "numpy": np.__version__,
                    "platform": platform.platform(), "load_average": _load_average()},
        "inputs": inputs,
        "clock": clock,
        "core_fmax_mhz": core_fmax,
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
        description="The benchmark report: cycles per operation (simulation), fmax and "
                    "resources (nextpnr), projected operations/s, this machine's software "
                    "peers and the published anchors; writes results.md and results.json.")
    ap.add_argument("--quick", action="store_true",
                    help="small sample counts for the software peers (seconds; for tests)")
    ap.add_argument("--out", metavar="DIR", default=None,
                    help="where results.md and results.json go (default: bench/ of the "
                         "repository)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--url", default=None,
                    help="take the cycles per signature from this device's TIMING (a board, "
                         "socket://HOST:PORT or sim://); uses and ZEROIZEs key slot 7")
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
