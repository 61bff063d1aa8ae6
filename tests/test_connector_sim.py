"""`quantgate serve` in front of two simulated appliances (the real gateware under Verilator):
eight client processes sign at once, every signature is verified with PyNaCl and coincurve,
and one appliance is killed in the middle of the run."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import coincurve
import nacl.signing
import pytest
from connector_helpers import ConnectorProcess, metric

from quantgate.host import Appliance

CLIENTS = 8
PER_CLIENT = 6  # signatures per client: 3 Ed25519, 3 secp256k1
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# One trading process: sign its orders through the connector, print them as JSON.
CLIENT = """
import hashlib, json, sys
from quantgate.host import Appliance
url, n = sys.argv[1], int(sys.argv[2])
orders = [b'{"client": %s, "order": %d}' % (sys.argv[2].encode(), i) for i in range(6)]
requests = [(0, o) for o in orders[:3]] + [(1, hashlib.sha256(o).digest()) for o in orders[3:]]
with Appliance.open(url, timeout=60) as dev:
    sigs = dev.sign_many(requests)
    stats = dev.driver_stats
print(json.dumps({"signed": [[o.hex(), s.hex()] for o, s in zip(orders, sigs)],
                  "unmatched": stats["unmatched"], "retransmits": stats["retransmits"]}))
"""


def start_sim():
    proc = subprocess.Popen([sys.executable, "-m", "quantgate.sim.serve", "--listen",
                             "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"simulated appliance did not start: {line!r}")
    return proc, f"socket://{line.split()[1]}"


@pytest.fixture
def two_sims():
    sims = [start_sim(), start_sim()]
    yield sims
    for proc, _ in sims:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def clients(tmp_path):
    """run(url) starts the client processes; any still running at the end are killed."""
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    started = []

    def run(url):
        procs = [subprocess.Popen([sys.executable, str(script), url, str(n)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in range(CLIENTS)]
        started.extend(procs)
        return procs

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def verify_all(procs, seed, d):
    ed = nacl.signing.SigningKey(seed).verify_key
    k1 = coincurve.PrivateKey(d)
    total = 0
    for n, proc in enumerate(procs):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        report = json.loads(out)
        pairs = report["signed"]
        assert len(pairs) == PER_CLIENT  # every request answered, in order
        assert report["unmatched"] == 0 and report["retransmits"] == 0  # and only once
        for i, (order_hex, sig_hex) in enumerate(pairs):
            order, sig = bytes.fromhex(order_hex), bytes.fromhex(sig_hex)
            assert order == b'{"client": %d, "order": %d}' % (n, i)
            if i < 3:
                ed.verify(order, sig)
            else:
                assert sig == k1.sign_recoverable(hashlib.sha256(order).digest(), hasher=None)
            total += 1
    return total


def test_eight_processes_sign_through_two_simulated_appliances(two_sims, clients):
    seed = os.urandom(32)
    d = (int.from_bytes(os.urandom(32), "big") % (SECP256K1_N - 1) + 1).to_bytes(32, "big")
    urls = [url for _, url in two_sims]
    with ConnectorProcess(urls, metrics=True, extra=["--device-timeout", "30",
                                                     "--probe-interval", "60"]) as conn:
        with Appliance.open(conn.url, timeout=120) as admin:  # mirrored onto both appliances
            admin.load_key(0, "ed25519", seed)
            admin.load_key(1, "secp256k1", d)
            assert admin.public_key(0) == nacl.signing.SigningKey(seed).verify_key.encode()
        assert any("slot 0 (ed25519 key): served by " + urls[0] + ", " + urls[1] in line
                   for line in conn.log)
        assert verify_all(clients(conn.url), seed, d) == CLIENTS * PER_CLIENT
        text = conn.scrape()
        assert all(metric(text, "quantgate_device_requests_total", device=u) > 2 for u in urls)

        # Again, killing the first appliance once the run is under way.
        procs = clients(conn.url)
        deadline = time.monotonic() + 300
        while metric(conn.scrape(), "quantgate_client_requests_total", client="anonymous",
                     op="sign") < CLIENTS * PER_CLIENT + 8:
            assert time.monotonic() < deadline, "the clients did not start"
            time.sleep(0.05)
        two_sims[0][0].send_signal(signal.SIGKILL)
        assert verify_all(procs, seed, d) == CLIENTS * PER_CLIENT
        text = conn.scrape()
        assert metric(text, "quantgate_device_up", device=urls[0]) == 0.0
        assert metric(text, "quantgate_device_failures_total", device=urls[0]) == 1.0
        assert metric(text, "quantgate_client_requests_total", client="anonymous",
                      op="sign") == 2 * CLIENTS * PER_CLIENT
        assert conn.terminate() == 0
