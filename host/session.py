"""Request/response matching shared by Appliance and AsyncAppliance.

The Session does no I/O and never reads the clock: the driver hands it received bytes and the
current time, and writes whatever bytes it returns. That keeps the retry, window and matching
rules in one place for the blocking and the asyncio front-ends alike.
"""

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from quantgate import wire

from .codec import FrameDecoder, decode_error, encode_request
from .errors import DeviceError, ProtocolError, QuantgateTimeout, op_name

DEFAULT_TIMEOUT = 2.0  # seconds to wait for an answer before retransmitting
DEFAULT_RETRIES = 3  # retransmissions before giving up with QuantgateTimeout


@dataclass(eq=False, slots=True, repr=False)
class Request:
    """One request from submission to result; `callback(request)` runs when it completes.

    A `secret` request (LOAD_KEY, AUTH) never shows its payload in repr(), and every request
    drops its payload and encoded frame once it is answered: a traceback with locals or a debug
    log must not carry a key, and the driver keeps no copy longer than retransmission needs."""

    op: int
    payload: bytes
    callback: Callable[["Request"], None] | None = None
    secret: bool = False
    size: int = 0  # payload length, kept for repr() after the payload is dropped
    seq: int | None = None
    frame: bytes = b""  # encoded request, kept for retransmission
    attempts: int = 0  # transmissions so far
    deadline: float = math.inf
    done: bool = False
    result: bytes | None = None
    error: BaseException | None = None
    abandoned: bool = False  # cancelled by the caller; answer will be dropped

    def __post_init__(self) -> None:
        self.size = len(self.payload)

    def __repr__(self) -> str:
        shown = "<redacted>" if self.secret else self.payload[:16].hex() + (
            "..." if len(self.payload) > 16 else "")
        state = "error" if self.error is not None else "done" if self.done else "pending"
        return (f"Request(op={op_name(self.op)}, seq={self.seq}, payload={self.size} bytes "
                f"{shown}, attempts={self.attempts}, {state})")

    def value(self) -> bytes:
        if self.error is not None:
            raise self.error
        return self.result


