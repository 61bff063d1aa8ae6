"""JSON Web Tokens signed with an appliance slot: ES256 (P-256), ES256K (secp256k1), EdDSA.

    from quantgate.integrations.jwt import JwtSigner

    signer = JwtSigner(dev, slot=2)                       # P-256 slot -> ES256
    token = signer.coinbase("organizations/.../apiKeys/...", method="GET",
                            path="/api/v3/brokerage/accounts")
    # Authorization: Bearer <token>; verify: jwt.decode(token, signer.verification_key(),
    #                                                    algorithms=["ES256"])

Tokens are built as PyJWT builds them (header with sorted keys and payload as compact JSON,
base64url without padding), so an EdDSA token equals PyJWT's own for the same key byte for
byte. ES256 / ES256K (RFC 7518 section 3.4): the device signs SHA-256 of the signing input
`header.payload`, and the signature is the raw r || s (64 bytes, not DER). EdDSA (RFC 8037):
Ed25519 over the signing input itself, at most wire.MAX_SIGN_MESSAGE bytes.

Building a token needs nothing beyond the driver; `verification_key()` needs `cryptography`,
and verifying needs PyJWT: `pip install quantgate[jwt]`. (This module is
quantgate.integrations.jwt; PyJWT is the top-level `jwt`, which it does not import.)
`AsyncJwtSigner` offers the same methods as coroutines over an AsyncAppliance.
"""

import base64
import calendar
import datetime
import hashlib
import json
import secrets
import time
from collections.abc import Mapping

from quantgate import wire

from . import _device

ALGORITHMS = {"p256": "ES256", "secp256k1": "ES256K", "ed25519": "EdDSA"}
KEY_LEN = {"p256": 33, "secp256k1": 33, "ed25519": 32}
COINBASE_HOST = "api.coinbase.com"
COINBASE_LIFETIME_S = 120  # Coinbase's CDP API keys: a token is valid for two minutes


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(obj, *, sort_keys: bool, json_encoder) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys,
                      cls=json_encoder).encode("utf-8")


def _claims(payload: Mapping) -> dict:
    if not isinstance(payload, Mapping):
        raise TypeError(f"the JWT payload must be a mapping (dict), not {type(payload).__name__}")
    claims = dict(payload)
    for name in ("exp", "iat", "nbf"):  # datetimes become NumericDate, as in PyJWT
        if isinstance(claims.get(name), datetime.datetime):
            claims[name] = calendar.timegm(claims[name].utctimetuple())
    return claims


def coinbase_claims(key_name: str, uri: str | None, *, now: int | None = None,
                    lifetime: int = COINBASE_LIFETIME_S) -> dict:
    """The claims of a Coinbase Advanced Trade / CDP API token: iss "cdp", sub the key name,
    nbf now, exp now + 2 minutes, and for REST the `uri` "METHOD host/path"."""
    now = int(time.time()) if now is None else int(now)
    claims = {"sub": key_name, "iss": "cdp", "nbf": now, "exp": now + lifetime}
    if uri is not None:
        claims["uri"] = uri
    return claims


