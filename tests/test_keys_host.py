"""The host's key API (load_key, public_key, zeroize) against the simulated appliance
(`quantgate sim`, the Verilated gateware), and its argument checks.

Public keys are compared with PyNaCl, coincurve and cryptography. The simulated appliance
keeps its state between connections, as a board would, so every test zeroizes what it relies
on being empty.
"""

import asyncio
import secrets

import coincurve
import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from quantgate import wire
from quantgate.host import Appliance, AsyncAppliance, commands, errors

pytestmark = pytest.mark.xdist_group("appliance_sim")

N_SECP256K1 = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
N_P256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
RFC8032_TEST1 = (bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
                 bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))


def reference(curve: str, secret: bytes) -> bytes:
    if curve == "ed25519":
        return nacl.signing.SigningKey(secret).verify_key.encode()
    if curve == "secp256k1":
        return coincurve.PrivateKey(secret).public_key.format(compressed=True)
    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.CompressedPoint)


@pytest.fixture
def dev(sim_address):  # the simulator serves one client at a time: one connection per test
    with Appliance.open(f"socket://{sim_address}", timeout=10) as dev:
        yield dev


def test_public_keys_match_the_references(dev):
    keys = [
        ("ed25519", RFC8032_TEST1[0]),
        ("ed25519", secrets.token_bytes(32)),
        ("secp256k1", (1).to_bytes(32, "big")),
        ("secp256k1", (N_SECP256K1 - 1).to_bytes(32, "big")),
        ("secp256k1", secrets.token_bytes(32)),
        ("p256", (1).to_bytes(32, "big")),
        ("p256", (N_P256 - 1).to_bytes(32, "big")),
        ("p256", secrets.token_bytes(32)),
    ]
    assert reference(*keys[0]) == RFC8032_TEST1[1]
    for k, (curve, secret) in enumerate(keys):
        slot = k % wire.NUM_KEY_SLOTS
        assert dev.load_key(slot, curve, secret) is None
        pk = dev.public_key(slot)
        assert pk == reference(curve, secret), (curve, slot)
        assert len(pk) == (32 if curve == "ed25519" else 33)
    dev.load_key(0, "ed25519", bytearray(RFC8032_TEST1[0]))  # any bytes-like; idempotent
    assert dev.public_key(0) == RFC8032_TEST1[1]
    dev.load_key(0, "ed25519", memoryview(RFC8032_TEST1[0]))
    assert dev.public_key(0) == RFC8032_TEST1[1]


def test_zeroize_empties_the_slot(dev):
    dev.load_key(5, "p256", (12345).to_bytes(32, "big"))
    dev.load_key(6, "secp256k1", (678).to_bytes(32, "big"))
    assert dev.zeroize(5) is None
    with pytest.raises(errors.EmptySlot) as exc:
        dev.public_key(5)
    assert exc.value.code == wire.Err.EMPTY_SLOT and exc.value.request_op == wire.Op.PUBLIC_KEY
    assert dev.public_key(6) == reference("secp256k1", (678).to_bytes(32, "big"))
    dev.zeroize(5)  # already empty: fine
    dev.zeroize(6)
    with pytest.raises(errors.EmptySlot):
        dev.public_key(6)
    assert dev.echo(b"still answering") == b"still answering"


def test_out_of_range_ecdsa_secret_is_bad_argument(dev):
    dev.load_key(2, "secp256k1", (42).to_bytes(32, "big"))
    for curve, n in (("secp256k1", N_SECP256K1), ("p256", N_P256)):
        for d in (0, n, (1 << 256) - 1):
            with pytest.raises(errors.BadArgument) as exc:
                dev.load_key(2, curve, d.to_bytes(32, "big"))
            assert exc.value.request_op == wire.Op.LOAD_KEY
    # a rejected load leaves the slot as it was
    assert dev.public_key(2) == reference("secp256k1", (42).to_bytes(32, "big"))


