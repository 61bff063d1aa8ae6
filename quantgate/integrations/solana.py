"""Solana: sign solders messages with the Ed25519 key in an appliance slot.

    from quantgate.integrations.solana import SolanaSigner

    signer = SolanaSigner(dev, slot=0)                 # the slot holds an Ed25519 key
    msg = Message.new_with_blockhash([transfer(...)], signer.pubkey(), blockhash)
    tx = signer.sign_transaction(msg)                  # solders Transaction, verified

A Solana signature is Ed25519 over the serialized message (`bytes(Message)`, or for a
`MessageV0` the versioned form with its 0x80 prefix, `solders.message.to_bytes_versioned`);
the device signs those bytes themselves. The result is a solders `Signature`, a `Presigner`
for solders' own transaction constructors, or the signed `Transaction` /
`VersionedTransaction`, which this module verifies with solders before returning it.

Limit: the device signs at most `wire.MAX_SIGN_MESSAGE` bytes in one request (1023 today),
less than Solana allows (a 1,232-byte packet holds a message of up to 1,167 bytes with one
signature); a longer message raises ValueError before anything is sent.
`AsyncSolanaSigner` offers the same methods as coroutines over an AsyncAppliance. Needs the
`solana` extra: `pip install quantgate[solana]`.
"""

from collections.abc import Sequence

try:
    from solders.message import Message, MessageV0, to_bytes_versioned
    from solders.presigner import Presigner
    from solders.pubkey import Pubkey
    from solders.signature import Signature
    from solders.transaction import Transaction, VersionedTransaction
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("quantgate.integrations.solana needs solders: "
                      "pip install quantgate[solana]") from exc

from quantgate import wire

from . import _device

CURVE = "ed25519"
PACKET_LIMIT = 1232  # bytes of one serialized transaction (IPv6 MTU minus headers)
SIGNATURE_LEN = 64


def _shortvec_len(n: int) -> int:
    """Bytes of Solana's compact-u16 length prefix of n."""
    return 1 if n < 0x80 else 2 if n < 0x4000 else 3


def message_bytes(message) -> bytes:
    """The bytes a Solana signature covers: legacy `Message` -> bytes(message); `MessageV0`
    -> its versioned serialization (0x80 prefix); bytes pass through."""
    if isinstance(message, Message):
        return bytes(message)
    if isinstance(message, MessageV0):
        return bytes(to_bytes_versioned(message))
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    raise TypeError(f"a solders Message, MessageV0 or bytes, not {type(message).__name__}")


def _num_signers(message) -> int:
    return message.header.num_required_signatures


def check_size(data: bytes, num_signatures: int = 1) -> None:
    """ValueError unless the device can sign `data` and the transaction fits a packet."""
    tx_len = _shortvec_len(num_signatures) + SIGNATURE_LEN * num_signatures + len(data)
    if tx_len > PACKET_LIMIT:
        raise ValueError(f"the transaction would be {tx_len} bytes ({num_signatures} "
                         f"signature(s) + a {len(data)}-byte message): over Solana's "
                         f"{PACKET_LIMIT}-byte packet limit")
    if len(data) > wire.MAX_SIGN_MESSAGE:
        raise ValueError(f"the Solana message is {len(data)} bytes: the appliance signs at "
                         f"most {wire.MAX_SIGN_MESSAGE} bytes (wire.MAX_SIGN_MESSAGE) in one "
                         f"request, although Solana's {PACKET_LIMIT}-byte packet limit would "
                         f"allow it; shorten the message (fewer instructions or accounts, an "
                         f"address lookup table with MessageV0)")


class _SolanaSteps(_device.SlotAdapter):
    def __init__(self, device, slot: int, public_key: bytes):
        super().__init__(device, slot, public_key)
        self._pubkey = Pubkey.from_bytes(public_key)

    @staticmethod
    def _steps_open(slot: int):
        return ((yield from _device.slot_key(slot, CURVE, 32)),)

    def pubkey(self) -> Pubkey:
        """The slot's public key as a solders Pubkey (as Keypair.pubkey())."""
        return self._pubkey

    def _describe(self) -> str:
        return f"pubkey={self._pubkey}"

    def _steps_sign(self, message):
        data = message_bytes(message)
        check_size(data, 1 if isinstance(message, bytes | bytearray | memoryview)
                   else _num_signers(message))
        signature = Signature.from_bytes((yield _device.Sign(self._slot, data, CURVE)))
        if not signature.verify(self._pubkey, data):
            raise ValueError("the device's signature does not verify against the slot's "
                             "public key")
        return signature

    def _steps_presigner(self, message):
        return Presigner(self._pubkey, (yield from self._steps_sign(message)))

    def _steps_transaction(self, message, signers: Sequence = ()):
        if not isinstance(message, Message | MessageV0):
            raise TypeError(f"sign_transaction takes a solders Message or MessageV0, not "
                            f"{type(message).__name__}")
        data = message_bytes(message)
        required = list(message.account_keys[:_num_signers(message)])
        if self._pubkey not in required:
            raise ValueError(f"the slot's key {self._pubkey} is not among the message's "
                             f"signers")
        others = {s.pubkey(): s for s in signers}
        missing = [str(k) for k in required if k != self._pubkey and k not in others]
        if missing:
            raise ValueError(f"no signer given for {', '.join(missing)}")
        own = yield from self._steps_sign(message)
        signatures = [own if k == self._pubkey else others[k].sign_message(data)
                      for k in required]
        if isinstance(message, Message):
            tx = Transaction.populate(message, signatures)
        else:
            tx = VersionedTransaction.populate(message, signatures)
        if not all(tx.verify_with_results()):
            raise ValueError("a signature of the transaction does not verify")
        return tx


class SolanaSigner(_device.Blocking, _SolanaSteps):
    """Signs with the Ed25519 key in `slot` of a blocking device (Appliance):
    `SolanaSigner(dev, slot)`. The constructor reads the public key (ValueError if the slot
    holds an ECDSA key)."""

    _twin = "AsyncSolanaSigner"

    def sign_message(self, message) -> Signature:
        """Signature over a Message, a MessageV0 (versioned bytes) or raw message bytes."""
        return _device.run(self._device, self._steps_sign(message))

    def presigner(self, message) -> Presigner:
        """A solders Presigner holding this key's signature of `message`, for solders'
        constructors (Transaction([presigner, keypair], msg, blockhash), ...)."""
        return _device.run(self._device, self._steps_presigner(message))

    def sign_transaction(self, message,
                         signers: Sequence = ()) -> Transaction | VersionedTransaction:
        """The signed Transaction (legacy Message) or VersionedTransaction (MessageV0); other
        required signers (solders Keypairs, Presigners) come in `signers`. Verified with
        solders before it is returned."""
        return _device.run(self._device, self._steps_transaction(message, signers))


class AsyncSolanaSigner(_device.Async, _SolanaSteps):
    """SolanaSigner's methods as coroutines: `signer = await AsyncSolanaSigner.open(dev, 0)`."""

    _twin = "SolanaSigner"

    async def sign_message(self, message) -> Signature:
        return await _device.run_async(self._device, self._steps_sign(message))

    async def presigner(self, message) -> Presigner:
        return await _device.run_async(self._device, self._steps_presigner(message))

    async def sign_transaction(self, message,
                               signers: Sequence = ()) -> Transaction | VersionedTransaction:
        return await _device.run_async(self._device, self._steps_transaction(message, signers))


__all__ = ["AsyncSolanaSigner", "PACKET_LIMIT", "SolanaSigner", "check_size", "message_bytes"]
