"""Ethereum: an eth-account account whose secp256k1 key stays in an appliance slot.

    from quantgate.host import Appliance
    from quantgate.integrations.eth import EthAccount

    with Appliance.open("/dev/ttyUSB0") as dev:
        account = EthAccount(dev, slot=1)          # the slot holds a secp256k1 key
        signed = account.sign_typed_data(full_message=order)   # eth_account SignedMessage
        tx = account.sign_transaction({"type": 2, "chainId": 1, ...})   # SignedTransaction

The host does the hashing eth-account does (EIP-191 / EIP-712 / RLP, Keccak-256) and the device
signs the 32-byte digest. The device's signature r || s || recovery id is deterministic
(RFC 6979) and low-S, as eth-account's, so the results equal eth-account's own for the same key
byte for byte. `AsyncEthAccount` offers the same methods as coroutines over an AsyncAppliance.
Needs the `eth` extra: `pip install quantgate[eth]`.
"""

from collections.abc import Mapping
from typing import Any

try:
    from eth_account._utils.legacy_transactions import (
        Transaction,
        UnsignedTransaction,
        encode_transaction,
        serializable_unsigned_transaction_from_dict,
    )
    from eth_account.datastructures import SignedMessage, SignedTransaction
    from eth_account.messages import SignableMessage, encode_typed_data
    from eth_account.signers.base import BaseAccount
    from eth_account.typed_transactions import TypedTransaction
    from eth_utils import keccak, to_checksum_address
    from hexbytes import HexBytes
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("quantgate.integrations.eth needs eth-account: "
                      "pip install quantgate[eth]") from exc

from . import _device

CURVE = "secp256k1"
P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
V_OFFSET = 27  # v of messages and of legacy transactions without a chain id
CHAIN_ID_OFFSET = 35  # EIP-155: v = chain_id * 2 + 35 + y parity


class UnrepresentableSignature(ValueError):
    """The device's signature has recovery id bit 1 set (R.x >= n, probability about 2**-128):
    Ethereum's v carries only the y parity, so no Ethereum signature can express it. Signing
    anything else (a new nonce, salt or timestamp) works normally."""


