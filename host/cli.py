"""`quantgate` command line (console script). Subcommands import their machinery lazily."""

import argparse
import hashlib
import importlib.util
import json
import sys

from quantgate import wire

from .errors import BadArgument, QuantgateError

DEFAULT_URL = "sim://"
CURVE_NAMES = ("ed25519", "secp256k1", "p256")  # commands.CURVES, without importing NumPy


def _has_keccak() -> bool:
    """pycryptodome's Keccak-256 (Ethereum's hash) is importable. No fallback: hashlib's
    sha3_256 is FIPS 202 SHA3-256, which pads differently and gives other digests."""
    try:
        return importlib.util.find_spec("Crypto.Hash.keccak") is not None
    except ImportError:
        return False


DIGESTS = ("none", "sha256") + (("keccak256",) if _has_keccak() else ())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quantgate", description="quantgate appliance tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="print the appliance's INFO")
    _common(p)
    p = sub.add_parser("stats", help="print the device's link counters")
    _common(p)
    p = sub.add_parser("timing", help="cycles of every LOAD_KEY and SIGN, per curve")
    _common(p)
    p = sub.add_parser(
        "sign", help="sign an order with a key slot (hex signature on standard output)",
        description="Sign with the key in a slot. Ed25519 signs the message itself (up to "
        f"{wire.MAX_SIGN_MESSAGE} bytes); secp256k1 and P-256 sign a 32-byte digest: give "
        "one, or --digest to hash the message on the host first. The signature is printed in "
        "hex (ECDSA: r || s || v, v the recovery id).")
    _common(p)
    p.add_argument("--slot", type=int, required=True, help=f"key slot, 0..{wire.NUM_KEY_SLOTS - 1}")
    p.add_argument("--curve", choices=CURVE_NAMES, default=None,
                   help="the curve the slot must hold (default: whatever it holds)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--message", metavar="HEX", help="the message (or digest) in hex")
    src.add_argument("--file", metavar="PATH", help="read the message from a file (raw bytes)")
    src.add_argument("--stdin", action="store_true", help="read the message from standard input")
    p.add_argument("--digest", choices=DIGESTS, default="none",
                   help="hash the message on the host before signing (default: none; "
                        "ECDSA keys then need a 32-byte message)")
    p = sub.add_parser("demo", help="INFO, then pipelined echoes with throughput")
    _common(p)
    p.add_argument("--count", type=int, default=2000, help="echoes to run (default 2000)")
    p.add_argument("--max-size", type=int, default=128,
                   help="largest echo payload in bytes (default 128; up to the protocol's 1024)")
    p.add_argument("--seed", type=int, default=None, help="random seed for the payloads")
    p = sub.add_parser("greeks", help="price and Greeks of one option, or of a CSV of options",
                       description="Price, delta, gamma, vega (per 1.00 of vol), theta (per "
                       "year) and rho (per 1.00 of rate) on the appliance's fixed-point "
                       "pipeline. One option from the flags, or a CSV file with columns spot, "
                       "strike, expiry, rate, vol and optional carry and call (1/0, true/false, "
                       "call/put; default call).")
    _common(p)
    p.add_argument("--spot", type=float, help="spot (Black-76: the forward)")
    p.add_argument("--strike", type=float)
    p.add_argument("--expiry", type=float, help="years to expiry")
    p.add_argument("--rate", type=float, help="continuously compounded rate, e.g. 0.05")
    p.add_argument("--vol", type=float, help="volatility, e.g. 0.6")
    p.add_argument("--carry", type=float, default=0.0, help="carry / dividend yield (BSM)")
    p.add_argument("--put", action="store_true", help="a put (default: call)")
    p.add_argument("--model", choices=("bsm", "black76"), default="bsm")
    p.add_argument("--csv", metavar="IN", help="price every row of this CSV file")
    p.add_argument("--out", metavar="OUT", help="with --csv: write the results here "
                   "(default: standard output)")
    # Options after `sim` belong to quantgate.sim.serve (e.g. --listen HOST:PORT).
    sub.add_parser("sim", help="serve the simulated appliance over TCP (--listen HOST:PORT)",
                   add_help=False)
    # Options after `build`/`flash` belong to quantgate.boards.build/.flash (see --help there).
    sub.add_parser("build", help="bitstream and resource/fmax report for a board "
                                 "(--board ulx3s-85f)", add_help=False)
    sub.add_parser("flash", help="load a bitstream onto a board with openFPGALoader "
                                 "(--board ulx3s-85f)", add_help=False)
    # Options after `selftest`/`bench` belong to quantgate.host.selftest/.bench (--help there).
    sub.add_parser("selftest", help="known-answer checks of a device (uses, then zeroizes, key "
                                    "slot 7); exit 0 only if every check passes", add_help=False)
    sub.add_parser("bench", help="benchmark report: bench/results.md and bench/results.json",
                   add_help=False)
    # Options after `serve` belong to quantgate.host.connector.server (--help there).
    sub.add_parser("serve", help="share appliances among many client processes (--device URL "
                                 "--listen HOST:PORT)", add_help=False)

    args, rest = parser.parse_known_args(argv)
    if args.command == "sim":
        from quantgate.sim import serve  # needs the simulation toolchain; only this subcommand

        return serve.main(rest) or 0
    if args.command == "build":
        from quantgate.boards import build  # imports Amaranth: only this subcommand

        return build.main(rest) or 0
    if args.command == "flash":
        from quantgate.boards import flash

        return flash.main(rest) or 0
    if args.command == "selftest":
        from . import selftest

        return selftest.main(rest)
    if args.command == "bench":
        from . import bench

        return bench.main(rest)
    if args.command == "serve":
        from .connector import server

        return server.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.url.startswith("sim://"):
        print("starting the simulated appliance (the first start builds it, which can take a "
              "few minutes)...", file=sys.stderr, flush=True)
    try:
        return _COMMANDS[args.command](args)
    except ValueError as exc:  # inputs outside the pricing domain, malformed CSV
        print(f"quantgate: error: {exc}", file=sys.stderr)
        return 2
    except QuantgateError as exc:
        print(f"quantgate: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an input file that cannot be read
        print(f"quantgate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=DEFAULT_URL,
                   help="sim://, socket://HOST:PORT, /dev/ttyUSB0, serial://PATH?baud=N "
                        f"(default {DEFAULT_URL})")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--timeout", type=float, default=None, help="seconds per attempt")


def _open(args):
    from .appliance import Appliance

    options = {} if args.timeout is None else {"timeout": args.timeout}
    return Appliance.open(args.url, **options)


def _print_mapping(data: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:20}{', '.join(value) if isinstance(value, list) else value}")


def _info(args) -> int:
    with _open(args) as dev:
        _print_mapping(dev.info(), args.json)
    return 0


def _stats(args) -> int:
    with _open(args) as dev:
        stats = dev.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    cycles = stats.pop("cycles", None)
    _print_mapping(stats, False)
    if cycles is not None:
        print()
        _print_timing(cycles)
    return 0


def _timing(args) -> int:
    with _open(args) as dev:
        cycles = dev.timing()
    if args.json:
        print(json.dumps(cycles, indent=2))
    else:
        _print_timing(cycles)
    return 0


def _print_timing(cycles: dict) -> None:
    print(f"{'cycles':20}{'count':>10}{'min':>12}{'max':>12}{'last':>12}")
    for op, curves in cycles.items():
        for curve, rec in curves.items():
            cells = ["-" if rec[k] is None else f"{rec[k]:,}"
                     for k in ("min_cycles", "max_cycles", "last_cycles")]
            if not rec["count"]:
                cells[2] = "-"
            print(f"{op + ' ' + curve:20}{rec['count']:>10,}" + "".join(f"{c:>12}" for c in cells))


def _read_message(args) -> bytes:
    if args.message is not None:
        text = args.message.strip()
        text = text[2:] if text[:2].lower() == "0x" else text
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"--message is not hex: {args.message[:40]!r}") from None
    if args.file is not None:
        with open(args.file, "rb") as fh:
            return fh.read()
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode()


