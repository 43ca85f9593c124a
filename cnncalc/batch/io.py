"""Reading JSONL input lazily and writing rows as they come (CSV, JSONL, Parquet).

Nothing here holds more than one Parquet row group of rows: the readers yield one line at a
time and the writers write each row (or group of rows) as it arrives.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..errors import CnnCalcError
from ..progress import Progress
from .rows import FIELDS, MAX_LINE_BYTES, QUANTITIES, BadLine, BatchRow

FORMATS = ("csv", "jsonl", "parquet")

ROW_GROUP = 16384
"""Rows per Parquet row group (the rows held in memory at once)."""

INT64_MAX = 2**63 - 1


# --- input ------------------------------------------------------------------------------------

def _open_bytes(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    if os.path.isdir(path):
        raise CnnCalcError(f"{path}: is a folder, not a JSONL file", kind="input")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise CnnCalcError(f"{path}: no such file", kind="input") from None
    except PermissionError:
        raise CnnCalcError(f"{path}: permission denied", kind="input") from None


def _readline(f: IO[bytes], number: int) -> str | BadLine | None:
    """The next line as text (None at the end). A line past :data:`MAX_LINE_BYTES` is skipped
    to its end in pieces (never held whole), and it and a line that is not UTF-8 come as a
    :class:`BadLine`: that line's row says what is wrong, and the batch goes on."""
    raw = f.readline(MAX_LINE_BYTES + 1)
    if not raw:
        return None
    if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
        size = len(raw)
        while (piece := f.readline(MAX_LINE_BYTES)) and not piece.endswith(b"\n"):
            size += len(piece)
        return BadLine(f"line {number} is longer than {MAX_LINE_BYTES // 2**20} MiB "
                       f"({size + len(piece)} bytes); one architecture per line", "limit")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return BadLine(f"line {number} is not UTF-8 text ({e.reason} at byte {e.start + 1} of "
                       "the line); save the file as UTF-8")


def read_lines(path: str) -> Iterator[tuple[int, str | BadLine]]:
    """``(line number, text)`` for every non-blank line of ``path`` (``-``: standard input), read
    one at a time; blank lines are skipped but still counted, so numbers match the file's.
    The file is opened at once (a missing file fails before any work)."""
    f = _open_bytes(path)

    def lines() -> Iterator[tuple[int, str | BadLine]]:
        try:
            number = 0
            while (text := _readline(f, number + 1)) is not None:
                number += 1
                if isinstance(text, BadLine) or text.strip():
                    yield number, text
        finally:
            if f is not sys.stdin.buffer:
                f.close()

    return lines()


def count_lines(path: str) -> int | None:
    """The number of non-blank lines of a regular file (for a progress bar), None for a
    stream (standard input, a pipe)."""
    if path == "-":
        return None
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        n = 0
        with open(path, "rb") as f:
            for line in f:
                n += bool(line.strip())
        return n
    except OSError:
        return None


class Counter(Progress):
    """A progress bar for an input of unknown length: ``label 12345 done`` in place."""

    def __init__(self, label: str = "", stream: IO[str] | None = None,
                 enabled: bool | None = None) -> None:
        super().__init__(1, label, stream, enabled)

    def advance(self, n: int = 1, label: str | None = None) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        self.stream.write(f"\r{self.label[:40]:40s} {self.done} done")
        self.stream.flush()
        self._drawn = True


def progress(total: int | None, enabled: bool, label: str = "analysing") -> Progress:
    """A bar of ``total`` steps, or a running count when the total is unknown; nothing shows
    unless ``enabled``."""
    if total is None:
        return Counter(label, enabled=enabled)
    return Progress(total, label, enabled=enabled)


def _tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def bar_wanted(output: str | None) -> bool:
    """Whether a progress bar shows: standard error is a terminal, and the rows do not go to
    that terminal too (they would be drawn over)."""
    to_stdout = output is None or output == "-"
    return _tty(sys.stderr) and not (to_stdout and _tty(sys.stdout))


# --- output -----------------------------------------------------------------------------------

class Writer:
    """Writes rows one at a time; ``close`` finishes the file."""

    def write(self, row: BatchRow) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class CsvWriter(Writer):
    """A header, then one line per row; formulas and errors quoted as needed, None empty."""

    def __init__(self, f: IO[str]) -> None:
        self.out = csv.writer(f, lineterminator="\n")
        self.out.writerow(FIELDS)

    def write(self, row: BatchRow) -> None:
        self.out.writerow(["" if v is None else v for v in row.to_dict().values()])


class JsonlWriter(Writer):
    """One JSON object per line: numbers as JSON integers, formulas as strings, None null."""

    def __init__(self, f: IO[str]) -> None:
        self.f = f

    def write(self, row: BatchRow) -> None:
        self.f.write(json.dumps(row.to_dict()) + "\n")


def parquet_row(row: BatchRow) -> dict[str, Any]:
    """A row as Parquet holds it: the counts are int64 columns, so a count that is a formula
    (a size left free) or past int64 leaves the counts empty (null) and says why in
    ``error``."""
    d = row.to_dict()
    bad = [q for q in QUANTITIES if d[q] is not None
           and (isinstance(d[q], str) or not -INT64_MAX - 1 <= d[q] <= INT64_MAX)]
    if bad and not d["error"]:
        q = bad[0]
        why = (f"{q} is the formula {d[q]}; Parquet holds numbers: bind every size (--bind)"
               if isinstance(d[q], str) else f"{q} = {d[q]} does not fit a 64-bit integer")
        d["error"] = why
    if bad:
        for k in QUANTITIES:
            d[k] = None
    return d


class ParquetWriter(Writer):
    """Row groups of :data:`ROW_GROUP` rows with a fixed schema (name, receptive_field, error
    text; index and the counts int64)."""

    def __init__(self, path: str) -> None:
        pa, pq = _pyarrow()
        self.pa = pa
        self.schema = pa.schema([(f, pa.string() if f in ("name", "receptive_field", "error")
                                  else pa.int64()) for f in FIELDS])
        self.writer = pq.ParquetWriter(path, self.schema)
        self.rows: list[dict[str, Any]] = []

    def write(self, row: BatchRow) -> None:
        self.rows.append(parquet_row(row))
        if len(self.rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CnnCalcError("Parquet output needs pyarrow: pip install 'cnncalc[tables]'",
                           kind="dependency") from None
    return pa, pq


def check_output(fmt: str, output: str | None) -> None:
    """Refuse a format/output pair before any work: Parquet needs a file and pyarrow."""
    if fmt not in FORMATS:
        raise CnnCalcError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}", kind="input")
    if fmt == "parquet":
        if output is None or output == "-":
            raise CnnCalcError("Parquet output is binary: give a file with --output FILE",
                               kind="input")
        _pyarrow()


@contextmanager
def writer(fmt: str, output: str | None) -> Iterator[Writer]:
    """A writer of ``fmt`` rows to ``output`` (None or ``-``: standard output)."""
    check_output(fmt, output)
    if fmt == "parquet":
        assert output is not None
        w: Writer = ParquetWriter(output)
        try:
            yield w
        finally:
            w.close()
        return
    f = sys.stdout if output is None or output == "-" else \
        open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        yield CsvWriter(f) if fmt == "csv" else JsonlWriter(f)
    finally:
        f.flush()
        if f is not sys.stdout:
            f.close()
