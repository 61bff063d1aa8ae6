"""`quantgate bench` (host/bench.py): the report files, their keys and numbers, the anchors
table, the projections from the cycle and fmax inputs, and inputs that are missing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from quantgate.host import bench
from quantgate.host.bench_settings import TARGET_MHZ
from quantgate.host.cli import main as cli_main

CURVES = ("ed25519", "secp256k1", "p256")


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


def test_quick_bench_writes_both_files(tmp_path, capsys):
    argv = ["bench", "--quick", "--out", str(tmp_path)]
    rc = cli_main(argv) if _cli_has_bench(capsys) else bench.main(argv[1:])
    assert rc in (0, None)
    md = (tmp_path / "results.md").read_text()
    report = json.loads((tmp_path / "results.json").read_text())

    for key in ("schema", "generated_utc", "machine", "inputs", "clock", "core_fmax_mhz",
                "resources", "cycles", "frames", "throughput", "latency", "peers", "anchors"):
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
    assert g["peer_ops_per_s"] > 0 and g["uart_ops_per_s"] > 0
    # the committed inputs (bench/results/greeks.json, synth_arith_*.json) give an fmax
    assert report["clock"]["fmax_mhz"] > 0
    assert g["device_ops_per_s"] == pytest.approx(report["clock"]["fmax_mhz"] * 1e6)
    assert g["ratio_device_over_peer"] > 0
    assert report["latency"]["greeks"]["device_cycles"] > 0
    assert report["latency"]["greeks"]["device_us"] > 0
    # frames: a full-duplex 3 Mbaud link, the larger direction
    f = report["frames"]["greeks"]
    assert g["uart_ops_per_s"] == pytest.approx(
        300_000 / max(f["request_bytes"], f["response_bytes"]) * 20)
    # the anchors, as a table in both files
    assert len(report["anchors"]) == len(bench.ANCHORS)
    assert all(a["source"] and a["figure"] for a in report["anchors"])
    assert "## What others reach" in md
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
    assert report["clock"]["fmax_mhz"] is None
    for curve in CURVES:
        s = report["cycles"]["sign"][curve]
        assert s["status"] == "not measured" and s["cycles"] is None
        assert s["produced_by"] == "python bench/sign_cycles.py"
        assert report["throughput"][curve]["device_ops_per_s"] is None
    md = (out / "results.md").read_text()
    assert "not measured: run `python bench/sign_cycles.py`" in md
    assert "fmax: not measured" in md
    assert json.loads((out / "results.json").read_text())["inputs"]["sign_cycles"][
        "status"] == "missing"


def _root_with(tmp_path, sign_cycles, build_report=None) -> Path:
    root = tmp_path / "repo"
    (root / "bench" / "results").mkdir(parents=True)
    (root / "bench" / "results" / "sign_cycles.json").write_text(json.dumps(sign_cycles))
    (root / "bench" / "results" / "ecc_cycles.json").write_text(json.dumps(
        {"curves": {"ed25519": {"cycles": 16829}, "secp256k1": {"cycles": 23345},
                    "p256": {"cycles": 25627}}}))
    if build_report is not None:
        (root / "build" / "ulx3s-85f").mkdir(parents=True)
        (root / "build" / "ulx3s-85f" / "report.json").write_text(json.dumps(build_report))
    return root


FULL_BUILD = {
    "engines": "default", "cores": ["link", "greeks", "ed25519", "secp256k1", "p256"],
    "target_mhz": 100.0, "timing": "PASS", "command": "quantgate build --board ulx3s-85f",
    "fmax": {"sync": {"net": "$glbnet$clk_pll", "achieved_mhz": 102.5, "target_mhz": 100,
                      "pass": True}},
    "resources": {"LUT4": {"used": 50_000, "available": 83_640, "percent": 59.8},
                  "FF": {"used": 45_000, "available": 83_640, "percent": 53.8},
                  "MULT18X18D": {"used": 107, "available": 156, "percent": 68.6},
                  "DP16KD": {"used": 120, "available": 208, "percent": 57.7}},
}


def test_projections_from_a_full_build_and_sign_cycles(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    cycles = {"command": "python bench/sign_cycles.py",
              "curves": {"ed25519": {"cycles": {"0": 40_000, "100": 40_350, "1000": 45_000}},
                         "secp256k1": {"cycles": 61_234},
                         "p256": 66_543}}
    root = _root_with(tmp_path, cycles, FULL_BUILD)
    report = bench.run(tmp_path / "out", quick=True, root=root)
    assert report["clock"]["fmax_mhz"] == 102.5
    assert report["clock"]["kind"] == "full appliance build"
    sign = report["cycles"]["sign"]
    assert sign["ed25519"]["cycles"] == 40_350 and sign["ed25519"]["message_bytes"] == 100
    assert sign["secp256k1"]["cycles"] == 61_234 and sign["p256"]["cycles"] == 66_543
    for curve in CURVES:
        c = sign[curve]["cycles"]
        t = report["throughput"][curve]
        assert t["device_ops_per_s"] == pytest.approx(102.5e6 / c)
        assert t["device_ops_per_s_at_target"] == pytest.approx(100e6 / c)
        assert t["ratio_device_over_peer"] == pytest.approx(102.5e6 / c / 10_000)
        assert t["uart_limited_ops_per_s"] == min(t["device_ops_per_s"], t["uart_ops_per_s"])
        lat = report["latency"][curve]
        assert lat["device_us"] == pytest.approx(c / 102.5)
        assert lat["device_min_equals_max"] is True
        assert lat["peer_p999_us"] == 200.0
    anchors = {a["anchor"]: a for a in report["anchors"]}
    otbn = anchors["OpenTitan OTBN, P-256 ECDSA sign"]
    assert otbn["quantgate"] == 66_543
    assert otbn["ratio_quantgate_over_anchor"] == pytest.approx(704_126 / 66_543)
    vitis = anchors["AMD Vitis Quant cfBSMEngine (float32, Alveo U200)"]
    # the board runs at the PLL clock, not at the routed fmax: the anchors compare that
    assert vitis["ratio_quantgate_over_anchor"] == pytest.approx(100e6 / 203e6)
    assert vitis["quantgate_unit"] == "options/s at 100 MHz"
    md = (tmp_path / "out" / "results.md").read_text()
    assert "**fmax 102.50 MHz** — full appliance build" in md
    assert "50,000 (59.8%)" in md
    assert "here are at 100 MHz: the clock the bitstream is built for." in md


def test_a_build_that_failed_timing_is_compared_at_its_fmax(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    failed = dict(FULL_BUILD, target_mhz=41.67, timing="FAIL",
                  fmax={"sync": {"achieved_mhz": 38.3, "target_mhz": 41.67, "pass": False}})
    root = _root_with(tmp_path, {"p256": 66_543}, failed)
    report = bench.run(tmp_path / "out", quick=True, root=root)
    assert report["clock"]["anchor_mhz"] == 38.3
    otbn = {a["anchor"]: a for a in report["anchors"]}["OpenTitan OTBN, P-256 ECDSA sign"]
    assert otbn["quantgate"] == 66_543  # cycles do not depend on the clock
    md = (tmp_path / "out" / "results.md").read_text()
    assert "here are at 38.3 MHz: fmax, which is below the clock the bitstream is built for." in md
    assert "fmax is below the 41.67 MHz target" in md


def test_link_only_build_does_not_set_the_device_clock(tmp_path, monkeypatch):
    _fake_peers(monkeypatch)
    link = dict(FULL_BUILD, engines="link", cores=["link"],
                fmax={"sync": {"achieved_mhz": 103.28, "target_mhz": 100, "pass": True}})
    root = _root_with(tmp_path, {"ed25519": 40_350}, link)
    (root / "bench" / "results" / "greeks.json").write_text(json.dumps(
        {"fpga": {"fmax_mhz": 115.4, "mult18x18d": 75, "lut4": 12760, "ff": 23818,
                  "dp16kd": 50}}))
    (root / "bench" / "results" / "synth_arith_montmul.json").write_text(json.dumps(
        {"unit": "montmul", "fmax_mhz": {"clk": 123.8},
         "nextpnr_utilization": {"TRELLIS_COMB": 7039, "MULT18X18D": 32}}))
    report = bench.run(tmp_path / "out", quick=True, root=root)
    clock = report["clock"]
    assert clock["kind"].startswith("estimate")
    assert report["core_fmax_mhz"] == {"link": 103.28, "signer": 123.8, "greeks": 115.4}
    assert clock["fmax_mhz"] == 103.28 and clock["limiting"] == "link"
    # no full build: the anchors are at the default build's clock, below the estimate
    assert clock["anchor_mhz"] == pytest.approx(TARGET_MHZ)
    assert report["resources"]["link_build"]["engines"] == "link"
    assert report["resources"]["full_build"] is None
    assert report["cycles"]["sign"]["ed25519"]["cycles"] == 40_350
    assert report["cycles"]["sign"]["secp256k1"]["status"] == "not measured"


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
    assert sign["ed25519"]["cycles"] == sign_host.ed25519_cycles(bench.PEER_MESSAGE_BYTES)
    assert sign["ed25519"]["message_bytes"] == bench.PEER_MESSAGE_BYTES
    assert sign["secp256k1"]["cycles"] == sign_host.SIGN_CYCLES[1]
    assert sign["p256"]["cycles"] == sign_host.SIGN_CYCLES[2]
    assert all(s["source"] == f"device TIMING ({peer.url})" for s in sign.values())
    assert 7 not in peer.slots
