"""asyncio driver: `async with AsyncAppliance.open("sim://") as dev: await dev.echo(b"hi")`.

Sockets (socket://, unix://) are read by the event loop itself; other transports (a UART
through pyserial, sim://) by a reader thread that hands received bytes to the loop.
Everything else (matching, retries, the window) runs on the loop in the shared Session, and
each request is an asyncio future settled by the Session's completion callback.
"""

import asyncio
import functools
import math
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from . import commands
from .appliance import PIPELINE_DEPTH
from .commands import Command
from .errors import LinkError, QuantgateError
from .session import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Request, Session
from .transport import Transport, default_timeout, open_transport

_READ_POLL = 0.05  # how often the reader thread checks for close()
CONNECT_TIMEOUT = 10.0  # seconds for a socket connection to be accepted (SocketTransport's)


class AsyncAppliance:
    """One connection to an appliance, for event-loop code. Methods must be called from the
    loop that created it; any number of coroutines may have requests in flight at once."""

    def __init__(self, transport: Transport, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES):
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._session = Session(timeout=timeout, retries=retries)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._closing = False
        self._error: BaseException | None = None
        self._info: dict | None = None  # INFO, cached by info(); stats() needs the core list
        self.client_name: str | None = None  # the name a connector gave this client's token
        # Called once, in the loop, when the link fails (the connector's pool marks the
        # device down at once, not at the next request).
        self.on_link_failure: Callable[[BaseException], None] | None = None
        self._reader: threading.Thread | None = None
        if isinstance(transport, LoopSocket):
            transport.attach(self._pump, self._on_lost)
        else:
            self._reader = threading.Thread(target=self._read_loop, name="quantgate-reader",
                                            daemon=True)
            self._reader.start()
        self._pump()

    @classmethod
    def open(cls, url: str = "sim://", *, timeout: float | None = None,
             retries: int = DEFAULT_RETRIES, token: str | bytes | None = None) -> "_Opening":
        """`async with AsyncAppliance.open(url) as dev`, or `dev = await ...open(url)`.
        `token`: as Appliance.open (a connector's client token)."""

        if timeout is None:
            timeout = default_timeout(url)
        auth = None if token is None else commands.auth(token)  # checked before connecting

        async def connect() -> AsyncAppliance:
            if urlsplit(url).scheme in ("socket", "unix"):
                transport = await LoopSocket.connect(url)
            else:
                # Opening may block for minutes (sim:// compiles the model): keep the loop free.
                transport = await asyncio.get_running_loop().run_in_executor(
                    None, open_transport, url)
            try:
                dev = cls(transport, timeout=timeout, retries=retries)
            except BaseException:
                transport.close()
                raise
            if auth is not None:
                try:
                    dev.client_name = await dev.call(auth)
                except BaseException:
                    await dev.aclose()
                    raise
                finally:
                    drop_token()
            return dev

        def drop_token():  # the token is not kept for the life of the connection
            nonlocal auth
            auth = None

        return _Opening(connect)

    async def aclose(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        self._session.fail_all(LinkError("appliance closed"))
        if self._reader is None:
            self._transport.close()  # a LoopSocket: closed in its own loop
        else:
            await self._loop.run_in_executor(None, self._shutdown)

    async def __aenter__(self) -> "AsyncAppliance":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # -- commands (same names as Appliance) ---------------------------------------------------

    async def info(self) -> dict:
        self._info = await self.call(commands.info())
        return self._info

    async def echo(self, data: bytes) -> bytes:
        return await self.call(commands.echo(data))

    async def stats(self) -> dict:
        """Appliance.stats: STATS counters, plus "cycles" when INFO lists a signer core."""
        info = self._info if self._info is not None else await self.info()
        if not commands.has_signer(info):
            return await self.call(commands.stats())
        counters, cycles = [r async for r in self.pipeline(
            [commands.stats(), commands.timing()], return_exceptions=True)]
        if isinstance(counters, BaseException):
            raise counters
        return commands.merge_cycles(counters, cycles)

    async def timing(self) -> dict:
        """Appliance.timing as a coroutine."""
        return await self.call(commands.timing())

    async def load_key(self, slot: int, curve: str, secret: bytes) -> None:
        return await self.call(commands.load_key(slot, curve, secret))

    async def public_key(self, slot: int) -> bytes:
        return await self.call(commands.public_key(slot))

    async def zeroize(self, slot: int) -> None:
        return await self.call(commands.zeroize(slot))

    async def sign(self, slot: int, message: bytes, *, curve: str | None = None) -> bytes:
        """Appliance.sign as a coroutine; many calls may be in flight at once."""
        return await self.call(commands.sign(slot, message, curve))

    async def sign_many(self, requests: Iterable[tuple], *, depth: int = PIPELINE_DEPTH,
                        return_exceptions: bool = False) -> list:
        """Appliance.sign_many as a coroutine: signatures in request order."""
        batch = commands.sign_requests(requests)
        return [r async for r in self.pipeline(batch, depth=depth,
                                               return_exceptions=return_exceptions)]

    async def greeks(self, spot: float, strike: float, expiry_years: float, rate: float,
                     vol: float, *, call: bool = True, carry: float = 0.0,
                     model: str = "bsm") -> commands.Greeks:
        """Appliance.greeks as a coroutine."""
        return await self.call(commands.greeks(spot, strike, expiry_years, rate, vol, call=call,
                                               carry=carry, model=model))

    async def greeks_batch(self, options, *, model: str = "bsm", depth: int = PIPELINE_DEPTH):
        """Appliance.greeks_batch as a coroutine (requests pipelined on the event loop)."""
        batch = commands.greeks_batch(options, model=model)
        return batch.assemble([r async for r in self.pipeline(batch.commands, depth=depth)])

    @property
    def driver_stats(self) -> dict[str, int]:
        return self._session.counters()

    # -- requests and pipelining --------------------------------------------------------------

    async def call(self, command: Command) -> Any:
        return command.parse(await self.submit(command.op, command.payload,
                                               secret=command.secret))

    async def request(self, op: int, payload: bytes = b"") -> bytes:
        return await self.submit(op, payload)

    def submit(self, op: int, payload: bytes = b"", *, secret: bool = False) -> asyncio.Future:
        """Queue a request; the future resolves to its result payload (or DeviceError /
        QuantgateTimeout). Cancelling the future drops the request. `secret`: the payload is
        never shown in a repr."""
        if self._closing or self._error is not None:
            raise LinkError("appliance closed") from self._error
        fut = self._loop.create_future()
        req = self._session.submit(op, payload, callback=functools.partial(_settle, fut),
                                   secret=secret)
        fut.add_done_callback(functools.partial(self._on_future_done, req))
        self._pump()
        return fut

    async def pipeline(self, requests: Iterable, *, depth: int = PIPELINE_DEPTH,
                       return_exceptions: bool = False) -> AsyncIterator[Any]:
        """Async counterpart of Appliance.pipeline: results in request order."""
        pending: deque[tuple[Command, asyncio.Future]] = deque()
        try:
            for item in requests:
                command = Command(*item)
                pending.append((command, self.submit(command.op, command.payload,
                                                     secret=command.secret)))
                if len(pending) >= depth:
                    yield await _collect(*pending.popleft(), return_exceptions)
            while pending:
                yield await _collect(*pending.popleft(), return_exceptions)
        finally:
            for _, fut in pending:
                fut.cancel()

    def echo_many(self, payloads: Iterable[bytes], **kwargs) -> AsyncIterator[bytes]:
        return self.pipeline((commands.echo(p) for p in payloads), **kwargs)

    # -- event-loop side ----------------------------------------------------------------------

    def _pump(self, data: bytes = b"") -> None:
        if self._closing:
            return
        try:
            out = self._session.step(time.monotonic(), data)
            if out:
                self._transport.write(out)
        except LinkError as exc:
            self._fail(exc)
            return
        self._arm_timer()

    def _arm_timer(self) -> None:
        # One timer at the earliest deadline; a later deadline never needs re-arming.
        deadline = self._session.next_deadline()
        if deadline is None or (self._timer is not None and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_later(max(deadline - time.monotonic(), 0.0),
                                            self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _on_future_done(self, req: Request, fut: asyncio.Future) -> None:
        if fut.cancelled():
            self._session.cancel(req)

    def _fail(self, exc: BaseException) -> None:
        first = self._error is None
        if first:
            self._error = exc
        self._session.fail_all(exc)
        if first and self.on_link_failure is not None:
            self.on_link_failure(exc)

    # -- reader thread ------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            while not self._closing:
                data = self._transport.read(_READ_POLL)
                if data:
                    self._loop.call_soon_threadsafe(self._pump, data)
        except LinkError as exc:
            if not self._closing:
                self._call_soon(self._fail, exc)
        except RuntimeError:
            pass  # event loop closed under us

    def _call_soon(self, fn, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass

    def _on_lost(self, exc: BaseException | None) -> None:
        if not self._closing:
            self._fail(LinkError(f"connection lost: {exc}" if exc else
                                 "connection closed by peer"))

    def _shutdown(self) -> None:
        self._reader.join()
        self._transport.close()


class LoopSocket(asyncio.Protocol):
    """A socket:// or unix:// connection read by the event loop (no reader thread): received
    bytes go straight to the driver's pump. write() and close() as a Transport's."""

    def __init__(self):
        self._transport: asyncio.Transport | None = None
        self._on_data = self._on_lost = None
        self._early: list[bytes] = []  # bytes that arrive before attach()

    @classmethod
    async def connect(cls, url: str) -> "LoopSocket":
        loop = asyncio.get_running_loop()
        parts = urlsplit(url)
        if parts.scheme == "unix":
            opening = loop.create_unix_connection(cls, parts.netloc + parts.path)
        else:
            if parts.hostname is None or parts.port is None:
                raise ValueError(f"expected socket://HOST:PORT, got {url!r}")
            opening = loop.create_connection(cls, parts.hostname, parts.port)
        try:
            _, proto = await asyncio.wait_for(opening, CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            raise LinkError(f"cannot connect to {url}: {exc or 'timed out'}") from exc
        return proto

    def attach(self, on_data, on_lost) -> None:
        self._on_data, self._on_lost = on_data, on_lost
        for data in self._early:
            on_data(data)
        self._early.clear()

    def connection_made(self, transport) -> None:
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._on_data is None:
            self._early.append(data)
        else:
            self._on_data(data)

    def connection_lost(self, exc) -> None:
        if self._on_lost is not None:
            self._on_lost(exc)

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise LinkError("connection closed")
        self._transport.write(data)

    def close(self) -> None:
        self._transport.close()


def _settle(fut: asyncio.Future, req: Request) -> None:
    if not fut.done():
        if req.error is not None:
            fut.set_exception(req.error)
        else:
            fut.set_result(req.result)


async def _collect(command: Command, fut: asyncio.Future, return_exceptions: bool) -> Any:
    try:
        return command.parse(await fut)
    except QuantgateError as exc:
        if return_exceptions:
            return exc
        raise


class _Opening:
    """Result of AsyncAppliance.open(): awaitable, and an async context manager."""

    def __init__(self, connect: Callable[[], Awaitable[AsyncAppliance]]):
        self._connect = connect
        self._device: AsyncAppliance | None = None

    def __await__(self):
        return self._connect().__await__()

    async def __aenter__(self) -> AsyncAppliance:
        self._device = await self._connect()
        return self._device

    async def __aexit__(self, *exc) -> None:
        await self._device.aclose()