def _digest(name: str, message: bytes) -> bytes:
    if name == "sha256":
        return hashlib.sha256(message).digest()
    if name == "keccak256":
        from Crypto.Hash import keccak  # pycryptodome, only offered when installed

        return keccak.new(data=message, digest_bits=256).digest()
    return message


def _sign(args) -> int:
    from . import commands

    signed = _digest(args.digest, _read_message(args))
    command = commands.sign_detailed(args.slot, signed, args.curve)  # checks before connecting
    with _open(args) as dev:
        try:
            curve, signature = dev.call(command)
        except BadArgument as exc:
            if args.curve is None and len(signed) != wire.ECDSA_DIGEST_LEN:
                raise ValueError(
                    f"{exc} (a secp256k1 or P-256 key signs a {wire.ECDSA_DIGEST_LEN}-byte "
                    f"digest, not {len(signed)} bytes: add --digest sha256)") from None
            raise
    if not args.json:
        print(signature.hex())
        return 0
    out = {"slot": args.slot, "curve": curve, "digest": args.digest,
           "signature": signature.hex()}
    if curve != "ed25519":
        out.update(r=signature[:32].hex(), s=signature[32:64].hex(), v=signature[64])
    print(json.dumps(out, indent=2))
    return 0


def _demo(args) -> int:
    from . import demo

    return demo.run(args.url, args.count, seed=args.seed, as_json=args.json,
                    max_size=args.max_size,
                    timeout=args.timeout)