class _JwtSteps(_device.SlotAdapter):
    def __init__(self, device, slot: int, curve: str, public_key: bytes):
        super().__init__(device, slot, public_key)
        self._curve = curve

    @staticmethod
    def _steps_open(slot: int, curve: str | None = None):
        if curve is None:  # whatever the slot holds; a generic device must say it by length
            got_curve, key = yield _device.PublicKey(slot)
            if got_curve is None:
                if len(key) == 32:
                    got_curve = "ed25519"
                else:
                    raise ValueError("this device does not say the slot's curve: pass "
                                     "curve='p256' or 'secp256k1'")
            curve = got_curve
        elif curve not in ALGORITHMS:
            raise ValueError(f"curve {curve!r}: use one of {', '.join(ALGORITHMS)}")
        key = yield from _device.slot_key(slot, curve, KEY_LEN[curve])
        return curve, key

    @property
    def algorithm(self) -> str:
        """The JWS "alg": ES256 (P-256), ES256K (secp256k1) or EdDSA (Ed25519)."""
        return ALGORITHMS[self._curve]

    def _describe(self) -> str:
        return f"alg={self.algorithm}"

    def verification_key(self):
        """The public key as a `cryptography` key object, as jwt.decode takes it."""
        try:
            from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError("verification_key() needs cryptography: "
                              "pip install quantgate[jwt]") from exc
        if self._curve == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(self._public_key)
        curve = ec.SECP256R1() if self._curve == "p256" else ec.SECP256K1()
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, self._public_key)

    def _steps_encode(self, payload: Mapping, headers: Mapping | None, json_encoder):
        header = {"typ": "JWT", "alg": self.algorithm}
        if headers:
            if not isinstance(headers, Mapping):
                raise TypeError(f"headers must be a mapping, not {type(headers).__name__}")
            if "b64" in headers or "crit" in headers:
                raise ValueError("unencoded payloads (RFC 7797 b64 / crit) are not supported")
            if "alg" in headers and headers["alg"] != self.algorithm:
                raise ValueError(f"header alg {headers['alg']!r} differs from the slot's "
                                 f"{self.algorithm}")
            header.update(headers)
        if not header.get("typ"):
            header.pop("typ")
        signing_input = (b64url(_json(header, sort_keys=True, json_encoder=json_encoder)) + "."
                         + b64url(_json(_claims(payload), sort_keys=False,
                                        json_encoder=json_encoder))).encode("ascii")
        if self._curve == "ed25519":
            if len(signing_input) > wire.MAX_SIGN_MESSAGE:
                raise ValueError(f"the EdDSA signing input is {len(signing_input)} bytes: the "
                                 f"appliance signs at most {wire.MAX_SIGN_MESSAGE}; shorten "
                                 f"the claims or use an ES256 (P-256) slot")
            signature = yield _device.Sign(self._slot, signing_input, self._curve)
        else:
            digest = hashlib.sha256(signing_input).digest()
            signature = (yield _device.Sign(self._slot, digest, self._curve))[:64]  # r || s
        return signing_input.decode("ascii") + "." + b64url(signature)

    def _steps_coinbase(self, key_name, method, path, host, now, lifetime, nonce):
        if self._curve != "p256":
            raise ValueError(f"Coinbase API keys are P-256 (ES256); slot {self._slot} holds "
                             f"{self._curve}")
        uri = None if path is None else f"{method.upper()} {host}{path}"
        headers = {"kid": key_name, "nonce": secrets.token_hex() if nonce is None else nonce}
        return (yield from self._steps_encode(
            coinbase_claims(key_name, uri, now=now, lifetime=lifetime), headers, None))


class JwtSigner(_device.Blocking, _JwtSteps):
    """Signs JWTs with the key in `slot` of a blocking device (Appliance):
    `JwtSigner(dev, slot, curve=None)`. `curve` None takes the algorithm from the key the slot
    holds; naming it makes a slot of another curve raise ValueError."""

    _twin = "AsyncJwtSigner"

    def encode(self, payload: Mapping, headers: Mapping | None = None, *,
               json_encoder: type[json.JSONEncoder] | None = None) -> str:
        """A compact JWS of the claims `payload`, as jwt.encode(payload, key, algorithm,
        headers) would make it (typ "JWT" unless headers set it empty)."""
        return _device.run(self._device, self._steps_encode(payload, headers, json_encoder))

    def coinbase(self, key_name: str, *, method: str = "GET",
                 path: str | None = "/api/v3/brokerage/accounts", host: str = COINBASE_HOST,
                 now: int | None = None, lifetime: int = COINBASE_LIFETIME_S,
                 nonce: str | None = None) -> str:
        """A Coinbase Advanced Trade / CDP bearer token: header kid = key_name and a random
        hex nonce, claims iss "cdp", sub, nbf, exp (+120 s) and uri "METHOD host/path"
        (path=None: no uri, as the WebSocket feed wants)."""
        return _device.run(self._device, self._steps_coinbase(key_name, method, path, host,
                                                              now, lifetime, nonce))


class AsyncJwtSigner(_device.Async, _JwtSteps):
    """JwtSigner's methods as coroutines:
    `signer = await AsyncJwtSigner.open(dev, slot, curve=None)`."""

    _twin = "JwtSigner"

    async def encode(self, payload: Mapping, headers: Mapping | None = None, *,
                     json_encoder: type[json.JSONEncoder] | None = None) -> str:
        return await _device.run_async(self._device,
                                       self._steps_encode(payload, headers, json_encoder))

    async def coinbase(self, key_name: str, *, method: str = "GET",
                       path: str | None = "/api/v3/brokerage/accounts",
                       host: str = COINBASE_HOST, now: int | None = None,
                       lifetime: int = COINBASE_LIFETIME_S, nonce: str | None = None) -> str:
        return await _device.run_async(self._device, self._steps_coinbase(
            key_name, method, path, host, now, lifetime, nonce))


__all__ = ["ALGORITHMS", "AsyncJwtSigner", "JwtSigner", "b64url", "coinbase_claims"]
