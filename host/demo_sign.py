"""`quantgate demo`, signing part: one key per curve in the three lowest empty slots, a few
realistic orders signed on the appliance with pipelined requests, every signature checked
with an independent library (PyNaCl, coincurve, cryptography: the development extra), and the
device's own cycle counters (TIMING) beside the wall-clock round trip. Then the client-library
adapters (quantgate.integrations): the EIP-712 orders through eth-account, a Solana transfer through
solders, a Coinbase-style JWT and a Binance-style REST signature, each checked by its library.

The keys are DEMO KEYS: derived from public labels with SHA-256, so anybody can recompute them.
Never use them for anything but this demo. The demo loads them only into empty slots (it
refuses to run with fewer than three, having loaded nothing: a desk's keys are never
overwritten) and zeroizes them when it is done.
"""

import hashlib
import json
import math
import textwrap
import time
from pathlib import Path

from quantgate import wire

from .commands import SIGNER_CORES

CURVES = ("ed25519", "secp256k1", "p256")  # one demo key each, in the lowest empty slots


def choose_slots(dev) -> dict[str, int]:
    """One empty key slot per curve, the lowest ones (PUBLIC_KEY answering EMPTY_SLOT): the demo
    never overwrites a key it did not load. Raises ValueError, having loaded nothing, when
    fewer than three slots are empty."""
    from .errors import EmptySlot

    empty = []
    for slot in range(wire.NUM_KEY_SLOTS):
        try:
            dev.public_key(slot)
        except EmptySlot:
            empty.append(slot)
    if len(empty) < len(CURVES):
        raise ValueError(
            f"the demo needs {len(CURVES)} empty key slots and only {len(empty)} are empty "
            f"({', '.join(map(str, empty)) or 'none'}): it never overwrites a key; run it on the "
            "simulated appliance (sim://) or a device with free slots")
    return dict(zip(CURVES, empty, strict=False))
LABEL = "quantgate demo key, NOT SECRET, never use for real funds: {curve}"

# Short Weierstrass curves y^2 = x^3 + a x + b over GF(p), group order n, base point G.
WEIERSTRASS = {
    "secp256k1": dict(
        p=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F, a=0, b=7,
        n=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
        G=(0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
           0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)),
    "p256": dict(
        p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        a=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
        b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        G=(0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
           0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)),
}


def demo_secret(curve: str) -> bytes:
    """The demo key of `curve`: SHA-256 of a public label (Ed25519: the seed; ECDSA: d, reduced
    into [1, n-1]). Public by construction: NOT a secret."""
    h = hashlib.sha256(LABEL.format(curve=curve).encode()).digest()
    if curve == "ed25519":
        return h
    n = WEIERSTRASS[curve]["n"]
    return (int.from_bytes(h, "big") % (n - 1) + 1).to_bytes(32, "big")


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


TS0 = 1_798_761_600_000  # fixed timestamps (ms) keep the demo's signatures reproducible


def ed25519_orders() -> list[bytes]:
    """Deribit-style option orders as compact JSON: Ed25519 signs the bytes themselves."""
    rows = [("BTC-27DEC26-100000-C", "buy", "5", "0.0425"),
            ("BTC-27DEC26-80000-P", "sell", "12.5", "0.0610"),
            ("ETH-25SEP26-4000-C", "buy", "150", "0.0275"),
            ("BTC-PERPETUAL", "sell", "25000", "96512.5")]
    return [_canonical({"instrument": inst, "side": side, "qty": qty, "price": price,
                        "type": "limit", "time_in_force": "good_til_cancelled",
                        "client_order_id": f"qg-demo-ed-{i:04d}", "ts": TS0 + i})
            for i, (inst, side, qty, price) in enumerate(rows)]


EIP712_TYPES = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                     {"name": "chainId", "type": "uint256"},
                     {"name": "verifyingContract", "type": "address"}],
    "Order": [{"name": "instrument", "type": "string"}, {"name": "isBuy", "type": "bool"},
              {"name": "size", "type": "uint256"}, {"name": "limitPrice", "type": "uint256"},
              {"name": "nonce", "type": "uint256"}, {"name": "expiry", "type": "uint256"}],
}


def have_eth_account() -> bool:
    try:
        import eth_account  # noqa: F401
    except ImportError:
        return False
    return True


def eip712_digest(typed: dict) -> bytes:
    """The EIP-712 digest keccak256(0x19 0x01 || domainSeparator || hashStruct(message)), by
    eth-account (encode_typed_data) and eth-hash's Keccak-256."""
    from eth_account.messages import encode_typed_data
    from eth_utils import keccak

    m = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + m.version + m.header + m.body)


VENUE = "0x3F1c547b21f65e10480dE3ad8E19fAAC46C95034"  # a made-up verifying contract