def address_of(public_key: bytes) -> str:
    """The checksummed Ethereum address of a 33-byte compressed secp256k1 key: the last 20
    bytes of Keccak-256 of the uncompressed point x || y."""
    if len(public_key) != 33 or public_key[0] not in (2, 3):
        raise ValueError("a compressed secp256k1 public key is 33 bytes starting 02 or 03")
    x = int.from_bytes(public_key[1:], "big")
    y2 = (pow(x, 3, P) + 7) % P
    y = pow(y2, (P + 1) // 4, P)  # P = 3 mod 4
    if x >= P or y * y % P != y2:
        raise ValueError("the public key is not a point of secp256k1")
    if y & 1 != public_key[0] & 1:
        y = P - y
    return to_checksum_address(keccak(x.to_bytes(32, "big") + y.to_bytes(32, "big"))[-20:])


def _split(signature: bytes) -> tuple[int, int, int]:
    """Device r || s || recovery id -> (r, s, y parity)."""
    r, s, rec = (int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"),
                 signature[64])
    if rec & 2:
        raise UnrepresentableSignature(
            "the device's signature has R.x >= n (recovery id bit 1), which an Ethereum "
            "signature cannot express; change the message (e.g. its nonce) and sign again")
    return r, s, rec & 1


def _digest(message_hash) -> bytes:
    digest = bytes(HexBytes(message_hash))
    if len(digest) != 32:
        raise ValueError(f"the message hash must be exactly 32 bytes, not {len(digest)}")
    return digest


def _eip191_hash(message: SignableMessage) -> bytes:
    if not isinstance(message, SignableMessage):
        raise TypeError(f"sign_message takes an eth_account SignableMessage (e.g. from "
                        f"encode_defunct or encode_typed_data), not {type(message).__name__}")
    if len(message.version) != 1:
        raise ValueError(f"EIP-191 version must be 1 byte, not {len(message.version)}")
    return keccak(b"\x19" + message.version + message.header + message.body)


class _EthSteps(_device.SlotAdapter):
    """The formats, independent of the driver: each `_steps_*` is a generator of device
    requests (see _device)."""

    def __init__(self, device, slot: int, public_key: bytes):
        super().__init__(device, slot, public_key)
        self._address = address_of(public_key)

    @staticmethod
    def _steps_open(slot: int):
        return ((yield from _device.slot_key(slot, CURVE, 33)),)

    @property
    def address(self) -> str:
        """The checksummed address of the slot's key."""
        return self._address

    def _describe(self) -> str:
        return f"address={self._address}"

    def _steps_hash(self, message_hash: bytes):
        r, s, parity = _split((yield _device.Sign(self._slot, message_hash, CURVE)))
        v = V_OFFSET + parity
        return SignedMessage(message_hash=HexBytes(message_hash), r=r, s=s, v=v,
                             signature=HexBytes(r.to_bytes(32, "big") + s.to_bytes(32, "big")
                                                + bytes([v])))

    def _steps_message(self, message: SignableMessage):
        return (yield from self._steps_hash(_eip191_hash(message)))

    def _steps_typed_data(self, domain_data, message_types, message_data, full_message):
        return (yield from self._steps_message(encode_typed_data(
            domain_data, message_types, message_data, full_message)))

    def _steps_transaction(self, transaction_dict: Mapping[str, Any]):
        if not isinstance(transaction_dict, Mapping):
            raise TypeError(f"transaction_dict must be dict-like, not "
                            f"{type(transaction_dict).__name__}")
        tx = dict(transaction_dict)
        if "from" in tx:  # as eth-account: allowed only if it is this account
            sender = tx.pop("from")
            if sender != self._address:
                raise TypeError(f"from field must match the slot's address {self._address}, "
                                f"but it was {sender!r}")
        unsigned = serializable_unsigned_transaction_from_dict(tx)
        r, s, parity = _split((yield _device.Sign(self._slot, unsigned.hash(), CURVE)))
        if isinstance(unsigned, TypedTransaction):
            v = parity  # EIP-2718 typed transactions carry the y parity itself
        elif isinstance(unsigned, Transaction):  # legacy with chainId: EIP-155
            v = CHAIN_ID_OFFSET + 2 * unsigned.v + parity
        elif isinstance(unsigned, UnsignedTransaction):  # legacy without chainId
            v = V_OFFSET + parity
        else:  # pragma: no cover - eth-account returns one of the three
            raise TypeError(f"unknown transaction object {type(unsigned).__name__}")
        raw = encode_transaction(unsigned, vrs=(v, r, s))
        return SignedTransaction(raw_transaction=HexBytes(raw), hash=HexBytes(keccak(raw)),
                                 r=r, s=s, v=v)


class EthAccount(_device.Blocking, _EthSteps, BaseAccount):
    """An eth-account `BaseAccount` signing with the secp256k1 key in `slot` of a blocking
    device (Appliance): `EthAccount(dev, slot)`. The constructor reads the slot's public key
    (ValueError if the slot holds another curve's key; EmptySlot if it is empty)."""

    _twin = "AsyncEthAccount"

    def unsafe_sign_hash(self, message_hash) -> SignedMessage:
        """Sign a 32-byte hash as is (v = 27 + parity). Unsafe as in eth-account: whoever
        chose the hash may have chosen a transaction."""
        return _device.run(self._device, self._steps_hash(_digest(message_hash)))

    def sign_message(self, signable_message: SignableMessage) -> SignedMessage:
        """EIP-191 message (encode_defunct, encode_typed_data, ...) -> SignedMessage."""
        return _device.run(self._device, self._steps_message(signable_message))

    def sign_typed_data(self, domain_data: dict | None = None, message_types: dict | None = None,
                        message_data: dict | None = None,
                        full_message: dict | None = None) -> SignedMessage:
        """EIP-712, with the arguments of eth-account's `sign_typed_data` (e.g.
        `full_message={"types": ..., "primaryType": ..., "domain": ..., "message": ...}`)."""
        return _device.run(self._device, self._steps_typed_data(
            domain_data, message_types, message_data, full_message))

    def sign_transaction(self, transaction_dict: Mapping[str, Any]) -> SignedTransaction:
        """A legacy (EIP-155 when it has chainId), EIP-2930 or EIP-1559 transaction dict, as
        eth-account's `sign_transaction` takes it -> SignedTransaction."""
        return _device.run(self._device, self._steps_transaction(transaction_dict))


class AsyncEthAccount(_device.Async, _EthSteps):
    """EthAccount's methods as coroutines over an AsyncAppliance:
    `account = await AsyncEthAccount.open(dev, slot)`."""

    _twin = "EthAccount"

    async def unsafe_sign_hash(self, message_hash) -> SignedMessage:
        return await _device.run_async(self._device, self._steps_hash(_digest(message_hash)))

    async def sign_message(self, signable_message: SignableMessage) -> SignedMessage:
        return await _device.run_async(self._device, self._steps_message(signable_message))

    async def sign_typed_data(self, domain_data: dict | None = None,
                              message_types: dict | None = None,
                              message_data: dict | None = None,
                              full_message: dict | None = None) -> SignedMessage:
        return await _device.run_async(self._device, self._steps_typed_data(
            domain_data, message_types, message_data, full_message))

    async def sign_transaction(self, transaction_dict: Mapping[str, Any]) -> SignedTransaction:
        return await _device.run_async(self._device, self._steps_transaction(transaction_dict))


__all__ = ["AsyncEthAccount", "EthAccount", "UnrepresentableSignature", "address_of"]
