"""The ``cnncalc`` command. Sub-commands live in :mod:`cnncalc.commands`, one module each.

Bad input exits with code 2 and one line naming the layer and what is wrong; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from .commands import COMMANDS
from .errors import CnnCalcError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"cnncalc: error: {message}\n")


def _modules() -> list[ModuleType]:
    found = []
    for name in COMMANDS:
        try:
            found.append(importlib.import_module(f".commands.{name}", __package__))
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.commands.{name}":
                raise
    return found


def parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the command)."""
    p = _Parser(prog="cnncalc", description="Closed-form shapes, parameters, MACs, memory and "
                "receptive fields of CNNs, checked against PyTorch.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for mod in _modules():
        sp = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    try:
        return int(args._run(args))
    except CnnCalcError as e:
        print(f"cnncalc: error: {e}", file=sys.stderr)
        return 2
    except RecursionError:
        print("cnncalc: error: the input is nested too deeply", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnncalc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover - `cnncalc ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
