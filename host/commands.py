"""Commands as data: opcode, request payload and result parser.

Appliance and AsyncAppliance turn each command into one request, so a new device command is one
function here plus a one-line method on each front-end.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

from quantgate import wire

from . import codec


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
