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
import math
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

ROOT = Path(__file__).resolve().parent.parent  # the repository (editable install)
BOARD = "ulx3s-85f"
CURVES = ("ed25519", "secp256k1", "p256")
UART_BAUD = 3_000_000  # the board's default (boards/ulx3s.py, quantgate build --baud)
TARGET_MHZ = 100.0  # the PLL clock the bitstream is built for by default
SIGN_ENGINES = 1  # one KeySlots engine (hdl/signer/keyslots.py) signs for all three curves
GREEKS_ENGINES = 1  # one Greeks pipeline, one option per clock
GREEKS_LATENCY_CYCLES = 73  # docs/numerics.md section 11 (cocotb: 71 datapath + 2 FIFO)
PEER_MESSAGE_BYTES = 100  # Ed25519 peers and the device's Ed25519 frame: a 100-byte order
# Accuracy of the Greeks core, 10M-option sweep (docs/numerics.md, "Measured accuracy")
GREEKS_MAX_ERRORS = {"price": 2.46e-10, "delta": 1.25e-9, "rho": 1.24e-9}

# The input files: name -> (path relative to the repository, the command that writes it)
INPUTS = {
    "ecc_cycles": ("bench/results/ecc_cycles.json", "python bench/ecc_cycles.py"),
    "sign_cycles": ("bench/results/sign_cycles.json", "python bench/sign_cycles.py"),
    "greeks": ("bench/results/greeks.json", "python bench/greeks_bench.py"),
    "build_report": (f"build/{BOARD}/report.json", f"quantgate build --board {BOARD}"),
}
# Committed copies read when the file above is absent (a fresh clone has no build/ directory).
RECORDED = {"build_report": f"bench/results/build_{BOARD}.json"}
# Out-of-context synthesis of single cores (bench/synth_core.py, bench/synth_arith.py): the
# first file found per core is used.
OOC = {
    "link": (["bench/results/synth_link.json", "build/synth/link/summary.json"],
             "python bench/synth_core.py quantgate.hdl.top:Appliance clock_hz=100000000 "
             "baud=3000000 --name link"),
    "curve engine": (["bench/results/synth_ecc.json", "build/synth/ecc/summary.json"],
                     "python bench/synth_core.py quantgate.hdl.ecc.engine:CurveEngine "
                     "dsp_primitives=True --name ecc"),
    "sha512": (["bench/results/synth_sha512.json", "build/synth/Sha512_ooc/summary.json"],
               "python bench/synth_core.py quantgate.hdl.hash.sha2:Sha512"),
    "sha256": (["bench/results/synth_sha256.json", "build/synth/Sha256_ooc/summary.json"],
               "python bench/synth_core.py quantgate.hdl.hash.sha2:Sha256"),
    "greeks": (["bench/results/synth_greeks.json", "build/synth/greeks/summary.json",
                "bench/results/greeks.json"],
               "python bench/synth_core.py quantgate.hdl.pricing.pipeline:GreeksPipeline "
               "--name greeks"),
}
SIGNER_PARTS = ("curve engine", "sha512", "sha256")
ARITH_UNITS = "bench/results/synth_arith_*.json"

