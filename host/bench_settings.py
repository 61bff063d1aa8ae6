"""What ``quantgate bench`` measures and compares against: the board, the engine counts, the
input files and the commands that write them, and the published anchors (docs/references.md)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository (editable install)
BOARD = "ulx3s-85f"
CURVES = ("ed25519", "secp256k1", "p256")
UART_BAUD = 3_000_000  # the board's default (boards/ulx3s.py, quantgate build --baud)
# the clock every core was designed for; the report shows it only as "not built"
DESIGN_MHZ = 100.0
SIGN_ENGINES = 1  # one KeySlots engine (hdl/signer/keyslots.py) signs for all three curves
BENCH_SLOT = 7  # the key slot the TIMING run loads, signs with and ZEROIZEs (as the selftest)
SIGN_KEYS = 2  # the TIMING run: this many keys per curve ...
SIGN_MESSAGES = 2  # ... each signing this many messages (of one length)
# the pipeline's own latency (docs/numerics.md section 11, cocotb: 71 datapath + 2 FIFO); the
# link path around it is measured by bench/greeks_engine.py
GREEKS_LATENCY_CYCLES = 73
PEER_MESSAGE_BYTES = 100  # Ed25519 peers and the device's Ed25519 frame: a 100-byte order
# Accuracy of the Greeks core, 10M-option sweep (docs/numerics.md, "Measured accuracy")
GREEKS_MAX_ERRORS = {"price": 2.46e-10, "delta": 1.25e-9, "rho": 1.24e-9}

# The input files: name -> (path relative to the repository, the command that writes it)
INPUTS = {
    "build_report": (f"build/{BOARD}/report.json", f"quantgate build --board {BOARD}"),
    "sign_timing": ("bench/results/sign_timing.json", "python bench/sign_timing.py --url sim://"),
    "greeks_engine": ("bench/results/greeks_engine.json", "python bench/greeks_engine.py"),
    "ecc_cycles": ("bench/results/ecc_cycles.json", "python bench/ecc_cycles.py"),
}
# Committed copies read when the file above is absent (a fresh clone has no build/ directory).
RECORDED = {"build_report": f"bench/results/build_{BOARD}.json"}
# Out-of-context synthesis of single cores (bench/synth_core.py, bench/synth_arith.py): the
# first file found per core is used; resource rows of the report only.
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
ARITH_UNITS = "bench/results/synth_arith_*.json"

# What others reach (docs/references.md, "What others reach"): the comparison rows. `value` is
# in `unit`; `compare` names the quantgate figure it is set against. Rates and times compare in
# time; a cycle count without a published clock gets no ratio (cycles at 35.71 MHz and at
# several GHz are not comparable).
ANCHORS = [
    {"anchor": "AMD Vitis Quant cfBSMEngine (float32, Alveo U200)",
     "figure": "2 engines, II=1, 300 MHz, 520 DSP, 80k LUT, ~203M options/s",
     "value": 203e6, "unit": "options/s", "compare": "greeks_options_per_s",
     "source": "AMD Vitis Libraries, Quantitative Finance L2 cfBSMEngine benchmark"},
    {"anchor": "AMD Vitis Quant cfBSMEngine latency",
     "figure": "334 cycles at 300 MHz (1.11 µs)",
     "value": 334 / 300e6 * 1e6, "unit": "us", "compare": "greeks_pipeline_latency_us",
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
    {"anchor": "libsecp256k1 ECDSA sign (x86)", "figure": "~28-39 µs", "value": 33.5,
     "unit": "us", "compare": "secp256k1_latency_us", "source": "libsecp256k1 benchmarks"},
]
ANCHORS_SOURCE = "docs/references.md"
