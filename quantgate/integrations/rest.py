"""REST request signing with an Ed25519 API key in an appliance slot (Binance-style).

    from quantgate.integrations.rest import Ed25519RequestSigner

    signer = Ed25519RequestSigner(dev, slot=0)
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "1", "price": "0.2", "timestamp": 1668481559918}
    query = signer.signed_query(params)   # "symbol=BTCUSDT&...&timestamp=...&signature=..."
    # POST /api/v3/order with the X-MBX-APIKEY header and `query` as the body

Exchanges with Ed25519 API keys sign the request's payload string (the query string as sent,
parameters in order, e.g. `symbol=BTCUSDT&side=SELL&...&timestamp=...`) with Ed25519 and send
the standard base64 of the 64-byte signature, URL-encoded, as the last parameter `signature`.
The device signs the payload's bytes themselves: at most wire.MAX_SIGN_MESSAGE (1023) bytes.
Needs nothing beyond the driver. `AsyncEd25519RequestSigner` offers the same methods as
coroutines over an AsyncAppliance.
"""

import base64
import urllib.parse
from collections.abc import Mapping, Sequence

from . import _device

CURVE = "ed25519"


def payload_string(params: Mapping | Sequence[tuple] | str) -> str:
    """The string that is signed: a str as given, else the parameters URL-encoded in order
    (urllib.parse.urlencode, as an HTTP client sends them)."""
    if isinstance(params, str):
        return params
    if isinstance(params, bytes | bytearray):
        raise TypeError("pass the payload as str (it is sent as text), not bytes")
    return urllib.parse.urlencode(params)


class _RestSteps(_device.SlotAdapter):
    @staticmethod
    def _steps_open(slot: int):
        return ((yield from _device.slot_key(slot, CURVE, 32)),)

    def public_key_pem(self) -> str:
        """The public key as a PEM SubjectPublicKeyInfo (RFC 8410), as Binance's API key
        registration asks for it. Built without any library: a fixed 12-byte DER prefix."""
        der = bytes.fromhex("302a300506032b6570032100") + self._public_key
        body = base64.b64encode(der).decode("ascii")
        return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"

    def _steps_sign(self, params):
        payload = payload_string(params)
        signature = yield _device.Sign(self._slot, payload.encode("utf-8"), CURVE)
        return base64.b64encode(signature).decode("ascii")

    def _steps_signed_query(self, params):
        payload = payload_string(params)
        signature = yield from self._steps_sign(payload)
        return f"{payload}&signature={urllib.parse.quote(signature, safe='')}"


class Ed25519RequestSigner(_device.Blocking, _RestSteps):
    """Signs request payloads with the Ed25519 key in `slot` of a blocking device:
    `Ed25519RequestSigner(dev, slot)`."""

    _twin = "AsyncEd25519RequestSigner"

    def sign(self, params: Mapping | Sequence[tuple] | str) -> str:
        """The standard base64 of the Ed25519 signature of the payload string."""
        return _device.run(self._device, self._steps_sign(params))

    def signed_query(self, params: Mapping | Sequence[tuple] | str) -> str:
        """The payload with `&signature=<base64, URL-encoded>` appended, ready to send as the
        query string or form body."""
        return _device.run(self._device, self._steps_signed_query(params))


class AsyncEd25519RequestSigner(_device.Async, _RestSteps):
    """Ed25519RequestSigner's methods as coroutines:
    `signer = await AsyncEd25519RequestSigner.open(dev, slot)`."""

    _twin = "Ed25519RequestSigner"

    async def sign(self, params: Mapping | Sequence[tuple] | str) -> str:
        return await _device.run_async(self._device, self._steps_sign(params))

    async def signed_query(self, params: Mapping | Sequence[tuple] | str) -> str:
        return await _device.run_async(self._device, self._steps_signed_query(params))


__all__ = ["AsyncEd25519RequestSigner", "Ed25519RequestSigner", "payload_string"]
