"""The connector's devices: one AsyncAppliance each, the keys they hold, routing and failover.

Routing by opcode (docs/connector.md, "Routing"):
* slot operations (SIGN, PUBLIC_KEY) go to the least-loaded device that is up and holds the
  pool's key for that slot;
* state changes (LOAD_KEY, ZEROIZE) go to every device that is up, so the pool stays mirrored;
* everything else (INFO, ECHO, STATS, TIMING, GREEKS and opcodes the connector does not know)
  goes to the least-loaded device that serves it.
A device that stops answering (link closed, or no answer after its retries) is closed: its
in-flight requests fail over to another device (safe: signing is deterministic and key loads
are idempotent), and a probe reconnects it every `probe_interval` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from quantgate import wire

from ..async_appliance import AsyncAppliance
from ..commands import SIGNER_CORES
from ..errors import DeviceError, EmptySlot, LinkError, ProtocolError, QuantgateTimeout
from ..transport import default_timeout

log = logging.getLogger("quantgate.serve")

SLOT_OPS = frozenset({wire.Op.SIGN, wire.Op.PUBLIC_KEY})
BROADCAST_OPS = frozenset({wire.Op.LOAD_KEY, wire.Op.ZEROIZE})
# The INFO core a device must list to serve an opcode (INFO, ECHO, STATS: every device).
NEEDS_CORE = {wire.Op.SIGN: SIGNER_CORES, wire.Op.PUBLIC_KEY: SIGNER_CORES,
              wire.Op.LOAD_KEY: SIGNER_CORES, wire.Op.ZEROIZE: SIGNER_CORES,
              wire.Op.TIMING: SIGNER_CORES, wire.Op.GREEKS: frozenset({"greeks"})}
DEVICE_RETRIES = 1  # retransmissions to one device before failing over to another
# A device's answer that means the device, not the request, failed: fail over.
DEVICE_FAILURES = (LinkError, QuantgateTimeout, ProtocolError)


def request_slot(op: int, payload: bytes) -> int | None:
    """The key slot a request names (None when it names none or the payload is empty)."""
    if not payload:
        return None
    if op == wire.Op.SIGN:
        return payload[0] & 0x0F  # slot in bits 0-3, the expected curve in bits 4-7
    if op in (wire.Op.PUBLIC_KEY, wire.Op.LOAD_KEY, wire.Op.ZEROIZE):
        return payload[0]
    return None


class NoDevice(Exception):
    """No device of the pool can take the request now."""


class PoolDevice:
    """One appliance of the pool: its connection (None while down), load and keys."""

    def __init__(self, index: int, url: str, label: str, *, timeout: float | None):
        self.index, self.url, self.label = index, url, label
        self.timeout = default_timeout(url) if timeout is None else timeout
        self.dev: AsyncAppliance | None = None
        self.cores: frozenset[str] = frozenset()
        self.keys: dict[int, bytes | None] = {}  # slot -> curve byte + public key, or None
        self.in_flight = 0
        self.requests = 0  # sent, since the connector started
        self.failures = 0  # times it stopped answering
        self.last_error = ""

    @property
    def up(self) -> bool:
        return self.dev is not None

    def serves(self, op: int) -> bool:
        needed = NEEDS_CORE.get(op)
        return needed is None or bool(needed & self.cores)

    async def connect(self) -> None:
        dev = await AsyncAppliance.open(self.url, timeout=self.timeout, retries=DEVICE_RETRIES)
        try:
            info = await dev.info()
            cores = frozenset(info["cores"])
            keys = {}
            if cores & SIGNER_CORES:
                for slot in range(wire.NUM_KEY_SLOTS):
                    keys[slot] = await _public_key(dev, slot)
        except BaseException:
            await dev.aclose()
            raise
        self.dev, self.cores, self.keys = dev, cores, keys

    async def call(self, op: int, payload: bytes, secret: bool) -> bytes:
        if self.dev is None:
            raise LinkError(f"{self.label} is down")
        self.in_flight += 1
        self.requests += 1
        try:
            return await self.dev.submit(op, payload, secret=secret)
        finally:
            self.in_flight -= 1

    async def read_key(self, slot: int) -> None:
        if self.dev is not None and self.cores & SIGNER_CORES:
            self.keys[slot] = await _public_key(self.dev, slot)

    async def close(self) -> None:
        dev, self.dev = self.dev, None
        if dev is not None:
            await dev.aclose()


async def _public_key(dev: AsyncAppliance, slot: int) -> bytes | None:
    try:
        return await dev.submit(wire.Op.PUBLIC_KEY, bytes([slot]))
    except EmptySlot:
        return None


class Pool:
    """The devices behind one connector, the pool's key per slot, and request routing."""

    def __init__(self, urls: list[str], *, timeout: float | None = None,
                 probe_interval: float = 1.0,
                 on_change: Callable[[PoolDevice], None] | None = None):
        if not urls:
            raise ValueError("the connector needs at least one --device")
        labels = [u if urls.count(u) == 1 else f"{u}#{i}" for i, u in enumerate(urls)]
        self.devices = [PoolDevice(i, u, lab, timeout=timeout)
                        for i, (u, lab) in enumerate(zip(urls, labels, strict=True))]
        # The key every device must hold in a slot to serve it (None: the slot is empty).
        self.slot_keys: dict[int, bytes | None] = dict.fromkeys(range(wire.NUM_KEY_SLOTS))
        self._settled: set[int] = set()  # slots a LOAD_KEY or ZEROIZE through us has set
        self.probe_interval = probe_interval
        self._on_change = on_change or (lambda device: None)
        self._probe_task: asyncio.Task | None = None
        self._closing = False

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect every device (at least one must answer), settle the pool's keys, and start
        probing the devices that are down."""
        results = await asyncio.gather(*(d.connect() for d in self.devices),
                                       return_exceptions=True)
        for device, result in zip(self.devices, results, strict=True):
            if isinstance(result, BaseException):
                device.last_error = str(result)
                log.warning("device %s is down at start: %s", device.label, result)
            self._on_change(device)
        if not any(d.up for d in self.devices):
            raise LinkError("no device answered: " + "; ".join(
                f"{d.label}: {d.last_error}" for d in self.devices))
        for device in self.devices:
            if device.up:
                self._admit_keys(device)
        self.log_slots()
        self._probe_task = asyncio.create_task(self._probe(), name="quantgate-serve-probe")

    async def close(self) -> None:
        self._closing = True
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        await asyncio.gather(*(d.close() for d in self.devices), return_exceptions=True)

    def shared_slots(self) -> dict[int, list[str]]:
        """Slot -> labels of the up devices that hold the pool's key (slots with a key only)."""
        return {slot: [d.label for d in self.devices if d.up and d.keys.get(slot) == key]
                for slot, key in self.slot_keys.items() if key is not None}

    def log_slots(self) -> None:
        for slot, labels in self.shared_slots().items():
            others = [d.label for d in self.devices if d.up and d.label not in labels]
            log.info("slot %d (%s key): served by %s%s", slot,
                     _curve_label(self.slot_keys[slot]), ", ".join(labels) or "no device",
                     f"; not by {', '.join(others)} (other key or empty)" if others else "")

    # -- routing --------------------------------------------------------------------------------

    async def forward(self, op: int, payload: bytes, *, secret: bool = False) -> bytes:
        """Send a request to one device, failing over until one answers. Returns the result
        payload or raises the device's DeviceError; NoDevice when none is left."""
        slot = request_slot(op, payload) if op in SLOT_OPS else None
        tried: set[int] = set()
        while True:
            device = self._pick(op, slot, tried)
            if device is None:
                raise NoDevice(self._why_none(op, slot))
            tried.add(device.index)
            try:
                return await device.call(op, payload, secret)
            except DeviceError:
                raise
            except DEVICE_FAILURES as exc:
                await self._mark_down(device, exc)

    async def broadcast(self, op: int, payload: bytes, *, secret: bool = False) -> bytes:
        """Send a state change to every device that is up and wait for all; then re-read the
        slot's public key everywhere. A device error (all devices judge the arguments alike)
        is raised; a device that fails is marked down and re-checked when it comes back."""
        targets = [d for d in self.devices if d.up and d.serves(op)]
        if not targets:
            raise NoDevice(self._why_none(op, None))
        answers = await asyncio.gather(*(d.call(op, payload, secret) for d in targets),
                                       return_exceptions=True)
        result, error, answered = None, None, []
        for device, answer in zip(targets, answers, strict=True):
            if isinstance(answer, DeviceError):
                error = error or answer
            elif isinstance(answer, DEVICE_FAILURES):
                await self._mark_down(device, answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                result = answer if result is None else result
                answered.append(device)
        slot = request_slot(op, payload)
        if slot is not None and slot < wire.NUM_KEY_SLOTS:
            await self._refresh_slot(slot, answered)
        if error is not None:
            if answered:
                log.error("%s: devices disagree (%s answered, another said %s)",
                          wire.Op(op).name, ", ".join(d.label for d in answered), error)
            raise error
        if result is None:
            raise NoDevice(f"every device failed during {wire.Op(op).name}")
        return result

    def _pick(self, op: int, slot: int | None, tried: set[int]) -> PoolDevice | None:
        candidates = [d for d in self.devices if d.up and d.index not in tried]
        serving = [d for d in candidates if d.serves(op)]
        if not serving:
            # Nobody serves it: let a device answer UNKNOWN_OPCODE itself.
            serving = candidates if not any(d.serves(op) for d in self.devices) else []
        if slot is not None and slot < wire.NUM_KEY_SLOTS:
            key = self.slot_keys[slot]
            serving = [d for d in serving if d.keys.get(slot) == key]
        return min(serving, key=lambda d: (d.in_flight, d.index), default=None)

    def _why_none(self, op: int, slot: int | None) -> str:
        if not any(d.up for d in self.devices):
            return "every device of the pool is down"
        if slot is not None and slot < wire.NUM_KEY_SLOTS:
            return f"no device that is up holds the pool's key for slot {slot}"
        return f"no device that is up serves opcode 0x{op:02x}"

    # -- health ---------------------------------------------------------------------------------

    async def _mark_down(self, device: PoolDevice, exc: BaseException) -> None:
        if not device.up:
            return
        device.last_error = str(exc)
        device.failures += 1
        log.warning("device %s stopped answering (%s); failing over", device.label, exc)
        # Closing fails its other in-flight requests, which then fail over too.
        await device.close()
        self._on_change(device)

    async def _probe(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.probe_interval)
            for device in self.devices:
                if device.up or self._closing:
                    continue
                try:
                    await device.connect()
                except Exception as exc:  # any failure: still down, try again later
                    device.last_error = str(exc)
                    continue
                self._admit_keys(device)
                log.info("device %s is back", device.label)
                self.log_slots()
                self._on_change(device)

    def _admit_keys(self, device: PoolDevice) -> None:
        """A device joins. A slot the pool holds no key for adopts the device's key, unless a
        ZEROIZE or LOAD_KEY through the connector settled it while the device was away (a
        zeroized key must not come back with a device that missed the ZEROIZE). A device that
        holds another key than the pool's (or none) does not serve that slot."""
        for slot, key in device.keys.items():
            if self.slot_keys[slot] is None and key is not None and slot not in self._settled:
                self.slot_keys[slot] = key
            elif key != self.slot_keys[slot]:
                log.warning("device %s holds %s in slot %d, the pool %s: it does not serve that "
                            "slot", device.label, _curve_label(key) + " key" if key else "no key",
                            slot, _curve_label(self.slot_keys[slot]) + " key"
                            if self.slot_keys[slot] else "none")

    async def _refresh_slot(self, slot: int, answered: list[PoolDevice]) -> None:
        for device in [d for d in self.devices if d.up]:
            try:
                await device.read_key(slot)
            except DeviceError as exc:
                log.error("PUBLIC_KEY %d on %s: %s", slot, device.label, exc)
            except DEVICE_FAILURES as exc:
                await self._mark_down(device, exc)
        if answered:
            self.slot_keys[slot] = next((d.keys.get(slot) for d in answered if d.up), None)
            self._settled.add(slot)
        self.log_slots()


def _curve_label(key: bytes | None) -> str:
    if not key:
        return "no"
    try:
        return wire.Curve(key[0]).name.lower()
    except ValueError:
        return f"curve 0x{key[0]:02x}"
