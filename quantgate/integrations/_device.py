"""What the adapters ask of a device, written once for the blocking and the asyncio driver.

Each adapter operation is a generator that yields device requests (`PublicKey`, `Sign`) and
receives their results; `run` answers them with a blocking device (an `Appliance`, or anything
with `.sign(slot, message, curve=...)` and `.public_key(slot)`), `run_async` with an
`AsyncAppliance` (the same methods as coroutines). The formats (what is hashed, how a signature
is wrapped) therefore exist once, whichever driver carries the requests.
"""

import inspect
from collections.abc import Generator
from typing import Any, NamedTuple

from quantgate.host import commands


class PublicKey(NamedTuple):
    """Request: the slot's public key. Result: (curve name or None if the device object
    cannot tell, key bytes)."""

    slot: int


class Sign(NamedTuple):
    """Request: SIGN with the slot's key, the device refusing a key of another curve."""

    slot: int
    message: bytes
    curve: str


Steps = Generator[PublicKey | Sign, Any, Any]


def _parse_curve_and_key(payload: bytes) -> tuple[str, bytes]:
    key = commands.public_key(0).parse(payload)  # validates the length for the curve
    return commands.curve_name(payload[0]), key


def _public_key_command(slot: int) -> commands.Command:
    return commands.public_key(slot)._replace(parse=_parse_curve_and_key)


def is_async(device) -> bool:
    return inspect.iscoroutinefunction(getattr(device, "sign", None))


def _blocking(device, request):
    if isinstance(request, PublicKey):
        call = getattr(device, "call", None)  # Appliance: the curve code comes with the key
        if call is not None:
            return call(_public_key_command(request.slot))
        return None, bytes(device.public_key(request.slot))
    return bytes(device.sign(request.slot, request.message, curve=request.curve))


async def _async(device, request):
    if isinstance(request, PublicKey):
        call = getattr(device, "call", None)
        if call is not None:
            return await call(_public_key_command(request.slot))
        return None, bytes(await device.public_key(request.slot))
    return bytes(await device.sign(request.slot, request.message, curve=request.curve))


def run(device, steps: Steps):
    """Drive `steps` with a blocking device; returns the generator's return value."""
    try:
        request = next(steps)
        while True:
            request = steps.send(_blocking(device, request))
    except StopIteration as done:
        return done.value


async def run_async(device, steps: Steps):
    """Drive `steps` with an asyncio device (AsyncAppliance)."""
    try:
        request = next(steps)
        while True:
            request = steps.send(await _async(device, request))
    except StopIteration as done:
        return done.value


def slot_key(slot: int, curve: str, key_len: int) -> Steps:
    """Steps: the slot's public key, checked to be of `curve` (ValueError otherwise)."""
    got_curve, key = yield PublicKey(slot)
    if got_curve is not None and got_curve != curve:
        raise ValueError(f"key slot {slot} holds {_a(got_curve)} key, not {_a(curve)} key")
    if len(key) != key_len:
        raise ValueError(f"key slot {slot} holds no {curve} key: the device returned a "
                         f"{len(key)}-byte public key, {curve} has {key_len}")
    return key


def _a(curve: str) -> str:
    return f"{'an' if curve[0] in 'aeiou' else 'a'} {curve}"


class SlotAdapter:
    """Base of the adapters: a device, a key slot and the slot's public key, read once when
    the adapter is made. Subclasses define `_steps_open(slot, *args)`, steps whose result is
    the tuple of the remaining constructor arguments (at least the public key)."""

    _twin = ""  # the class to use with the other kind of device (for the TypeError)

    def __init__(self, device, slot: int, public_key: bytes):
        self._device = device
        self._slot = slot
        self._public_key = public_key

    @property
    def slot(self) -> int:
        return self._slot

    @property
    def public_key(self) -> bytes:
        """The slot's public key as the device returns it (ECDSA: 33-byte compressed SEC1;
        Ed25519: the 32-byte encoding)."""
        return self._public_key

    def _describe(self) -> str:
        return f"public_key={self._public_key.hex()}"

    def __repr__(self) -> str:  # public values only: the device never hands out a secret
        return f"{type(self).__name__}(slot={self._slot}, {self._describe()})"


class Blocking:
    """Mixin: the constructor takes a blocking device (Appliance) and reads the slot."""

    def __init__(self, device, slot: int, *args, **kwargs):
        if is_async(device):
            raise TypeError(f"this device's methods are coroutines (an AsyncAppliance): use "
                            f"`await {self._twin}.open(device, slot)`")
        super().__init__(device, slot, *run(device, self._steps_open(slot, *args, **kwargs)))


class Async:
    """Mixin: `await Cls.open(device, slot)` with an AsyncAppliance."""

    def __init__(self, device, slot: int, *opened):
        if not is_async(device):
            raise TypeError(f"this device's methods are not coroutines: use "
                            f"{self._twin}(device, slot)")
        super().__init__(device, slot, *opened)

    @classmethod
    async def open(cls, device, slot: int, *args, **kwargs):
        if not is_async(device):
            raise TypeError(f"this device's methods are not coroutines: use "
                            f"{cls._twin}(device, slot)")
        opened = await run_async(device, cls._steps_open(slot, *args, **kwargs))
        return cls(device, slot, *opened)
