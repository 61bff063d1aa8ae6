"""quantgate.integrations (eth, solana, jwt, rest) against the simulated appliance
(`quantgate sim`, the Verilated gateware), with fresh random keys every run.

Every expected value comes from the client library itself, signing with the same key on the
host: eth-account (`Account.sign_*`, `Account.recover_*`), solders (`Keypair.from_seed`,
`Transaction.verify`), PyJWT (`jwt.encode` / `jwt.decode`) with `cryptography` keys, PyNaCl.
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse

import coincurve
import jwt
import nacl.exceptions
import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from quantgate import wire
from quantgate.host import Appliance, AsyncAppliance, errors
from quantgate.integrations import eth as qeth
from quantgate.integrations import jwt as qjwt
from quantgate.integrations import rest as qrest
from quantgate.integrations import solana as qsol

pytestmark = pytest.mark.xdist_group("appliance_sim")

N = {"secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
     "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551}
SLOT = {"ed25519": 3, "secp256k1": 4, "p256": 5}
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qWH8hV1b2c9CPbp4gSYaUwUDa2")


def fresh(curve: str) -> bytes:
    """A new random secret: an Ed25519 seed, or d reduced into [1, n-1]."""
    raw = os.urandom(32)
    if curve == "ed25519":
        return raw
    return (int.from_bytes(raw, "big") % (N[curve] - 1) + 1).to_bytes(32, "big")


@pytest.fixture
def dev(sim_address):  # the simulator serves one client at a time: one connection per test
    with Appliance.open(f"socket://{sim_address}", timeout=10) as dev:
        try:
            yield dev
        finally:
            for slot in SLOT.values():
                dev.zeroize(slot)


def load(dev, curve: str) -> bytes:
    secret = fresh(curve)
    dev.load_key(SLOT[curve], curve, secret)
    return secret


def alive(dev) -> bool:
    return dev.echo(b"still answering") == b"still answering"


class Recorder:
    """A device wrapper that records which requests reach the device."""

    def __init__(self, dev):
        self.dev, self.signed = dev, []

    def public_key(self, slot):
        return self.dev.public_key(slot)

    def sign(self, slot, message, *, curve=None):
        self.signed.append(len(message))
        return self.dev.sign(slot, message, curve=curve)


# -- eth ------------------------------------------------------------------------------------------

ORDER = {  # an EIP-712 limit order as an on-chain options venue takes it
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"},
                         {"name": "verifyingContract", "type": "address"}],
        "Order": [{"name": "maker", "type": "address"}, {"name": "instrument", "type": "string"},
                  {"name": "isBuy", "type": "bool"}, {"name": "size", "type": "uint256"},
                  {"name": "limitPrice", "type": "uint256"}, {"name": "salt", "type": "bytes32"},
                  {"name": "expiry", "type": "uint64"}],
    },
    "primaryType": "Order",
    "domain": {"name": "Options Exchange", "version": "2", "chainId": 42161,
               "verifyingContract": "0x3F1c547b21f65e10480dE3ad8E19fAAC46C95034"},
    "message": {"instrument": "BTC-27DEC26-100000-C", "isBuy": True, "size": 5 * 10**6,
                "limitPrice": 4250 * 10**6, "expiry": 1_798_765_200},
}
RECIPIENT = "0x09616C3d61b3331fc4109a9E41a8BDB7d9776609"


def typed_order(maker: str) -> dict:
    return {**ORDER, "message": {**ORDER["message"], "maker": maker, "salt": os.urandom(32)}}


def test_eth_account_matches_eth_account(dev):
    d = load(dev, "secp256k1")
    ref = Account.from_key(d)
    account = qeth.EthAccount(dev, SLOT["secp256k1"])
    assert account.address == ref.address
    assert account.public_key == coincurve.PrivateKey(d).public_key.format(compressed=True)
    assert repr(account) == f"EthAccount(slot={SLOT['secp256k1']}, address={ref.address})"

    message = encode_defunct(text=f"quantgate login {os.urandom(8).hex()}")
    signed = account.sign_message(message)
    assert signed == ref.sign_message(message)
    assert bytes(signed.signature) == bytes(ref.sign_message(message).signature)
    assert Account.recover_message(message, signature=signed.signature) == ref.address

    order = typed_order(ref.address)
    signed = account.sign_typed_data(full_message=order)
    assert signed == Account.sign_typed_data(d, full_message=order)
    assert signed.v in (27, 28) and len(signed.signature) == 65
    assert Account.recover_message(encode_typed_data(full_message=order),
                                   signature=signed.signature) == ref.address
    digest = os.urandom(32)
    assert account.unsafe_sign_hash(digest) == ref.unsafe_sign_hash(digest)


@pytest.mark.parametrize("kind", ["legacy-eip155", "legacy-no-chain-id", "eip1559", "eip2930"])
def test_eth_transactions_match_eth_account(dev, kind):
    d = load(dev, "secp256k1")
    ref = Account.from_key(d)
    account = qeth.EthAccount(dev, SLOT["secp256k1"])
    base = {"nonce": int.from_bytes(os.urandom(2), "big"), "gas": 120_000, "to": RECIPIENT,
            "value": int.from_bytes(os.urandom(8), "big"), "data": "0xa9059cbb" + "00" * 64}
    tx = {
        "legacy-eip155": {**base, "gasPrice": 21 * 10**9, "chainId": 1},
        "legacy-no-chain-id": {**base, "gasPrice": 21 * 10**9},
        "eip1559": {**base, "type": 2, "chainId": 42161, "maxFeePerGas": 3 * 10**9,
                    "maxPriorityFeePerGas": 10**8, "accessList": []},
        "eip2930": {**base, "type": 1, "chainId": 10, "gasPrice": 10**9, "accessList": [
            {"address": RECIPIENT, "storageKeys": ["0x" + "00" * 31 + "01"]}]},
    }[kind]
    signed = account.sign_transaction(tx)
    want = Account.sign_transaction(tx, d)
    assert signed == want  # raw_transaction, hash, r, s, v
    assert bytes(signed.raw_transaction) == bytes(want.raw_transaction)
    assert Account.recover_transaction(signed.raw_transaction) == ref.address
    assert account.sign_transaction({**tx, "from": ref.address}) == want
    with pytest.raises(TypeError, match="from field"):
        account.sign_transaction({**tx, "from": RECIPIENT})


def test_eth_rejects_other_curves_and_still_answers(dev):
    load(dev, "ed25519")
    with pytest.raises(ValueError, match="ed25519 key, not a secp256k1"):
        qeth.EthAccount(dev, SLOT["ed25519"])
    assert alive(dev)
    load(dev, "p256")
    with pytest.raises(ValueError, match="p256 key"):
        qeth.EthAccount(dev, SLOT["p256"])
    assert alive(dev)
    dev.zeroize(6)  # other modules' tests may have left a key there
    with pytest.raises(errors.EmptySlot):
        qeth.EthAccount(dev, 6)
    assert alive(dev)
    # The slot changes curve after the account was made: the device refuses (WrongCurve).
    d = load(dev, "secp256k1")
    account = qeth.EthAccount(dev, SLOT["secp256k1"])
    dev.load_key(SLOT["secp256k1"], "p256", fresh("p256"))
    with pytest.raises(errors.WrongCurve):
        account.sign_message(encode_defunct(text="x"))
    assert alive(dev)
    dev.load_key(SLOT["secp256k1"], "secp256k1", d)
    message = encode_defunct(primitive=os.urandom(40))
    assert account.sign_message(message) == Account.sign_message(message, d)
    with pytest.raises(TypeError, match="SignableMessage"):
        account.sign_message(b"raw bytes")
    with pytest.raises(ValueError, match="32 bytes"):
        account.unsafe_sign_hash(b"\x01" * 31)


def test_eth_recovery_id_with_r_overflow_is_an_error():
    """Recovery id bit 1 (R.x >= n, p ~ 2**-128) cannot be put into Ethereum's v: a device
    stub returns one, and the adapter refuses to build a signature from it."""
    d = fresh("secp256k1")

    class Stub:
        def public_key(self, slot):
            return coincurve.PrivateKey(d).public_key.format(compressed=True)

        def sign(self, slot, message, *, curve=None):
            sig = coincurve.PrivateKey(d).sign_recoverable(message, hasher=None)
            return sig[:64] + bytes([sig[64] | 2])

    account = qeth.EthAccount(Stub(), 1)
    assert account.address == Account.from_key(d).address
    with pytest.raises(qeth.UnrepresentableSignature, match="R.x >= n"):
        account.sign_typed_data(full_message=typed_order(account.address))


# -- solana ---------------------------------------------------------------------------------------


def transfer_ix(source: Pubkey, lamports: int = 1_500_000):
    return transfer(TransferParams(from_pubkey=source, to_pubkey=Keypair().pubkey(),
                                   lamports=lamports))


def test_solana_transfer_matches_solders(dev):
    seed = load(dev, "ed25519")
    kp = Keypair.from_seed(seed)
    signer = qsol.SolanaSigner(dev, SLOT["ed25519"])
    assert signer.pubkey() == kp.pubkey()
    blockhash = Hash(os.urandom(32))

    msg = Message.new_with_blockhash([transfer_ix(kp.pubkey())], kp.pubkey(), blockhash)
    tx = signer.sign_transaction(msg)
    assert isinstance(tx, Transaction)
    tx.verify()  # raises if a signature does not verify
    assert tx.verify_with_results() == [True]
    assert tx == Transaction([kp], msg, blockhash)
    assert tx.signatures[0] == kp.sign_message(bytes(msg))
    assert Transaction([signer.presigner(msg)], msg, blockhash) == tx

    msg0 = MessageV0.try_compile(kp.pubkey(), [transfer_ix(kp.pubkey())], [], blockhash)
    vtx = signer.sign_transaction(msg0)
    assert isinstance(vtx, VersionedTransaction)
    assert vtx.verify_with_results() == [True]
    assert vtx == VersionedTransaction(msg0, [kp])
    assert signer.sign_message(msg0) == vtx.signatures[0]

    payer = Keypair()  # another fee payer: the device signs as the second signer
    msg2 = Message.new_with_blockhash([transfer_ix(kp.pubkey())], payer.pubkey(), blockhash)
    tx2 = signer.sign_transaction(msg2, signers=[payer])
    assert tx2.verify_with_results() == [True, True]
    assert tx2 == Transaction([payer, kp], msg2, blockhash)
    with pytest.raises(ValueError, match=str(payer.pubkey())):
        signer.sign_transaction(msg2)
    with pytest.raises(ValueError, match="not among the message's signers"):
        signer.sign_transaction(Message.new_with_blockhash(
            [transfer_ix(payer.pubkey())], payer.pubkey(), blockhash))


def memo_message(payer: Pubkey, size: int) -> Message:
    """A transfer plus a memo, padded so the serialized message is exactly `size` bytes."""
    ixs = lambda n: [transfer_ix(payer, 7), Instruction(MEMO_PROGRAM, b"q" * n, [])]  # noqa: E731
    blockhash = Hash(os.urandom(32))
    n = size - len(bytes(Message.new_with_blockhash(ixs(0), payer, blockhash)))
    for pad in (n, n - 1, n - 2):  # the data length prefix grows to 2 bytes past 127
        msg = Message.new_with_blockhash(ixs(pad), payer, blockhash)
        if len(bytes(msg)) == size:
            return msg
    raise AssertionError(size)


def test_solana_messages_up_to_the_device_limit(dev):
    seed = load(dev, "ed25519")
    kp = Keypair.from_seed(seed)
    recorder = Recorder(dev)
    signer = qsol.SolanaSigner(recorder, SLOT["ed25519"])
    biggest = memo_message(kp.pubkey(), wire.MAX_SIGN_MESSAGE)
    assert len(bytes(biggest)) == wire.MAX_SIGN_MESSAGE == 1023
    tx = signer.sign_transaction(biggest)
    assert tx.verify_with_results() == [True]
    assert tx == Transaction([kp], biggest, biggest.recent_blockhash)
    assert len(bytes(tx)) <= qsol.PACKET_LIMIT
    assert recorder.signed == [wire.MAX_SIGN_MESSAGE]

    # Over the device's limit but inside Solana's packet: ValueError before anything is sent.
    for size in (wire.MAX_SIGN_MESSAGE + 1, 1100, qsol.PACKET_LIMIT - 65):
        msg = memo_message(kp.pubkey(), size)
        Transaction([kp], msg, msg.recent_blockhash)  # solders builds it: a valid transaction
        with pytest.raises(ValueError, match=f"{size} bytes.*1023.*1232"):
            signer.sign_transaction(msg)
        with pytest.raises(ValueError, match="1023"):
            signer.sign_message(bytes(msg))
    with pytest.raises(ValueError, match="1232-byte packet limit"):
        signer.sign_message(memo_message(kp.pubkey(), qsol.PACKET_LIMIT - 64))
    assert recorder.signed == [wire.MAX_SIGN_MESSAGE]
    assert alive(dev)


def test_solana_limit_follows_the_wire_module(monkeypatch):
    """The adapter reads wire.MAX_SIGN_MESSAGE when it signs, so raising it (issue 16) needs no
    edit here; the packet limit stays."""
    monkeypatch.setattr(wire, "MAX_SIGN_MESSAGE", 1167)
    qsol.check_size(b"\x00" * 1167)
    with pytest.raises(ValueError, match="packet limit"):
        qsol.check_size(b"\x00" * 1168)


def test_solana_rejects_ecdsa_slots(dev):
    load(dev, "secp256k1")
    with pytest.raises(ValueError, match="secp256k1 key, not an ed25519"):
        qsol.SolanaSigner(dev, SLOT["secp256k1"])
    assert alive(dev)
    with pytest.raises(TypeError, match="Message"):
        qsol.message_bytes("not a message")


# -- jwt ------------------------------------------------------------------------------------------


def test_jwt_es256_coinbase_token(dev):
    d = load(dev, "p256")
    private = ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())
    signer = qjwt.JwtSigner(dev, SLOT["p256"])
    assert signer.algorithm == "ES256"
    assert signer.verification_key().public_numbers() == private.public_key().public_numbers()
    key_name = f"organizations/{os.urandom(4).hex()}/apiKeys/{os.urandom(4).hex()}"
    token = signer.coinbase(key_name, method="GET", path="/api/v3/brokerage/accounts")

    claims = jwt.decode(token, private.public_key(), algorithms=["ES256"])
    now = int(time.time())
    assert claims["iss"] == "cdp" and claims["sub"] == key_name
    assert claims["uri"] == "GET api.coinbase.com/api/v3/brokerage/accounts"
    assert claims["exp"] - claims["nbf"] == 120 and abs(claims["nbf"] - now) < 3600
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["typ"] == "JWT" and header["kid"] == key_name
    assert len(bytes.fromhex(header["nonce"])) == 32
    # The shape PyJWT itself gives the same header and claims (its ES256 nonce is random, so
    # only the signing input can be compared); the signature is raw r || s, 64 bytes.
    theirs = jwt.encode(claims, private, algorithm="ES256",
                        headers={"kid": key_name, "nonce": header["nonce"]})
    assert token.rsplit(".", 1)[0] == theirs.rsplit(".", 1)[0]
    assert len(base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")) == 64

    # Tampering: other claims under the same signature, or a changed signature, are rejected.
    head, body, sig = token.split(".")
    forged = qjwt.b64url(json.dumps({**claims, "uri": "POST x"}).encode())
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    for bad in (f"{head}.{forged}.{sig}", f"{head}.{body}.{flipped}"):
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(bad, private.public_key(), algorithms=["ES256"])
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["ES256"])
    ws = signer.coinbase(key_name, path=None)  # WebSocket feed: no uri claim
    assert "uri" not in jwt.decode(ws, private.public_key(), algorithms=["ES256"])


def test_jwt_eddsa_equals_pyjwt(dev):
    seed = load(dev, "ed25519")
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    signer = qjwt.JwtSigner(dev, SLOT["ed25519"])
    assert signer.algorithm == "EdDSA"
    claims = {"sub": "desk-7", "iat": int(time.time()), "exp": int(time.time()) + 60,
              "scope": ["trade", "read"], "nonce": os.urandom(8).hex()}
    headers = {"kid": "ed25519-key-1"}
    token = signer.encode(claims, headers)
    assert token == jwt.encode(claims, private, algorithm="EdDSA", headers=headers)
    assert jwt.decode(token, private.public_key(), algorithms=["EdDSA"]) == claims
    head, body, sig = token.split(".")
    tampered = f"{head}.{qjwt.b64url(json.dumps({**claims, 'sub': 'desk-8'}).encode())}.{sig}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, private.public_key(), algorithms=["EdDSA"])
    with pytest.raises(ValueError, match="ES256"):
        signer.coinbase("organizations/x/apiKeys/y")  # Coinbase keys are P-256
    with pytest.raises(ValueError, match="differs"):
        signer.encode(claims, {"alg": "ES256"})


def test_jwt_es256k_and_curve_checks(dev):
    d = load(dev, "secp256k1")
    signer = qjwt.JwtSigner(dev, SLOT["secp256k1"])
    public = ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256K1()).public_key()
    claims = {"sub": "k1", "exp": int(time.time()) + 60}
    assert jwt.decode(signer.encode(claims), public, algorithms=["ES256K"]) == claims
    with pytest.raises(ValueError, match="secp256k1 key, not a p256"):
        qjwt.JwtSigner(dev, SLOT["secp256k1"], curve="p256")
    assert alive(dev)
    with pytest.raises(ValueError, match="curve 'rsa'"):
        qjwt.JwtSigner(dev, SLOT["secp256k1"], curve="rsa")


# -- rest -----------------------------------------------------------------------------------------


def test_rest_ed25519_request_signing(dev):
    seed = load(dev, "ed25519")
    reference = nacl.signing.SigningKey(seed)
    signer = qrest.Ed25519RequestSigner(dev, SLOT["ed25519"])
    assert signer.public_key == reference.verify_key.encode()
    pem = serialization.load_pem_public_key(signer.public_key_pem().encode())
    assert pem.public_bytes_raw() == reference.verify_key.encode()

    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "1", "price": "0.2", "recvWindow": 5000,
              "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in params.items())
    signature = signer.sign(params)
    reference.verify_key.verify(payload.encode(), base64.b64decode(signature))  # raises if bad
    assert signature == base64.b64encode(reference.sign(payload.encode()).signature).decode()
    assert signer.sign(payload) == signature

    query = signer.signed_query(params)
    assert query.startswith(payload + "&signature=")
    fields = urllib.parse.parse_qsl(query, keep_blank_values=True)
    assert fields[-1] == ("signature", signature)
    assert dict(fields[:-1]) == {k: str(v) for k, v in params.items()}
    with pytest.raises(nacl.exceptions.BadSignatureError):
        reference.verify_key.verify(payload.replace("SELL", "BUY").encode(),
                                    base64.b64decode(signature))
    with pytest.raises(ValueError, match="1023"):
        signer.sign("x" * (wire.MAX_SIGN_MESSAGE + 1))
    load(dev, "p256")
    with pytest.raises(ValueError, match="p256 key"):
        qrest.Ed25519RequestSigner(dev, SLOT["p256"])
    assert alive(dev)


# -- asyncio --------------------------------------------------------------------------------------


def test_async_adapters(sim_address):
    async def main():
        async with AsyncAppliance.open(f"socket://{sim_address}", timeout=10) as adev:
            secrets = {}
            for curve, slot in SLOT.items():
                secrets[curve] = fresh(curve)
                await adev.load_key(slot, curve, secrets[curve])
            try:
                with pytest.raises(TypeError, match="AsyncEthAccount"):
                    qeth.EthAccount(adev, SLOT["secp256k1"])
                account = await qeth.AsyncEthAccount.open(adev, SLOT["secp256k1"])
                sol = await qsol.AsyncSolanaSigner.open(adev, SLOT["ed25519"])
                jws = await qjwt.AsyncJwtSigner.open(adev, SLOT["p256"])
                rest = await qrest.AsyncEd25519RequestSigner.open(adev, SLOT["ed25519"])
                order = typed_order(account.address)
                kp = Keypair.from_seed(secrets["ed25519"])
                msg = Message.new_with_blockhash([transfer_ix(kp.pubkey())], kp.pubkey(),
                                                 Hash(os.urandom(32)))
                results = await asyncio.gather(  # in flight together
                    account.sign_typed_data(full_message=order), sol.sign_transaction(msg),
                    jws.coinbase("organizations/a/apiKeys/b"), rest.sign("a=1&timestamp=2"))
            finally:
                for slot in SLOT.values():
                    await adev.zeroize(slot)
        return secrets, order, msg, results

    secrets, order, msg, (typed, tx, token, rest_sig) = asyncio.run(main())
    assert typed == Account.sign_typed_data(secrets["secp256k1"], full_message=order)
    assert tx == Transaction([Keypair.from_seed(secrets["ed25519"])], msg, msg.recent_blockhash)
    p256 = ec.derive_private_key(int.from_bytes(secrets["p256"], "big"), ec.SECP256R1())
    assert jwt.decode(token, p256.public_key(), algorithms=["ES256"])["iss"] == "cdp"
    nacl.signing.SigningKey(secrets["ed25519"]).verify_key.verify(
        b"a=1&timestamp=2", base64.b64decode(rest_sig))


def test_adapters_import_without_amaranth():
    code = ("import sys, quantgate.integrations.eth, quantgate.integrations.solana, "
            "quantgate.integrations.jwt, quantgate.integrations.rest, jwt; "
            "assert hasattr(jwt, 'decode'), jwt; "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'amaranth' "
            "or m.startswith(('quantgate.hdl', 'quantgate.sim'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("module, library, extra", [("eth", "eth_account", "eth"),
                                                    ("solana", "solders", "solana")])
def test_missing_client_library_names_the_extra(module, library, extra):
    code = (f"import sys; sys.modules[{library!r}] = None\n"
            f"try:\n    import quantgate.integrations.{module}\n"
            f"except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert f"pip install quantgate[{extra}]" in out
