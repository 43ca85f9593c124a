"""What a command imports: only what its work needs (the start-up figures are in
tests/bench/bench_cli.py and docs/benchmarks.md; here, the imports that make them).

Each check runs in a fresh interpreter, so that nothing imported by other tests counts.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys

import pytest

import cnncalc
from cnncalc.commands import COMMANDS

BIND = "'--bind', 'N=1', '--bind', 'H=224', '--bind', 'W=224'"


def imported(code: str, *names: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of ``names`` it left in ``sys.modules``."""
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps({{n: n in sys.modules for n in {list(names)!r}}}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    result: dict[str, bool] = json.loads(out.strip().splitlines()[-1])
    return result


def main_of(*argv: str) -> str:
    """Code that runs the console script's main with ``argv``, its output discarded."""
    return ("import contextlib, io\nfrom cnncalc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main([{', '.join(repr(a) for a in argv)}]) == 0")


def test_import_cnncalc_imports_no_wing() -> None:
    got = imported("import cnncalc", "cnncalc.core", "cnncalc.layers", "cnncalc.report",
                   "cnncalc.zoo", "pydantic", "sympy", "numpy")
    assert not any(got.values()), got


def test_a_bound_analysis_needs_neither_sympy_nor_numpy() -> None:
    code = ("import cnncalc\n"
            "an = cnncalc.analyze('resnet50', {'N': 1, 'H': 224, 'W': 224})\n"
            "table = an.to_table()\n"
            "d = an.to_dict()\n"
            "assert d['totals']['params'] == 25557032, d['totals']['params']\n"
            "assert 'resnet50' in table and 'fc' in table")
    got = imported(code, "sympy", "numpy", "cnncalc.layers.explain", "cnncalc.report.explain",
                   "importlib.resources")
    assert not any(got.values()), got


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_the_bound_analyze_command_needs_no_sympy(fmt: str) -> None:
    code = main_of("analyze", "resnet50", "--bind", "N=1", "--bind", "H=224", "--bind",
                   "W=224", "--format", fmt)
    assert imported(code, "sympy", "numpy") == {"sympy": False, "numpy": False}


def test_a_symbolic_analysis_still_imports_sympy() -> None:
    """The lazy proxy is a real sympy where a value is a formula (the check above can fail)."""
    code = ("import cnncalc\nan = cnncalc.analyze('resnet50')\n"
            "from cnncalc.algebra.printing import pretty\n"
            "assert pretty(an.layers[0].output_shape[2]) == 'ceil(H/2)', "
            "an.layers[0].output_shape\n"
            "assert an.evaluate(H=224, W=224, N=1).layers[0].output_shape == "
            "(1, 64, 112, 112)\n")
    assert imported(code, "sympy") == {"sympy": True}


@pytest.mark.parametrize("argv", [["--help"], ["zoo"], ["zoo", "--help"],
                                  ["analyze", "--help"]])
def test_help_and_zoo_need_no_pydantic(argv: list[str]) -> None:
    code = ("import contextlib, io\nfrom cnncalc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit as e:\n"
            "        assert e.code == 0\n")
    names = ["pydantic", "sympy", "numpy", "cnncalc.core.analysis"] + [
        f"cnncalc.commands.{m}" for m, _ in COMMANDS.values()]
    got = imported(code, *names)
    want_cmd = f"cnncalc.commands.{COMMANDS[argv[0]][0]}" if argv[0] in COMMANDS else None
    loaded = sorted(n for n, v in got.items() if v)
    if argv[0] == "analyze":  # its module imports the core and the report, not sympy
        assert "cnncalc.commands.zoo" not in loaded and "sympy" not in loaded, loaded
    else:
        assert loaded == ([want_cmd] if want_cmd else []), loaded


def test_the_registry_is_the_modules() -> None:
    """COMMANDS names each module with its NAME and HELP (the help is listed without
    importing the module)."""
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(f"cnncalc.commands.{module}") is None:
            pytest.fail(f"cnncalc.commands.{module} (the command {name!r}) does not exist")
        mod = importlib.import_module(f"cnncalc.commands.{module}")
        assert (mod.NAME, mod.HELP) == (name, help_)


def test_the_full_parser_has_every_command() -> None:
    from cnncalc.cli import parser
    p = parser()
    sub = next(a for a in p._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)  # type: ignore[union-attr]
    # each sub-parser has its arguments (the full parser documents the commands)
    assert "--bind" in sub.choices["analyze"].format_help()  # type: ignore[index]


def test_the_facade_names_resolve() -> None:
    """Every public name of cnncalc imports on first use (torch and onnx ones where those
    are installed)."""
    needs = {"to_torch": "torch", "validate": "torch", "ValidationReport": "torch",
             "from_torch": "torch", "from_onnx": "onnx"}
    for name in cnncalc.__all__:
        if name in needs and importlib.util.find_spec(needs[name]) is None:
            continue
        assert getattr(cnncalc, name) is not None, name
    assert set(cnncalc.__all__) <= set(dir(cnncalc))
    assert cnncalc.Architecture is importlib.import_module("cnncalc.core.schema").Architecture
    assert cnncalc.zoo.zoo_names() == cnncalc.zoo_names()  # a module, imported on first use
    with pytest.raises(AttributeError, match="no_such_thing"):
        cnncalc.no_such_thing  # noqa: B018


def test_the_cli_output_is_the_api_output() -> None:
    """Built lazily, the command prints what the API computes (the same analysis)."""
    code = (f"import sys; from cnncalc.cli import main; "
            f"sys.exit(main(['analyze', 'resnet50', {BIND}, '--format', 'json']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    d = json.loads(out)
    an = cnncalc.analyze("resnet50", {"N": 1, "H": 224, "W": 224})
    assert d["totals"] == json.loads(json.dumps(an.to_dict()["totals"]))
    assert d["totals"]["params"] == 25557032


def test_the_lazy_module_imports_on_first_use() -> None:
    """cnncalc.algebra.lazy: nothing imported until an attribute is read; then the real
    module's attributes (and introspection of special names imports nothing)."""
    code = ("from cnncalc.algebra.lazy import LazyModule\nimport sys\n"
            "m = LazyModule('colorsys')\n"
            "assert 'colorsys' not in sys.modules and not m.loaded()\n"
            "assert not hasattr(m, '__wrapped__') and 'colorsys' not in sys.modules\n"
            "assert m.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)\n"
            "import colorsys\nassert m.loaded() and m.hsv_to_rgb is colorsys.hsv_to_rgb\n"
            "try:\n    m.no_such_name\nexcept AttributeError:\n    pass\n"
            "else:\n    raise AssertionError('no AttributeError')\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("argv", [["--help"], ["-h", "analyze"]])
def test_the_top_level_help_lists_every_command(argv: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from cnncalc.cli import main
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 0
    out = capsys.readouterr().out
    for name, (_, help_) in COMMANDS.items():
        assert f"    {name} " in out, name
        assert help_.split()[0] in out
