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
from .errors import BadArgument, PermissionDenied, ProtocolError, UnknownOpcode, op_name


class Command(NamedTuple):
    op: int
    payload: bytes = b""
    parse: Callable[[bytes], Any] = bytes  # result payload -> value returned to the caller
    secret: bool = False  # the payload holds a key or token: never shown, dropped once answered

    def __repr__(self) -> str:
        shown = "<redacted>" if self.secret else self.payload[:16].hex() + (
            "..." if len(self.payload) > 16 else "")
        return f"Command(op={op_name(self.op)}, payload={len(self.payload)} bytes {shown})"


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


def auth(token) -> Command:
    """AUTH (connector only, docs/connector.md): present this connection's token; the result is
    the client name the connector's configuration gives it."""
    if isinstance(token, str):
        token = token.encode()
    try:
        token = bytes(memoryview(token))
    except TypeError:
        raise TypeError(f"the token must be str or bytes, not {type(token).__name__}") from None
    if not 1 <= len(token) <= wire.MAX_TOKEN:
        raise ValueError(f"the token must be 1..{wire.MAX_TOKEN} bytes, not {len(token)}")
    return Command(wire.Op.AUTH, token, lambda payload: payload.decode(errors="replace"),
                   secret=True)


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
    return Command(wire.Op.LOAD_KEY, bytes([slot, curve]) + secret, _empty_result, secret=True)


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


# -- SIGN, TIMING (docs/protocol.md, "SIGN", "TIMING") ------------------------------------------

ECDSA_CURVES = frozenset({wire.Curve.SECP256K1, wire.Curve.P256})
SIGNATURE_LEN = {wire.Curve.ED25519: wire.ED25519_SIGNATURE_LEN,
                 wire.Curve.SECP256K1: wire.ECDSA_SIGNATURE_LEN,
                 wire.Curve.P256: wire.ECDSA_SIGNATURE_LEN}
# INFO core names (codec.decode_info) of the signer cores; a device that lists none of them
# answers SIGN and TIMING with UNKNOWN_OPCODE.
SIGNER_CORES = frozenset(c.name.lower() for c in (wire.Core.ED25519, wire.Core.SECP256K1,
                                                  wire.Core.P256))


def curve_name(curve: int) -> str:
    """wire.Curve code -> the name load_key and sign accept ("ed25519", "secp256k1", "p256")."""
    return wire.Curve(curve).name.lower()


def has_signer(info: dict) -> bool:
    """True if INFO lists a signer core (the device serves SIGN and TIMING)."""
    return any(core in SIGNER_CORES for core in info.get("cores", ()))


class Signed(NamedTuple):
    """A SIGN result: the curve of the slot's key and the signature (Ed25519: R || S, 64 bytes;
    ECDSA: r || s || v, 65 bytes, v the recovery id)."""

    curve: str
    signature: bytes


def _message(message) -> bytes:
    if isinstance(message, str):
        raise TypeError("the message must be bytes, not str (encode it, e.g. "
                        "order_json.encode())")
    try:
        return bytes(memoryview(message))
    except TypeError:
        raise TypeError(f"the message must be a bytes-like object, not "
                        f"{type(message).__name__}") from None


def parse_signed(payload: bytes, expected: int | None = None) -> Signed:
    """SIGN result payload -> Signed; ProtocolError if it is malformed or names another curve
    than `expected` (a wire.Curve, or None for any)."""
    try:
        curve = wire.Curve(payload[0]) if payload else None
    except ValueError:
        curve = None
    if curve is None or len(payload) != 1 + SIGNATURE_LEN[curve]:
        raise ProtocolError(f"malformed SIGN result ({len(payload)} bytes): "
                            f"{payload[:8].hex()}...")
    if expected is not None and curve != expected:
        raise ProtocolError(f"SIGN result is a {curve_name(curve)} signature, but "
                            f"{curve_name(expected)} was requested")
    if curve in ECDSA_CURVES and payload[-1] > 3:
        raise ProtocolError(f"SIGN result has recovery id {payload[-1]} (expected 0..3)")
    return Signed(curve_name(curve), payload[1:])


def _sign(slot, message, curve, parse) -> Command:
    slot = _slot(slot)
    code = None if curve is None else _curve(curve)
    message = _message(message)
    if code in ECDSA_CURVES:
        if len(message) != wire.ECDSA_DIGEST_LEN:
            raise ValueError(
                f"{code.name.lower()} signs a {wire.ECDSA_DIGEST_LEN}-byte digest, not "
                f"{len(message)} bytes: hash the order first (e.g. "
                f"hashlib.sha256(order).digest())")
    elif len(message) > wire.MAX_SIGN_MESSAGE:
        raise ValueError(
            f"message of {len(message)} bytes exceeds {wire.MAX_SIGN_MESSAGE}, the most one "
            f"SIGN request carries: split the order, or hash it and sign the 32-byte digest "
            f"with an ECDSA key")
    # One byte: slot in bits 0-3, the expected curve (or CURVE_ANY) in bits 4-7.
    payload = bytes([slot | (wire.CURVE_ANY if code is None else code) << 4]) + message
    return Command(wire.Op.SIGN, payload, functools.partial(parse, expected=code))


def _parse_signature(payload: bytes, expected: int | None = None) -> bytes:
    return parse_signed(payload, expected).signature


def sign(slot, message, curve=None) -> Command:
    """Sign with the key in `slot`. Ed25519: the message itself (0..MAX_SIGN_MESSAGE bytes,
    pure RFC 8032); ECDSA: a 32-byte digest. `curve` None signs with whatever the slot holds;
    a curve name makes the device refuse another curve's key (WrongCurve). Result: the
    signature bytes."""
    return _sign(slot, message, curve, _parse_signature)


def sign_detailed(slot, message, curve=None) -> Command:
    """As sign(), but the result is Signed(curve, signature)."""
    return _sign(slot, message, curve, parse_signed)


def sign_requests(requests) -> list[Command]:
    """(slot, message) or (slot, message, curve) tuples -> sign commands, all validated."""
    out = []
    for i, item in enumerate(requests):
        if not isinstance(item, tuple | list) or len(item) not in (2, 3):
            raise TypeError(f"sign request {i}: expected (slot, message) or "
                            f"(slot, message, curve), not {item!r:.60}")
        try:
            out.append(sign(*item))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"sign request {i}: {exc}") from None
    return out


def timing() -> Command:
    """Cycle counters of LOAD_KEY and SIGN per curve (codec.decode_timing)."""
    return Command(wire.Op.TIMING, b"", codec.decode_timing)


def merge_cycles(counters: dict, cycles) -> dict:
    """stats(): the STATS counters plus "cycles", the TIMING result (or the exception the
    pipeline returned for it). A signer that does not serve TIMING (UnknownOpcode), or a
    connector that does not let this client ask (PermissionDenied), leaves the key out, so
    stats() stays usable as a liveness probe; other errors raise."""
    if isinstance(cycles, UnknownOpcode | PermissionDenied):
        return counters
    if isinstance(cycles, BaseException):
        raise cycles
    return {**counters, "cycles": cycles}


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
