"""A fast stand-in for an appliance, in plain Python: the connector's tests and benchmark use it
to isolate the connector's own behaviour and cost from the simulated gateware's speed.

It speaks docs/protocol.md with the `cobs` package and binascii (not the driver's codec) and
serves INFO, ECHO, STATS and the key commands for Ed25519 (PyNaCl) and secp256k1 (coincurve,
RFC 6979, low-S, recovery id), any number of connections at once. It is a test double: the
real device is the simulated gateware (`quantgate sim`).

    python -m quantgate.sim.fake_appliance --listen 127.0.0.1:0   # prints LISTENING HOST:PORT
"""

from __future__ import annotations

import argparse
import binascii
import contextlib
import socket
import struct
import sys
import threading

from cobs import cobs

from quantgate import wire

CORES = (wire.Core.LINK, wire.Core.ED25519, wire.Core.SECP256K1)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _frame(op: int, seq: int, payload: bytes = b"") -> bytes:
    body = struct.pack("<BBHH", wire.PROTOCOL_VERSION, op, seq, len(payload)) + payload
    return cobs.encode(body + struct.pack("<I", binascii.crc32(body))) + b"\x00"


def _error(seq: int, code: int, op: int) -> bytes:
    return _frame(wire.Op.ERROR, seq, bytes([code, op]))


class FakeAppliance:
    """Listens on 127.0.0.1 (a free port unless given). `hang()` stops answering (requests are
    read and dropped), `kill()` closes every connection and the listener, `restart()` listens
    again on the same port. `received` counts well-formed requests per opcode."""

    def __init__(self, port: int = 0, *, clock_hz: int = 100_000_000):
        self.clock_hz = clock_hz
        self.keys: dict[int, tuple[int, bytes, bytes]] = {}  # slot -> (curve, secret, public)
        self.received: dict[int, int] = {}
        self.hanging = False
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener = self._listen(port)
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"socket://{self.address}"

    def _listen(self, port: int) -> socket.socket:
        server = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return server

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(1 << 16)
                except OSError:
                    break
                if not data:
                    break
                *chunks, buf = (buf + data).split(b"\x00")
                out = b"".join(self._answer(c) for c in chunks if c)
                if out and not self.hanging:
                    try:
                        conn.sendall(out)
                    except OSError:
                        break
        with self._lock:
            self._conns.discard(conn)

    def _answer(self, chunk: bytes) -> bytes:
        try:
            body = cobs.decode(chunk)
        except cobs.DecodeError:
            return b""
        if len(body) < 10:
            return b""
        version, op, seq, length = struct.unpack_from("<BBHH", body)
        if binascii.crc32(body[:-4]) != struct.unpack("<I", body[-4:])[0]:
            return _error(seq, wire.Err.BAD_CRC, op)
        if length != len(body) - 10:
            return _error(seq, wire.Err.BAD_LENGTH, op)
        with self._lock:
            self.received[op] = self.received.get(op, 0) + 1
        try:
            return _frame(op | wire.RESPONSE_FLAG, seq, self.respond(op, body[6:-4]))
        except _Refused as exc:
            return _error(seq, exc.code, op)

    def respond(self, op: int, payload: bytes) -> bytes:
        if op == wire.Op.INFO:
            return struct.pack("<BBBBIIHHB", wire.PROTOCOL_VERSION, *wire.GATEWARE_VERSION,
                               self.clock_hz, 3_000_000, wire.MAX_PAYLOAD, wire.RX_BUFFER,
                               len(CORES)) + bytes(CORES)
        if op == wire.Op.ECHO:
            return payload
        if op == wire.Op.STATS:
            return bytes(4 * len(wire.STATS_FIELDS))
        if op == wire.Op.LOAD_KEY:
            return self._load_key(payload)
        if op in (wire.Op.PUBLIC_KEY, wire.Op.ZEROIZE):
            if len(payload) != 1 or payload[0] >= wire.NUM_KEY_SLOTS:
                raise _Refused(wire.Err.BAD_ARGUMENT)
            if op == wire.Op.ZEROIZE:
                with self._lock:
                    self.keys.pop(payload[0], None)
                return b""
            if payload[0] not in self.keys:
                raise _Refused(wire.Err.EMPTY_SLOT)
            curve, _, public = self.keys[payload[0]]
            return bytes([curve]) + public
        if op == wire.Op.SIGN:
            return self._sign(payload)
        raise _Refused(wire.Err.UNKNOWN_OPCODE)

    def _load_key(self, payload: bytes) -> bytes:
        if len(payload) != 34 or payload[0] >= wire.NUM_KEY_SLOTS or payload[1] > 1:
            raise _Refused(wire.Err.BAD_ARGUMENT)
        slot, curve, secret = payload[0], payload[1], payload[2:]
        if curve == wire.Curve.ED25519:
            import nacl.signing

            public = nacl.signing.SigningKey(secret).verify_key.encode()
        else:
            import coincurve

            if not 1 <= int.from_bytes(secret, "big") < SECP256K1_N:
                raise _Refused(wire.Err.BAD_ARGUMENT)
            public = coincurve.PrivateKey(secret).public_key.format(compressed=True)
        with self._lock:
            self.keys[slot] = (curve, secret, public)
        return b""

    def _sign(self, payload: bytes) -> bytes:
        if not payload or payload[0] & 0x0F >= wire.NUM_KEY_SLOTS:
            raise _Refused(wire.Err.BAD_ARGUMENT)
        slot, expected, message = payload[0] & 0x0F, payload[0] >> 4, payload[1:]
        if slot not in self.keys:
            raise _Refused(wire.Err.EMPTY_SLOT)
        curve, secret, _ = self.keys[slot]
        if expected != wire.CURVE_ANY and expected != curve:
            raise _Refused(wire.Err.WRONG_CURVE)
        if curve == wire.Curve.ED25519:
            import nacl.signing

            return bytes([curve]) + nacl.signing.SigningKey(secret).sign(message).signature
        if len(message) != wire.ECDSA_DIGEST_LEN:
            raise _Refused(wire.Err.BAD_ARGUMENT)
        import coincurve

        rsv = coincurve.PrivateKey(secret).sign_recoverable(message, hasher=None)
        return bytes([curve]) + rsv

    def hang(self, hanging: bool = True) -> None:
        self.hanging = hanging

    def kill(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accepting thread, frees the port
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def restart(self) -> None:
        self.hanging = False
        self._listener = self._listen(self.port)

    close = kill


class _Refused(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantgate.sim.fake_appliance",
                                     description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="127.0.0.1:PORT")
    args = parser.parse_args(argv)
    fake = FakeAppliance(int(args.listen.rpartition(":")[2]))
    print(f"LISTENING {fake.address}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
