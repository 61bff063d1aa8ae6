"""`quantgate demo`, client-library part: the demo keys (in the slots demo_sign chose and
loaded) used through quantgate.integrations, each result checked by the client library itself:

- eth: the EIP-712 orders signed by `EthAccount.sign_typed_data`; eth-account's
  `Account.recover_message` must give the address of the demo key (`Account.from_key`).
- solana: a SOL transfer signed by `SolanaSigner`; the transaction must equal the one solders
  builds with `Keypair.from_seed` and pass solders' `verify_with_results`.
- jwt: a Coinbase-style ES256 token from the P-256 slot, decoded by PyJWT.
- rest: a Binance-style Ed25519 order query, verified by PyNaCl.

An adapter whose client library is not installed is reported as skipped (with the extra to
install), never as passed.
"""

import base64
import hashlib
import urllib.parse

from . import demo_sign

DEMO_KEY_NAME = "organizations/quantgate-demo/apiKeys/demo-key"
BINANCE_ORDER = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": "0.015", "price": "96512.50", "recvWindow": 5000,
                 "timestamp": demo_sign.TS0}


def _short(text: str, keep: int = 6) -> str:
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


def _item(adapter: str, item: str, ok: bool | None, detail: str) -> dict:
    return {"adapter": adapter, "item": item, "ok": ok, "detail": detail}


def _failed(adapter: str, item: str, exc: Exception) -> dict:
    return _item(adapter, item, False, f"{type(exc).__name__}: {exc}")


def eth_items(dev, slots) -> list[dict]:
    try:
        from eth_account import Account
        from eth_account.messages import encode_typed_data

        from quantgate.integrations.eth import EthAccount
    except ImportError:
        return [_item("eth", "EIP-712 orders", None,
                      "skipped: eth-account is not installed (pip install quantgate[eth])")]
    want = Account.from_key(demo_sign.demo_secret("secp256k1")).address
    items = []
    try:
        account = EthAccount(dev, slots["secp256k1"])
    except Exception as exc:  # any failure is reported as a failed item, not a crash
        return [_failed("eth", "EIP-712 orders", exc)]
    for typed in demo_sign.eip712_orders():
        order = typed["message"]
        item = f"EIP-712 Order {order['instrument']} {'buy' if order['isBuy'] else 'sell'}"
        try:
            signed = account.sign_typed_data(full_message=typed)
            got = Account.recover_message(encode_typed_data(full_message=typed),
                                          signature=signed.signature)
            items.append(_item("eth", item, got == want == account.address,
                               f"recovered {_short(got)} {'=' if got == want else '!='} "
                               f"from_key"))
        except Exception as exc:
            items.append(_failed("eth", item, exc))
    return items


def _checked(adapter: str, item: str, missing: str, check) -> dict:
    """One item: check() -> (ok, detail). An ImportError (the client library is not
    installed) makes the item skipped, any other exception failed."""
    try:
        return _item(adapter, item, *check())
    except ImportError:
        return _item(adapter, item, None, f"skipped: {missing}")
    except Exception as exc:
        return _failed(adapter, item, exc)


def _solana(dev, slots) -> tuple[bool, str]:
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import Message
    from solders.pubkey import Pubkey
    from solders.system_program import TransferParams, transfer
    from solders.transaction import Transaction

    from quantgate.integrations.solana import SolanaSigner

    signer = SolanaSigner(dev, slots["ed25519"])
    label = b"quantgate demo: Solana recipient and blockhash, NOT real"
    to = Pubkey(hashlib.sha256(label + b" recipient").digest())
    blockhash = Hash(hashlib.sha256(label + b" blockhash").digest())
    msg = Message.new_with_blockhash([transfer(TransferParams(
        from_pubkey=signer.pubkey(), to_pubkey=to, lamports=250_000_000))],
        signer.pubkey(), blockhash)
    tx = signer.sign_transaction(msg)
    reference = Transaction([Keypair.from_seed(demo_sign.demo_secret("ed25519"))], msg,
                            blockhash)
    return (all(tx.verify_with_results()) and tx == reference,
            f"{len(bytes(tx))}-byte tx, solders verify")


def _jwt(dev, slots) -> tuple[bool, str]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from quantgate.integrations.jwt import JwtSigner

    token = JwtSigner(dev, slots["p256"]).coinbase(DEMO_KEY_NAME)
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), demo_sign.reference_public_key("p256", demo_sign.demo_secret("p256")))
    claims = jwt.decode(token, public, algorithms=["ES256"])
    return (claims["sub"] == DEMO_KEY_NAME and claims["uri"].startswith("GET api.coinbase"),
            f"{len(token)} chars, PyJWT decode")


def _rest(dev, slots) -> tuple[bool, str]:
    import nacl.signing

    from quantgate.integrations.rest import Ed25519RequestSigner

    query = Ed25519RequestSigner(dev, slots["ed25519"]).signed_query(BINANCE_ORDER)
    payload, _, signature = query.rpartition("&signature=")
    key = nacl.signing.SigningKey(demo_sign.demo_secret("ed25519")).verify_key
    key.verify(payload.encode(), base64.b64decode(urllib.parse.unquote(signature)))  # raises
    return True, f"{len(query)} chars, PyNaCl verify"


def run(dev, slots: dict[str, int]) -> list[dict]:
    """Every adapter item; ``slots``: the demo keys' slots per curve (demo_sign.choose_slots)."""
    return [
        *eth_items(dev, slots),
        _checked("solana", "transfer 0.25 SOL (legacy Message)",
                 "solders is not installed (pip install quantgate[solana])",
                 lambda: _solana(dev, slots)),
        _checked("jwt", "ES256 JWT, Coinbase kid/nonce/uri",
                 "PyJWT is not installed (pip install quantgate[jwt])", lambda: _jwt(dev, slots)),
        _checked("rest", "Ed25519 Binance order query",
                 "PyNaCl (the check) is not installed: pip install pynacl",
                 lambda: _rest(dev, slots)),
    ]


def print_items(items: list[dict], out) -> None:
    print("  client libraries (quantgate.integrations), each result checked by the library:",
          file=out)
    for it in items:
        mark = {True: "ok", False: "FAILED", None: "--"}[it["ok"]]
        print(f"    {it['adapter']:7}{it['item']:40}{mark:>6}  {it['detail']}", file=out)


__all__ = ["print_items", "run"]
