"""The connector's own cost: requests/s and latency through `quantgate serve`, against the same
devices reached directly, with 1, 8 and 64 client processes.

    .venv/bin/python bench/connector_bench.py [--seconds 3] [--clients 1,8,64] [--no-sim]

Each client is its own process, in a closed loop (one request, wait for the answer, the next),
as a trading process that sends an order and waits for its signature. Devices:
* `fake`: quantgate.sim.fake_appliance, a Python stand-in that answers at once (it signs with
  PyNaCl): what is left is the connector's and the clients' own cost;
* `sim`: two simulated appliances (the gateware under Verilator), behind one connector. A
  simulated appliance serves one connection, so "direct" is measured with one client only.
Writes bench/connector.md and bench/results/connector.json. All processes share this
machine's cores, so the figures include the clients' own CPU time; the load average before
the run is in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from connector_helpers import ConnectorProcess  # noqa: E402

from quantgate.sim.fake_appliance import FakeAppliance  # noqa: E402

SEED = bytes(range(32))

# One client: warm up, say READY, wait for GO on stdin, then a closed loop for `seconds`;
# prints its latencies in µs as JSON.
CLIENT = r"""
import json, sys, time
from quantgate.host import Appliance
url, op, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
with Appliance.open(url, timeout=30) as dev:
    call = (lambda i: dev.echo(b"x" * 32)) if op == "echo" else (
        lambda i: dev.sign(0, b'{"order": %d}' % i))
    call(0)
    print("READY", flush=True)
    sys.stdin.readline()
    lat, i, stop = [], 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        t = time.perf_counter()
        call(i)
        lat.append((time.perf_counter() - t) * 1e6)
        i += 1
print(json.dumps(lat))
"""


def run_clients(url: str, op: str, n: int, seconds: float, script: Path) -> dict:
    procs = [subprocess.Popen([sys.executable, str(script), url, op, str(seconds)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    for p in procs:  # every client connected and warmed up before the clock starts
        if p.stdout.readline().strip() != "READY":
            raise RuntimeError(f"client failed: {p.communicate()[1][-2000:]}")
    for p in procs:
        p.stdin.write("GO\n")
        p.stdin.flush()
    lat = []
    for p in procs:
        out, err = p.communicate(timeout=seconds + 120)
        if p.returncode != 0:
            raise RuntimeError(f"client failed: {err[-2000:]}")
        lat += json.loads(out)
    a = np.array(lat)
    return {"clients": n, "requests": len(a), "per_s": len(a) / seconds,
            "p50_us": float(np.percentile(a, 50)), "p99_us": float(np.percentile(a, 99))}


def load_key(url: str) -> None:
    from quantgate.host import Appliance

    with Appliance.open(url, timeout=60) as dev:
        dev.load_key(0, "ed25519", SEED)


def start_sim():
    proc = subprocess.Popen([sys.executable, "-m", "quantgate.sim.serve", "--listen",
                             "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    return proc, "socket://" + proc.stdout.readline().split()[1]


def measure(devices: list[str], direct_ok: bool, clients: list[int], seconds: float,
            script: Path) -> list[dict]:
    rows = []
    with ConnectorProcess(devices, extra=["--device-timeout", "60"]) as conn:
        for op in ("echo", "sign"):
            for n in clients:
                via = run_clients(conn.url, op, n, seconds, script)
                row = {"op": op, "clients": n, "via": via, "direct": None}
                rows.append(row)
                print(f"  {op} x{n}: {via['per_s']:,.0f}/s p50 {via['p50_us']:,.0f} µs "
                      f"p99 {via['p99_us']:,.0f} µs", flush=True)
        conn.terminate()
    for row in rows:  # the same load straight at the first device, without the connector
        if direct_ok or row["clients"] == 1:
            row["direct"] = run_clients(devices[0], row["op"], row["clients"], seconds, script)
    return rows


def render(result: dict) -> str:
    L = ["# The connector's cost (bench/connector_bench.py)", "",
         f"Measured {result['date']} on {result['machine']} ({result['cpus']} cores; load "
         f"average {result['load']} before the run), {result['seconds']:g} s per row, "
         f"closed-loop clients (one request at a time each), each its own process. "
         f"Command: `{result['command']}`.", "",
         "\"Added\" is the connector's p50 minus the direct p50 at the same number of clients "
         "(for the simulated appliance, which serves one connection, against one direct "
         "client). Every process shares the same cores, so rows with many clients measure "
         "the machine as much as the connector.", ""]
    for device, rows in result["devices"].items():
        L += [f"## {device}", "",
              "| op | clients | via connector req/s | p50 µs | p99 µs | direct req/s | "
              "direct p50 µs | direct p99 µs | added p50 µs |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            v, d = r["via"], r["direct"]
            base = d or next((x["direct"] for x in rows
                              if x["op"] == r["op"] and x["direct"]), None)
            cells = [r["op"], r["clients"], f"{v['per_s']:,.0f}", f"{v['p50_us']:,.0f}",
                     f"{v['p99_us']:,.0f}"]
            cells += ([f"{d['per_s']:,.0f}", f"{d['p50_us']:,.0f}", f"{d['p99_us']:,.0f}"]
                      if d else ["-", "-", "-"])
            cells.append(f"{v['p50_us'] - base['p50_us']:,.0f}" if base else "-")
            L.append("| " + " | ".join(str(c) for c in cells) + " |")
        L.append("")
    return "\n".join(L)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument("--no-sim", action="store_true", help="fake devices only")
    parser.add_argument("--out", default=str(ROOT / "bench"))
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    out = Path(args.out)
    script = out / "results" / ".connector_client.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(CLIENT)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load": f"{os.getloadavg()[0]:.2f}", "seconds": args.seconds,
              "command": "python bench/connector_bench.py " + " ".join(argv or sys.argv[1:]),
              "devices": {}}
    try:
        fakes = [FakeAppliance(), FakeAppliance()]
        for f in fakes:
            load_key(f.url)
        print("fake appliances (two, in this process's threads):", flush=True)
        result["devices"]["Two fake appliances (instant answers)"] = measure(
            [f.url for f in fakes], True, clients, args.seconds, script)
        for f in fakes:
            f.kill()
        if not args.no_sim:
            sims = [start_sim(), start_sim()]
            try:
                for _, url in sims:
                    load_key(url)
                print("simulated appliances (two, Verilator):", flush=True)
                result["devices"]["Two simulated appliances (gateware under Verilator)"] = (
                    measure([u for _, u in sims], False, clients, args.seconds, script))
            finally:
                for proc, _ in sims:
                    proc.terminate()
    finally:
        script.unlink(missing_ok=True)
    (out / "results" / "connector.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "connector.md").write_text(render(result) + "\n")
    print(f"wrote {out / 'connector.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
