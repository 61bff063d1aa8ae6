"""Host wire codec against independent references: the `cobs` package, binascii.crc32, struct."""

import binascii
import struct

import pytest
from cobs import cobs
from hypothesis import given
from hypothesis import strategies as st

from quantgate import wire
from quantgate.host.codec import (
    MAX_ENCODED,
    Frame,
    FrameDecoder,
    cobs_decode,
    cobs_encode,
    decode_error,
    decode_info,
    decode_stats,
    encode_frame,
    encode_request,
)
from quantgate.host.errors import ProtocolError

ops = st.integers(0, 0xFF)
seqs = st.integers(0, 0xFFFF)
payloads = st.binary(max_size=wire.MAX_PAYLOAD)
# Long zero-free runs exercise COBS's 254-byte blocks, which uniform random bytes rarely reach.
sparse_zeros = st.lists(st.sampled_from([0] + [1] * 200 + [0xFF] * 50), max_size=1100).map(bytes)
any_bytes = st.one_of(st.binary(max_size=1100), sparse_zeros)


def reference_frame(version, op, seq, payload):
    body = struct.pack("<BBHH", version, op, seq, len(payload)) + payload
    return cobs.encode(body + struct.pack("<I", binascii.crc32(body))) + b"\x00"


# -- COBS ---------------------------------------------------------------------------------------


@given(any_bytes)
def test_cobs_encode_matches_reference(data):
    encoded = cobs_encode(data)
    assert encoded == cobs.encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 507, 508, 509, 1034])
@pytest.mark.parametrize("tail", [b"", b"\x00", b"\x00\x07"])
def test_cobs_block_boundaries(n, tail):
    data = b"\x5a" * n + tail
    assert cobs_encode(data) == cobs.encode(data)
    assert cobs_decode(cobs.encode(data)) == data


@given(st.binary(max_size=600))
def test_cobs_decode_agrees_with_reference_on_garbage(data):
    try:
        expected = cobs.decode(data)
    except cobs.DecodeError:
        expected = None
    try:
        got = cobs_decode(data)
    except ValueError:
        got = None
    assert got == expected


# -- frames -------------------------------------------------------------------------------------


@given(ops, seqs, payloads)
def test_encode_matches_reference_layout(op, seq, payload):
    encoded = encode_request(op, seq, payload)
    assert encoded == reference_frame(wire.PROTOCOL_VERSION, op, seq, payload)
    assert encoded[-1] == 0 and 0 not in encoded[:-1]
    assert len(encoded) <= MAX_ENCODED + 1


@given(ops, seqs, payloads)
def test_round_trip(op, seq, payload):
    decoder = FrameDecoder()
    assert decoder.feed(encode_request(op, seq, payload)) == [Frame(1, op, seq, payload)]
    assert decoder.stats["frames"] == 1


@given(st.lists(st.tuples(ops, seqs, st.binary(max_size=300)), max_size=8), st.data())
def test_incremental_feed_any_split(frames, data):
    stream = b"".join(encode_request(*f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[start:end])
    assert got == [Frame(1, *f) for f in frames]


def test_byte_at_a_time_and_empty_frames():
    decoder = FrameDecoder()
    stream = b"\x00\x00" + encode_request(wire.Op.ECHO, 7, b"\x00abc\x00") + b"\x00"
    got = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert got == [Frame(1, wire.Op.ECHO, 7, b"\x00abc\x00")]
    assert sum(decoder.stats.values()) == 1  # empty frames are padding, not errors


def test_encode_rejects_oversize_and_out_of_range():
    encode_request(wire.Op.ECHO, 0, bytes(wire.MAX_PAYLOAD))
    with pytest.raises(ValueError):
        encode_request(wire.Op.ECHO, 0, bytes(wire.MAX_PAYLOAD + 1))
    with pytest.raises(ValueError):
        encode_request(wire.Op.ECHO, 0x10000)
    with pytest.raises(ValueError):
        encode_request(0x100, 0)


# -- malformed input ----------------------------------------------------------------------------

segments = st.one_of(
    st.tuples(ops, seqs, st.binary(max_size=64)).map(lambda f: ("frame", f)),
    st.binary(max_size=80).map(lambda junk: ("junk", junk)),
)


@given(st.lists(segments, max_size=12), st.data())
def test_resynchronises_after_garbage(segs, data):
    """A frame is decoded iff it starts right after a delimiter (or at the start)."""
    stream, expected = b"", []
    for kind, value in segs:
        if kind == "frame":
            if not stream or stream.endswith(b"\x00"):
                expected.append(Frame(1, *value))
            stream += encode_request(*value)
        else:
            stream += value
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = FrameDecoder()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[start:end])
    assert got == expected