def eip712_orders() -> list[dict]:
    """EIP-712 typed data of an on-chain options venue (full_message form)."""
    rows = [("BTC-20261227-100000-C", True, 5 * 10**6, 4250 * 10**4),
            ("ETH-20260925-4000-P", False, 150 * 10**6, 2750 * 10**3),
            ("BTC-20260327-90000-C", True, 2 * 10**6, 5125 * 10**4),
            ("SOL-20260626-250-C", False, 800 * 10**6, 1840 * 10**3)]
    return [{"types": EIP712_TYPES, "primaryType": "Order",
             "domain": {"name": "quantgate-demo-venue", "version": "1", "chainId": 42161,
                        "verifyingContract": VENUE},
             "message": {"instrument": inst, "isBuy": buy, "size": size, "limitPrice": price,
                         "nonce": 7_000 + i, "expiry": TS0 // 1000 + 3600}}
            for i, (inst, buy, size, price) in enumerate(rows)]


def secp256k1_orders(real_eip712: bool | None = None) -> list[tuple[bytes, bytes]]:
    """(typed-data JSON, digest) of each EIP-712 order. The digest is the real EIP-712 one
    (Keccak-256 through eth-account) when eth-account is installed; without it, SHA-256 of the
    canonical JSON, a clearly labelled STAND-IN (hashlib has no Keccak-256)."""
    real = have_eth_account() if real_eip712 is None else real_eip712
    return [(_canonical(typed), eip712_digest(typed) if real
             else hashlib.sha256(_canonical(typed)).digest()) for typed in eip712_orders()]


def p256_orders() -> list[tuple[bytes, bytes]]:
    """Orders for a venue with P-256 API keys (as many exchange HSM / JWT setups use):
    (JSON order, SHA-256 digest)."""
    rows = [("BTC-USD-27DEC26-100000-C", "BUY", "3", "4040.00"),
            ("ETH-USD-25SEP26-3500-P", "SELL", "40", "212.50"),
            ("BTC-USD-26JUN26-110000-C", "BUY", "1.5", "2875.00"),
            ("ETH-USD-PERP", "SELL", "75", "3612.25")]
    out = []
    for i, (product, side, size, price) in enumerate(rows):
        doc = _canonical({"product_id": product, "side": side, "order_configuration": {
            "limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": True}},
            "client_order_id": f"qg-demo-p256-{i:04d}", "timestamp": TS0 + i})
        out.append((doc, hashlib.sha256(doc).digest()))
    return out


# -- independent checks (development extra) ------------------------------------------------------


def _add(P, Q, c):
    if P is None:
        return Q
    if Q is None:
        return P
    p = c["p"]
    if P[0] == Q[0]:
        if (P[1] + Q[1]) % p == 0:
            return None
        lam = (3 * P[0] * P[0] + c["a"]) * pow(2 * P[1], -1, p) % p
    else:
        lam = (Q[1] - P[1]) * pow(Q[0] - P[0], -1, p) % p
    x = (lam * lam - P[0] - Q[0]) % p
    return x, (lam * (P[0] - x) - P[1]) % p


def _mul(k, P, c):
    R = None
    while k:
        if k & 1:
            R = _add(R, P, c)
        P = _add(P, P, c)
        k >>= 1
    return R


def recover_public_key(curve: str, digest: bytes, signature: bytes) -> bytes | None:
    """The compressed SEC1 public key an ECDSA signature r || s || v (v: bit 0 parity of R.y,
    bit 1 R.x >= n) recovers to, or None; pure Python, independent of the device and of the
    libraries the demo checks with."""
    c = WEIERSTRASS[curve]
    p, n = c["p"], c["n"]
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), \
        signature[64]
    if not (0 < r < n and 0 < s < n and v < 4):
        return None
    x = r + (n if v & 2 else 0)
    if x >= p:
        return None
    y2 = (x * x * x + c["a"] * x + c["b"]) % p
    y = pow(y2, (p + 1) // 4, p)  # both curves have p = 3 mod 4
    if y * y % p != y2:
        return None
    if y & 1 != v & 1:
        y = p - y
    rinv = pow(r, -1, n)
    z = int.from_bytes(digest, "big")
    Q = _add(_mul(s * rinv % n, (x, y), c), _mul(-z * rinv % n, c["G"], c), c)
    if Q is None:
        return None
    return bytes([2 | (Q[1] & 1)]) + Q[0].to_bytes(32, "big")


def reference_public_key(curve: str, secret: bytes) -> bytes:
    """The public key of a secret by the reference library of its curve."""
    if curve == "ed25519":
        import nacl.signing

        return nacl.signing.SigningKey(secret).verify_key.encode()
    if curve == "secp256k1":
        import coincurve

        return coincurve.PrivateKey(secret).public_key.format(compressed=True)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.CompressedPoint)