# What others reach (REFERENCES.md, "What others reach"): the comparison columns. `value` is
# in `unit`; `compare` names the quantgate figure it is set against.
ANCHORS = [
    {"anchor": "AMD Vitis Quant cfBSMEngine (float32, Alveo U200)",
     "figure": "2 engines, II=1, 300 MHz, 520 DSP, 80k LUT, ~203M options/s",
     "value": 203e6, "unit": "options/s", "compare": "greeks_options_per_s",
     "source": "AMD Vitis Libraries, Quantitative Finance L2 cfBSMEngine benchmark"},
    {"anchor": "AMD Vitis Quant cfBSMEngine latency",
     "figure": "334 cycles at 300 MHz (1.11 us)",
     "value": 334 / 300e6 * 1e6, "unit": "us", "compare": "greeks_latency_us",
     "source": "AMD Vitis Libraries, Quantitative Finance L2 cfBSMEngine benchmark"},
    {"anchor": "AMD Vitis Quant cfBSMEngine accuracy vs double",
     "figure": "price 7e-5, delta 5e-7, rho 3e-6 (float32)",
     "value": None, "unit": "error", "compare": None,
     "source": "AMD Vitis Libraries, Quantitative Finance cfBSMEngine documentation"},
    {"anchor": "Abramowitz-Stegun normal CDF (Vitis, CUDA BlackScholes sample)",
     "figure": "abs error 7.5e-8; relative 4.7e-4 at x=-4, 3.6e-3 at x=-6",
     "value": None, "unit": "error", "compare": None,
     "source": "Abramowitz & Stegun 26.2.17, as used by Vitis and the CUDA sample"},
    {"anchor": "Ed25519 sign on FPGA (Bisheh-Niasar et al., Zynq-7020)",
     "figure": "> 6,200 signatures/s", "value": 6200.0, "unit": "signatures/s",
     "compare": "ed25519_ops_per_s", "source": "Bisheh-Niasar et al., IEEE TVLSI"},
    {"anchor": "OpenTitan OTBN, P-256 ECDSA sign", "figure": "704,126 cycles, constant time",
     "value": 704_126.0, "unit": "cycles", "compare": "p256_cycles",
     "source": "OpenTitan OTBN P-256 ECDSA documentation"},
    {"anchor": "Vitis Security Library ECDSA sign, secp256k1",
     "figure": "~0.2 ms (nonce supplied by the caller)", "value": 200.0, "unit": "us",
     "compare": "secp256k1_latency_us", "source": "AMD Vitis Security Library, ECDSA benchmark"},
    {"anchor": "Vitis Security Library ECDSA sign, P-256",
     "figure": "~0.11 ms (nonce supplied by the caller)", "value": 110.0, "unit": "us",
     "compare": "p256_latency_us", "source": "AMD Vitis Security Library, ECDSA benchmark"},
    {"anchor": "lib25519 Ed25519 sign (x86)", "figure": "~28-32k cycles", "value": 30_000.0,
     "unit": "cycles", "compare": "ed25519_cycles", "source": "lib25519 benchmarks"},
    {"anchor": "libsecp256k1 ECDSA sign (x86)", "figure": "~28-39 us", "value": 33.5,
     "unit": "us", "compare": "secp256k1_latency_us", "source": "libsecp256k1 benchmarks"},
]
ANCHORS_SOURCE = "the project's REFERENCES.md, section \"What others reach\""


# -- software peers (formerly bench/peers.py, which now wraps these) -----------------------------


def _timed(fn, args_list) -> np.ndarray:
    lat = np.empty(len(args_list), dtype=np.int64)
    for k, args in enumerate(args_list):
        t0 = time.perf_counter_ns()
        fn(*args)
        lat[k] = time.perf_counter_ns() - t0
    return lat


def _summary(name: str, lat_ns: np.ndarray) -> dict:
    us = lat_ns / 1e3
    return {
        "peer": name,
        "n": int(len(lat_ns)),
        "ops_per_s": float(1e9 / lat_ns.mean()),
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "p999_us": float(np.percentile(us, 99.9)),
        "max_us": float(us.max()),
    }


def ed25519_pynacl(n: int, rng) -> dict:
    from nacl.signing import SigningKey

    key = SigningKey(rng.bytes(32))
    msgs = [(rng.bytes(PEER_MESSAGE_BYTES),) for _ in range(n)]
    return _summary(f"PyNaCl Ed25519 sign ({PEER_MESSAGE_BYTES}-byte message)",
                    _timed(key.sign, msgs))


def secp256k1_coincurve(n: int, rng) -> dict:
    from coincurve import PrivateKey

    key = PrivateKey(hashlib.sha256(rng.bytes(32)).digest())
    digests = [(rng.bytes(32), None) for _ in range(n)]
    return _summary("coincurve secp256k1 sign_recoverable",
                    _timed(key.sign_recoverable, digests))


def p256_cryptography(n: int, rng) -> dict:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    key = ec.generate_private_key(ec.SECP256R1())
    algo = ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True)
    digests = [(rng.bytes(32), algo) for _ in range(n)]
    return _summary("cryptography P-256 sign (RFC 6979)", _timed(key.sign, digests))


PEERS = {"ed25519": ed25519_pynacl, "secp256k1": secp256k1_coincurve, "p256": p256_cryptography}


