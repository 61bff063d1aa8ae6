"""Adapters from appliance key slots to the client libraries trading code signs with; each
returns the library's own types (docs/integrations.md).

- ``quantgate.integrations.eth``: an eth-account account for a secp256k1 slot (EIP-191,
  EIP-712, legacy / EIP-1559 transactions). Extra ``eth``.
- ``quantgate.integrations.solana``: solders Signature / Presigner / Transaction for an
  Ed25519 slot. Extra ``solana``.
- ``quantgate.integrations.jwt``: ES256 / ES256K / EdDSA JSON Web Tokens (Coinbase-style
  API tokens). Extra ``jwt`` (for verification keys; building needs only the driver).
- ``quantgate.integrations.rest``: Ed25519 request signing as exchanges with Ed25519 API keys
  specify (Binance-style). No extra.

Import the submodule you need; this package imports none of them, so a missing extra only
matters to the adapter that needs it. Every adapter takes a device (an ``Appliance``, or any
object with ``sign(slot, message, curve=...)`` and ``public_key(slot)``) and a slot; the
``Async*`` classes take an ``AsyncAppliance``. None of them needs Amaranth.
"""
