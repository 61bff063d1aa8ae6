"""cocotb tests of the link blocks against Python references: UART timing (with baud error,
breaks and glitches), COBS against the `cobs` package, CRC-32 against binascii.crc32."""

import binascii
import random

import cocotb
from cobs import cobs
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer

from quantgate.sim.duts import PARTS_DIVISOR
from quantgate.sim.streams import StreamDriver, StreamMonitor, reset

CLK_PS = 10_000


class TB:
    def __init__(self, dut, stall=0.3):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, CLK_PS, unit="ps").start())
        dut.rx_pin.value = 1
        self.framing_errors = 0
        self.rx = StreamMonitor(dut, "rx_o", dut.clk)
        self.tx = StreamDriver(dut, "tx_i", dut.clk)
        self.dec_in = StreamDriver(dut, "dec_i", dut.clk, stall=stall)
        self.dec_out = StreamMonitor(dut, "dec_o", dut.clk, stall=stall)
        self.enc_in = StreamDriver(dut, "enc_i", dut.clk, stall=stall)
        self.enc_out = StreamMonitor(dut, "enc_o", dut.clk, stall=stall)
        self.crc_in = StreamDriver(dut, "crc_i", dut.clk, stall=stall)
        self.crc_out = StreamMonitor(dut, "crc_o", dut.clk, stall=stall)
        cocotb.start_soon(self._count_errors())

    async def _count_errors(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.framing_errors += self.dut.rx_framing_error.value == 1  # X before reset

    async def uart_send(self, data, error=0.0, stop_bits=1.0):
        bit_ps = round(PARTS_DIVISOR * CLK_PS * (1 + error))
        for byte in data:
            bits = [0] + [(byte >> k) & 1 for k in range(8)]
            for bit in bits:
                self.dut.rx_pin.value = bit
                await Timer(bit_ps, unit="ps")
            self.dut.rx_pin.value = 1
            if stop_bits:
                await Timer(round(bit_ps * stop_bits), unit="ps")

    async def uart_recv(self, n):
        """Decode n bytes from the tx pin, sampling at bit centres."""
        out = []
        bit_ps = PARTS_DIVISOR * CLK_PS
        for _ in range(n):
            while self.dut.tx_pin.value == 1:
                await Timer(CLK_PS // 2, unit="ps")
            await Timer(bit_ps // 2, unit="ps")
            assert self.dut.tx_pin.value == 0, "start bit"
            byte = 0
            for k in range(8):
                await Timer(bit_ps, unit="ps")
                byte |= int(self.dut.tx_pin.value) << k
            await Timer(bit_ps, unit="ps")
            assert self.dut.tx_pin.value == 1, "stop bit"
            out.append(byte)
        return bytes(out)


def frame_beats(frame):
    """FrameStream words: data in bits 0-7, last in bit 8."""
    return [b | (int(k == len(frame) - 1) << 8) for k, b in enumerate(frame)]


@cocotb.test()
async def uart_rx_baud_tolerance(dut):
    tb = TB(dut)
    await reset(dut)
    rng = random.Random(7)
    for error in (0.0, +0.02, -0.02, +0.03, -0.03):
        data = bytes(rng.randrange(256) for _ in range(40))
        await tb.uart_send(data, error=error)
        got = bytes(await tb.rx.take(len(data)))
        assert got == data, f"baud error {error:+.0%}: {got.hex()} != {data.hex()}"
    assert tb.framing_errors == 0


@cocotb.test()
async def uart_rx_break_and_glitches(dut):
    tb = TB(dut)
    await reset(dut)
    bit_ps = PARTS_DIVISOR * CLK_PS
    # A break: the line low for 3 byte times. One framing error, no byte.
    dut.rx_pin.value = 0
    await Timer(30 * bit_ps, unit="ps")
    dut.rx_pin.value = 1
    await Timer(2 * bit_ps, unit="ps")
    # Glitches shorter than half a bit are not start bits.
    for _ in range(5):
        dut.rx_pin.value = 0
        await Timer(3 * CLK_PS, unit="ps")
        dut.rx_pin.value = 1
        await Timer(bit_ps, unit="ps")
    # A byte with a bad stop bit (its stop is cut short into a low) counts a framing error.
    await tb.uart_send(b"\x55", stop_bits=0.0)
    dut.rx_pin.value = 0
    await Timer(bit_ps, unit="ps")
    dut.rx_pin.value = 1
    await Timer(12 * bit_ps, unit="ps")
    assert tb.framing_errors == 2, tb.framing_errors
    assert not tb.rx.items, f"garbage produced bytes {list(tb.rx.items)}"
    await tb.uart_send(b"ok\x00\xff")
    assert bytes(await tb.rx.take(4)) == b"ok\x00\xff"


@cocotb.test()
async def uart_tx_bytes(dut):
    tb = TB(dut)
    await reset(dut)
    data = bytes(random.Random(3).randrange(256) for _ in range(64)) + b"\x00\xff"
    tb.tx.send(data)
    assert await tb.uart_recv(len(data)) == data


@cocotb.test()
async def cobs_decoder_matches_reference(dut):
    tb = TB(dut)
    await reset(dut)
    rng = random.Random(11)
    frames = [b"", b"\x00", b"\x00\x00", b"\x01" * 254, b"\x01" * 255, b"\x02" * 600]
    frames += [bytes(rng.choice([0, 0, 1, 7, 255]) if rng.random() < 0.2 else rng.randrange(256)
                     for _ in range(rng.randrange(0, 700))) for _ in range(25)]
    raw = b"\x00\x00"  # idle delimiters: ignored
    for frame in frames:
        raw += cobs.encode(frame) + b"\x00"
    tb.dec_in.send(raw)
    for frame in frames:
        beats = await tb.dec_out.take(len(frame) + 1)
        data = bytes(b & 0xFF for b in beats[:-1])
        assert all(b >> 8 == 0 for b in beats[:-1])
        assert beats[-1] >> 8 == 0b01, f"end beat {beats[-1]:#x}"
        assert data == frame, f"{data.hex()} != {frame.hex()}"


@cocotb.test()
async def cobs_decoder_flags_truncated_group(dut):
    tb = TB(dut)
    await reset(dut)
    # A code byte promising 5 bytes, cut off after 2 by a delimiter, then a good frame.
    tb.dec_in.send(b"\x06ab\x00" + cobs.encode(b"ok") + b"\x00")
    beats = await tb.dec_out.take(3)
    assert beats[2] >> 8 == 0b11, "truncated group ends with end+err"
    beats = await tb.dec_out.take(3)
    assert bytes(b & 0xFF for b in beats[:2]) == b"ok" and beats[2] >> 8 == 0b01


@cocotb.test()
async def cobs_encoder_matches_reference(dut):
    tb = TB(dut)
    await reset(dut)
    rng = random.Random(5)
    frames = [b"\x00", b"\x00\x00", b"\x01", b"\x01" * 253, b"\x01" * 254, b"\x01" * 255,
              b"\x01" * 254 + b"\x00", b"\x01" * 508, b"\x00" * 300, b"\x05" * 1034]
    frames += [bytes(0 if rng.random() < 0.1 else rng.randrange(1, 256)
                     for _ in range(rng.randrange(1, 1035))) for _ in range(20)]
    for frame in frames:
        tb.enc_in.send(frame_beats(frame))
    for frame in frames:
        expected = cobs.encode(frame) + b"\x00"
        got = bytes(await tb.enc_out.take(len(expected)))
        assert got == expected, f"len {len(frame)}: {got[:16].hex()}... != {expected[:16].hex()}"


@cocotb.test()
async def crc_appender_matches_binascii(dut):
    tb = TB(dut)
    await reset(dut)
    rng = random.Random(9)
    frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(30)]
    for frame in frames:
        tb.crc_in.send(frame_beats(frame))
    for frame in frames:
        expected = frame + binascii.crc32(frame).to_bytes(4, "little")
        got = await tb.crc_out.take(len(expected))
        assert bytes(b & 0xFF for b in got) == expected
        assert [b >> 8 for b in got] == [0] * (len(expected) - 1) + [1]
