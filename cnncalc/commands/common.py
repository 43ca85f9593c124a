"""Arguments shared by several sub-commands."""

from __future__ import annotations

import argparse


def binding(text: str) -> tuple[str, int]:
    """``NAME=VALUE`` with an integer value."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name.strip()}: {value!r} is not an integer") from None


def add_arch(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="a JSON file or a zoo model name (see `cnncalc zoo`)")


def add_bindings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bind", "-b", action="append", type=binding, default=[],
                   metavar="NAME=VALUE", help="bind a size, e.g. --bind H=224 (repeatable)")
