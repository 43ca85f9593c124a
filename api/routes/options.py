"""Query options shared by the routes that render tables, and the rule that no query option is
silently ignored: an option a route does not take is a 422 naming it.

``depth``, ``units`` and ``columns`` shape a table format (``?format=table``, ``markdown``,
``latex``, ``csv``, ``html``); with ``format=json`` they are refused, since the JSON always
carries every layer and every quantity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

import cnncalc

from ..worker import MEDIA_TYPES, TableOptions

TABLE_OPTIONS = ("depth", "units", "columns", "convention")
"""The query options of the design table (``POST /analyze`` takes all four)."""

_YES = ("si", "true", "1", "yes", "on")
_NO = ("false", "0", "no", "off", "")


def refuse(option: str, message: str) -> cnncalc.CnnCalcError:
    """A 422 (kind ``input``) naming the query option."""
    return cnncalc.CnnCalcError(message, path=["query", option], kind="input")


def only_query(*allowed: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that refuses every query option but ``allowed``, naming it."""

    async def check(request: Request) -> None:
        for name in request.query_params:
            if name not in allowed:
                takes = ", ".join(allowed) if allowed else "no query options"
                what = ("is not taken by this endpoint" if name in TABLE_OPTIONS
                        else "is not a query option of this endpoint")
                raise refuse(name, f"{name!r} {what} (it takes {takes})")

    return check


def units_of(value: str | None) -> str | bool:
    """``?units=``: ``si`` (also true, 1, yes, on), ``iec``, or none (false, 0, no, off)."""
    if value is None:
        return False
    v = value.strip().lower()
    if v == "iec":
        return "iec"
    if v in _YES:
        return "si"
    if v in _NO:
        return False
    raise refuse("units", f"units={value[:40]!r} is not si, iec, true or false")


UNITS_HELP = ("K/M/G for counts and KB/MB/GB for bytes: `si` (or `true`), `iec` for "
              "KiB/MiB/GiB, `false` for plain numbers (the default). Table formats only.")


def table_only(fmt: str, **given: object) -> None:
    """Refuse, with ``format=json``, every table option that was given (not None)."""
    if fmt != "json":
        return
    for name, value in given.items():
        if value is not None:
            tables = ", ".join(f for f in MEDIA_TYPES if f != "json")
            raise refuse(name, f"{name} shapes a table, so it is only for the table formats "
                         f"(format={tables}"
                         + "); the JSON carries every layer and quantity")


def table_options(columns: str | None, depth: int | None, units: str | None) -> TableOptions:
    """The options as the worker takes them (columns are checked there, by the library)."""
    return TableOptions(columns=columns, depth=depth, units=units_of(units))
