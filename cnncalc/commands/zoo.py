"""``cnncalc zoo``: list the reference architectures."""

from __future__ import annotations

import argparse

from ..zoo import description, zoo_names

NAME = "zoo"
HELP = "list the reference architectures"


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    for name in zoo_names():
        print(f"{name:16s} {description(name)}".rstrip())
    return 0
