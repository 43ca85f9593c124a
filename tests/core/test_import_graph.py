"""The import graph of cnncalc and api flows one way, without cycles (read from the source).

Every ``import`` and ``from ... import`` statement is read with :mod:`ast` (nothing is
imported), at any depth: module level, inside functions (lazy imports) and under
``if TYPE_CHECKING:`` alike; a type-only import still says that one module needs another.
``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
The package ``__init__`` files Python runs on the way to a module are not edges of their own.

Each module belongs to a wing; a wing imports only wings at or below its rank (see
docs/architecture.md)::

    errors, envvars, progress, hooks < algebra < layers < core < zoo < report, cost
    < pytorch, onnx, batch < cnncalc/__init__.py (the facade: the public API, every name
    imported on first use) < cli, commands, __main__ < api

``hooks`` names (as ``module:function`` strings, imported when called) the report and zoo
functions the core calls; :mod:`cnncalc.core.load` installs them.

``report`` may import ``cost``; ``cost`` never imports ``report``; ``pytorch``, ``onnx``
(the ONNX reader) and ``batch`` never import each other. Only ``cnncalc/pytorch`` imports torch,
only ``cnncalc/onnx`` imports onnx and onnxruntime, only ``cnncalc/batch`` imports dask. Run
this file as a script to print the wing graph and any violation.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cnncalc", "api")

RANK = {"errors": 0, "envvars": 0, "progress": 0, "hooks": 0, "algebra": 1, "layers": 2,
        "core": 3, "zoo": 4, "report": 5, "cost": 5, "pytorch": 6, "onnx": 6, "batch": 6,
        "facade": 7, "cli": 8, "commands": 8, "__main__": 8, "api": 9}
"""Wing ranks: an import may go to the same rank or below."""
FORBIDDEN = {("cost", "report"), ("onnx", "pytorch"), ("pytorch", "onnx"), ("batch", "pytorch"),
             ("batch", "onnx"), ("pytorch", "batch"), ("onnx", "batch")}
"""Pairs of wings of equal rank that must not import in this direction."""
TORCH = ("torch", "torchvision")
TORCH_WING = "pytorch"
ONNX = ("onnx", "onnxruntime", "onnxscript")
ONNX_WING = "onnx"
DASK = ("dask", "distributed")
DASK_WING = "batch"


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def wing(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "api":
        return "api"
    if parts == ["cnncalc"]:
        return "facade"
    return parts[1] if parts[1] in RANK else None


def imports(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(imported name, line) for every import statement of ``module``: internal names
    resolved to modules of ``known``, external ones as written."""
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                drop = node.level - 1 if is_pkg else node.level
                base = base[:len(base) - drop] if drop else base
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in known else target), node.lineno


def graph() -> tuple[dict[str, set[str]], list[str]]:
    """The internal import edges by module, and every violation found on the way."""
    mods = modules()
    known = set(mods)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    problems: list[str] = []
    for m, path in mods.items():
        src = wing(m)
        where = path.relative_to(ROOT)
        if src is None:
            problems.append(f"{where}: in no wing; give it one in RANK ({__file__})")
            continue
        for name, line in imports(m, path, known):
            top = name.split(".")[0]
            if top in TORCH and src != TORCH_WING:
                problems.append(f"{where}:{line}: imports {name}; only cnncalc/pytorch may")
            if top in ONNX and src != ONNX_WING:
                problems.append(f"{where}:{line}: imports {name}; only cnncalc/onnx may")
            if top in DASK and src != DASK_WING:
                problems.append(f"{where}:{line}: imports {name}; only cnncalc/batch may")
            if top not in PACKAGES:
                continue
            while name not in known and "." in name:  # ``import cnncalc.x.y as z`` etc.
                name = name.rsplit(".", 1)[0]
            dst = wing(name)
            if name == m or dst is None:
                continue
            edges[m].add(name)
            if RANK[dst] > RANK[src] or (src, dst) in FORBIDDEN:
                problems.append(f"{where}:{line}: {src} imports {name} ({dst}), upward")
    return edges, problems


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_upward_import() -> None:
    _, problems = graph()
    assert not problems, "imports against the wing order:\n" + "\n".join(problems)