@given(st.lists(st.tuples(ops, seqs, st.binary(max_size=200)), min_size=1, max_size=5),
       st.data())
def test_bit_flip_loses_only_that_frame(frames, data):
    encoded = [bytearray(encode_request(*f)) for f in frames]
    k = data.draw(st.integers(0, len(frames) - 1))
    pos = data.draw(st.integers(0, len(encoded[k]) - 2))  # never the delimiter itself
    encoded[k][pos] ^= 1 << data.draw(st.integers(0, 7))
    decoder = FrameDecoder()
    got = decoder.feed(b"".join(encoded))
    assert got == [Frame(1, *f) for i, f in enumerate(frames) if i != k]
    errors = {k: v for k, v in decoder.stats.items() if k != "frames"}
    assert sum(errors.values()) >= 1


@given(st.lists(st.binary(max_size=2000), max_size=6))
def test_decoder_never_raises(chunks):
    decoder = FrameDecoder()
    for chunk in chunks:
        for frame in decoder.feed(chunk):
            assert isinstance(frame, Frame)
    good = encode_request(wire.Op.INFO, 1)
    assert decoder.feed(b"\x00" + good) == [Frame(1, wire.Op.INFO, 1, b"")]


def test_oversize_input_is_skipped():
    decoder = FrameDecoder()
    largest = encode_request(wire.Op.ECHO, 2, b"\x01" * wire.MAX_PAYLOAD)
    assert len(largest) == MAX_ENCODED + 1  # the spec's 1040 bytes, delimiter included
    stream = b"\x01" * 5000 + b"\x00" + largest
    assert decoder.feed(stream) == [Frame(1, wire.Op.ECHO, 2, b"\x01" * wire.MAX_PAYLOAD)]
    assert decoder.stats["oversize"] == 1


def test_bad_length_and_short_frames_counted():
    body = struct.pack("<BBHH", 1, 0x82, 5, 3) + b"ab"  # length says 3, payload has 2
    bad_length = cobs.encode(body + struct.pack("<I", binascii.crc32(body))) + b"\x00"
    short = cobs.encode(b"\x01\x82\x05") + b"\x00"
    decoder = FrameDecoder()
    assert decoder.feed(bad_length + short) == []
    assert decoder.stats["length_errors"] == 2


def test_bad_crc_counted():
    frame = bytearray(cobs.decode(encode_request(wire.Op.ECHO, 3, b"xyz")[:-1]))
    frame[-1] ^= 0x80
    decoder = FrameDecoder()
    assert decoder.feed(cobs.encode(bytes(frame)) + b"\x00") == []
    assert decoder.stats["crc_errors"] == 1


def test_response_frames_keep_version():
    frame = encode_frame(wire.Op.ECHO | wire.RESPONSE_FLAG, 9, b"hi", version=2)
    assert FrameDecoder().feed(frame) == [Frame(2, 0x82, 9, b"hi")]


# -- payload helpers ----------------------------------------------------------------------------


def test_decode_error():
    assert decode_error(bytes([wire.Err.BAD_LENGTH, wire.Op.ECHO])) == (wire.Err.BAD_LENGTH, 2)
    code, op = decode_error(b"\x99")
    assert (code, op) == (0x99, None)
    with pytest.raises(ProtocolError):
        decode_error(b"")


def test_decode_info_and_stats():
    payload = struct.pack("<BBBBIIHHB", 1, 0, 1, 0, 50_000_000, 3_000_000, 1024, 2048, 2)
    info = decode_info(payload + bytes([wire.Core.LINK, wire.Core.ED25519]))
    assert info == {"protocol": 1, "gateware_version": "0.1.0", "clock_hz": 50_000_000,
                    "baud": 3_000_000, "max_payload": 1024, "rx_buffer": 2048,
                    "cores": ["link", "ed25519"]}
    with pytest.raises(ProtocolError):
        decode_info(payload + b"\x01")  # announces two cores, lists one
    values = list(range(1, len(wire.STATS_FIELDS) + 1))
    stats = decode_stats(struct.pack(f"<{len(values)}I", *values))
    assert stats == dict(zip(wire.STATS_FIELDS, values, strict=True))
    with pytest.raises(ProtocolError):
        decode_stats(b"\x00" * 8)