def measure_signing_peers(n: int = 20000, seed: int = 1) -> dict:
    """Each peer signs `n` requests of the appliance's kind (Ed25519: a 100-byte message; ECDSA:
    a 32-byte digest) one call at a time on one core, each call timed: rate and latency
    distribution. A peer whose library is missing is reported as {"error": ...}."""
    rng = np.random.default_rng(seed)
    out = {}
    for curve, fn in PEERS.items():
        try:
            out[curve] = fn(n, rng)
        except ImportError as exc:
            out[curve] = {"peer": fn.__name__, "error": f"not installed: {exc.name}"}
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _best_of(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_greeks_peer(n: int = 1_000_000, n_latency: int = 2000, seed: int = 1) -> dict:
    """The software part of bench/greeks_bench.py: the float64 closed forms (NumPy + SciPy
    ``ndtr``, hdl/pricing/reference.py) vectorised over `n` options on one core (all six
    outputs, best of 3), and the latency of pricing one option per call (`n_latency` calls)."""
    try:
        from quantgate.hdl.pricing.model import sample_domain  # NumPy only, no Amaranth
        from quantgate.hdl.pricing.reference import greeks_ref  # NumPy + SciPy
    except ImportError as exc:
        return {"peer": "NumPy + SciPy float64 closed forms", "error": f"not installed: {exc}"}
    s = sample_domain(n, np.random.default_rng(seed))
    s.pop("b76")
    t = _best_of(lambda: greeks_ref(model="bsm", **s), 3)
    one = [{k: v[i] for k, v in s.items()} for i in range(min(n_latency, n))]
    greeks_ref(model="bsm", **one[0])  # warm up
    lat = _timed(lambda kw: greeks_ref(model="bsm", **kw), [(kw,) for kw in one])
    summary = _summary("NumPy + SciPy float64 closed forms, one option per call", lat)
    return {"peer": "NumPy + SciPy float64 closed forms (hdl/pricing/reference.py), one core",
            "n": n, "options_per_s": n / t, "latency": summary}


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
        dev = fmax * 1e6 / c * engines if c and fmax else None
        base = cycles["basemul"][curve]["cycles"]
        throughput[curve] = {
            "unit": "signatures/s",
            "device_ops_per_s": dev,
            "device_ops_per_s_at_target": target * 1e6 / c * engines if c else None,
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
    g_dev = fmax * 1e6 * GREEKS_ENGINES if fmax else None
    g_uart = _uart_rate(frames["greeks"], UART_BAUD)
    throughput["greeks"] = {
        "unit": "options/s", "device_ops_per_s": g_dev,
        "device_ops_per_s_at_target": target * 1e6 * GREEKS_ENGINES,
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

    # anchors
    ours = {
        "greeks_options_per_s": (g_dev, "options/s at fmax"),
        "greeks_latency_us": (latency["greeks"]["device_us"], "us at fmax"),
    }
    for curve in CURVES:
        ours[f"{curve}_ops_per_s"] = (throughput[curve]["device_ops_per_s"],
                                      "signatures/s at fmax")
        ours[f"{curve}_cycles"] = (cycles["sign"][curve].get("cycles"), "cycles per signature")
        ours[f"{curve}_latency_us"] = (latency[curve]["device_us"], "us at fmax")
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
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python":
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


# -- markdown ------------------------------------------------------------------------------------


def _n(v, digits: int = 3) -> str:
    """A number for a table: thousands separators, about `digits` significant digits."""
    if v is None:
        return "not measured"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e6):
        return f"{int(v):,}"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.{max(digits - 1 - int(math.log10(abs(v) / 1e6)), 0)}f} M" \
            if abs(v) < 1e9 else f"{v / 1e9:,.2f} G"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _x(v) -> str:
    if v is None:
        return "—"
    return f"{v:.2g}x" if v < 0.1 else f"{v:,.2f}x" if v < 100 else f"{v:,.0f}x"


def _table(head: list[str], rows: list[list], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(head) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |",
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def render_markdown(r: dict) -> str:
    clock = r["clock"]
    fmax = clock["fmax_mhz"]
    target = clock.get("target_mhz") or TARGET_MHZ
    L = ["# quantgate benchmark report", "",
         f"Generated {r['generated_utc']} by `{r.get('command', 'quantgate bench')}`"
         f"{' (quick: small sample counts)' if r['quick'] else ''} in {r['seconds']} s on "
         f"{r['machine']['cpu']} ({r['machine']['cores']} cores"
         f"{_load_text(r['machine'].get('load_average'))}), Python "
         f"{r['machine']['python']}, NumPy {r['machine']['numpy']}. Software peers run on one "
         "core, one call at a time, in this run; device figures are projected from simulated "
         "cycle counts and nextpnr's fmax. The same data is in `results.json`.", ""]

    L += ["## Clock", ""]
    if fmax:
        details = [f"`{clock['source']}`" if clock.get("source") else None,
                   f"timing {clock['timing']}" if clock.get("timing") else None,
                   f"limited by the {clock['limiting']}" if clock.get("limiting") else None]
        details = ", ".join(d for d in details if d)
        L.append(f"**fmax {fmax:.2f} MHz** — {clock['kind']}"
                 f"{' (' + details + ')' if details else ''}. "
                 f"Projections below are at fmax and at the {target:g} MHz clock the bitstream "
                 "is built for; the whole appliance runs on one clock.")
        if clock.get("note"):
            L.append(f"Note: {clock['note']}.")
        if fmax < target:
            L.append(f"fmax is below the {target:g} MHz target: the \"at {target:g} MHz\" "
                     "columns assume timing closes there, which these figures do not yet show.")
    else:
        L.append("fmax: not measured (no build report and no out-of-context figures; run "
                 f"`{INPUTS['build_report'][1]}`).")
    L.append("")
    res = r["resources"]
    rows = []
    total = res["device_total"]
    for label, b in (("full appliance build", res["full_build"]),
                     ("build of the link alone", res["link_build"])):
        if b:
            rs = b.get("resources") or {}
            rows.append([f"{label} (`{b['source']}`, engines {b['engines']})",
                         *(_used((rs.get(k) or {}).get("used"), total[t]) for k, t in (
                             ("LUT4", "lut4"), ("FF", "ff"), ("MULT18X18D", "mult18x18d"),
                             ("DP16KD", "dp16kd"))),
                         f"{_n(b['fmax_mhz'])} ({b.get('timing') or '?'})"])
    for name, c in res["cores_out_of_context"].items():
        if "fmax_mhz" in c:
            rows.append([f"{name}, out of context (`{c['source']}`)",
                         *(_used(c.get(k), total[k]) for k in ("lut4", "ff", "mult18x18d",
                                                                "dp16kd")),
                         _n(c["fmax_mhz"])])
        else:
            rows.append([f"{name}: not measured (`{c['produced_by']}`)", "", "", "", "", ""])
    for a in res["arith_units_out_of_context"]:
        rows.append([f"arith `{a['unit']}`, out of context (`{a['source']}`)",
                     *(_used(a.get(k), total[k]) for k in ("lut4", "ff", "mult18x18d",
                                                           "dp16kd")), _n(a["fmax_mhz"])])
    L += ["Resources and fmax (ECP5 LFE5U-85F, speed 6; out-of-context figures are one core "
          "alone, without I/O, and only estimate the full design):", ""]
    L += _table(["what", "LUT4", "FF", "MULT18X18D", "DP16KD", "fmax MHz"], rows)
    L.append("")

    L += ["## Cycles per operation (simulation)", ""]
    rows = []
    for curve in CURVES:
        s = r["cycles"]["sign"][curve]
        what = f"SIGN {curve}" + (f" ({s['message_bytes']}-byte message)"
                                  if s.get("message_bytes") is not None else "")
        rows.append([what, _n(s.get("cycles")), "yes (constant)" if s.get("cycles") else "—",
                     f"`{s['source']}`" if s.get("cycles")
                     else f"not measured: run `{s['produced_by']}` (or `quantgate bench "
                          "--url sim://`: cycles from the simulated appliance's TIMING)"])
    for curve in CURVES:
        b = r["cycles"]["basemul"][curve]
        rows.append([f"fixed-base scalar mult. {curve} (LOAD_KEY's public key)", _n(b["cycles"]),
                     "yes (constant)" if b["cycles"] else "—",
                     f"`{b['source']}`" if b["cycles"] else
                     f"not measured: run `{b['produced_by']}`"])
    g = r["cycles"]["greeks"]
    rows.append(["GREEKS, one option (latency; II = 1)", _n(g["latency_cycles"]),
                 "yes (constant)", g["source"]])
    L += _table(["operation", "cycles", "min = max", "source"], rows, "lrll")
    L.append("")

    L += ["## Throughput (operations per second, whole device)", ""]
    rows = []
    for key in (*CURVES, "greeks"):
        t = r["throughput"][key]
        label = f"{key} signatures" if key != "greeks" else "Greeks options"
        rows.append([label, _n(t["device_ops_per_s"]), _n(t["device_ops_per_s_at_target"]),
                     _n(t["uart_ops_per_s"]), t.get("peer") or "—",
                     _n(t["peer_ops_per_s"]), _x(t["ratio_device_over_peer"]),
                     _x(t["ratio_uart_limited_over_peer"])])
    L += _table([
        "operation", f"device at fmax ({_n(fmax)} MHz)", f"at {target:g} MHz",
        f"UART {UART_BAUD / 1e6:g} Mbaud", "software peer (this machine, one core)",
        "peer ops/s", "device / peer", "UART-limited / peer"], rows, "lrrrlrrr")
    L += ["", f"Signatures/s = fmax / cycles per signature x {SIGN_ENGINES} signing engine "
          "(hdl/signer/keyslots.py: one engine serves all three curves, one request at a time); "
          "options/s = fmax x 1 (one option per clock). The UART column is what a full-duplex "
          f"{UART_BAUD / 1e6:g} Mbaud link carries: bytes/s / the larger of the request and "
          "response frame (COBS worst case, with the delimiter; Ed25519 signs a "
          f"{PEER_MESSAGE_BYTES}-byte message, ECDSA a 32-byte digest, GREEKS 20 options per "
          "frame)."]
    bound = [f"{c} {_n(r['throughput'][c]['basemul_bound_ops_per_s'])}/s" for c in CURVES
             if r["throughput"][c]["basemul_bound_ops_per_s"]]
    if bound and any(r["cycles"]["sign"][c].get("cycles") is None for c in CURVES):
        L += ["", "Until the signing cycles are measured, an upper bound: a signature needs at "
              "least one fixed-base scalar multiplication, so at fmax at most " +
              ", ".join(bound) + "."]
    L.append("")

    L += ["## Latency", ""]
    rows = []
    for key in (*CURVES, "greeks"):
        lt = r["latency"][key]
        label = f"{key} sign" if key != "greeks" else "Greeks, one option"
        rows.append([label, _n(lt["device_cycles"]), _n(lt["device_us"]),
                     _n(lt["device_us_at_target"]), _n(lt["device_with_uart_us"]),
                     _n(lt["peer_p50_us"]), _n(lt["peer_p99_us"]), _n(lt["peer_p999_us"]),
                     _n(lt["peer_max_us"])])
    L += _table(["operation", "device cycles (min = max)", "device µs at fmax",
                 f"µs at {target:g} MHz", f"µs with the {UART_BAUD / 1e6:g} Mbaud frames",
                 "peer p50 µs", "p99", "p99.9", "max"], rows)
    L += ["", "The device's figures have no spread: every signature of a curve (Ed25519: of a "
          "message length) and every option takes the same number of cycles (TIMING shows "
          "min = max). \"With the frames\" adds sending the request and receiving the response "
          "at 3 Mbaud. The peers' percentiles are per call on this machine, with its jitter."]
    L.append("")

    L += ["## What others reach", "", f"Published figures, from {r['anchors_source']}; the "
          "ratio is quantgate / anchor (for cycles and µs: anchor / quantgate, so > 1 means "
          "quantgate is faster).", ""]
    rows = []
    for a in r["anchors"]:
        q = a["quantgate"]
        qtext = q if isinstance(q, str) else (f"{_n(q)} {a['quantgate_unit']}" if q is not None
                                              else ("not measured" if a["compare"] else "—"))
        rows.append([a["anchor"], a["figure"], qtext, _x(a["ratio_quantgate_over_anchor"]),
                     a["source"]])
    L += _table(["anchor", "figure", "quantgate", "ratio", "source"], rows, "lllrl")
    L.append("")

    L += ["## Inputs and how to reproduce", ""]
    rows = [[f"`{v['path']}`", v["status"], f"`{v['produced_by']}`"]
            for v in r["inputs"].values()]
    L += _table(["file", "status", "produced by"], rows, "lll")
    L += ["", "Regenerate this report with `make bench` (= `quantgate bench`); "
          "`quantgate bench --url URL` takes the signing cycles from a device's TIMING "
          "counters (a board, or `sim://`) instead of `sign_cycles.json`.", ""]
    return "\n".join(L)


def _load_text(load) -> str:
    return f", load average {load[0]:g} while measuring" if load else ""


def _used(used, total) -> str:
    if used is None:
        return "—"
    return f"{used:,} ({100 * used / total:.1f}%)" if total else f"{used:,}"


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
