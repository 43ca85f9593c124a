"""Read cnncalc's constraint lines back, independently of cnncalc: a whitelist over ``ast``.

A line is a disjunction (`` or ``) of conjunctions (`` and ``) of atoms, optionally followed by
``(layer: why)``. An atom is a comparison (chains included: ``2 <= K <= 3``), ``X mod m == r``,
``X mod m in {r, ...}``, ``X in {v, ...}`` or ``S: any value``; ``X`` is a formula in the
expression grammar (``floor``, ``ceil``, ``min``, ``max``, ``//``, ``%``, ``/`` exact).
Values are exact (``Fraction``), so nothing is rounded on the way.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

_FUNCS: dict[str, Callable[..., Any]] = {"floor": math.floor, "ceil": math.ceil, "min": min,
                                         "max": max}
_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.GtE: lambda a, b: a >= b, ast.LtE: lambda a, b: a <= b, ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b, ast.Gt: lambda a, b: a > b, ast.Lt: lambda a, b: a < b}
_REASON = re.compile(r"\s\([A-Za-z0-9_.\-]+: .*\)$")  # "(layer: why)" at the end

# The forms of a constraint solved for one symbol (what tests of exact constraints expect).
SOLVED = [re.compile(p) for p in (r"^\w+ >= \d+$", r"^\w+ <= \d+$", r"^\d+ <= \w+ <= \d+$",
                                  r"^\w+ mod \d+ == \d+$", r"^\w+ mod \d+ in \{[\d, ]+\}$",
                                  r"^\w+ in \{[\d, ]+\}$")]


def value(node: ast.AST, env: dict[str, int]) -> Fraction:
    """Exact value of a formula's syntax tree under ``env``."""
    if isinstance(node, ast.Expression):
        return value(node.body, env)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.Name):
        return Fraction(env[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -value(node.operand, env)
    if isinstance(node, ast.BinOp):
        a, b = value(node.left, env), value(node.right, env)
        op = node.op
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.Div):
            return a / b
        if isinstance(op, ast.FloorDiv):
            return Fraction(a // b)
        if isinstance(op, ast.Mod):
            return a % b
        if isinstance(op, ast.Pow) and b.denominator == 1 and 0 <= b <= 8:
            return a ** int(b)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
        return Fraction(_FUNCS[node.func.id](*(value(a, env) for a in node.args)))
    raise ValueError(ast.dump(node))


def formula(text: str, env: dict[str, int]) -> Fraction:
    return value(ast.parse(text.strip(), mode="eval"), env)


def atom_holds(t: str, env: dict[str, int]) -> bool:
    """One atom; ValueError/KeyError/SyntaxError when it is not in a known form."""
    if t.endswith(": any value"):
        return True
    if m := re.fullmatch(r"(.+?) mod (\d+) == (\d+)", t):
        return formula(m[1], env) % int(m[2]) == int(m[3])
    if m := re.fullmatch(r"(.+?) mod (\d+) in \{([\d, ]+)\}", t):
        return formula(m[1], env) % int(m[2]) in {int(x) for x in m[3].split(",")}
    if m := re.fullmatch(r"(.+?) in \{([\d, ]+)\}", t):
        return formula(m[1], env) in {int(x) for x in m[2].split(",")}
    tree = ast.parse(t.strip(), mode="eval").body
    if not isinstance(tree, ast.Compare):
        raise ValueError(f"not a comparison: {t!r}")
    left = value(tree.left, env)
    for op, right_node in zip(tree.ops, tree.comparators, strict=True):
        right = value(right_node, env)
        if type(op) not in _CMP:
            raise ValueError(f"unknown comparison in {t!r}")
        if not _CMP[type(op)](left, right):
            return False
        left = right
    return True


def holds(text: str, env: dict[str, int]) -> bool | None:
    """Whether a constraint line holds under ``env``; None when it cannot be read. A divisor
    of 0 somewhere makes the line undefined there: not satisfied."""
    t = _REASON.sub("", text).strip()
    try:
        return any(all(atom_holds(a, env) for a in alt.split(" and "))
                   for alt in t.split(" or "))
    except ZeroDivisionError:
        return False
    except (ValueError, KeyError, SyntaxError, TypeError):
        return None


def is_solved(text: str) -> bool:
    """Whether every atom of a line is in a solved one-symbol form (:data:`SOLVED`)."""
    t = _REASON.sub("", text).strip()
    return all(any(rx.match(a) for rx in SOLVED)
               for alt in t.split(" or ") for a in alt.split(" and "))
