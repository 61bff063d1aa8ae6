"""Commands as data: opcode, request payload and result parser.

Appliance and AsyncAppliance turn each command into one request, so a new device command is one
function here plus a one-line method on each front-end.
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from quantgate import greeks as gk
from quantgate import wire

from . import codec
from .errors import BadArgument, ProtocolError


class Command(NamedTuple):
    op: int
    payload: bytes = b""
    parse: Callable[[bytes], Any] = bytes  # result payload -> value returned to the caller


def info() -> Command:
    return Command(wire.Op.INFO, b"", codec.decode_info)


def echo(data) -> Command:
    if isinstance(data, str):
        raise TypeError("echo() takes bytes, not str")
    try:
        data = bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"echo() takes a bytes-like object, not {type(data).__name__}") from None
    if len(data) > wire.MAX_PAYLOAD:
        raise ValueError(f"echo payload of {len(data)} bytes exceeds {wire.MAX_PAYLOAD}")
    return Command(wire.Op.ECHO, data)


def stats() -> Command:
    return Command(wire.Op.STATS, b"", codec.decode_stats)


# -- KEYS (docs/protocol.md, "KEYS") ------------------------------------------------------------

CURVES = {"ed25519": wire.Curve.ED25519, "secp256k1": wire.Curve.SECP256K1,
          "p256": wire.Curve.P256}
PUBLIC_KEY_LEN = {wire.Curve.ED25519: 32, wire.Curve.SECP256K1: 33, wire.Curve.P256: 33}
SECRET_LEN = 32


def _slot(slot) -> int:
    if isinstance(slot, bool) or not isinstance(slot, int):
        raise TypeError(f"key slot must be an int, not {type(slot).__name__}")
    if not 0 <= slot < wire.NUM_KEY_SLOTS:
        raise ValueError(f"key slot {slot} out of range: 0 <= slot < {wire.NUM_KEY_SLOTS}")
    return slot


def _curve(curve) -> wire.Curve:
    if isinstance(curve, wire.Curve):
        return curve
    if not isinstance(curve, str):
        raise TypeError(f"curve must be one of {', '.join(CURVES)} (a str), "
                        f"not {type(curve).__name__}")
    try:
        return CURVES[curve.lower()]
    except KeyError:
        raise ValueError(f"unknown curve {curve!r}: use one of {', '.join(CURVES)}") from None


def _empty_result(payload: bytes) -> None:
    if payload:
        raise ProtocolError(f"expected an empty result, got {len(payload)} bytes")


def load_key(slot, curve, secret) -> Command:
    """Store a key in a slot (write-only). Ed25519: the 32-byte RFC 8032 seed; secp256k1 /
    P-256: d as 32 big-endian bytes, 1 <= d < n (the device checks the range: BadArgument)."""
    slot, curve = _slot(slot), _curve(curve)
    if isinstance(secret, str):
        raise TypeError("the secret must be bytes, not str")
    try:
        secret = bytes(memoryview(secret))
    except TypeError:
        raise TypeError(f"the secret must be a bytes-like object, not "
                        f"{type(secret).__name__}") from None
    if len(secret) != SECRET_LEN:
        raise ValueError(f"{curve.name.lower()} secret must be {SECRET_LEN} bytes, "
                         f"not {len(secret)}")
    return Command(wire.Op.LOAD_KEY, bytes([slot, curve]) + secret, _empty_result)


def _parse_public_key(payload: bytes) -> bytes:
    try:
        curve = wire.Curve(payload[0]) if payload else None
    except ValueError:
        curve = None
    if curve is None or len(payload) != 1 + PUBLIC_KEY_LEN[curve]:
        raise ProtocolError(f"malformed PUBLIC_KEY result: {payload.hex()}")
    return payload[1:]


def public_key(slot) -> Command:
    """Ed25519: the 32-byte encoding; ECDSA: the 33-byte compressed SEC1 key. An empty slot
    raises EmptySlot."""
    return Command(wire.Op.PUBLIC_KEY, bytes([_slot(slot)]), _parse_public_key)


def zeroize(slot) -> Command:
    """Overwrite the slot's secret, prefix and public key with zeros (empty slots too)."""
    return Command(wire.Op.ZEROIZE, bytes([_slot(slot)]), _empty_result)


# -- GREEKS -------------------------------------------------------------------------------------


