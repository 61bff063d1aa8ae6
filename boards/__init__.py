"""quantgate.boards: board targets (ULX3S-85F first), bitstream build, flashing, reports.

This package's ``__init__`` and :mod:`quantgate.boards.flow` and :mod:`quantgate.boards.flash`
need only the standard library; :mod:`quantgate.boards.ulx3s` and
:mod:`quantgate.boards.build` import Amaranth (the CLI imports them only for ``build``).
"""

from pathlib import Path

# Board names the CLI accepts -> openFPGALoader's board name.
BOARDS = {"ulx3s-85f": "ulx3s"}
DEFAULT_BOARD = "ulx3s-85f"
BITSTREAM_NAME = "quantgate"  # <build dir>/quantgate.bit


def default_build_dir(board: str) -> Path:
    """Where ``quantgate build`` writes and ``quantgate flash`` looks: ``build/<board>``."""
    return Path("build") / board


def default_bitstream(board: str) -> Path:
    return default_build_dir(board) / f"{BITSTREAM_NAME}.bit"