class Session:
    """Sequence numbers, flow-control window, timeouts, retransmission and response matching."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 window: int = wire.RX_BUFFER):
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries non-negative")
        self.timeout = timeout
        self.retries = retries
        self.window = window  # most encoded request bytes left unanswered on the wire
        self.decoder = FrameDecoder()
        self._queue: deque[Request] = deque()  # submitted, waiting for room in the window
        self._inflight: dict[int, Request] = {}  # seq -> request on the wire
        self._inflight_bytes = 0
        self._next_seq = 0
        self._earliest = math.inf  # lower bound of the in-flight deadlines
        # A leading delimiter flushes whatever a previous connection left half-sent.
        self._out = bytearray(b"\x00")
        self.stats = dict.fromkeys((
            "requests", "responses", "retransmits", "timeouts", "device_errors",
            "unmatched",  # response whose seq is not in flight: stale, duplicate or corrupt
            "mismatched",  # seq in flight but opcode belongs to another request
            "bad_version",
        ), 0)

    # -- driver interface ---------------------------------------------------------------------

    def submit(self, op: int, payload: bytes = b"", callback=None, *, secret: bool = False
               ) -> Request:
        if len(payload) > wire.MAX_PAYLOAD:
            raise ValueError(f"payload of {len(payload)} bytes exceeds {wire.MAX_PAYLOAD}")
        req = Request(op, bytes(payload), callback, secret)
        self._queue.append(req)
        self.stats["requests"] += 1
        return req

    def step(self, now: float, data: bytes = b"") -> bytes:
        """Take in received bytes, handle expired deadlines, fill the window; returns the
        bytes to write now."""
        if data:
            self._receive(data, now)
        if now >= self._earliest:
            self._expire(now)
        self._admit(now)
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        """When step() should next be called even if nothing arrives (may be early)."""
        return self._earliest if self._inflight else None

    def cancel(self, req: Request) -> None:
        """Forget a request's answer. A sent request still counts against the window until it is
        answered or times out: the device may still hold its bytes."""
        if req.done:
            return
        req.abandoned = True
        req.callback = None
        if req.seq not in self._inflight or self._inflight[req.seq] is not req:
            self._queue.remove(req)
            req.done = True
            req.payload = req.frame = b""

    def fail_all(self, exc: BaseException) -> None:
        """Complete every outstanding request with `exc` (the link is gone)."""
        for req in list(self._inflight.values()):
            self._finish(req, error=exc)
        while self._queue:
            req = self._queue.popleft()
            req.done, req.error = True, exc
            req.payload = req.frame = b""
            if req.callback:
                req.callback(req)

    def counters(self) -> dict[str, int]:
        """Driver-side statistics, including the frame decoder's (prefixed rx_)."""
        return {**self.stats, **{f"rx_{k}": v for k, v in self.decoder.stats.items()},
                "in_flight": len(self._inflight), "queued": len(self._queue)}

    # -- internals ----------------------------------------------------------------------------

    def _receive(self, data: bytes, now: float) -> None:
        for frame in self.decoder.feed(data):
            self.stats["responses"] += 1
            if frame.version != wire.PROTOCOL_VERSION:
                self.stats["bad_version"] += 1
                continue
            req = self._inflight.get(frame.seq)
            if req is None:
                self.stats["unmatched"] += 1
            elif frame.op == req.op | wire.RESPONSE_FLAG:
                self._finish(req, result=frame.payload)
            elif frame.op == wire.Op.ERROR:
                self._on_error(req, frame.payload, now)
            else:
                self.stats["mismatched"] += 1

    def _on_error(self, req: Request, payload: bytes, now: float) -> None:
        try:
            code, op = decode_error(payload)
        except ProtocolError:
            self.stats["mismatched"] += 1
            return
        if code == wire.Err.BAD_CRC:
            # The device consumed a corrupted copy (its seq may itself be corrupted, so the op
            # byte is not checked): resend at once rather than wait for the timeout.
            if req.attempts <= self.retries:
                self.stats["retransmits"] += 1
                self._send(req, now)
                return
        elif op is not None and op != req.op:
            self.stats["mismatched"] += 1  # an error meant for an earlier user of this seq
            return
        self.stats["device_errors"] += 1
        self._finish(req, error=DeviceError.from_code(code, req.op))

    def _expire(self, now: float) -> None:
        for req in [r for r in self._inflight.values() if r.deadline <= now]:
            if req.attempts <= self.retries and not req.abandoned:
                self.stats["retransmits"] += 1
                self._send(req, now)
            else:
                self.stats["timeouts"] += 1
                self._finish(req, error=QuantgateTimeout(
                    f"no answer to {op_name(req.op)} (seq {req.seq}) after "
                    f"{req.attempts} attempt(s) of {self.timeout:g} s"))
        self._earliest = min((r.deadline for r in self._inflight.values()), default=math.inf)

    def _admit(self, now: float) -> None:
        while self._queue:
            req = self._queue[0]
            if req.seq is None:
                req.seq = self._alloc_seq()
                req.frame = encode_request(req.op, req.seq, req.payload)
            if self._inflight and self._inflight_bytes + len(req.frame) > self.window:
                return  # the device's receive buffer could overflow; wait for answers
            self._queue.popleft()
            self._inflight[req.seq] = req
            self._inflight_bytes += len(req.frame)
            self._send(req, now)

    def _alloc_seq(self) -> int:
        # 16-bit wrapping counter; skip numbers still in flight (at most ~190 of them).
        while True:
            seq = self._next_seq
            self._next_seq = (seq + 1) & 0xFFFF
            if seq not in self._inflight:
                return seq

    def _send(self, req: Request, now: float) -> None:
        req.attempts += 1
        req.deadline = now + self.timeout
        self._earliest = min(self._earliest, req.deadline)
        self._out += req.frame

    def _finish(self, req: Request, result: bytes | None = None,
                error: BaseException | None = None) -> None:
        del self._inflight[req.seq]
        self._inflight_bytes -= len(req.frame)
        req.done, req.result, req.error = True, result, error
        req.payload = req.frame = b""  # nothing to retransmit any more
        if req.callback:
            req.callback(req)


__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "Request", "Session"]
