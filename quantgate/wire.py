"""Wire-protocol constants shared by gateware and host (docs/protocol.md is the spec).

This module must stay importable without Amaranth and without the host driver.
"""

import enum

PROTOCOL_VERSION = 1
GATEWARE_VERSION = (0, 1, 0)

HEADER_LEN = 6  # version u8, opcode u8, seq u16le, length u16le
CRC_LEN = 4  # CRC-32 (ISO-HDLC, as binascii.crc32), little-endian, over header + payload
MAX_PAYLOAD = 1024  # largest request or response payload, bytes
MAX_FRAME = HEADER_LEN + MAX_PAYLOAD + CRC_LEN  # decoded frame, before COBS
DELIMITER = 0x00

# Raw (COBS-encoded) bytes the device buffers ahead of the frame it is working on. The host
# keeps no more than this many request bytes unanswered on the wire (UART has no flow control).
RX_BUFFER = 2048

RESPONSE_FLAG = 0x80  # response opcode = request opcode | RESPONSE_FLAG


class Op(enum.IntEnum):
    INFO = 0x01
    ECHO = 0x02
    STATS = 0x03
    # Served by the connector (`quantgate serve`), never by a board: the token names the client
    # and its permissions for the rest of the connection; a device answers UNKNOWN_OPCODE.
    AUTH = 0x04
    LOAD_KEY = 0x10  # slot u8, curve u8, secret (32 bytes); write-only (docs/protocol.md, "KEYS")
    PUBLIC_KEY = 0x11  # slot u8 -> curve u8, public key (32 or 33 bytes)
    ZEROIZE = 0x12  # slot u8
    TIMING = 0x13  # -> per (operation, curve): count, min, max, last cycles (u32le each)
    SIGN = 0x20  # slot | curve << 4 (u8), message (Ed25519) or 32-byte digest (ECDSA)
    GREEKS = 0x30  # price and Greeks of 1..20 options (docs/protocol.md, "GREEKS")
    ERROR = 0xFF  # response only: payload = error code u8, request opcode u8


class Err(enum.IntEnum):
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02
    OVERSIZE = 0x03
    UNKNOWN_OPCODE = 0x04
    BAD_VERSION = 0x05
    BAD_ARGUMENT = 0x06
    EMPTY_SLOT = 0x07
    BUSY = 0x08
    WRONG_CURVE = 0x09  # SIGN: the slot holds a key of another curve than the request names
    SIGN_FAILED = 0x0A  # SIGN: no valid RFC 6979 nonce among the fixed candidates (p < 2**-64)
    # Connector only (docs/connector.md): the client's token does not allow the operation or
    # slot; no device of the pool can take the request (all down, or the connector is stopping).
    PERMISSION_DENIED = 0x0B
    UNAVAILABLE = 0x0C


class Curve(enum.IntEnum):
    """Curve codes in LOAD_KEY / PUBLIC_KEY payloads."""

    ED25519 = 0
    SECP256K1 = 1
    P256 = 2


MAX_TOKEN = 256  # AUTH payload: the client's token, 1..MAX_TOKEN bytes

NUM_KEY_SLOTS = 8
CURVE_ANY = 0xF  # SIGN curve nibble: sign with whatever curve the slot holds

# SIGN: the payload is one byte (slot in bits 0-3, expected curve or CURVE_ANY in bits 4-7),
# then the Ed25519 message of 0..MAX_SIGN_MESSAGE bytes (RFC 8032's 1023-byte test message fits)
# or the ECDSA digest of exactly ECDSA_DIGEST_LEN bytes (the host hashes the order).
MAX_SIGN_MESSAGE = MAX_PAYLOAD - 1
ECDSA_DIGEST_LEN = 32
ED25519_SIGNATURE_LEN = 64  # R || S
ECDSA_SIGNATURE_LEN = 65  # r || s || v

# TIMING result: one record per (operation, curve) in this order, each TIMING_FIELDS u32le.
TIMING_OPS = ("load_key", "sign")
TIMING_FIELDS = ("count", "min_cycles", "max_cycles", "last_cycles")


class Core(enum.IntEnum):
    """Core identifiers listed by INFO."""

    LINK = 0x01
    ED25519 = 0x10
    SECP256K1 = 0x11
    P256 = 0x12
    GREEKS = 0x20
    MARGIN = 0x21


# STATS payload: these counters, u32le each, in this order (saturating at 2**32-1).
STATS_FIELDS = (
    "frames_ok",  # well-formed requests dispatched to a core
    "crc_errors",  # frames whose CRC-32 did not match
    "length_errors",  # frames shorter than a header + CRC, or whose length field disagrees
    "oversize",  # frames longer than MAX_FRAME
    "unknown_opcode",
    "bad_version",
    "uart_framing_errors",  # stop bit not high (includes breaks)
    "uart_overruns",  # bytes lost because the receive buffer was full
)

# INFO payload layout, little-endian:
#   protocol u8, gateware major u8, minor u8, patch u8, clock_hz u32, baud u32,
#   max_payload u16, rx_buffer u16, n_cores u8, core ids u8 * n_cores
INFO_FIXED_LEN = 1 + 3 + 4 + 4 + 2 + 2 + 1
