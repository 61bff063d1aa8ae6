"""``quantgate serve``: one daemon owns the appliances, many trading processes talk to it.

    quantgate serve --device URL [--device URL ...] --listen HOST:PORT [--listen unix:PATH]
                    [--config FILE] [--metrics HOST:PORT]

Clients speak the appliance's own wire protocol (docs/protocol.md), so
``Appliance.open("socket://HOST:PORT")`` works unchanged. Each client has its own sequence
numbers; the connector sends every request on to a device under the device session's own
numbers and writes the answer back to the client that asked, under the client's number.
Architecture, configuration and failure behaviour: docs/connector.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import signal
import socket
import stat
import sys
import time

from quantgate import wire

from ..codec import BadFrame, Frame, FrameDecoder, encode_error, encode_frame
from ..errors import DeviceError, op_name
from .config import OPEN, ConfigError, Permissions, Policy
from .metrics import Metrics
from .pool import BROADCAST_OPS, NoDevice, Pool, request_slot

log = logging.getLogger("quantgate.serve")

MAX_IN_FLIGHT = 64  # per client: requests taken in and not yet answered (then reading pauses)
GRACE = 10.0  # seconds SIGTERM waits for in-flight requests before failing them


class Connector:
    """The listening sockets, the client connections and the pool behind them."""

    def __init__(self, pool: Pool, policy: Policy | None = None, *,
                 max_in_flight: int = MAX_IN_FLIGHT, grace: float = GRACE,
                 metrics: Metrics | None = None):
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.pool, self.policy = pool, policy
        self.max_in_flight, self.grace = max_in_flight, grace
        self.metrics = metrics if metrics is not None else Metrics(pool)
        self.stopping = False
        self.addresses: list[str] = []
        self._servers: list[asyncio.base_events.Server] = []
        self._clients: set[ClientConnection] = set()
        self._stopped = asyncio.Event()

    async def listen(self, address: str) -> str:
        """Listen on HOST:PORT or unix:PATH; returns the bound address (port 0 picks one)."""
        if address.startswith("unix:"):
            path = address[len("unix:"):]
            _remove_stale_socket(path)
            server = await asyncio.start_unix_server(self._accept, path)
            # With a configuration every client needs a token: the owner's group (a desk's
            # trading users) may connect. Without one, any connection may load keys: owner only.
            os.chmod(path, 0o660 if self.policy is not None else 0o600)
            bound = f"unix:{path}"
        else:
            check_address(address, self.policy)
            host, port = split_host_port(address)
            server = await asyncio.start_server(self._accept, host, port)
            name = server.sockets[0].getsockname()
            bound = f"{name[0]}:{name[1]}" if ":" not in name[0] else f"[{name[0]}]:{name[1]}"
        self._servers.append(server)
        self.addresses.append(bound)
        return bound

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        """SIGTERM / SIGINT: begin a clean shutdown (runs in the event loop)."""
        if not self.stopping:
            self.stopping = True
            asyncio.get_running_loop().create_task(self.shutdown())

    async def shutdown(self) -> None:
        """Stop taking connections, answer what is in flight (or fail it with UNAVAILABLE after
        the grace period), close the clients, then the devices."""
        self.stopping = True
        for server in self._servers:
            server.close()
        tasks = [t for c in self._clients for t in c.pending.values()]
        if tasks:
            log.info("shutting down: %d request(s) in flight, waiting up to %g s",
                     len(tasks), self.grace)
            _, late = await asyncio.wait(tasks, timeout=self.grace)
            for task in late:
                task.cancel()  # each answers UNAVAILABLE as it is cancelled
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in list(self._clients)), return_exceptions=True)
        await self.pool.close()
        self._stopped.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        client = ClientConnection(self, reader, writer)
        if self.stopping:
            await client.close()
            return
        self._clients.add(client)
        self.metrics.clients.inc()
        try:
            await client.run()
        finally:
            self._clients.discard(client)
            self.metrics.clients.dec()


class ClientConnection:
    """One client: its frames in, its answers out, at most max_in_flight requests at a time."""

    def __init__(self, connector: Connector, reader, writer):
        self.connector = connector
        self.reader, self.writer = reader, writer
        policy = connector.policy
        self.perms: Permissions = OPEN if policy is None else policy.anonymous
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix"
        # (seq, op, digest of payload) -> task: a retransmission of a request still in flight
        # is not run twice; the one answer serves both copies.
        self.pending: dict[tuple[int, int, bytes], asyncio.Task] = {}
        self._room = asyncio.Semaphore(connector.max_in_flight)

    @property
    def name(self) -> str:
        return self.perms.name

    async def run(self) -> None:
        decoder = FrameDecoder(report_errors=True)
        try:
            while True:
                data = await self.reader.read(1 << 16)
                if not data:
                    break
                items = decoder.feed(data)
                data = None  # a LOAD_KEY's bytes are not kept while we wait for more
                while items:
                    item = items.pop(0)
                    if isinstance(item, BadFrame):
                        self._write(encode_error(item.seq, item.code, item.op))
                        self._count_error(item.op, item.code)
                        await self.writer.drain()  # error answers are bounded like the rest
                    else:
                        await self._room.acquire()  # back-pressure: stop reading when full
                        self._start(item)
                    item = None
        except (ConnectionError, OSError):
            pass  # the client went away; its requests are dropped below
        finally:
            for task in list(self.pending.values()):
                task.cancel()
            await self.close()

    async def close(self, timeout: float = 2.0) -> None:
        """Close the connection; a client that does not read its last answers gets `timeout`
        seconds to take them, then the connection is dropped."""
        if not self.writer.is_closing():
            self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            self.writer.transport.abort()

    def _start(self, frame: Frame) -> None:
        key = (frame.seq, frame.op, hashlib.blake2b(frame.payload, digest_size=16).digest())
        if key in self.pending:
            self._room.release()  # a retransmission: the first copy's answer serves it
            return
        task = asyncio.get_running_loop().create_task(self._serve(frame, time.perf_counter()))
        self.pending[key] = task
        task.add_done_callback(lambda _t: self.pending.pop(key, None))

    async def _serve(self, frame: Frame, started: float) -> None:
        """Answer one request. Its room in the client's window is given back only once the
        answer has been taken by the client's socket: a client that does not read its answers
        stops being read."""
        op, seq = frame.op, frame.seq
        written = False
        try:
            self.connector.metrics.request(self.name, _op(op))
            try:
                answer = await self._answer(frame)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not leave the client waiting: answer, and log it
                log.exception("client %s: %s failed", self.name, _op(op))
                answer = self._error(seq, wire.Err.UNAVAILABLE, op)
            self._write(answer)
            written = True
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()
            self.connector.metrics.answered(_op(op), time.perf_counter() - started)
        except asyncio.CancelledError:
            if self.connector.stopping and not written:  # after the grace period: not silent
                self._write(encode_error(seq, wire.Err.UNAVAILABLE, op))
                self._count_error(op, wire.Err.UNAVAILABLE)
            raise
        finally:
            self._room.release()

    async def _answer(self, frame: Frame) -> bytes:
        op, seq, payload = frame.op, frame.seq, frame.payload
        if frame.version != wire.PROTOCOL_VERSION:
            return self._error(seq, wire.Err.BAD_VERSION, op)
        if self.connector.stopping:
            return self._error(seq, wire.Err.UNAVAILABLE, op)
        if op == wire.Op.AUTH:
            return self._auth(seq, payload)
        if not self.perms.allows(op, request_slot(op, payload)):
            log.warning("client %s (%s): %s refused", self.name, self.peer, _op(op))
            return self._error(seq, wire.Err.PERMISSION_DENIED, op)
        pool = self.connector.pool
        secret = op == wire.Op.LOAD_KEY
        try:
            if op in BROADCAST_OPS:
                result = await pool.broadcast(op, payload, secret=secret)
            else:
                result = await pool.forward(op, payload, secret=secret)
        except DeviceError as exc:
            return self._error(seq, exc.code, op)
        except NoDevice as exc:
            log.warning("client %s: %s: %s", self.name, _op(op), exc)
            return self._error(seq, wire.Err.UNAVAILABLE, op)
        return encode_frame(op | wire.RESPONSE_FLAG, seq, result)

    def _auth(self, seq: int, token: bytes) -> bytes:
        if not 1 <= len(token) <= wire.MAX_TOKEN:
            return self._error(seq, wire.Err.BAD_ARGUMENT, wire.Op.AUTH)
        policy = self.connector.policy
        if policy is not None:
            perms = policy.authenticate(token)
            if perms is None:  # whatever the connection was before, it is anonymous now
                log.warning("client %s at %s: unknown token refused", self.name, self.peer)
                self.perms = policy.anonymous
                return self._error(seq, wire.Err.PERMISSION_DENIED, wire.Op.AUTH)
            self.perms = perms
            log.info("client at %s is %s", self.peer, perms.name)
        return encode_frame(wire.Op.AUTH | wire.RESPONSE_FLAG, seq, self.name.encode())

    def _error(self, seq: int, code: int, op: int) -> bytes:
        self._count_error(op, code)
        return encode_error(seq, code, op)

    def _count_error(self, op: int, code: int) -> None:
        self.connector.metrics.error(self.name, _op(op), _err(code))

    def _write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


def _op(op: int) -> str:
    return op_name(op).lower()


def _err(code: int) -> str:
    try:
        return wire.Err(code).name.lower()
    except ValueError:
        return f"0x{code:02x}"


# -- addresses ------------------------------------------------------------------------------------


def split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT or unix:PATH, not {address!r}")
    return host, int(port)


def check_address(address: str, policy: Policy | None, what: str = "listen") -> None:
    """Refuse a TCP address beyond loopback when there is no configuration (ConfigError)."""
    host, _ = split_host_port(address)
    if policy is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to {what} on {address} without --config: every client could load keys "
            f"and sign with every slot. Use 127.0.0.1 or a Unix socket, or give a "
            f"configuration with client tokens")


def is_loopback(host: str) -> bool:
    """True if every address `host` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _remove_stale_socket(path: str) -> None:
    """A Unix socket file left by a connector that died: remove it (anything else: refuse)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens there
    else:
        raise ConfigError(f"another process is listening on {path}")
    finally:
        probe.close()


# -- command line ---------------------------------------------------------------------------------


async def serve(args) -> int:
    policy = Policy.load(args.config) if args.config else None
    pool = Pool(args.device, timeout=args.device_timeout, probe_interval=args.probe_interval)
    metrics = Metrics(pool)
    connector = Connector(pool, policy, max_in_flight=args.max_in_flight, grace=args.grace,
                          metrics=metrics)
    http = None
    try:
        for address in args.listen:  # check every address before touching a device
            if not address.startswith("unix:"):
                check_address(address, policy)
        if args.metrics:
            check_address(args.metrics, policy, "serve metrics")
        await pool.start()
        for address in args.listen:
            print(f"LISTENING {await connector.listen(address)}", flush=True)
        if args.metrics:
            from prometheus_client import start_http_server

            host, port = split_host_port(args.metrics)
            http, _ = start_http_server(port, addr=host, registry=metrics.registry)
            print(f"METRICS {host}:{http.server_port}", flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, connector.request_stop)
        await connector.wait_stopped()
    finally:
        if not connector.stopping:
            await connector.shutdown()
        if http is not None:
            http.shutdown()
    log.info("stopped")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="quantgate serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", action="append", required=True, metavar="URL",
                        help="an appliance: socket://HOST:PORT, /dev/ttyUSB0, sim://, ... "
                             "(repeat for a pool of boards holding the same keys)")
    parser.add_argument("--listen", action="append", required=True, metavar="ADDR",
                        help="HOST:PORT or unix:PATH (repeatable); beyond loopback needs "
                             "--config")
    parser.add_argument("--config", metavar="FILE", help="TOML: client tokens and their "
                        "permissions (docs/connector.md)")
    parser.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics")
    parser.add_argument("--max-in-flight", type=int, default=MAX_IN_FLIGHT,
                        help=f"per client, requests taken in before reading pauses "
                             f"(default {MAX_IN_FLIGHT})")
    parser.add_argument("--device-timeout", type=float, default=None, metavar="S",
                        help="seconds per attempt before a device counts as not answering "
                             "(default 2, sim:// 10)")
    parser.add_argument("--probe-interval", type=float, default=1.0, metavar="S",
                        help="seconds between reconnection attempts to a device that is down")
    parser.add_argument("--grace", type=float, default=GRACE, metavar="S",
                        help=f"on SIGTERM, seconds to finish in-flight requests (default "
                             f"{GRACE:g})")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s quantgate serve: %(message)s")
    try:
        return asyncio.run(serve(args))
    except (ConfigError, ValueError) as exc:
        print(f"quantgate serve: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a device that cannot be opened, an address in use
        print(f"quantgate serve: error: {exc}", file=sys.stderr)
        return 1
