"""Running `quantgate serve` in a child process for the connector tests (and its benchmark)."""

import queue
import signal
import subprocess
import sys
import threading
import time

SERVE = (sys.executable, "-m", "quantgate.host.cli", "serve")


class ConnectorProcess:
    """`quantgate serve` with the given devices; `address` is its first listening address."""

    def __init__(self, devices, *, listen=("127.0.0.1:0",), config=None, metrics=False,
                 extra=(), startup_timeout=60.0):
        cmd = [*SERVE]
        for url in devices:
            cmd += ["--device", url]
        for address in listen:
            cmd += ["--listen", address]
        if config is not None:
            cmd += ["--config", str(config)]
        if metrics:
            cmd += ["--metrics", "127.0.0.1:0"]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump_stdout, args=(lines,), daemon=True).start()
        self.addresses, self.metrics = [], None
        deadline = time.monotonic() + startup_timeout
        wanted = len(listen) + bool(metrics)
        while len(self.addresses) + bool(self.metrics) < wanted:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if not line:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise RuntimeError(f"connector did not start (status {self.proc.returncode}):"
                                   "\n" + "".join(self.log[-40:]))
            word, _, rest = line.strip().partition(" ")
            if word == "LISTENING":
                self.addresses.append(rest)
            elif word == "METRICS":
                self.metrics = rest
        self.address = self.addresses[0]
        self.url = (f"unix://{self.address[5:]}" if self.address.startswith("unix:")
                    else f"socket://{self.address}")

    def _pump_stdout(self, lines):
        for line in self.proc.stdout:
            lines.put(line)
        lines.put("")

    def _pump_stderr(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def terminate(self, timeout=30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def scrape(self) -> str:
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
        with opener.open(f"http://{self.metrics}/metrics", timeout=10) as resp:
            return resp.read().decode()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample in Prometheus text (None if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, label_text = head.partition("{")
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if sample == name and got == want:
            return float(value)
    return None
