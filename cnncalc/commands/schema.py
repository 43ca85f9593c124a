"""``cnncalc schema``: the JSON Schema of the architecture format."""

from __future__ import annotations

import argparse
import json

from ..core.schema import json_schema

NAME = "schema"
HELP = "print the JSON Schema of the architecture format"


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0