def test_device_checks_what_the_host_would_refuse(dev):
    """Raw requests past the host's checks: the device answers BAD_ARGUMENT and goes on."""
    bad = [
        (wire.Op.LOAD_KEY, bytes([8, 0]) + bytes(32)),
        (wire.Op.LOAD_KEY, bytes([0, 3]) + bytes(32)),
        (wire.Op.LOAD_KEY, bytes([0, 0]) + bytes(31)),
        (wire.Op.PUBLIC_KEY, bytes([9])),
        (wire.Op.PUBLIC_KEY, b""),
        (wire.Op.ZEROIZE, bytes([0, 0])),
    ]
    for op, payload in bad:
        with pytest.raises(errors.BadArgument) as exc:
            dev.request(op, payload)
        assert exc.value.request_op == op
    assert dev.info()["protocol"] == wire.PROTOCOL_VERSION


def test_async_key_api(sim_address):
    async def main():
        async with AsyncAppliance.open(f"socket://{sim_address}", timeout=10) as adev:
            seed = secrets.token_bytes(32)
            d = secrets.randbelow(N_P256 - 1) + 1
            await asyncio.gather(adev.load_key(3, "ed25519", seed),
                                 adev.load_key(4, "p256", d.to_bytes(32, "big")))
            pks = await asyncio.gather(adev.public_key(3), adev.public_key(4))
            assert pks == [reference("ed25519", seed),
                           reference("p256", d.to_bytes(32, "big"))]
            await adev.zeroize(3)
            with pytest.raises(errors.EmptySlot):
                await adev.public_key(3)
            with pytest.raises(errors.BadArgument):
                await adev.load_key(4, "secp256k1", bytes(32))
            with pytest.raises(ValueError):
                await adev.load_key(8, "p256", bytes(32))

    asyncio.run(main())


@pytest.mark.parametrize("call, exc, words", [
    (lambda: commands.load_key(-1, "ed25519", bytes(32)), ValueError, ["slot", "-1"]),
    (lambda: commands.load_key(8, "ed25519", bytes(32)), ValueError, ["slot", "8"]),
    (lambda: commands.load_key("1", "ed25519", bytes(32)), TypeError, ["slot", "str"]),
    (lambda: commands.load_key(1.0, "ed25519", bytes(32)), TypeError, ["slot", "float"]),
    (lambda: commands.load_key(True, "ed25519", bytes(32)), TypeError, ["slot", "bool"]),
    (lambda: commands.load_key(0, "ed448", bytes(32)), ValueError, ["ed448", "secp256k1"]),
    (lambda: commands.load_key(0, 1, bytes(32)), TypeError, ["curve", "int"]),
    (lambda: commands.load_key(0, "p256", "00" * 32), TypeError, ["bytes", "str"]),
    (lambda: commands.load_key(0, "p256", 12345), TypeError, ["bytes-like", "int"]),
    (lambda: commands.load_key(0, "p256", bytes(31)), ValueError, ["32 bytes", "31"]),
    (lambda: commands.load_key(0, "ed25519", bytes(64)), ValueError, ["32 bytes", "64"]),
    (lambda: commands.public_key(8), ValueError, ["slot"]),
    (lambda: commands.public_key(None), TypeError, ["slot"]),
    (lambda: commands.zeroize(wire.NUM_KEY_SLOTS), ValueError, ["slot"]),
    (lambda: commands.zeroize("0"), TypeError, ["slot"]),
])
def test_host_checks_before_sending(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_command_encoding():
    cmd = commands.load_key(7, "SECP256K1", bytes(range(32)))
    assert (cmd.op, cmd.payload) == (wire.Op.LOAD_KEY, bytes([7, 1]) + bytes(range(32)))
    assert commands.load_key(0, wire.Curve.P256, bytes(32)).payload[:2] == b"\x00\x02"
    assert commands.public_key(3).payload == b"\x03"
    zero = commands.zeroize(4)
    assert (zero.op, zero.payload, zero.secret) == (wire.Op.ZEROIZE, b"\x04", False)
    assert cmd.secret  # a LOAD_KEY payload is never shown in a repr
    assert commands.public_key(0).parse(b"\x00" + bytes(32)) == bytes(32)
    assert commands.public_key(0).parse(b"\x02" + b"\x03" * 33) == b"\x03" * 33
    for bad in (b"", b"\x00" + bytes(33), b"\x01" + bytes(32), b"\x05" + bytes(32)):
        with pytest.raises(errors.ProtocolError):
            commands.public_key(0).parse(bad)
    with pytest.raises(errors.ProtocolError):
        commands.zeroize(0).parse(b"\x00")
