"""The connector's permissions: named clients, their tokens, and what each may do.

    [anonymous]                 # connections that send no token (optional: default nothing)
    ops = ["info", "echo"]

    [clients.strategy-a]
    token_sha256 = "9f86d0..."  # SHA-256 of the token, hex (or `token = "..."` in clear)
    ops = ["sign", "public_key", "info", "echo", "stats", "timing", "greeks"]
    slots = [2]

    [clients.admin]
    token_sha256 = "..."
    admin = true                # every operation (load_key, zeroize too) on every slot

Admin operations (LOAD_KEY, ZEROIZE: they change the keys every client signs with) are allowed
only to `admin = true` clients; listing them in a non-admin client's `ops` is a configuration
error, so a typo cannot grant them. A client whose ops include a slot operation must say which
slots (`slots = [2, 3]`, or `slots = "*"`). Without a configuration every connection may do
everything, and the connector listens only on loopback and Unix sockets.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from dataclasses import dataclass
from pathlib import Path

from quantgate import wire

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser from PyPI (the `connector` extra installs it)
    import tomli as tomllib

OPS = {
    "info": wire.Op.INFO, "echo": wire.Op.ECHO, "stats": wire.Op.STATS,
    "timing": wire.Op.TIMING, "sign": wire.Op.SIGN, "public_key": wire.Op.PUBLIC_KEY,
    "greeks": wire.Op.GREEKS, "load_key": wire.Op.LOAD_KEY, "zeroize": wire.Op.ZEROIZE,
}
ADMIN_OPS = frozenset({wire.Op.LOAD_KEY, wire.Op.ZEROIZE})
SLOT_OPS = frozenset({wire.Op.SIGN, wire.Op.PUBLIC_KEY, wire.Op.LOAD_KEY, wire.Op.ZEROIZE})
ALL_SLOTS = frozenset(range(wire.NUM_KEY_SLOTS))


class ConfigError(ValueError):
    """The configuration file is malformed; the message names the client and the field."""


@dataclass(frozen=True)
class Permissions:
    """What one client may do: opcodes and key slots. `admin` may do everything."""

    name: str
    ops: frozenset[int]
    slots: frozenset[int]
    admin: bool = False

    def allows(self, op: int, slot: int | None) -> bool:
        if self.admin:
            return True
        if op not in self.ops:
            return False
        return op not in SLOT_OPS or slot is None or slot in self.slots


OPEN = Permissions("anonymous", frozenset(), ALL_SLOTS, admin=True)  # no configuration
NOTHING = Permissions("anonymous", frozenset(), frozenset())


class Policy:
    """Token -> Permissions. Tokens are kept only as SHA-256 digests and compared in constant
    time, so neither the configuration in memory nor the timing of a refusal tells a token."""

    def __init__(self, clients: dict[bytes, Permissions], anonymous: Permissions = NOTHING):
        self._clients = clients
        self.anonymous = anonymous

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._clients.values()]

    def authenticate(self, token: bytes) -> Permissions | None:
        digest = hashlib.sha256(token).digest()
        found = None
        for known, perms in self._clients.items():  # no early exit: the same work every time
            if hmac.compare_digest(known, digest):
                found = perms
        return found

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> Policy:
        unknown = set(data) - {"clients", "anonymous"}
        if unknown:
            raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))} "
                              f"(expected [clients.NAME] and [anonymous])")
        clients: dict[bytes, Permissions] = {}
        for name, entry in _table(data, "clients", source).items():
            where = f"{source}: [clients.{name}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{where} must be a table")
            digest = _token_digest(entry, where)
            if digest in clients:
                raise ConfigError(f"{where} has the same token as [clients."
                                  f"{clients[digest].name}]")
            clients[digest] = _permissions(name, entry, where, token_fields=True)
        anonymous = NOTHING
        if "anonymous" in data:
            anonymous = _permissions("anonymous", _table(data, "anonymous", source),
                                     f"{source}: [anonymous]", token_fields=False)
        if not clients and anonymous is NOTHING:
            raise ConfigError(f"{source}: no [clients.NAME] and no [anonymous]: nobody could "
                              f"use the connector")
        return cls(clients, anonymous)


def _table(data: dict, key: str, source: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {key} must be a table")
    return value


def _token_digest(entry: dict, where: str) -> bytes:
    if ("token" in entry) == ("token_sha256" in entry):
        raise ConfigError(f"{where} needs exactly one of token_sha256 (hex) or token")
    if "token" in entry:
        token = entry["token"]
        if not isinstance(token, str) or not 1 <= len(token.encode()) <= wire.MAX_TOKEN:
            raise ConfigError(f"{where}: token must be a string of 1..{wire.MAX_TOKEN} bytes")
        return hashlib.sha256(token.encode()).digest()
    try:
        digest = bytes.fromhex(entry["token_sha256"])
    except (TypeError, ValueError):
        digest = b""
    if len(digest) != 32:
        raise ConfigError(f"{where}: token_sha256 must be 64 hex digits (a SHA-256 digest)")
    return digest


def _permissions(name: str, entry: dict, where: str, *, token_fields: bool) -> Permissions:
    allowed = {"ops", "slots", "admin"} | ({"token", "token_sha256"} if token_fields else set())
    unknown = set(entry) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    admin = entry.get("admin", False)
    if not isinstance(admin, bool):
        raise ConfigError(f"{where}: admin must be true or false")
    if admin:
        if "ops" in entry or "slots" in entry:
            raise ConfigError(f"{where}: an admin client may do everything; drop ops/slots")
        return Permissions(name, frozenset(OPS.values()), ALL_SLOTS, admin=True)
    names = entry.get("ops", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}: ops must be a list of operation names")
    ops = set()
    for op_name in names:
        if op_name not in OPS:
            raise ConfigError(f"{where}: unknown operation {op_name!r} (known: "
                              f"{', '.join(OPS)})")
        if OPS[op_name] in ADMIN_OPS:
            raise ConfigError(f"{where}: {op_name} is an admin operation: only a client with "
                              f"admin = true may use it")
        ops.add(OPS[op_name])
    slots = entry.get("slots")
    if slots == "*":
        slot_set = ALL_SLOTS
    elif slots is None:
        if ops & SLOT_OPS:
            raise ConfigError(f"{where}: its ops use key slots: say which (slots = [2] or "
                              f"slots = \"*\")")
        slot_set = frozenset()
    elif isinstance(slots, list) and all(isinstance(s, int) and not isinstance(s, bool)
                                         and 0 <= s < wire.NUM_KEY_SLOTS for s in slots):
        slot_set = frozenset(slots)
    else:
        raise ConfigError(f"{where}: slots must be \"*\" or a list of slot numbers "
                          f"0..{wire.NUM_KEY_SLOTS - 1}")
    return Permissions(name, frozenset(ops), slot_set)