def _greeks(args) -> int:
    from . import commands

    if args.csv:
        options = _read_options_csv(args.csv)
        commands.greeks_batch(options, model=args.model)  # validate before connecting
        with _open(args) as dev:
            result = dev.greeks_batch(options, model=args.model)
        _write_results(options, result, args.out, args.json)
        return 0
    missing = [f"--{k}" for k in ("spot", "strike", "expiry", "rate", "vol")
               if getattr(args, k) is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (or give --csv IN)")
    single = dict(call=not args.put, carry=args.carry, model=args.model)
    fields = (args.spot, args.strike, args.expiry, args.rate, args.vol)
    commands.greeks(*fields, **single)  # validate before connecting
    with _open(args) as dev:
        g = dev.greeks(*fields, **single)
    _print_mapping({k: repr(v) if not args.json else v for k, v in g._asdict().items()},
                   args.json)
    return 0


_TRUE = {"1", "true", "t", "yes", "y", "call", "c"}
_FALSE = {"0", "false", "f", "no", "n", "put", "p"}


def _read_options_csv(path: str):
    import csv

    import numpy as np

    from .commands import OPTIONS_DTYPE

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = np.zeros(len(rows), dtype=OPTIONS_DTYPE)
    out["call"] = True
    for i, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        for name in ("spot", "strike", "expiry", "rate", "vol", "carry"):
            text = row.get(name, "")
            if not text:
                if name == "carry":
                    continue
                raise ValueError(f"{path}:{i}: no value for {name!r}")
            try:
                out[name][i - 2] = float(text)
            except ValueError:
                raise ValueError(f"{path}:{i}: {name} = {text!r} is not a number") from None
        flag = row.get("call", "").lower()
        if flag:
            if flag not in _TRUE | _FALSE:
                raise ValueError(f"{path}:{i}: call = {flag!r} (want 1/0, true/false, call/put)")
            out["call"][i - 2] = flag in _TRUE
    return out


def _write_results(options, result, path, as_json: bool) -> None:
    import csv

    names = list(options.dtype.names) + list(result.dtype.names)
    records = [dict(zip(names, [*(o.item() for o in opt), *(r.item() for r in res)],
                        strict=True)) for opt, res in zip(options, result, strict=True)]
    if as_json:
        text = json.dumps(records, indent=2)
        if path:
            with open(path, "w") as fh:
                fh.write(text + "\n")
        else:
            print(text)
        return
    fh = open(path, "w", newline="") if path else sys.stdout
    try:
        writer = csv.DictWriter(fh, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for rec in records:
            writer.writerow({k: repr(v) if isinstance(v, float) else int(v) if isinstance(v, bool)
                             else v for k, v in rec.items()})
    finally:
        if path:
            fh.close()


_COMMANDS = {"info": _info, "stats": _stats, "timing": _timing, "sign": _sign, "demo": _demo,
             "greeks": _greeks}

if __name__ == "__main__":
    sys.exit(main())
