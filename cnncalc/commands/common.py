"""Arguments shared by several sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def binding(text: str) -> tuple[str, int]:
    """``NAME=VALUE`` with an integer value."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name.strip()}: {value!r} is not an integer") from None


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer ``>= lo``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v
    return parse


def add_units(p: argparse.ArgumentParser) -> None:
    """``--units [si|iec]``."""
    p.add_argument("--units", "-u", nargs="?", const="si", choices=("si", "iec"),
                   help="K/M/G for counts and KB/MB/GB for bytes (si, the default) or "
                        "KiB/MiB/GiB (iec)")


def add_totals_options(p: argparse.ArgumentParser) -> None:
    """``--quantities``, ``--format`` and ``--units`` of the commands that tabulate totals."""
    from ..sweep import QUANTITIES
    from ..tables import FORMATS
    p.add_argument("--quantities", "-q", default=",".join(QUANTITIES), metavar="LIST",
                   help=f"comma-separated totals (default: {','.join(QUANTITIES)})")
    p.add_argument("--format", "-f", choices=(*FORMATS, "json"), default="table")
    add_units(p)


def add_arch(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="a JSON file or a zoo model name (see `cnncalc zoo`)")


def add_bindings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bind", "-b", action="append", type=binding, default=[],
                   metavar="NAME=VALUE", help="bind a size, e.g. --bind H=224 (repeatable)")
