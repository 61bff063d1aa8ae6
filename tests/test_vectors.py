"""The published vectors in quantgate.sim.vectors agree with the reference libraries."""

import coincurve
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from quantgate.sim import vectors


def test_rfc8032_vectors_match_pynacl():
    for name, seed, public, message, signature in vectors.rfc8032():
        key = nacl.signing.SigningKey(seed)
        assert key.verify_key.encode() == public, name
        assert key.sign(message).signature == signature, name
    assert len(vectors.rfc8032()[3][3]) == 1023


def test_rfc6979_p256_vectors_verify_with_cryptography():
    d = int(vectors.P256_KEY, 16)
    public = ec.derive_private_key(d, ec.SECP256R1()).public_key()
    for message, (_k, r, s) in vectors.RFC6979_P256_SHA256.items():
        der = encode_dss_signature(int(r, 16), int(s, 16))
        public.verify(der, message, ec.ECDSA(hashes.SHA256()))  # raises if wrong


def test_satoshi_vector_verifies_with_coincurve():
    key = coincurve.PrivateKey(vectors.SATOSHI_KEY)
    sig = key.sign_recoverable(vectors.SATOSHI_DIGEST, hasher=None)
    assert coincurve.PublicKey.from_signature_and_message(sig, vectors.SATOSHI_DIGEST,
                                                          hasher=None) == key.public_key
    # r of the vector's signature is the x coordinate of k*G
    k_point = coincurve.PrivateKey(bytes.fromhex(vectors.SATOSHI_K)).public_key
    assert sig[:32] == k_point.format(compressed=True)[1:]
