"""`quantgate` command line (console script). Subcommands import their machinery lazily."""

import argparse
import json
import sys

from .errors import QuantgateError

DEFAULT_URL = "sim://"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quantgate", description="quantgate appliance tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="print the appliance's INFO")
    _common(p)
    p = sub.add_parser("stats", help="print the device's link counters")
    _common(p)
    p = sub.add_parser("demo", help="INFO, then pipelined echoes with throughput")
    _common(p)
    p.add_argument("--count", type=int, default=2000, help="echoes to run (default 2000)")
    p.add_argument("--seed", type=int, default=None, help="random seed for the payloads")
    # Options after `sim` belong to quantgate.sim.serve (e.g. --listen HOST:PORT).
    sub.add_parser("sim", help="serve the simulated appliance over TCP (--listen HOST:PORT)",
                   add_help=False)

    args, rest = parser.parse_known_args(argv)
    if args.command == "sim":
        from quantgate.sim import serve  # needs the simulation toolchain; only this subcommand

        return serve.main(rest) or 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.url.startswith("sim://"):
        print("starting the simulated appliance (the first start builds it, which can take a "
              "few minutes)...", file=sys.stderr, flush=True)
    try:
        return _COMMANDS[args.command](args)
    except QuantgateError as exc:
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
        _print_mapping(dev.stats(), args.json)
    return 0


def _demo(args) -> int:
    from . import demo

    return demo.run(args.url, args.count, seed=args.seed, as_json=args.json,
                    timeout=args.timeout)


_COMMANDS = {"info": _info, "stats": _stats, "demo": _demo}

if __name__ == "__main__":
    sys.exit(main())
