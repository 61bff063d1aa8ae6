"""Stream signatures shared by the link and the engines."""

from amaranth.lib import data, stream

# A decoded frame (header + payload, no CRC) as a byte stream; `last` marks its final byte.
FrameByte = data.StructLayout({"data": 8, "last": 1})
FrameStream = stream.Signature(FrameByte)

# Output of the COBS decoder: data bytes, then one `end` beat (no data) per delimiter.
# `err` on the `end` beat means the COBS structure was broken (a truncated group).
DecodedByte = data.StructLayout({"data": 8, "end": 1, "err": 1})
DecodedStream = stream.Signature(DecodedByte)

# A request for an error response.
ErrorRequest = data.StructLayout({"code": 8, "op": 8, "seq": 16})
