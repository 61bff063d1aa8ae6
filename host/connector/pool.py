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

A slot is served only by devices holding the pool's key for it. When the devices disagree on
a slot (one holds a key, another another key or none) and no LOAD_KEY or ZEROIZE through the
connector has settled it, the slot is in CONFLICT and served by none: the connector never signs
with a key that might have been zeroized on the other devices.
"""

from __future__ import annotations

import asyncio
import functools
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


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


CONFLICT = _Marker("conflict")  # pool key: the devices disagree, nobody serves the slot
UNREAD = _Marker("unread")  # device key: its PUBLIC_KEY could not be read


def holds(device_key, pool_key) -> bool:
    """True if a device whose slot holds `device_key` serves a slot whose pool key is
    `pool_key` (markers match nothing, not even themselves)."""
    if isinstance(device_key, _Marker) or isinstance(pool_key, _Marker):
        return False
    return device_key == pool_key


class PoolDevice:
    """One appliance of the pool: its connection (None while down), load and keys."""

    def __init__(self, index: int, url: str, label: str, *, timeout: float | None):
        self.index, self.url, self.label = index, url, label
        self.timeout = default_timeout(url) if timeout is None else timeout
        self.dev: AsyncAppliance | None = None
        self.cores: frozenset[str] = frozenset()
        self.keys: dict[int, object] = {}  # slot -> curve byte + public key, None, or UNREAD
        self.in_flight = 0
        self.requests = 0  # sent, since the connector started
        self.failures = 0  # times it stopped answering
        self.last_error = ""
        # Set by the pool: called with (connection, exception) when a link fails by itself.
        self.on_lost: Callable[[AsyncAppliance, BaseException], None] | None = None

    @property
    def up(self) -> bool:
        return self.dev is not None

    @property
    def signs(self) -> bool:
        return bool(self.cores & SIGNER_CORES)

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
        if self.on_lost is not None:
            dev.on_link_failure = lambda exc: self.on_lost(dev, exc)
        self.dev, self.cores, self.keys = dev, cores, keys

    async def call(self, dev: AsyncAppliance, op: int, payload: bytes, secret: bool) -> bytes:
        self.in_flight += 1
        self.requests += 1
        try:
            return await dev.submit(op, payload, secret=secret)
        finally:
            self.in_flight -= 1

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
        for device in self.devices:
            device.on_lost = functools.partial(self._on_lost, device)
        # The key a device must hold in a slot to serve it: bytes, None (empty) or CONFLICT.
        self.slot_keys: dict[int, object] = dict.fromkeys(range(wire.NUM_KEY_SLOTS))
        self._settled: set[int] = set()  # slots a LOAD_KEY or ZEROIZE through us has set
        self.probe_interval = probe_interval
        self._on_change = on_change or (lambda device: None)
        self._probe_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()  # broadcasts and link-loss handlers in progress
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
        signers = [d for d in self.devices if d.up and d.signs]
        for slot in self.slot_keys:
            found = {d.keys[slot] for d in signers}
            self.slot_keys[slot] = found.pop() if len(found) == 1 else (
                CONFLICT if found else None)
            if self.slot_keys[slot] is CONFLICT:
                log.warning("slot %d: the devices hold different keys (or some none): served "
                            "by no device until a LOAD_KEY or ZEROIZE through the connector",
                            slot)
        self.log_slots()
        self._probe_task = asyncio.create_task(self._probe(), name="quantgate-serve-probe")

    async def close(self) -> None:
        self._closing = True
        pending = [t for t in (self._probe_task, *self._tasks) if t is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(d.close() for d in self.devices), return_exceptions=True)

    def shared_slots(self) -> dict[int, list[str]]:
        """Slot -> labels of the up devices that hold the pool's key (slots with a key only)."""
        return {slot: [d.label for d in self.devices if d.up and holds(d.keys.get(slot), key)]
                for slot, key in self.slot_keys.items() if key is not None}

    def log_slots(self) -> None:
        for slot, labels in self.shared_slots().items():
            others = [d.label for d in self.devices if d.up and d.signs and d.label not in labels]
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
            conn = device.dev
            try:
                return await device.call(conn, op, payload, secret)
            except DeviceError:
                raise
            except DEVICE_FAILURES as exc:
                await self._mark_down(device, exc, conn)

    async def broadcast(self, op: int, payload: bytes, *, secret: bool = False) -> bytes:
        """Send a state change to every device that is up and wait for all; then re-read the
        slot's public key everywhere. It runs in a task of the pool's own, so a client that
        disconnects (or a shutdown's cancellation of the client's request) cannot stop it
        between the change and the re-read. A device error (all devices judge the arguments
        alike) is raised; a device that fails is marked down and re-checked when it is back."""
        task = asyncio.get_running_loop().create_task(self._broadcast(op, payload, secret))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _broadcast(self, op: int, payload: bytes, secret: bool) -> bytes:
        slot = request_slot(op, payload)
        slot = slot if slot is not None and slot < wire.NUM_KEY_SLOTS else None
        targets = [(d, d.dev) for d in self.devices if d.up and d.serves(op)]
        if not targets:
            raise NoDevice(self._why_none(op, None))
        settled = False
        try:
            answers = await asyncio.gather(*(d.call(conn, op, payload, secret)
                                             for d, conn in targets), return_exceptions=True)
            result, error, answered = None, None, []
            for (device, conn), answer in zip(targets, answers, strict=True):
                if isinstance(answer, DeviceError):
                    error = error or answer
                elif isinstance(answer, DEVICE_FAILURES):
                    await self._mark_down(device, answer, conn)
                elif isinstance(answer, BaseException):
                    raise answer
                else:
                    result = answer if result is None else result
                    answered.append(device)
            if slot is not None:
                await self._refresh_slot(slot, answered)
                settled = True
            if error is not None:
                if answered:
                    log.error("%s: devices disagree (%s answered, another said %s)",
                              wire.Op(op).name, ", ".join(d.label for d in answered), error)
                raise error
            if result is None:
                raise NoDevice(f"every device failed during {wire.Op(op).name}")
            return result
        finally:
            if slot is not None and not settled:  # interrupted: trust no device's slot
                self.slot_keys[slot] = CONFLICT
                self._settled.add(slot)

    def _pick(self, op: int, slot: int | None, tried: set[int]) -> PoolDevice | None:
        candidates = [d for d in self.devices if d.up and d.index not in tried]
        serving = [d for d in candidates if d.serves(op)]
        if not serving:
            # Nobody serves it: let a device answer UNKNOWN_OPCODE itself.
            serving = candidates if not any(d.serves(op) for d in self.devices) else []
        if slot is not None and slot < wire.NUM_KEY_SLOTS:
            key = self.slot_keys[slot]
            serving = [d for d in serving if holds(d.keys.get(slot), key)]
        return min(serving, key=lambda d: (d.in_flight, d.index), default=None)

    def _why_none(self, op: int, slot: int | None) -> str:
        if not any(d.up for d in self.devices):
            return "every device of the pool is down"
        if slot is not None and slot < wire.NUM_KEY_SLOTS:
            if self.slot_keys[slot] is CONFLICT:
                return (f"slot {slot}: the devices disagree on its key; reload or zeroize it "
                        f"through the connector")
            return f"no device that is up holds the pool's key for slot {slot}"
        return f"no device that is up serves opcode 0x{op:02x}"

    # -- health ---------------------------------------------------------------------------------

    def _on_lost(self, device: PoolDevice, conn: AsyncAppliance, exc: BaseException) -> None:
        task = asyncio.get_running_loop().create_task(self._mark_down(device, exc, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mark_down(self, device: PoolDevice, exc: BaseException,
                         conn: AsyncAppliance | None) -> None:
        """The connection `conn` of `device` failed. A newer connection (the probe may have
        reconnected in the meantime) is left alone."""
        if conn is None or device.dev is not conn:
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
        """A device rejoins. Where it holds the pool's key it serves the slot. Where it holds
        a key and the pool none, and no LOAD_KEY or ZEROIZE through the connector settled the
        slot, the slot becomes a CONFLICT (the key may be one the others zeroized while the
        connector was not running). Otherwise it does not serve that slot."""
        for slot, key in device.keys.items():
            pool_key = self.slot_keys[slot]
            if holds(key, pool_key):
                continue
            if pool_key is None and key is not None and slot not in self._settled:
                self.slot_keys[slot] = CONFLICT
            log.warning("device %s holds %s in slot %d, the pool %s: it does not serve that "
                        "slot", device.label, _curve_label(key) + " key" if key else "no key",
                        slot, _pool_label(self.slot_keys[slot]))

    async def _refresh_slot(self, slot: int, answered: list[PoolDevice]) -> None:
        """After a LOAD_KEY or ZEROIZE: re-read the slot on every device that is up; the pool's
        key is what every device that answered the change now reports (CONFLICT if they
        disagree or none could be read)."""
        for device in [d for d in self.devices if d.up and d.signs]:
            conn = device.dev
            try:
                device.keys[slot] = await _public_key(conn, slot)
            except DeviceError as exc:
                device.keys[slot] = UNREAD
                log.error("PUBLIC_KEY %d on %s: %s", slot, device.label, exc)
            except DEVICE_FAILURES as exc:
                device.keys[slot] = UNREAD
                await self._mark_down(device, exc, conn)
        reported = [d.keys.get(slot) for d in answered if d.up]
        agreed = (reported and not any(isinstance(k, _Marker) for k in reported)
                  and len(set(reported)) == 1)
        self.slot_keys[slot] = reported[0] if agreed else CONFLICT
        self._settled.add(slot)
        self.log_slots()


def _curve_label(key) -> str:
    if not isinstance(key, bytes) or not key:
        return "no"
    try:
        return wire.Curve(key[0]).name.lower()
    except ValueError:
        return f"curve 0x{key[0]:02x}"


def _pool_label(key) -> str:
    if key is CONFLICT:
        return "is in conflict"
    return f"holds {_curve_label(key)} key" if key else "holds none"
