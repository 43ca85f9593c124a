"""The ``cnncalc`` command. Sub-commands live in :mod:`cnncalc.commands`, one module each.

Only the chosen sub-command's module is imported (``cnncalc --help`` lists the registry of
:data:`cnncalc.commands.COMMANDS`), so a command pays for the wings it uses and nothing else.
Bad input exits with code 2 and one line naming the layer and what is wrong; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from . import envvars
from .commands import COMMANDS
from .errors import CnnCalcError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line on stderr, exit code 2 (the usage is one ``--help`` away)."""
        self.exit(2, f"cnncalc: error: {_one_line(message)} (see `{self.prog} --help`)\n")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _module(name: str) -> ModuleType:
    """The module of the sub-command ``name``."""
    return importlib.import_module(f".commands.{COMMANDS[name][0]}", __package__)


def _modules() -> list[ModuleType]:
    return [_module(name) for name in COMMANDS]


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (also used to document the command): every sub-command with its
    arguments. With ``only`` a sub-command's name: that sub-command alone (what ``main`` parses
    a command line naming it with); with any other string: every sub-command by name and
    help, none of their modules imported (``cnncalc --help``, and the error for a missing or
    unknown sub-command)."""
    p = _Parser(prog="cnncalc", description="Closed-form shapes, parameters, MACs, memory and "
                "receptive fields of CNNs, checked against PyTorch.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (_, help_) in COMMANDS.items():
        if only in COMMANDS and name != only:
            continue
        sp = sub.add_parser(name, help=help_, description=help_)
        if only is None or name == only:
            mod = _module(name)
            mod.add_arguments(sp)
            sp.set_defaults(_run=mod.run)
    return p


def _chosen(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` starts with, or None (the top level has no option but
    ``--help``, which lists every sub-command: ``cnncalc -h analyze`` too)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def _fail(message: str) -> int:
    print(f"cnncalc: error: {_one_line(message)}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script.

    Bad input, bad files, bad options and bad ``CNNCALC_*`` variables exit with code 2 and one
    line on stderr; an interrupt exits with 130."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser(only=_chosen(argv) or "").parse_args(argv)
    try:
        envvars.check()
        return int(args._run(args))
    except CnnCalcError as e:
        return _fail(str(e))
    except RecursionError:
        return _fail("the analysis recursed past Python's limit (an internal limit, not a "
                     "property of the network); binding more sizes with --bind may help; "
                     "please report the input")
    except KeyboardInterrupt:
        print("cnncalc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover - `cnncalc ... | head`
        return 0
    except UnicodeDecodeError as e:  # a user's file read by a library we do not own
        return _fail(f"a file is not UTF-8 text ({e.reason} at byte {e.start}); save it as "
                     "UTF-8")
    except OSError as e:  # a user's file or folder: missing, unreadable, not a folder...
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror or e}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
