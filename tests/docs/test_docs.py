"""Docs that run: every ```python block of README.md and docs/*.md is executed (the blocks of a
file in order, sharing one namespace, in a scratch directory), and every ```console command
``$ cnncalc ...`` is run through ``cnncalc.cli.main`` and its output compared with the lines
shown under it. A line ``...`` stands for any number of lines, and a line ending in ``...``
for any line starting with what comes before. A command shown without output must succeed
(in docs/; in README.md such commands are illustrations and are not run). A python block is
skipped only when marked ```python no-run.

Without torch installed, a page stops (skips) at its first python block that needs torch, and
``cnncalc validate`` / ``cnncalc calibrate`` commands are not run.

The generated pages (docs/schema-reference.md, docs/gallery.md) must be up to date:
``python scripts/gen_docs.py`` rewrites them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
import shlex
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from cnncalc.cli import main

HAVE_TORCH = importlib.util.find_spec("torch") is not None
TORCH_COMMANDS = ("validate", "calibrate")
"""Sub-commands that need torch."""
ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
FILES = [ROOT / "README.md", *DOCS]
FENCE = re.compile(r"^```([\w-]*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
ELLIPSIS = "..."


@dataclass
class Block:
    """A fenced code block: language, info after it, text, first line number in the file."""

    lang: str
    info: str
    text: str
    line: int


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    return [Block(m.group(1), m.group(2).strip(), m.group(3),
                  text.count("\n", 0, m.start()) + 2) for m in FENCE.finditer(text)]


def commands(block: Block) -> list[tuple[str, list[str], int]]:
    """(command, expected output lines, line number) of each ``$ cnncalc`` in a console block."""
    out: list[tuple[str, list[str], int]] = []
    current: tuple[str, list[str], int] | None = None
    for i, line in enumerate(block.text.splitlines()):
        if line.startswith("$ "):
            current = (line[2:], [], block.line + i)
            out.append(current)
        elif current is not None:
            current[1].append(line.rstrip())
    for _, expected, _ in out:
        while expected and not expected[-1]:
            expected.pop()
    return [c for c in out if shlex.split(c[0], comments=True)[:1] == ["cnncalc"]]


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` equals ``actual`` where ``...`` lines match any lines and a trailing
    ``...`` matches the rest of a line."""
    @functools.cache
    def m(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        e = expected[i]
        if e == ELLIPSIS:
            return any(m(i + 1, k) for k in range(j, len(actual) + 1))
        if j == len(actual):
            return False
        ok = actual[j].startswith(e[:-3]) if e.endswith(ELLIPSIS) else actual[j] == e
        return ok and m(i + 1, j + 1)
    return m(0, 0)


def run_command(command: str) -> tuple[int, list[str]]:
    """Run ``cnncalc ...`` in-process: exit code and output lines (stdout then stderr)."""
    argv = shlex.split(command, comments=True)[1:]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse errors
            code = int(e.code or 0)
    text = out.getvalue() + err.getvalue()
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return code, lines


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


OPTIONAL = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "onnxscript")
"""Packages of the optional extras (torch, models, onnx) a page may use."""


def _needs_extra(e: BaseException) -> str | None:
    """The optional package that the failing code needs and that is not installed, if any."""
    if isinstance(e, ModuleNotFoundError):
        top = (e.name or "").split(".")[0]
    elif getattr(e, "kind", None) == "dependency":
        top = next((m for m in OPTIONAL if m in str(e)), "")
    else:
        return None
    return top if top in OPTIONAL and importlib.util.find_spec(top) is None else None


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_doc_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python blocks run in order; console commands print what the page shows."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__doc__"}
    for block in blocks(path):
        if block.lang == "python" and "no-run" not in block.info.split():
            # Padded so that line numbers in tracebacks are those of the Markdown file.
            code = compile("\n" * (block.line - 1) + block.text, _rel(path), "exec")
            failure = None
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    exec(code, namespace)  # noqa: S102 - our own documentation
                except Exception as e:
                    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
                             if f.filename == _rel(path)]
                    missing = _needs_extra(e)
                    if missing:
                        pytest.skip(f"{_rel(path)}:{lines[-1] if lines else block.line}: the "
                                    f"rest of the page needs {missing}, which is not installed")
                    failure = (f"{_rel(path)}:{lines[-1] if lines else block.line}: the python "
                               f"block raises {type(e).__name__}: {e}")
            if failure:
                pytest.fail(failure, pytrace=False)
        elif block.lang == "console":
            for command, expected, line in commands(block):
                if not expected and path.parent != ROOT / "docs":
                    continue
                if not HAVE_TORCH and shlex.split(command)[1:2] in [[c] for c in TORCH_COMMANDS]:
                    continue
                rc, actual = run_command(command)
                here = f"{_rel(path)}:{line}: $ {command}"
                if not expected:
                    assert rc == 0, f"{here}\nexits with {rc}:\n" + "\n".join(actual)
                    continue
                assert matches(expected, actual), (
                    f"{here}\nprints:\n" + "\n".join(actual) + "\n\nthe page shows:\n"
                    + "\n".join(expected))


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["schema-reference.md", "gallery.md"])
def test_generated_pages_are_up_to_date(name: str) -> None:
    gen = _gen_docs()
    want = gen.FILES[name]()
    got = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert got == want, f"docs/{name} is out of date: run python scripts/gen_docs.py"


def test_schema_reference_covers_every_layer_type() -> None:
    import cnncalc
    text = (ROOT / "docs" / "schema-reference.md").read_text(encoding="utf-8")
    for t in cnncalc.LAYER_TYPES:
        assert f"\n### {t}\n" in text, t


def test_error_kinds_are_documented() -> None:
    """docs/service.md's table lists every ``error`` kind the library and the service answer."""
    pytest.importorskip("fastapi")
    from api.errors import KINDS
    from cnncalc.errors import ERROR_KINDS

    text = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (?:library|service) \| (.*) \|$", text, re.M))
    assert rows == KINDS, "docs/service.md's table of error kinds differs from api.errors.KINDS"
    assert set(ERROR_KINDS) <= set(rows)


def test_tutorial_asserts_the_lecture_numbers() -> None:
    """The tutorial's code checks each number of the lecture (so it cannot silently drop one)."""
    tut = [b for b in blocks(ROOT / "docs" / "tutorial.md")]
    code = "\n".join(b.text for b in tut if b.lang == "python")
    assert not any("no-run" in b.info for b in tut)
    for needle in ("out[2:] == (14, 14)", "== (1, 1, 5)", "== (1, 1, 3)",
                   "sympy.floor((W + P - K) / S) + 1", "S_in * S_out + S_out",
                   "K1 * K2 * C_in * C_out + C_out", "K1 * K2 * C_in * C_out * W_out * H_out",
                   "rf.size == (15, 15)", "output_shape == (1, 64, 1, 1)", '("same", 1)',
                   '("valid", 1)', "== 254016", "== 1308"):
        assert needle in code, needle
    consoles = [c for b in tut if b.lang == "console" for c in commands(b)]
    assert consoles and all(expected for _, expected, _ in consoles)


def test_matcher() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "..."], ["a"]) and matches(["ab..."], ["abc"])
    assert not matches(["a", "d"], ["a", "b", "d"]) and not matches(["a"], ["a", "b"])