def test_no_import_cycle() -> None:
    edges, _ = graph()
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checker_sees_what_it_must() -> None:
    """Lazy, relative, ``from pkg import module`` and parent-relative imports all resolve."""
    edges, _ = graph()
    assert "cnncalc.envvars" in edges["cnncalc.core.load"]        # from .. import envvars
    assert "cnncalc.core.engine" in edges["cnncalc.core.load"]    # from .engine import run
    assert "cnncalc.core.constraints.sets" in edges["cnncalc.core.constraints.solve"]
    assert "cnncalc.algebra.arith" in edges["cnncalc.core.constraints"]  # a package's own
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_hooks_name_the_functions_the_core_calls() -> None:
    """Each hook of cnncalc.hooks names a function of the zoo or report wing, and
    cnncalc.core.load installs them (run in a fresh process: nothing else imported first)."""
    import cnncalc.hooks
    import cnncalc.report.explain
    import cnncalc.report.tables
    import cnncalc.zoo
    assert cnncalc.hooks.resolve("render_table") is cnncalc.report.tables.render
    assert cnncalc.hooks.resolve("explain") is cnncalc.report.explain.explain
    assert cnncalc.hooks.resolve("zoo_names") is cnncalc.zoo.zoo_names
    assert cnncalc.hooks.resolve("zoo_load") is cnncalc.zoo.load
    assert all(wing(t.partition(":")[0]) in ("zoo", "report")
               for t in cnncalc.hooks.TARGETS.values())
    code = ("import sys; import cnncalc.core.load as l, cnncalc.core.analysis as a, "
            "cnncalc.hooks as h; "
            "assert l._catalog == (h.zoo_names, h.zoo_load); "
            "assert a._renderer is h.render_table and a._explainer is h.explain; "
            "assert 'cnncalc.report.tables' not in sys.modules; "
            "assert 'cnncalc.zoo' not in sys.modules; "
            "an = l.analyze('lenet5', {'N': 1}); assert an.to_table().startswith('lenet5')")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_checker_finds_a_lazy_upward_import(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"cnncalc/__init__.py": "", "cnncalc/core/__init__.py": "",
             "cnncalc/core/a.py": "def f():\n    from ..report import b\n",
             "cnncalc/report/__init__.py": "", "cnncalc/report/b.py": "from ..core import a\n",
             "cnncalc/cost/c.py": "import torch\n", "cnncalc/cost/d.py": "import onnx\n",
             "cnncalc/onnx/e.py": "from ..pytorch import f\n", "cnncalc/pytorch/f.py": "",
             "api/__init__.py": ""}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    edges, problems = graph()
    assert problems == ["cnncalc/core/a.py:2: core imports cnncalc.report.b (report), upward",
                        "cnncalc/cost/c.py:1: imports torch; only cnncalc/pytorch may",
                        "cnncalc/cost/d.py:1: imports onnx; only cnncalc/onnx may",
                        "cnncalc/onnx/e.py:1: onnx imports cnncalc.pytorch.f (pytorch), upward"]
    assert cycles(edges) == [["cnncalc.core.a", "cnncalc.report.b"]]


if __name__ == "__main__":
    edges, problems = graph()
    wings: dict[str, set[str]] = {}
    for m, dsts in edges.items():
        for d in dsts:
            a, b = wing(m), wing(d)
            if a and b and a != b:
                wings.setdefault(a, set()).add(b)
    for a in sorted(wings, key=lambda w: (RANK[w], w)):
        print(f"{a:>9} -> {', '.join(sorted(wings[a], key=lambda w: (RANK[w], w)))}")
    for p in problems:
        print("UPWARD", p)
    for c in cycles(edges):
        print("CYCLE", " <-> ".join(c))
    sys.exit(1 if problems or cycles(edges) else 0)
