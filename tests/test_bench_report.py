"""`quantgate bench` (host/bench.py): the report files, their keys and numbers, the anchors
table, the device figures from their measured inputs at the bitstream's clock, and inputs that
are missing. Expected figures are worked out here from the inputs, not taken from the code."""

import binascii
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from cobs import cobs

from quantgate import wire
from quantgate.host import bench
from quantgate.host.cli import main as cli_main

CURVES = ("ed25519", "secp256k1", "p256")
PLL_MHZ = 25 / 7 * 10  # the build report's PLL: 25 MHz / 7 x 10 = 35.714... MHz


def _cli_has_bench(capsys) -> bool:
    """Whether `quantgate bench` is wired into the CLI yet (host/cli.py)."""
    try:
        cli_main(["bench", "--help"])
    except SystemExit as exc:
        capsys.readouterr()
        return exc.code == 0
    return False


def _fake_peers(monkeypatch):
    """Peers with fixed figures, for tests of the report's arithmetic."""
    def signing(n=0, seed=1):
        return {c: {"peer": f"fake {c}", "n": 10, "ops_per_s": 10_000.0, "p50_us": 50.0,
                    "p99_us": 90.0, "p999_us": 200.0, "max_us": 300.0} for c in CURVES}

    def greeks(n=0, n_latency=0, seed=1):
        return {"peer": "fake greeks", "n": 10, "options_per_s": 2e6,
                "latency": {"p50_us": 20.0, "p99_us": 40.0, "p999_us": 80.0, "max_us": 100.0}}

    monkeypatch.setattr(bench, "measure_signing_peers", signing)
    monkeypatch.setattr(bench, "measure_greeks_peer", greeks)


def _wire_bytes(op: int, payload_len: int) -> int:
    """A frame with a payload of 0xff bytes, COBS-encoded by the `cobs` package, + delimiter."""
    body = struct.pack("<BBHH", wire.PROTOCOL_VERSION, op, 0x0101, payload_len) \
        + b"\xff" * payload_len
    return len(cobs.encode(body + struct.pack("<I", binascii.crc32(body)))) + 1


# 20 options of 41 bytes (+ the model byte) in, 20 results of 49 bytes out
GREEKS_LINE = 300_000 / max(_wire_bytes(wire.Op.GREEKS, 1 + 20 * 41),
                            _wire_bytes(wire.Op.GREEKS | wire.RESPONSE_FLAG, 20 * 49)) * 20


def test_quick_bench_writes_both_files(tmp_path, capsys):
    argv = ["bench", "--quick", "--out", str(tmp_path)]
    rc = cli_main(argv) if _cli_has_bench(capsys) else bench.main(argv[1:])
    assert rc in (0, None)
    md = (tmp_path / "results.md").read_text()
    report = json.loads((tmp_path / "results.json").read_text())

    for key in ("schema", "generated_utc", "machine", "inputs", "clock", "resources", "cycles",
                "frames", "throughput", "latency", "peers", "anchors"):
        assert key in report, key
    assert set(report["inputs"]) == set(bench.INPUTS)
    for v in report["inputs"].values():
        assert v["status"] in ("read", "missing") and v["produced_by"]
    # the software peers of this run
    for curve in CURVES:
        peer = report["peers"]["sign"][curve]
        assert peer["ops_per_s"] > 0 and 0 < peer["p50_us"] <= peer["p99_us"] <= peer["p999_us"]
        t = report["throughput"][curve]
        assert t["peer_ops_per_s"] > 0 and t["uart_ops_per_s"] > 0
        assert report["latency"][curve]["peer_p50_us"] > 0
        assert report["cycles"]["sign"][curve]["status"] in ("measured", "not measured")
    g = report["throughput"]["greeks"]
    assert g["peer_ops_per_s"] > 0
    assert g["uart_ops_per_s"] == pytest.approx(GREEKS_LINE)
    # the committed build report sets the clock: its PLL's, not the routed fmax
    build = json.loads((bench.ROOT / report["inputs"]["build_report"]["path"]).read_text())
    assert report["clock"]["mhz"] == pytest.approx(build["pll"]["fout_mhz"])
    assert report["clock"]["fmax_mhz"] == build["fmax"]["sync"]["achieved_mhz"]
    engine = bench.ROOT / "bench" / "results" / "greeks_engine.json"
    if engine.exists():  # the committed measurement of the engine through the link core
        per_option = json.loads(engine.read_text())["clocks_per_option"]
        assert g["engine_ops_per_s"] == pytest.approx(build["pll"]["fout_mhz"] * 1e6
                                                      / per_option)
    # the anchors, as a table in both files, cited from the repository's own references
    assert len(report["anchors"]) == len(bench.ANCHORS)
    assert all(a["source"] and a["figure"] for a in report["anchors"])
    assert "## What others reach" in md and "docs/references.md" in md
    assert (bench.ROOT / "docs" / "references.md").exists()
    assert "shared" not in md
    for a in bench.ANCHORS:
        assert a["anchor"] in md
    for section in ("## Clock", "## Cycles per operation", "## Throughput", "## Latency"):
        assert section in md
    assert "Vitis" in md and "203M options/s" in md


