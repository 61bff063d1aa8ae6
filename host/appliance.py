"""Blocking driver: `with Appliance.open("sim://") as dev: dev.echo(b"hi")`."""

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from . import commands
from .commands import Command
from .errors import LinkError, QuantgateError
from .session import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Request, Session
from .transport import Transport, default_timeout, open_transport

PIPELINE_DEPTH = 256  # requests submitted ahead by pipeline(); the byte window is the real limit
_IDLE_POLL = 0.1


class Appliance:
    """One connection to an appliance (board, simulation or socket).

    Thread-safe: calls from several threads are serialised, and whichever thread is waiting
    reads and dispatches the answers for all of them.
    """

    def __init__(self, transport: Transport, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES):
        self._transport = transport
        self._session = Session(timeout=timeout, retries=retries)
        self._lock = threading.Lock()
        self._info: dict | None = None  # INFO, cached by info(); stats() needs the core list
        self.client_name: str | None = None  # the name a connector gave this client's token

    @classmethod
    def open(cls, url: str = "sim://", *, timeout: float | None = None,
             retries: int = DEFAULT_RETRIES, token: str | bytes | None = None) -> "Appliance":
        """Connect to `url` (see transport.open_transport); use as a context manager.
        `timeout` is per attempt, in seconds (default 2, or 10 for sim://). `token` identifies
        this client to a connector (`quantgate serve --config`); a refused token raises
        PermissionDenied here."""
        if timeout is None:
            timeout = default_timeout(url)
        dev = cls(open_transport(url), timeout=timeout, retries=retries)
        if token is not None:
            try:
                dev.client_name = dev.call(commands.auth(token))
            except BaseException:
                dev.close()
                raise
        return dev

    def close(self) -> None:
        with self._lock:
            self._session.fail_all(LinkError("appliance closed"))
            self._transport.close()

    def __enter__(self) -> "Appliance":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands (one line each; payload formats live in commands.py) --------------------------

    def info(self) -> dict:
        """The device's INFO (protocol and gateware version, clock, baud, cores, ...)."""
        self._info = self.call(commands.info())
        return self._info

    def echo(self, data: bytes) -> bytes:
        return self.call(commands.echo(data))

    def stats(self) -> dict:
        """The device's STATS counters (wire.STATS_FIELDS, ints) and, when INFO lists a signer
        core, "cycles": timing(). INFO is asked once per connection and cached."""
        info = self._info if self._info is not None else self.info()
        if not commands.has_signer(info):
            return self.call(commands.stats())
        counters, cycles = self.pipeline([commands.stats(), commands.timing()],
                                         return_exceptions=True)
        if isinstance(counters, BaseException):
            raise counters
        return commands.merge_cycles(counters, cycles)

    def timing(self) -> dict:
        """Cycle counters of the key-slot engine since reset: {"load_key" | "sign": {"ed25519" |
        "secp256k1" | "p256": {"count", "min_cycles", "max_cycles", "last_cycles"}}}, each
        from the request's last byte to the first response byte; min/max None while count is
        0. A device without a signer core raises UnknownOpcode."""
        return self.call(commands.timing())

    def load_key(self, slot: int, curve: str, secret: bytes) -> None:
        """Store a key in slot 0..7; curve "ed25519" (secret: the 32-byte seed), "secp256k1"
        or "p256" (secret: d, 32 bytes big-endian, 1 <= d < n). Write-only: no command returns
        it. Idempotent."""
        return self.call(commands.load_key(slot, curve, secret))

    def public_key(self, slot: int) -> bytes:
        """Ed25519: the 32-byte encoding; ECDSA: the 33-byte compressed SEC1 key."""
        return self.call(commands.public_key(slot))

    def zeroize(self, slot: int) -> None:
        """Overwrite the slot's key material with zeros; the slot is empty afterwards."""
        return self.call(commands.zeroize(slot))

    def sign(self, slot: int, message: bytes, *, curve: str | None = None) -> bytes:
        """Sign with the key in slot 0..7 (the key never leaves the device).

        Ed25519: `message` is the order itself, up to wire.MAX_SIGN_MESSAGE = 1023 bytes
        (pure RFC 8032); the result is R || S, 64 bytes. secp256k1 / P-256: `message` is the
        32-byte digest of the order (hash it first, e.g. hashlib.sha256(order).digest()); the
        result is r || s || v, 65 bytes, r and s big-endian, v the recovery id (bit 0: parity
        of R.y, bit 1: R.x >= n; secp256k1: low-S). `curve` None signs with whatever the slot
        holds; a name ("ed25519", "secp256k1", "p256") makes the device refuse a key of
        another curve (WrongCurve). Arguments are checked before sending (TypeError /
        ValueError); an empty slot raises EmptySlot, a rare unsignable digest SignFailed."""
        return self.call(commands.sign(slot, message, curve))

    def sign_many(self, requests: Iterable[tuple], *, depth: int = PIPELINE_DEPTH,
                  return_exceptions: bool = False) -> list:
        """Many signatures with requests pipelined: `requests` holds (slot, message) or
        (slot, message, curve) tuples, as sign() takes them. All are checked before the first
        is sent. Returns the signatures in request order; a device error raises (or, with
        return_exceptions=True, takes the failed request's place in the list)."""
        batch = commands.sign_requests(requests)
        return list(self.pipeline(batch, depth=depth, return_exceptions=return_exceptions))

    def greeks(self, spot: float, strike: float, expiry_years: float, rate: float, vol: float,
               *, call: bool = True, carry: float = 0.0, model: str = "bsm") -> commands.Greeks:
        """Price and Greeks of one option on the device's fixed-point pipeline.

        model "bsm" (carry = continuous dividend / foreign rate) or "black76" (spot is the
        forward; carry ignored). Inputs outside the domain (docs/numerics.md) raise ValueError
        before anything is sent."""
        return self.call(commands.greeks(spot, strike, expiry_years, rate, vol, call=call,
                                         carry=carry, model=model))

    def greeks_batch(self, options, *, model: str = "bsm", depth: int = PIPELINE_DEPTH):
        """Greeks of a batch: `options` is a NumPy structured array with float64 fields spot,
        strike, expiry, rate, carry, vol and bool call (commands.OPTIONS_DTYPE; carry and call
        may be omitted). Sent as requests of 20 options with many in flight; returns a
        structured array with float64 price, delta, gamma, vega, theta, rho."""
        batch = commands.greeks_batch(options, model=model)
        return batch.assemble(self.pipeline(batch.commands, depth=depth))

    @property
    def driver_stats(self) -> dict[str, int]:
        """Host-side counters: retransmits, timeouts, stale/unmatched responses, bad frames."""
        return self._session.counters()

    # -- requests and pipelining ------------------------------------------------------------

    def call(self, command: Command) -> Any:
        return command.parse(self.result(self.submit(command.op, command.payload,
                                                     secret=command.secret)))

    def request(self, op: int, payload: bytes = b"") -> bytes:
        """Send one raw request and wait for its result payload."""
        return self.result(self.submit(op, payload))

    def submit(self, op: int, payload: bytes = b"", *, secret: bool = False) -> Request:
        """Queue a request and put it on the wire as soon as the window allows; returns at once.
        Collect it with result(). `secret`: the payload is never shown in a repr."""
        with self._lock:
            req = self._session.submit(op, payload, secret=secret)
            try:
                self._pump(b"")
            except LinkError as exc:
                self._session.fail_all(exc)
                raise
            return req

    def result(self, request: Request) -> bytes:
        """Wait for `request` (from submit) and return its result payload, or raise
        DeviceError / QuantgateTimeout."""
        with self._lock:
            session, transport = self._session, self._transport
            try:
                data = b""
                deadline = session.next_deadline()
                if deadline is not None and deadline <= time.monotonic():
                    data = transport.read(0)  # answers already here must not count as late
                while True:
                    self._pump(data)
                    if request.done:
                        return request.value()
                    deadline = session.next_deadline()
                    wait = _IDLE_POLL if deadline is None else deadline - time.monotonic()
                    data = transport.read(max(wait, 0.0))
            except LinkError as exc:
                session.fail_all(exc)
                raise

    def cancel(self, request: Request) -> None:
        """Drop interest in a submitted request (its answer, if any, is discarded)."""
        with self._lock:
            self._session.cancel(request)

    def pipeline(self, requests: Iterable, *, depth: int = PIPELINE_DEPTH,
                 return_exceptions: bool = False) -> Iterator[Any]:
        """Run many requests with several in flight; yield their results in request order.

        Each item is a Command or an `(op, payload)` pair (result: raw payload bytes). Requests
        are submitted lazily, at most `depth` ahead of the result being yielded, and the session
        keeps at most wire.RX_BUFFER request bytes unanswered. A failed request raises where its
        result would be yielded (or is yielded as the exception with return_exceptions=True).
        """
        pending: deque[tuple[Command, Request]] = deque()
        try:
            for item in requests:
                command = Command(*item)
                pending.append((command, self.submit(command.op, command.payload,
                                                     secret=command.secret)))
                if len(pending) >= depth:
                    yield self._collect(*pending.popleft(), return_exceptions)
            while pending:
                yield self._collect(*pending.popleft(), return_exceptions)
        finally:
            for _, req in pending:  # generator closed early: drop what is still outstanding
                self.cancel(req)

    def echo_many(self, payloads: Iterable[bytes], **kwargs) -> Iterator[bytes]:
        """Pipelined echo: yields each payload as the device returns it, in order."""
        return self.pipeline((commands.echo(p) for p in payloads), **kwargs)

    def _collect(self, command: Command, req: Request, return_exceptions: bool) -> Any:
        try:
            return command.parse(self.result(req))
        except QuantgateError as exc:
            if return_exceptions:
                return exc
            raise

    def _pump(self, data: bytes) -> None:
        out = self._session.step(time.monotonic(), data)
        if out:
            self._transport.write(out)
