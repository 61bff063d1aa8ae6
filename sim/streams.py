"""cocotb drivers and monitors for amaranth.lib.stream interfaces (valid/ready/payload).

Handshakes are sampled at the rising edge, where cocotb shows the values from before the
edge; ``stall`` is the probability of holding valid (driver) or ready (monitor) low in a cycle,
which exercises back-pressure."""

import random
from collections import deque

import cocotb
from cocotb.triggers import RisingEdge


class StreamDriver:
    def __init__(self, dut, prefix, clk, *, stall=0.0, seed=1):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.stall = stall
        self.queue = deque()
        self.rng = random.Random(seed)
        self.valid.value = 0
        cocotb.start_soon(self._run())

    def send(self, words):
        self.queue.extend(words)

    async def wait_idle(self):
        while self.queue:
            await RisingEdge(self.clk)

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            if self.valid.value == 1 and self.ready.value == 1:
                self.queue.popleft()
            if self.queue and self.rng.random() >= self.stall:
                self.valid.value = 1
                self.payload.value = self.queue[0]
            else:
                self.valid.value = 0


class StreamMonitor:
    def __init__(self, dut, prefix, clk, *, stall=0.0, seed=2):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.stall = stall
        self.rng = random.Random(seed)
        self.items = deque()
        self.ready.value = 0
        cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            if self.valid.value == 1 and self.ready.value == 1:
                self.items.append(self.payload.value.to_unsigned())
            self.ready.value = int(self.rng.random() >= self.stall)

    async def take(self, n, timeout_cycles=1_000_000):
        for _ in range(timeout_cycles):
            if len(self.items) >= n:
                return [self.items.popleft() for _ in range(n)]
            await RisingEdge(self.clk)
        raise TimeoutError(f"expected {n} items, got {len(self.items)}")


async def reset(dut, cycles=4):
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
