"""Explain mode as text, Markdown or LaTeX: each layer's formulas, first in names, then with
the layer's values, then the result; and one line per quantity saying what it counts.

:func:`explain` is what :meth:`cnncalc.Analysis.explain` calls (:mod:`cnncalc` installs it);
:func:`render` writes an :class:`~cnncalc.core.explain.Explanation` that
:func:`cnncalc.core.explain.explain` made.
"""

from __future__ import annotations

import re

from ..core.analysis import Analysis
from ..core.bindings import format_bindings
from ..core.explain import Explanation, LayerExplanation, set_renderer
from ..core.explain import explain as explanation
from ..errors import CnnCalcError
from ..layers.explain import Step
from .formats import escape_latex, latex_shape, text_shape

FORMATS = ("text", "markdown", "latex")
"""The formats of :func:`render`."""


def explain(an: Analysis, layer: str | None = None, fmt: str = "text") -> str:
    """The working of ``an`` (or of one layer or block) in ``fmt``."""
    check_format(fmt)
    return render(explanation(an, layer), fmt)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise CnnCalcError(f"unknown explain format {fmt!r}; one of {', '.join(FORMATS)}",
                           kind="input")


def render(ex: Explanation, fmt: str = "text") -> str:
    """``ex`` as ``text``, ``markdown`` or ``latex`` (one string ending in a newline)."""
    check_format(fmt)
    return {"text": _text, "markdown": _markdown, "latex": _latex}[fmt](ex)


set_renderer(render)  # Explanation._repr_markdown_ (notebooks)


def _shapes(lx: LayerExplanation) -> str:
    ins = ", ".join(text_shape(s) for s in lx.input_shapes)
    return f"{ins} -> {text_shape(lx.output_shape)}" if ins else text_shape(lx.output_shape)


def _name(ex: Explanation) -> str:
    """The network's name on one line (a name is free text)."""
    return " ".join(ex.name.split())


def _title(ex: Explanation) -> str:
    out = f"{_name(ex)}  input {text_shape(ex.input_shape)}"
    if ex.bindings:
        out += f"  bindings {format_bindings(ex.bindings)}"
    return out


def _note(s: Step) -> str:
    return f" ({s.note})" if s.note else ""


# --- text ---------------------------------------------------------------------------------------

def _text(ex: Explanation) -> str:
    width = max((len(s.label) for lx in ex.layers for s in lx.steps), default=0)
    out = [_title(ex)]
    for lx in ex.layers:
        out += ["", f"{lx.name} ({lx.type}): {_shapes(lx)}"]
        out += [f"  {s.label:<{width}}  {s.line()}{_note(s)}" for s in lx.steps]
    out += ["", "conventions"]
    out += [f"  {q}: {c}" for q, c in ex.conventions().items()]
    return "\n".join(out) + "\n"


# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*|<>\[\]_#])")


def _md(s: str) -> str:
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), s)


def _code(s: str) -> str:
    return f"`{s}`" if s else ""


def _markdown(ex: Explanation) -> str:
    head = f"input {_code(text_shape(ex.input_shape))}"
    if ex.bindings:
        head += f", bindings {_code(format_bindings(ex.bindings))}"
    out = [f"# {_md(_name(ex))}", "", head]
    for lx in ex.layers:
        out += ["", f"## {_md(lx.name)} ({_md(lx.type)})", "", _code(_shapes(lx)), "",
                "| quantity | formula | with the values | result |",
                "|:---------|:--------|:----------------|-------:|"]
        for s in lx.steps:
            sub = s.substituted()
            sub = "" if sub == s.result_text() else sub
            out.append(f"| {_md(s.label)} | {_code(s.textbook())} | {_code(sub)} | "
                       f"{_code(s.result_text())}{_md(_note(s))} |")
    out += ["", "**Conventions**", ""]
    out += [f"- **{_md(q)}**: {_md(c)}" for q, c in ex.conventions().items()]
    return "\n".join(out) + "\n"


# --- LaTeX --------------------------------------------------------------------------------------

def _latex_step(s: Step) -> str:
    label = r"\text{" + escape_latex(s.label) + "}"
    note = r" \quad \text{(" + escape_latex(s.note) + ")}" if s.note else ""
    return f"{label} &: \\quad {s.line('latex')}{note}"


def _latex(ex: Explanation) -> str:
    head = f"Input {latex_shape(ex.input_shape)}"
    if ex.bindings:
        head += "; bindings " + ", ".join(r"\texttt{" + escape_latex(k) + "} = " + str(v)
                                          for k, v in ex.bindings.items())
    out = [r"\section*{" + escape_latex(_name(ex)) + "}", head + "."]
    for lx in ex.layers:
        ins = [latex_shape(s) for s in lx.input_shapes]
        shapes = (", ".join(ins) + r" $\to$ " if ins else "") + latex_shape(lx.output_shape)
        out += ["", r"\subsection*{\texttt{" + escape_latex(lx.name) + "} ("
                + escape_latex(lx.type) + ")}", shapes, r"\begin{align*}"]
        lines = [_latex_step(s) for s in lx.steps]
        out += [f"  {line} \\\\" for line in lines[:-1]] + [f"  {line}" for line in lines[-1:]]
        out.append(r"\end{align*}")
    out += ["", r"\paragraph{Conventions}", r"\begin{itemize}"]
    out += [r"  \item \textbf{" + escape_latex(q) + "}: " + escape_latex(c)
            for q, c in ex.conventions().items()]
    out.append(r"\end{itemize}")
    return "\n".join(out) + "\n"


__all__ = ["FORMATS", "check_format", "explain", "render"]
