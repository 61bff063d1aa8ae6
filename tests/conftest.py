import pytest


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="run the long sweeps marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    opt_in = pytest.mark.skip(reason="long sweep: opt in with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(opt_in)


@pytest.fixture(scope="session")
def sim_address():
    """One simulated appliance (`quantgate sim` on a free port) per test process; modules that
    use it are grouped onto one xdist worker (xdist_group "appliance_sim")."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "quantgate.sim.serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("LISTENING "):
            proc.kill()
            raise RuntimeError(f"simulated appliance did not start: {line!r}\n"
                               f"{proc.stderr.read()[-4000:]}")
        yield line.split()[1]  # HOST:PORT
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
