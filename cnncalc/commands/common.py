"""Arguments shared by several sub-commands."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

_INT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")
_MAX_DIGITS = 30


def integer(text: str) -> int:
    """An ASCII integer (``224``, ``1_000``); no look-alike digits, no floats, at most 30
    digits (every size cnncalc takes is far smaller)."""
    t = text.strip()
    if not _INT.fullmatch(t):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer")
    if len(t) > _MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text[:20]!r}... has more than {_MAX_DIGITS} "
                                         "digits")
    return int(t)


def binding(text: str) -> tuple[str, int]:
    """``NAME=VALUE`` with an integer value."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text[:40]!r}")
    try:
        return name.strip(), integer(value)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{name.strip()[:40]}: {e}") from None


class _Bindings(argparse.Action):
    """Collects ``--bind`` pairs; a name bound twice is an error, not "the last one wins"."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        name, value = values
        seen = list(getattr(namespace, self.dest, None) or [])
        for old_name, old in seen:
            if old_name == name:
                parser.error(f"argument {option_string}: {name} is bound twice ({name}={old} "
                             f"and {name}={value}); bind each size once")
        setattr(namespace, self.dest, [*seen, (name, value)])


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer ``>= lo``."""
    def parse(text: str) -> int:
        v = integer(text)
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v
    return parse


def int_between(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``lo..hi`` (options that set an amount of work)."""
    def parse(text: str) -> int:
        v = integer(text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {v}")
        return v
    return parse


def float_between(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse type: a finite number with ``lo < x <= hi``."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
        if not (math.isfinite(v) and lo < v <= hi):
            raise argparse.ArgumentTypeError(f"must be a number above {lo:g} and at most "
                                             f"{hi:g}, got {text[:40]}")
        return v
    return parse


def add_units(p: argparse.ArgumentParser) -> None:
    """``--units [si|iec]``."""
    p.add_argument("--units", "-u", nargs="?", const="si", choices=("si", "iec"),
                   help="K/M/G for counts and KB/MB/GB for bytes (si, the default) or "
                        "KiB/MiB/GiB (iec)")


def add_totals_options(p: argparse.ArgumentParser) -> None:
    """``--quantities`` (checked by :func:`cnncalc.report.quantities.check_quantities`, which
    ``sweep`` and ``compare`` call), ``--format`` and ``--units`` of the commands that tabulate
    totals."""
    from ..report.quantities import QUANTITIES
    from ..report.tables import FORMATS
    p.add_argument("--quantities", "-q", default=",".join(QUANTITIES), metavar="LIST",
                   help=f"comma-separated totals (default: {','.join(QUANTITIES)})")
    p.add_argument("--format", "-f", choices=(*FORMATS, "json"), default="table")
    add_units(p)


def add_convention(p: argparse.ArgumentParser) -> None:
    """``--convention NAME``: also report the totals another tool prints (docs/conventions.md).
    """
    from ..report.conventions import names
    p.add_argument("--convention", choices=names(), default="cnncalc",
                   help="also give the total MACs that tool reports for this network, "
                        "reproduced from the layers (a line under the totals; `convention` "
                        "in JSON); cnncalc's own totals are unchanged (default: cnncalc)")


def add_arch(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="a JSON file or a zoo model name (see `cnncalc zoo`)")


def add_bindings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bind", "-b", action=_Bindings, type=binding, default=[],
                   metavar="NAME=VALUE", help="bind a size, e.g. --bind H=224 (repeatable)")


def check_grid_size(text: str, limit: int) -> None:
    """Refuse ``NAME=VALUES`` whose lists and ranges hold more than ``limit`` values in all,
    before any of them is made (each range alone may be within the limit)."""
    count = 0
    for part in text.rpartition("=")[2].split(","):
        bits = part.strip().split(":")
        if len(bits) in (2, 3) and all(_INT.fullmatch(b.strip()) for b in bits):
            start, stop = int(bits[0]), int(bits[1])
            step = int(bits[2]) if len(bits) == 3 else 1
            count += len(range(start, stop + 1, step)) if step >= 1 else 0
        else:
            count += 1
        if count > limit:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} has more than {limit} values")


def add_profile(p: argparse.ArgumentParser, what: str) -> None:
    """``--profile PROFILE.json`` (``what`` it adds) and ``--threads T`` for predicting with
    it; :func:`read_profile` checks the pair."""
    p.add_argument("--profile", "-p", metavar="PROFILE.json",
                   help=f"{what} (every size must be bound)")
    p.add_argument("--threads", type=int_between(1, 1024), default=None, metavar="T",
                   help="with --profile: predict for T CPU threads (one the profile was "
                        "calibrated with; default its first)")
    p.set_defaults(_parser=p)


def read_profile(args: argparse.Namespace) -> Any:
    """The ``--profile`` of ``args`` (None without one), its machine warnings printed on
    stderr; ``--threads`` without ``--profile`` is a usage error."""
    if args.threads is not None and not args.profile:
        args._parser.error("--threads needs --profile")
    if not args.profile:
        return None
    import sys

    from ..cost import load_profile
    profile = load_profile(args.profile)
    for w in profile.warnings():
        print(f"warning: {w}", file=sys.stderr)
    return profile
