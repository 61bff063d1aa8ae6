"""Byte transports: TCP socket, pyserial port (UART or any pyserial URL), simulated appliance.

A transport is anything with write(bytes), read(timeout) -> bytes (what is available, b"" on
timeout) and close(). read() may run in one thread while write() runs in another.
"""

import contextlib
import queue
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from .errors import LinkError, QuantgateError
from .session import DEFAULT_TIMEOUT

DEFAULT_BAUD = 3_000_000
SIM_COMMAND = (sys.executable, "-m", "quantgate.sim.serve", "--listen", "127.0.0.1:0")
SIM_STARTUP_TIMEOUT = 600.0  # the first start compiles the Verilator model
SIM_TIMEOUT = 10.0  # per-attempt timeout for sim://: simulated time runs far slower than real
_SERIAL_POLL = 0.01  # pyserial read timeout; read(timeout) loops in steps this long


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self, timeout: float) -> bytes: ...
    def close(self) -> None: ...


def open_transport(url: str, *, baud: int = DEFAULT_BAUD) -> Transport:
    """Open `url`: sim://, socket://HOST:PORT, unix://PATH (a connector's Unix socket),
    serial://PATH?baud=N, a device path, or any other pyserial URL (loop://, rfc2217://...)."""
    parts = urlsplit(url)
    if parts.scheme == "sim":
        return SimTransport.start(_query_args(parts.query))
    if parts.scheme == "socket":
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"expected socket://HOST:PORT, got {url!r}")
        return SocketTransport(parts.hostname, parts.port)
    if parts.scheme == "unix":
        path = parts.netloc + parts.path  # unix:///run/quantgate.sock or unix:relative.sock
        if not path:
            raise ValueError(f"expected unix://PATH, got {url!r}")
        return SocketTransport.unix(path)
    if parts.scheme == "serial":
        query = dict(parse_qsl(parts.query))
        return SerialTransport.open(parts.path, baud=int(query.get("baud", baud)))
    if parts.scheme == "pcie":
        raise QuantgateError("pcie:// transport is not implemented yet")
    return SerialTransport.open(url, baud=baud)


def default_timeout(url: str) -> float:
    """Per-attempt answer timeout suited to the transport `url` names."""
    return SIM_TIMEOUT if url.startswith("sim:") else DEFAULT_TIMEOUT


def _query_args(query: str) -> list[str]:
    """sim://?trace=1&x -> ["--trace", "1", "--x"], passed through to the simulator."""
    args = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        args += [f"--{key}", value] if value else [f"--{key}"]
    return args


class SocketTransport:
    """Raw TCP socket (Nagle off): lower latency than pyserial's socket:// handler. unix()
    connects to a Unix-domain stream socket instead (a connector's `--listen unix:PATH`)."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 10.0,
                 sock: socket.socket | None = None):
        if sock is None:
            try:
                sock = socket.create_connection((host, port), timeout=connect_timeout)
            except OSError as exc:
                raise LinkError(f"cannot connect to {host}:{port}: {exc}") from exc
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._sock.settimeout(None)  # blocking writes; reads wait in the selector instead
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ)
        self.closed = False

    @classmethod
    def unix(cls, path: str, *, connect_timeout: float = 10.0) -> "SocketTransport":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise LinkError(f"cannot connect to {path}: {exc}") from exc
        return cls("", 0, sock=sock)

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise LinkError(f"socket write failed: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        try:
            if not self._selector.select(max(timeout, 0.0)):
                return b""
            data = self._sock.recv(1 << 16)
        except (OSError, ValueError) as exc:  # ValueError: selector or socket already closed
            raise LinkError(f"socket read failed: {exc}") from exc
        if not data:
            raise LinkError("connection closed by peer")
        return data

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._selector.close()


class SerialTransport:
    """A pyserial port: UART device path or any URL serial.serial_for_url understands."""

    def __init__(self, port):
        self._port = port
        self._port.timeout = _SERIAL_POLL
        self.closed = False

    @classmethod
    def open(cls, url: str, *, baud: int = DEFAULT_BAUD) -> "SerialTransport":
        import serial  # pyserial; imported here so socket-only users do not pay for it

        try:
            return cls(serial.serial_for_url(url, baudrate=baud, timeout=_SERIAL_POLL))
        except (serial.SerialException, ValueError) as exc:
            raise LinkError(f"cannot open {url!r}: {exc}") from exc

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except Exception as exc:  # pyserial raises SerialException, OSError, portNotOpenError
            raise LinkError(f"serial write failed: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        # Keep the port's own timeout fixed (changing it reconfigures the tty) and poll instead.
        deadline = time.monotonic() + timeout
        try:
            while True:
                waiting = self._port.in_waiting
                if waiting:
                    return self._port.read(waiting)
                if time.monotonic() >= deadline:
                    return b""
                first = self._port.read(1)  # returns at the first byte or after _SERIAL_POLL
                if first:
                    return first + self._port.read(self._port.in_waiting)
        except Exception as exc:
            raise LinkError(f"serial read failed: {exc}") from exc

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._port.close()


class SimTransport(SocketTransport):
    """Starts `quantgate.sim.serve` in a child process and talks to it over TCP."""

    def __init__(self, host: str, port: int, proc: subprocess.Popen):
        super().__init__(host, port)
        self.process = proc
        # Stop the simulator even if the caller forgets close().
        self._finalizer = weakref.finalize(self, _stop_process, proc)

    @classmethod
    def start(cls, args=(), *, command=None, startup_timeout=SIM_STARTUP_TIMEOUT
              ) -> "SimTransport":
        """Spawn `command + args` (default SIM_COMMAND), wait for its `LISTENING HOST:PORT`
        line, connect."""
        stderr = tempfile.TemporaryFile()
        proc = subprocess.Popen([*(command or SIM_COMMAND), *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=stderr)
        try:
            host, port = _wait_listening(proc, stderr, startup_timeout)
            return cls(host, port, proc)
        except BaseException:
            _stop_process(proc)
            raise
        finally:
            stderr.close()  # the child holds its own descriptor

    def close(self) -> None:
        super().close()
        self._finalizer()


def _wait_listening(proc: subprocess.Popen, stderr, timeout: float) -> tuple[str, int]:
    lines: queue.Queue[bytes] = queue.Queue()

    def pump_stdout():
        # Keep draining after the LISTENING line so a chatty child never blocks on a full pipe.
        with proc.stdout:
            for line in proc.stdout:
                lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump_stdout, name="quantgate-sim-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            line = None
        if line:
            text = line.decode(errors="replace").strip()
            if text.startswith("LISTENING "):
                host, _, port = text.split(" ", 1)[1].rpartition(":")
                return host.strip("[]"), int(port)
        elif line == b"" or proc.poll() is not None:
            proc.wait()
            raise QuantgateError(
                f"simulator exited with status {proc.returncode} before listening:\n"
                + _tail(stderr))
        if time.monotonic() >= deadline:
            _stop_process(proc)
            raise QuantgateError(
                f"simulator did not report LISTENING within {timeout:.0f} s:\n" + _tail(stderr))


def _tail(file, limit: int = 4000) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")[-limit:]


def _stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
