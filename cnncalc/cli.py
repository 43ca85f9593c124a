"""The ``cnncalc`` command: ``analyze``, ``zoo``, ``schema``.

Bad input exits with code 2 and one line naming the layer and what is wrong; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .api import analyze
from .errors import CnnCalcError
from .schema import json_schema
from .tables import plain
from .zoo import load_zoo, zoo_names


def _binding(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name.strip()}: {value!r} is not an integer") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"cnncalc: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the command)."""
    p = _Parser(prog="cnncalc", description="Closed-form shapes, parameters, MACs, memory and "
                "receptive fields of CNNs.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser("analyze", help="analyse an architecture (JSON file or zoo name)")
    a.add_argument("arch", help="a JSON file or a zoo model name (see `cnncalc zoo`)")
    a.add_argument("--bind", "-b", action="append", type=_binding, default=[],
                   metavar="NAME=VALUE", help="bind a size, e.g. --bind H=224 (repeatable)")
    a.add_argument("--format", "-f", choices=("table", "json"), default="table")
    sub.add_parser("zoo", help="list the reference architectures")
    sub.add_parser("schema", help="print the JSON Schema of the architecture format")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    try:
        if args.command == "zoo":
            for name in zoo_names():
                arch = load_zoo(name)
                print(f"{name:16s} {arch.description or ''}".rstrip())
            return 0
        if args.command == "schema":
            print(json.dumps(json_schema(), indent=2))
            return 0
        bindings = dict(args.bind)
        an = analyze(args.arch, bindings)
        if args.format == "json":
            print(json.dumps(an.to_dict(), indent=2))
        else:
            sys.stdout.write(plain(an))
        return 0
    except CnnCalcError as e:
        print(f"cnncalc: error: {e}", file=sys.stderr)
        return 2
    except RecursionError:
        print("cnncalc: error: the input is nested too deeply", file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - `cnncalc ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
