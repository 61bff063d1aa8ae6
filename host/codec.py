"""Wire codec: COBS framing, header and CRC-32 (docs/protocol.md), and result payload parsers.

Pure functions and one incremental decoder; no I/O, so sync and async drivers share it.
"""

import binascii
import struct
from typing import NamedTuple

from quantgate import wire

from .errors import ProtocolError

# Largest COBS-encoded frame without its delimiter: one code byte per 254 data bytes, plus one.
MAX_ENCODED = wire.MAX_FRAME + wire.MAX_FRAME // 254 + 1
MIN_FRAME = wire.HEADER_LEN + wire.CRC_LEN

_HEADER = struct.Struct("<BBHH")
_CRC = struct.Struct("<I")


# -- COBS ---------------------------------------------------------------------------------------


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing; the result contains no 0x00 (delimiter not added)."""
    out = bytearray()
    blocks = bytes(data).split(b"\x00")
    for i, block in enumerate(blocks):
        # A code byte c announces c-1 data bytes, then an implied zero unless c is 0xFF. The last
        # block has no zero after it, so it may use a full 0xFF run without a trailing 0x01.
        limit = 254 if i == len(blocks) - 1 else 253
        while len(block) > limit:
            out.append(0xFF)
            out += block[:254]
            block = block[254:]
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode; raises ValueError on malformed input."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        end = i + code
        if code == 0 or end > n:
            raise ValueError("malformed COBS block")
        block = data[i + 1 : end]
        if 0 in block:
            raise ValueError("zero byte inside COBS data")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# -- frames -------------------------------------------------------------------------------------


class Frame(NamedTuple):
    version: int
    op: int
    seq: int
    payload: bytes

    def __repr__(self) -> str:  # a request frame may carry a key: show its size only
        return (f"Frame(version={self.version}, op=0x{self.op:02x}, seq={self.seq}, "
                f"payload={len(self.payload)} bytes)")


def encode_frame(op: int, seq: int, payload: bytes = b"", version: int = wire.PROTOCOL_VERSION
                 ) -> bytes:
    """One frame as it goes on the wire: COBS(header + payload + CRC-32) + delimiter."""
    payload = bytes(payload)
    if len(payload) > wire.MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {wire.MAX_PAYLOAD}")
    if not (0 <= op <= 0xFF and 0 <= seq <= 0xFFFF and 0 <= version <= 0xFF):
        raise ValueError("op, version must fit u8 and seq u16")
    body = _HEADER.pack(version, op, seq, len(payload)) + payload
    return cobs_encode(body + _CRC.pack(binascii.crc32(body))) + b"\x00"


def encode_request(op: int, seq: int, payload: bytes = b"") -> bytes:
    """A request frame, ready to write to the transport."""
    return encode_frame(op, seq, payload)


def encode_error(seq: int, code: int, request_op: int) -> bytes:
    """An error response frame (opcode 0xFF, payload: code, request opcode)."""
    return encode_frame(wire.Op.ERROR, seq, bytes([code, request_op & 0xFF]))


class BadFrame(NamedTuple):
    """A frame whose header could be read but that failed a check (reported by a FrameDecoder
    made with report_errors=True): the error a device answers it with, and its header fields
    as received (the seq may itself be corrupted when the CRC is wrong)."""

    code: int  # wire.Err.BAD_CRC or wire.Err.BAD_LENGTH
    op: int
    seq: int


class FrameDecoder:
    """Incremental frame decoder: feed() raw bytes, get whole, checked frames back.

    Malformed frames are counted in `stats` and skipped; the decoder resynchronises at the next
    delimiter and never raises on bad input. With report_errors=True, a frame with a readable
    header that fails the CRC or length check is also returned, as a BadFrame, so that a server
    can answer it as a device would.
    """

    def __init__(self, *, report_errors: bool = False):
        self._report = report_errors
        self._buf = bytearray()
        self._overflow = False  # discarding the rest of an oversize frame
        self.stats = dict.fromkeys(
            ("frames", "cobs_errors", "crc_errors", "length_errors", "oversize"), 0)

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        frames = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._append(data[start:])
                return frames
            self._append(data[start:end])
            if self._overflow:
                self._overflow = False
            elif self._buf:  # empty frames (back-to-back delimiters) are flush padding
                frame = self._decode(bytes(self._buf))
                if frame is not None:
                    frames.append(frame)
            self._buf.clear()
            start = end + 1

    def _append(self, chunk: bytes) -> None:
        if self._overflow or not chunk:
            return
        self._buf += chunk
        if len(self._buf) > MAX_ENCODED:
            self.stats["oversize"] += 1
            self._overflow = True
            self._buf.clear()

    def _decode(self, raw: bytes) -> Frame | BadFrame | None:
        try:
            body = cobs_decode(raw)
        except ValueError:
            self.stats["cobs_errors"] += 1
            return None
        if len(body) < MIN_FRAME:
            self.stats["length_errors"] += 1
            return None
        version, op, seq, length = _HEADER.unpack_from(body)
        if binascii.crc32(body[:-4]) != _CRC.unpack_from(body, len(body) - 4)[0]:
            self.stats["crc_errors"] += 1
            return BadFrame(wire.Err.BAD_CRC, op, seq) if self._report else None
        if length != len(body) - MIN_FRAME:
            self.stats["length_errors"] += 1
            return BadFrame(wire.Err.BAD_LENGTH, op, seq) if self._report else None
        self.stats["frames"] += 1
        return Frame(version, op, seq, body[wire.HEADER_LEN : -4])


# -- result payloads ----------------------------------------------------------------------------


def decode_error(payload: bytes) -> tuple[int, int | None]:
    """(error code, request opcode) of an error response; codes known to wire.Err as enums."""
    if not payload:
        raise ProtocolError("empty error payload")
    code = payload[0]
    try:
        code = wire.Err(code)
    except ValueError:
        pass
    return code, (payload[1] if len(payload) > 1 else None)


def decode_info(payload: bytes) -> dict:
    fixed = wire.INFO_FIXED_LEN
    # Lenient on trailing bytes: a later protocol revision may append fields.
    if len(payload) < fixed or len(payload) < fixed + payload[fixed - 1]:
        raise ProtocolError(f"malformed INFO result ({len(payload)} bytes)")
    proto, major, minor, patch, clock_hz, baud, max_payload, rx_buffer, _ = struct.unpack_from(
        "<BBBBIIHHB", payload)
    return {
        "protocol": proto,
        "gateware_version": f"{major}.{minor}.{patch}",
        "clock_hz": clock_hz,
        "baud": baud,
        "max_payload": max_payload,
        "rx_buffer": rx_buffer,
        "cores": [_core_name(c) for c in payload[fixed : fixed + payload[fixed - 1]]],
    }


def _core_name(core_id: int) -> str:
    try:
        return wire.Core(core_id).name.lower()
    except ValueError:
        return f"0x{core_id:02x}"


def decode_stats(payload: bytes) -> dict[str, int]:
    n = len(wire.STATS_FIELDS)
    if len(payload) < 4 * n:  # later revisions may append counters
        raise ProtocolError(f"malformed STATS result ({len(payload)} bytes)")
    return dict(zip(wire.STATS_FIELDS, struct.unpack_from(f"<{n}I", payload), strict=True))


_TIMING_CURVES = tuple(c.name.lower() for c in wire.Curve)
_TIMING_RECORD = struct.Struct("<4I")
TIMING_LEN = len(wire.TIMING_OPS) * len(_TIMING_CURVES) * _TIMING_RECORD.size  # 96 bytes


def decode_timing(payload: bytes) -> dict[str, dict[str, dict[str, int | None]]]:
    """TIMING result -> {"load_key": {"ed25519": {"count", "min_cycles", "max_cycles",
    "last_cycles"}, "secp256k1": ..., "p256": ...}, "sign": {...}}. min_cycles and max_cycles
    are None while count is 0 (the device sends 0xFFFFFFFF and 0 then)."""
    if len(payload) < TIMING_LEN:  # later revisions may append records
        raise ProtocolError(f"malformed TIMING result ({len(payload)} bytes, "
                            f"expected {TIMING_LEN})")
    out, offset = {}, 0
    for op in wire.TIMING_OPS:
        out[op] = {}
        for curve in _TIMING_CURVES:
            record = dict(zip(wire.TIMING_FIELDS, _TIMING_RECORD.unpack_from(payload, offset),
                              strict=True))
            offset += _TIMING_RECORD.size
            if record["count"] == 0:
                record["min_cycles"] = record["max_cycles"] = None
            out[op][curve] = record
    return out