class Greeks(NamedTuple):
    """Price and Greeks of one option (units: docs/numerics.md). vega per 1.00 of vol, theta =
    -dV/dT per year, rho per 1.00 of rate; Black-76: delta and gamma w.r.t. the forward."""

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float


GREEKS_DTYPE = np.dtype([(k, "f8") for k in gk.OUTPUTS])
OPTIONS_DTYPE = np.dtype([("spot", "f8"), ("strike", "f8"), ("expiry", "f8"), ("rate", "f8"),
                          ("carry", "f8"), ("vol", "f8"), ("call", "?")])


def _device_results(payload: bytes, n: int) -> np.ndarray:
    try:
        res = gk.decode_result(payload, n)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    if np.any(res["status"] != gk.STATUS_OK):
        # The driver validated every input, so the device disagreeing is not the caller's
        # input error: report it as the device's BAD_ARGUMENT.
        raise BadArgument(wire.Err.BAD_ARGUMENT, wire.Op.GREEKS)
    return res


def greeks(spot, strike, expiry_years, rate, vol, *, call=True, carry=0.0,
           model="bsm") -> Command:
    """One option; raises ValueError (naming the field and the domain) before sending."""
    args = (spot, strike, expiry_years, rate, carry, vol)
    for name, value in zip(("spot", "strike", "expiry", "rate", "carry", "vol"), args,
                           strict=True):
        if np.ndim(value) != 0:
            raise TypeError(f"greeks() takes scalars ({name} is not); use greeks_batch()")
    gk.check_domain(*args, model=model)
    payload = gk.encode_request(model, *gk.normalise(*args, model=model), not call)

    def parse(result: bytes) -> Greeks:
        res = _device_results(result, 1)
        out = gk.scale({k: res[k] for k in gk.OUTPUTS}, float(spot), float(expiry_years))
        return Greeks(*(float(out[k][0]) for k in gk.OUTPUTS))

    return Command(wire.Op.GREEKS, payload, parse)


def _column(options, name: str, default=None) -> np.ndarray:
    names = getattr(getattr(options, "dtype", None), "names", None)
    present = name in names if names is not None else name in options
    if not present:
        if default is None:
            raise ValueError(f"greeks_batch: the options have no {name!r} field")
        return np.asarray(default)
    return np.asarray(options[name])


class GreeksBatch(NamedTuple):
    """A batch split into GREEKS requests: run ``commands`` (pipelined), then ``assemble``."""

    commands: list
    spot: np.ndarray
    expiry: np.ndarray

    def assemble(self, results) -> np.ndarray:
        """Device results (each request's parsed array, in order) -> float64 Greeks."""
        parts = list(results)
        n = len(self.spot)
        out = np.empty(n, dtype=GREEKS_DTYPE)
        if not n:
            return out
        res = np.concatenate(parts)
        scaled = gk.scale({k: res[k] for k in gk.OUTPUTS}, self.spot, self.expiry)
        for k in gk.OUTPUTS:
            out[k] = scaled[k]
        return out


def greeks_batch(options, *, model="bsm") -> GreeksBatch:
    """Validate and normalise a batch (a structured array with float fields spot, strike,
    expiry, rate, vol, optional carry (default 0) and bool call (default True), or anything
    indexable by those names) and split it into requests of up to MAX_OPTIONS options."""
    gk.check_model(model)
    spot = _column(options, "spot").astype(np.float64).ravel()
    n = len(spot)
    cols = [spot] + [np.broadcast_to(_column(options, k, d).astype(np.float64), (n,)).ravel()
                     for k, d in (("strike", None), ("expiry", None), ("rate", None),
                                  ("carry", 0.0), ("vol", None))]
    call = np.broadcast_to(_column(options, "call", True).astype(bool), (n,)).ravel()
    gk.check_domain(*cols, model=model)
    ints = gk.normalise(*cols, model=model)
    commands = []
    for lo in range(0, n, gk.MAX_OPTIONS):
        hi = min(lo + gk.MAX_OPTIONS, n)
        payload = gk.encode_request(model, *(c[lo:hi] for c in ints), ~call[lo:hi])
        commands.append(Command(wire.Op.GREEKS, payload,
                                functools.partial(_device_results, n=hi - lo)))
    return GreeksBatch(commands, cols[0], cols[2])