def test_missing_inputs_are_reported_not_measured(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    root, out = tmp_path / "empty", tmp_path / "out"
    root.mkdir()
    report = bench.run(out, quick=True, root=root)
    assert all(v["status"] == "missing" for v in report["inputs"].values())
    assert report["clock"]["mhz"] is None
    for curve in CURVES:
        s = report["cycles"]["sign"][curve]
        assert s["status"] == "not measured" and s["cycles"] is None
        assert s["produced_by"] == "python bench/sign_timing.py --url sim://"
        assert report["throughput"][curve]["appliance_ops_per_s"] is None
    assert report["cycles"]["greeks"]["status"] == "not measured"
    assert report["throughput"]["greeks"]["engine_ops_per_s"] is None
    md = (out / "results.md").read_text()
    assert "run `python bench/sign_timing.py --url sim://`" in md
    assert "run `python bench/greeks_engine.py`" in md
    assert "Not measured: no build report of the full appliance" in md
    assert json.loads((out / "results.json").read_text())["inputs"]["sign_timing"][
        "status"] == "missing"


def _timing(cycles_each: dict, min_max: dict | None = None) -> dict:
    """A sign_timing.json: per curve the cycles of each signature and TIMING's min / max."""
    min_max = min_max or {}
    return {"url": "sim://", "command": "python bench/sign_timing.py --url sim://",
            "clock_hz": 100_000_000, "curves": {
                c: {"cycles_each": each, "count": len(each),
                    "min_cycles": min_max.get(c, (min(each), max(each)))[0],
                    "max_cycles": min_max.get(c, (min(each), max(each)))[1],
                    "message_bytes": 100 if c == "ed25519" else 32}
                for c, each in cycles_each.items()}}


SIGN_TIMING = _timing({"ed25519": [17_964] * 4, "secp256k1": [28_726] * 4,
                       "p256": [30_944] * 4})
GREEKS_ENGINE = {"clocks_per_option": 133.0, "one_option_latency_clocks": 900,
                 "command": "python bench/greeks_engine.py"}
FULL_BUILD = {
    "engines": "default", "cores": ["link", "greeks", "ed25519", "secp256k1", "p256"],
    "target_mhz": 35.714286, "timing": "PASS",
    "pll": {"fin_mhz": 25.0, "clki_div": 7, "clkfb_div": 10, "clkop_div": 17,
            "fout_mhz": PLL_MHZ},
    "command": "quantgate build --board ulx3s-85f",
    "fmax": {"sync": {"net": "$glbnet$clk_pll", "achieved_mhz": 63.2, "target_mhz": 35.71,
                      "pass": True}},
    "resources": {"LUT4": {"used": 54_026, "available": 83_640, "percent": 64.6},
                  "FF": {"used": 49_836, "available": 83_640, "percent": 59.6},
                  "MULT18X18D": {"used": 108, "available": 156, "percent": 69.2},
                  "DP16KD": {"used": 124, "available": 208, "percent": 59.6}},
}


def _root_with(tmp_path, sign_timing=SIGN_TIMING, greeks_engine=GREEKS_ENGINE,
               build_report=FULL_BUILD) -> Path:
    root = tmp_path / "repo"
    (root / "bench" / "results").mkdir(parents=True)
    results = root / "bench" / "results"
    (results / "sign_timing.json").write_text(json.dumps(sign_timing))
    if greeks_engine is not None:
        (results / "greeks_engine.json").write_text(json.dumps(greeks_engine))
    (results / "ecc_cycles.json").write_text(json.dumps(
        {"curves": {"ed25519": {"cycles": 16829}, "secp256k1": {"cycles": 23345},
                    "p256": {"cycles": 25627}}}))
    if build_report is not None:
        (root / "build" / "ulx3s-85f").mkdir(parents=True)
        (root / "build" / "ulx3s-85f" / "report.json").write_text(json.dumps(build_report))
    return root


def _md_row(md: str, starts: str) -> str:
    rows = [line for line in md.splitlines() if line.startswith(f"| {starts}")]
    assert len(rows) == 1, (starts, rows)
    return rows[0]


def test_signing_at_the_pll_clock_with_the_clock_beside_every_us(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    report = bench.run(tmp_path / "out", quick=True, root=_root_with(tmp_path))
    clock = report["clock"]
    assert clock["mhz"] == pytest.approx(PLL_MHZ) and clock["fmax_mhz"] == 63.2
    for curve, c in (("ed25519", 17_964), ("secp256k1", 28_726), ("p256", 30_944)):
        t = report["throughput"][curve]
        assert t["engine_ops_per_s"] == pytest.approx(PLL_MHZ * 1e6 / c)  # not 63.2 MHz / c
        assert t["engine_ops_per_s_at_design_not_built"] == pytest.approx(100e6 / c)
        assert t["appliance_ops_per_s"] == pytest.approx(min(PLL_MHZ * 1e6 / c,
                                                             t["uart_ops_per_s"]))
        assert t["ratio_appliance_over_peer"] == pytest.approx(t["appliance_ops_per_s"] / 1e4)
        lat = report["latency"][curve]
        assert lat["device_us"] == pytest.approx(c / PLL_MHZ)
        assert lat["device_with_uart_us"] > lat["device_us"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "**35.71 MHz**: the PLL clock of the full appliance build" in md
    assert "routed fmax 63.2 MHz" in md
    assert "54,026 (64.6%)" in md
    header = _md_row(md, "operation | device cycles")
    device_us = [c for c in header.split("|") if "µs" in c and "peer" not in c]
    assert len(device_us) == 3 and all("MHz" in c for c in device_us), device_us
    assert "device µs at 35.71 MHz" in header
    assert "µs with the 3 Mbaud frames, at 35.71 MHz" in header
    assert "device µs at 100 MHz (not built)" in header
    assert "whole appliance at 35.71 MHz" in _md_row(md, "operation | engine at")


def test_min_and_max_are_compared_not_assumed(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    timing = _timing({"ed25519": [17_964] * 4, "secp256k1": [28_726] * 4,
                      "p256": [30_944, 30_944, 30_945, 30_944]},
                     {"ed25519": (17_622, 17_964)})  # an earlier, shorter message
    report = bench.run(tmp_path / "out", quick=True, root=_root_with(tmp_path, timing))
    sign = report["cycles"]["sign"]
    assert sign["ed25519"]["device_min_equals_max"] is False
    assert sign["secp256k1"]["device_min_equals_max"] is True
    assert sign["p256"]["device_min_equals_max"] is False
    assert sign["p256"]["cycles"] == 30_945  # the most a signature of the run took
    md = (tmp_path / "out" / "results.md").read_text()
    ed = _md_row(md, "SIGN ed25519")
    assert "| 17,622 / 17,964 | no |" in ed
    assert "| 28,726 = 28,726 | yes |" in _md_row(md, "SIGN secp256k1")
    assert "| 30,944 / 30,945 | no |" in _md_row(md, "SIGN p256")


def test_greeks_rate_from_the_measured_clocks_per_option(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    report = bench.run(tmp_path / "out", quick=True, root=_root_with(tmp_path))
    g = report["throughput"]["greeks"]
    assert g["engine_ops_per_s"] == pytest.approx(PLL_MHZ * 1e6 / 133)  # not PLL x 1
    assert g["uart_ops_per_s"] == pytest.approx(GREEKS_LINE)
    assert g["appliance_ops_per_s"] == pytest.approx(GREEKS_LINE)  # the line is the limit
    assert g["limited_by"] == "uart"
    assert g["ratio_appliance_over_peer"] == pytest.approx(GREEKS_LINE / 2e6)
    assert g["engine_ops_per_s_at_design_not_built"] == pytest.approx(100e6 / 133)
    lat = report["latency"]["greeks"]
    assert lat["device_cycles"] == 900 and lat["device_us"] == pytest.approx(900 / PLL_MHZ)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| 133.0 |" in _md_row(md, "GREEKS through the link core: clocks per option")


def test_no_faster_claim_from_cycle_ratios_at_unequal_clocks(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    report = bench.run(tmp_path / "out", quick=True, root=_root_with(tmp_path))
    anchors = {a["anchor"]: a for a in report["anchors"]}
    for name in ("OpenTitan OTBN, P-256 ECDSA sign", "lib25519 Ed25519 sign (x86)"):
        assert anchors[name]["speed_ratio_in_time"] is None
    assert anchors["OpenTitan OTBN, P-256 ECDSA sign"]["quantgate"] == 30_944
    # in time: signatures/s, and microseconds, at the PLL clock
    fpga = anchors["Ed25519 sign on FPGA (Bisheh-Niasar et al., Zynq-7020)"]
    ed25519 = min(PLL_MHZ * 1e6 / 17_964, report["throughput"]["ed25519"]["uart_ops_per_s"])
    assert fpga["speed_ratio_in_time"] == pytest.approx(ed25519 / 6200)
    lib = anchors["libsecp256k1 ECDSA sign (x86)"]
    assert lib["speed_ratio_in_time"] == pytest.approx(33.5 / (28_726 / PLL_MHZ))
    vitis = anchors["AMD Vitis Quant cfBSMEngine (float32, Alveo U200)"]
    assert vitis["speed_ratio_in_time"] == pytest.approx(GREEKS_LINE / 203e6)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "faster" not in md  # every ratio in time is below 1 here
    otbn = _md_row(md, "OpenTitan OTBN")
    assert "none (" in otbn and "30,944 cycles per signature" in otbn
    assert "quantgate slower" in _md_row(md, "libsecp256k1")


def test_a_build_that_failed_timing_uses_its_fmax(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    failed = dict(FULL_BUILD, timing="FAIL", pll={"fout_mhz": 41.67},
                  fmax={"sync": {"achieved_mhz": 38.3, "target_mhz": 41.67, "pass": False}})
    report = bench.run(tmp_path / "out", quick=True, root=_root_with(tmp_path,
                                                                     build_report=failed))
    assert report["clock"]["mhz"] == 38.3
    assert report["latency"]["p256"]["device_us"] == pytest.approx(30_944 / 38.3)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "**38.30 MHz**: the routed fmax of a full appliance build that failed timing" in md


def test_link_only_build_sets_no_device_clock(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    link = dict(FULL_BUILD, engines="link", cores=["link"],
                fmax={"sync": {"achieved_mhz": 103.28, "target_mhz": 100, "pass": True}})
    root = _root_with(tmp_path, build_report=link)
    (root / "bench" / "results" / "synth_arith_montmul.json").write_text(json.dumps(
        {"unit": "montmul", "fmax_mhz": {"clk": 123.8},
         "nextpnr_utilization": {"TRELLIS_COMB": 7039, "MULT18X18D": 32}}))
    report = bench.run(tmp_path / "out", quick=True, root=root)
    assert report["clock"]["mhz"] is None
    assert report["resources"]["link_build"]["engines"] == "link"
    assert report["resources"]["full_build"] is None
    assert report["resources"]["arith_units_out_of_context"][0]["fmax_mhz"] == 123.8
    t = report["throughput"]["ed25519"]
    assert t["engine_ops_per_s"] is None and t["appliance_ops_per_s"] is None
    assert t["engine_ops_per_s_at_design_not_built"] == pytest.approx(100e6 / 17_964)
    assert report["cycles"]["sign"]["ed25519"]["cycles"] == 17_964


def test_bench_does_not_import_amaranth():
    code = ("import sys; from quantgate.host import bench, selftest; "
            "bench.measure_greeks_peer(2000, 10); bench.frame_sizes(); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('amaranth', 'cocotb')); "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sign_cycles_from_a_device_timing(tmp_path, monkeypatch):
    """--url: the cycles per signature from a device's TIMING (test_sign_host's SignerPeer, a
    fake device on a socket, through the real driver); slot 7 is zeroized afterwards."""
    sign_host = pytest.importorskip("test_sign_host")
    _fake_peers(monkeypatch)
    peer = sign_host.SignerPeer()
    try:
        report = bench.run(tmp_path / "out", quick=True, root=tmp_path, url=peer.url)
    finally:
        peer.close()
    sign = report["cycles"]["sign"]
    ed = sign_host.ed25519_cycles(100)
    assert sign["ed25519"]["cycles_each"] == [ed] * 4  # 2 keys x 2 messages of 100 bytes
    assert sign["ed25519"]["message_bytes"] == 100
    assert sign["secp256k1"]["cycles"] == sign_host.SIGN_CYCLES[1]
    assert sign["p256"]["cycles"] == sign_host.SIGN_CYCLES[2]
    assert all(s["device_min_equals_max"] is True for s in sign.values())
    assert all(s["source"] == f"device TIMING ({peer.url}), this run" for s in sign.values())
    assert 7 not in peer.slots
