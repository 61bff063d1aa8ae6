"""Exceptions raised by the host driver."""

from quantgate import wire


class QuantgateError(Exception):
    """Base class of every error the driver raises."""


class LinkError(QuantgateError, ConnectionError):
    """The transport failed or the peer closed the connection."""


class ProtocolError(QuantgateError):
    """The device answered with a result the driver cannot parse."""


class QuantgateTimeout(QuantgateError, TimeoutError):
    """No answer to a request after every retransmission."""


def op_name(op: int | None) -> str:
    try:
        return wire.Op(op).name
    except ValueError:
        return f"0x{op:02x}" if isinstance(op, int) else str(op)


class DeviceError(QuantgateError):
    """The device answered a request with an error code (docs/protocol.md)."""

    def __init__(self, code: int, request_op: int | None = None):
        try:
            code = wire.Err(code)
        except ValueError:
            pass  # a newer gateware may know codes this driver does not
        # Keep the raw arguments in args so the exception pickles and compares sensibly.
        super().__init__(code, request_op)
        self.code = code
        self.request_op = request_op

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, wire.Err) else f"0x{self.code:02x}"
        return f"device error {name} for {op_name(self.request_op)}"

    @staticmethod
    def from_code(code: int, request_op: int | None = None) -> "DeviceError":
        """The most specific DeviceError subclass for `code`."""
        return _BY_CODE.get(code, DeviceError)(code, request_op)


class BadCrc(DeviceError):
    pass


class BadLength(DeviceError):
    pass


class Oversize(DeviceError):
    pass


class UnknownOpcode(DeviceError):
    pass


class BadVersion(DeviceError):
    pass


class BadArgument(DeviceError):
    pass


class EmptySlot(DeviceError):
    pass


class Busy(DeviceError):
    pass


class WrongCurve(DeviceError):
    """SIGN named a curve other than the one of the key in the slot."""

    def __str__(self) -> str:
        return (f"{super().__str__()}: the key in the slot is of another curve than the "
                f"request names")


class SignFailed(DeviceError):
    """SIGN found no valid nonce among its fixed RFC 6979 candidates, or r or s was 0: less
    likely than 2**-64 per signature. The same key and digest always fail; another digest
    (e.g. the order with a new client_order_id or timestamp) signs normally."""

    def __str__(self) -> str:
        return (f"{super().__str__()}: no valid nonce among the device's RFC 6979 "
                f"candidates (or r or s was 0); this digest cannot be signed with this key")


class PermissionDenied(DeviceError):
    """The connector (`quantgate serve`) refused the request: the connection's token is unknown,
    or its client may not use this operation or key slot (docs/connector.md)."""

    def __str__(self) -> str:
        return (f"{super().__str__()}: the connector's configuration does not allow this "
                f"client that operation or key slot")


class Unavailable(DeviceError):
    """The connector has no device that can take the request now (every device of the pool is
    down, or the connector is shutting down). Retrying later is safe."""

    def __str__(self) -> str:
        return f"{super().__str__()}: no device of the connector's pool is available"


_BY_CODE = {
    wire.Err.BAD_CRC: BadCrc,
    wire.Err.BAD_LENGTH: BadLength,
    wire.Err.OVERSIZE: Oversize,
    wire.Err.UNKNOWN_OPCODE: UnknownOpcode,
    wire.Err.BAD_VERSION: BadVersion,
    wire.Err.BAD_ARGUMENT: BadArgument,
    wire.Err.EMPTY_SLOT: EmptySlot,
    wire.Err.BUSY: Busy,
    wire.Err.WRONG_CURVE: WrongCurve,
    wire.Err.SIGN_FAILED: SignFailed,
    wire.Err.PERMISSION_DENIED: PermissionDenied,
    wire.Err.UNAVAILABLE: Unavailable,
}

__all__ = [
    "QuantgateError", "LinkError", "ProtocolError", "QuantgateTimeout", "DeviceError",
    "BadCrc", "BadLength", "Oversize", "UnknownOpcode", "BadVersion", "BadArgument",
    "EmptySlot", "Busy", "WrongCurve", "SignFailed", "PermissionDenied", "Unavailable",
]