def verify(curve: str, public_key: bytes, signed: bytes, signature: bytes) -> bool:
    """Check one device signature with the reference library of its curve. ECDSA also checks
    that r, s, v recover the public key, and secp256k1 that s is low."""
    if curve == "ed25519":
        import nacl.exceptions
        import nacl.signing

        try:
            nacl.signing.VerifyKey(public_key).verify(signed, signature)
            return True
        except nacl.exceptions.BadSignatureError:
            return False
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    der = encode_dss_signature(r, s)
    if curve == "secp256k1":
        import coincurve

        if s > WEIERSTRASS[curve]["n"] // 2:
            return False  # the device promises low-S
        try:
            recovered = coincurve.PublicKey.from_signature_and_message(
                signature, signed, hasher=None).format(compressed=True)
        except Exception:
            return False
        return (recovered == public_key
                and coincurve.PublicKey(public_key).verify(der, signed, hasher=None))
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    try:
        key.verify(der, signed, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return recover_public_key(curve, signed, signature) == public_key


def _have_references() -> bool:
    try:
        import coincurve  # noqa: F401
        import cryptography  # noqa: F401
        import nacl  # noqa: F401
    except ImportError:
        return False
    return True


def board_clock(root: Path | None = None) -> tuple[float, str] | None:
    """(MHz, report path): the clock the newest board build's bitstream runs at (its PLL
    clock, or the routed fmax when that is lower), from the newest report (build/*/report.json,
    as `quantgate build` writes it, or bench/results/*.json) that carries a signer core; None in
    an installed package or before such a build."""
    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    best = None
    for path in [*root.glob("build/*/report.json"), *root.glob("bench/results/*.json")]:
        try:
            report = json.loads(path.read_text())
            if not SIGNER_CORES & set(report.get("cores", ())):
                continue
            mhz = min(min(v["achieved_mhz"], v.get("target_mhz") or math.inf)
                      for v in report["fmax"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        mtime = path.stat().st_mtime
        if best is None or mtime > best[0]:
            best = (mtime, mhz, str(path.relative_to(root)))
    return None if best is None else best[1:]


# -- the demo -------------------------------------------------------------------------------------


def run(dev, out, info: dict | None = None) -> dict:
    """Load the demo keys, sign, verify, print a table per curve and a line per client-library
    adapter item (out=None: print nothing). Returns a summary; summary["ok"] is False if any
    signature or adapter item failed its check (an adapter skipped for a missing library is
    not a failure, and says so)."""
    from . import demo_integrations

    info = info if info is not None else dev.info()
    clock_hz = info["clock_hz"]
    SLOTS = choose_slots(dev)  # noqa: N806 (read as the module constant it replaced)
    requests, shown = [], {}
    for doc in ed25519_orders():
        requests.append((SLOTS["ed25519"], doc, "ed25519"))
        shown.setdefault("ed25519", doc)
    real_eip712 = have_eth_account()
    for curve, orders in (("secp256k1", secp256k1_orders(real_eip712)), ("p256", p256_orders())):
        for doc, digest in orders:
            requests.append((SLOTS[curve], digest, curve))
            shown.setdefault(curve, doc)

    check = _have_references()
    public = {}
    for curve, slot in SLOTS.items():
        secret = demo_secret(curve)
        dev.load_key(slot, curve, secret)
        public[curve] = dev.public_key(slot)
        if check and public[curve] != reference_public_key(curve, secret):
            raise AssertionError(f"{curve}: the device's public key differs from the reference")
    try:
        before = dev.timing()["sign"]
        start = time.perf_counter()
        signatures = dev.sign_many(requests)
        batch_s = time.perf_counter() - start
        round_trip = {}
        for curve, slot in SLOTS.items():  # one request alone: the latency a trader sees
            first = next(r for r in requests if r[2] == curve)
            t0 = time.perf_counter()
            again = dev.sign(slot, first[1], curve=curve)
            round_trip[curve] = time.perf_counter() - t0
            assert again == signatures[requests.index(first)], f"{curve}: not deterministic"
        after = dev.timing()["sign"]
        # after TIMING: the table counts the batch only
        adapters = demo_integrations.run(dev, SLOTS)
    finally:
        for slot in SLOTS.values():
            dev.zeroize(slot)

    board = board_clock()
    curves = {}
    for curve in SLOTS:
        picked = [(req, sig) for req, sig in zip(requests, signatures, strict=True)
                  if req[2] == curve]
        verified = (sum(verify(curve, public[curve], req[1], sig) for req, sig in picked)
                    if check else None)
        rec = after[curve]
        row = {"slot": SLOTS[curve], "public_key": public[curve].hex(), "signed": len(picked),
               "verified": verified,
               "new_count": rec["count"] - before[curve]["count"],
               "min_cycles": rec["min_cycles"], "max_cycles": rec["max_cycles"],
               "round_trip_s": round_trip[curve],
               "message_bytes": sorted({len(req[1]) for req, _ in picked})}
        if rec["min_cycles"] is not None:
            row["us_at_clock"] = (rec["min_cycles"] / clock_hz * 1e6,
                                  rec["max_cycles"] / clock_hz * 1e6)
            if board is not None:
                row["us_at_board"] = (rec["min_cycles"] / board[0],
                                      rec["max_cycles"] / board[0])
        curves[curve] = row
    summary = {
        "signatures": len(requests), "seconds": batch_s,
        "signatures_per_s": len(requests) / batch_s, "clock_hz": clock_hz,
        "board_clock": None if board is None else {"mhz": board[0], "report": board[1]},
        "curves": curves, "eip712": real_eip712, "integrations": adapters,
        "ok": ((not check or all(r["verified"] == r["signed"] for r in curves.values()))
               and all(it["ok"] is not False for it in adapters)),
    }
    if out is not None:
        _print(summary, shown, check, out)
        demo_integrations.print_items(adapters, out)
    return summary


def _range(lo, hi, fmt):
    if lo is None:
        return "-"
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"


def _note(text, out, indent="  "):
    print(textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent + "  "),
          file=out)


def _print(summary, shown, check, out):
    clock_mhz = summary["clock_hz"] / 1e6
    board = summary["board_clock"]
    print(f"\nSigning orders in the appliance: {summary['signatures']} signatures, pipelined, in "
          f"{summary['seconds']:.2f} s", file=out)
    _note("keys: DEMO KEYS in slots 0-2, derived from public labels with SHA-256 (NOT secret, "
          "never use them); the slots are zeroized afterwards", out)
    _note("ed25519 signs the JSON order itself, e.g.", out)
    print(f"      {shown['ed25519'].decode()}", file=out)
    typed = json.loads(shown["secp256k1"])
    if summary["eip712"]:
        _note("secp256k1 signs the EIP-712 digest of each typed-data order (Keccak-256 through "
              "eth-account), e.g.", out)
    else:
        _note("secp256k1 signs SHA-256 of the EIP-712 typed data, a STAND-IN: eth-account is "
              "not installed, so no Keccak-256 (pip install quantgate[eth] for real EIP-712), "
              "e.g.", out)
    print(f"      domain {_canonical(typed['domain']).decode()}, "
          f"Order {_canonical(typed['message']).decode()}", file=out)
    _note("p256 signs SHA-256 of the JSON order, e.g.", out)
    print(f"      {shown['p256'].decode()}", file=out)
    board_head = f"{'us @' + format(board['mhz'], '.2f') + 'MHz':>17}" if board else ""
    print(f"  {'curve':10}{'signed':>7}{'verified':>9}{'signed bytes':>14}{'cycles':>15}"
          f"{'us @' + format(clock_mhz, 'g') + 'MHz':>14}{board_head}{'round trip':>13}",
          file=out)
    for curve, r in summary["curves"].items():
        sizes = r["message_bytes"]
        line = (f"  {curve:10}{r['signed']:>7}"
                f"{'n/a' if r['verified'] is None else r['verified']:>9}"
                f"{_range(sizes[0], sizes[-1], '{}'):>14}"
                f"{_range(r['min_cycles'], r['max_cycles'], '{:,}'):>15}"
                f"{_range(*r.get('us_at_clock', (None, None)), '{:.1f}'):>14}")
        if board:
            line += f"{_range(*r.get('us_at_board', (None, None)), '{:.1f}'):>17}"
        print(line + f"{r['round_trip_s'] * 1e3:>11.1f}ms", file=out)
    _note("cycles: the device's TIMING counters, min-max over every signature since reset, "
          "from the request's last byte to the first response byte. ECDSA takes the same "
          "cycles for every key and digest; Ed25519's depend on the message length only "
          "(SHA-512 blocks).", out)
    _note(f"us @{clock_mhz:g}MHz: at the clock the device reports in INFO (a simulated "
          f"appliance reports its nominal clock)" + (
              f"; us @{board['mhz']:.2f}MHz: at the clock the board build's bitstream runs "
              f"at ({board['report']})" if board else ""), out)
    if not check:
        _note("signatures not verified: install the development extra (PyNaCl, coincurve, "
              "cryptography)", out)
    _note(f"verified: PyNaCl (Ed25519), coincurve (secp256k1: also recovers the key from r, s, "
          f"v and checks low-S), cryptography (P-256, with the key recovered from r, s, v). "
          f"round trip: one SIGN alone, wall clock through this link; the pipelined batch ran "
          f"at {summary['signatures_per_s']:,.1f} signatures/s.", out)


__all__ = ["CURVES", "choose_slots", "demo_secret", "recover_public_key", "reference_public_key",
           "run", "verify"]
