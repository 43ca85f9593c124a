"""The evaluation context of one layer instance (:class:`Ctx`) and what it decides.

``Ctx`` turns a layer's integer fields into values under the bindings, and checks them: a rule
that fails on numbers is an error naming the layer; one that the free sizes decide is recorded
as a :class:`~cnncalc.layers.tensor.Note` (a constraint, docs/output.md). Expression fields are
also checked for what makes their bound evaluation succeed at every binding: exact divisions,
positive divisors, intermediate values within 10**30.
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..algebra.arith import (
    Value,
    _int_valued,
    floordiv,
    is_num,
    norm,
    ratio,
    same,
)
from ..algebra.expr import MAX_MAGNITUDE, compile_expr, evaluate
from ..algebra.printing import pretty
from ..errors import CnnCalcError
from .fields import Axes
from .tensor import ConditionKind, Note

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # imported on first symbolic use


def decide_ge(lhs: Value, rhs: Value) -> bool | None:
    """Decide ``lhs >= rhs`` for every positive-integer value of the symbols: True, False, or
    None when it depends on them. Cheap: numbers, or a polynomial whose non-constant terms have
    positive coefficients (each monomial is then at least 1)."""
    if type(lhs) is int and type(rhs) is int:  # the bound analysis: no sympy
        return lhs >= rhs
    if is_num(lhs) and is_num(rhs):
        return lhs >= rhs
    d = sympy.expand(sympy.sympify(lhs) - rhs)
    if d.is_Number:
        return bool(d >= 0)
    low: Value = 0
    for term in sympy.Add.make_args(d):
        coeff, rest = term.as_coeff_Mul()
        if rest == 1:
            low += coeff
            continue
        if coeff <= 0 or not all(f.is_Symbol or (f.is_Pow and f.base.is_Symbol
                                                 and f.exp.is_Integer and f.exp > 0)
                                 for f in sympy.Mul.make_args(rest)):
            return None
        low += coeff
    return True if low >= 0 else None


@functools.lru_cache(maxsize=4096)
def _divisions(text: str) -> tuple[tuple[str, str, bool], ...]:
    """(numerator text, divisor text, must be exact) for every division in an expression that
    :func:`cnncalc.algebra.expr.compile_expr` accepted: ``/`` must divide exactly, except directly
    under ``floor``/``ceil``; ``//``, ``%`` and those only need a positive divisor."""
    src = text.strip()
    raw = src.encode()
    tree = ast.parse(src, mode="eval")

    def part(n: ast.expr) -> str:
        return raw[n.col_offset:n.end_col_offset].decode()

    out: list[tuple[str, str, bool]] = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("floor", "ceil") and len(node.args) == 1 \
                and isinstance(node.args[0], ast.BinOp) and isinstance(node.args[0].op, ast.Div):
            div = node.args[0]
            out.append((part(div.left), part(div.right), False))
            walk(div.left)
            walk(div.right)
            return
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            out.append((part(node.left), part(node.right), isinstance(node.op, ast.Div)))
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree.body)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _arithmetic(text: str) -> tuple[str, ...]:
    """Texts of the ``+ - * **`` sub-expressions of an accepted expression (each result is
    checked against 10**30 by the evaluator)."""
    src = text.strip()
    raw = src.encode()
    return tuple(dict.fromkeys(
        raw[n.col_offset:n.end_col_offset].decode() for n in ast.walk(ast.parse(src, mode="eval"))
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub, ast.Mult, ast.Pow))))


def _abs_bound(e: sympy.Expr) -> float:
    """An upper bound on ``|e|`` for symbols in 1..10**9 (the bindings' range); inf when
    unknown."""
    if e.is_Number:
        return float(abs(e))
    if e.is_Symbol:
        return 1e9
    if e.is_Add:
        return sum(_abs_bound(a) for a in e.args)
    if e.is_Mul:
        out = 1.0
        for a in e.args:
            out *= _abs_bound(a)
        return out
    if e.is_Pow:
        ex = e.exp
        if ex.is_Integer and ex >= 0:
            return _abs_bound(e.base) ** int(ex)
        return 1.0 if ex.is_negative else math.inf  # 1/x of a size >= 1
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        return _abs_bound(e.args[0]) + 1
    if isinstance(e, (sympy.Max, sympy.Min)):
        return max(_abs_bound(a) for a in e.args)
    return math.inf


class Ctx:
    """Evaluation context of one layer instance: bindings and block arguments, and its name.

    It turns integer fields into values, checks them, and collects the conditions (constraints)
    that the free symbols must satisfy.
    """

    __slots__ = ("env", "index", "input_extent", "name", "notes")

    def __init__(self, env: dict[str, Value], name: str, index: int,
                 input_extent: tuple[Value, ...], notes: list[Note]) -> None:
        self.env = env
        self.name = name
        self.index = index
        self.input_extent = input_extent
        self.notes = notes

    def error(self, msg: str) -> CnnCalcError:
        return CnnCalcError(msg, layer=self.name, index=self.index)

    def val(self, x: int | str, what: str, minimum: int | None = 1) -> Value:
        """An integer field under the bindings; checks the minimum, and that every ``/`` in its
        expression divides exactly, when decidable, and records them as notes otherwise."""
        if type(x) is int:  # a number as written: only its minimum to check
            if minimum is not None and x < minimum:
                raise self.error(f"{what} must be >= {minimum}, got {pretty(x)}")
            return x
        try:
            v = evaluate(x, self.env)
        except CnnCalcError as e:
            raise self.error(f"{what}: {e.message}") from None
        if not is_num(v) and v.is_Number:
            raise self.error(f"{what} must be an integer, got {pretty(v)}")
        if isinstance(x, str) and not is_num(v):
            self.integer(x, v, what)
        if minimum is not None and type(v) is int:  # check_ge on numbers, without its texts
            if v < minimum:
                raise self.error(f"{what} must be >= {minimum}, got {pretty(v)}")
        elif minimum is not None:
            self.check_ge(v, minimum, f"{what} >= {minimum}",
                          lambda: f"{what} must be >= {minimum}, got {pretty(v)}")
        return v

    def integer(self, x: str, v: Value, what: str) -> None:
        """Record what makes expression ``x`` (value ``v``) an integer at every binding, as the
        bound evaluation requires: its divisions (:meth:`exact`) and, for a value that is not
        integer-valued (a block argument ``"K/2"`` reaching this field), ``v`` itself."""
        start = len(self.notes)
        self.exact(x, what)
        self.magnitude(x, what)
        if _int_valued(sympy.expand(v)):
            return
        num, den = sympy.fraction(sympy.together(v))
        note = Note("eq", self.name, self.index, f"{what} = {pretty(v)} must be an integer",
                    norm(floordiv(num, den) * den), norm(num))
        if not any(n.lhs == note.lhs and n.rhs == note.rhs for n in self.notes[start:]):
            self.notes.append(note)

    def exact(self, x: str, what: str) -> None:
        """Record the conditions under which expression ``x`` evaluates without error at every
        binding: each divisor >= 1 and each ``/`` exact (the bound evaluation refuses
        otherwise)."""
        if "/" not in x and "%" not in x:
            return
        names = compile_expr(x).names
        if all(is_num(self.env.get(n)) for n in names):
            return  # every division was checked on numbers
        for num_text, den_text, is_exact in _divisions(x):
            a = evaluate(num_text, self.env)
            b = evaluate(den_text, self.env)
            if is_num(a) and is_num(b):
                continue  # checked when the expression was evaluated
            self.check_ge(b, 1, f"{what}: divisor {pretty(b)} >= 1 in {x!r}",
                          lambda: f"{what}: expression {x!r}: division by zero or by a negative "
                                  "number")
            if is_exact:
                q = floordiv(a, b)
                if same(q * b, a) is not True:
                    self.require("eq", f"{what}: {pretty(b)} divides {pretty(a)} in {x!r}",
                                 norm(q * b), a)

    def magnitude(self, x: str, what: str) -> None:
        """The bound evaluation refuses any intermediate value of ``x`` beyond 10**30: where a
        product of symbols could pass it (bindings go up to 10**9), record that as notes."""
        if "*" not in x or all(is_num(self.env.get(n)) for n in compile_expr(x).names):
            return
        for sub in _arithmetic(x):
            v = evaluate(sub, self.env)
            if not is_num(v) and _abs_bound(v) > MAX_MAGNITUDE:
                self.require("ge", f"{what}: {sub!r} <= 10**30", MAX_MAGNITUDE, v)
                self.require("ge", f"{what}: {sub!r} >= -10**30", v, -MAX_MAGNITUDE)

    def check_ge(self, lhs: Value, rhs: Value, text: str, msg: Callable[[], str]) -> None:
        """The rule ``lhs >= rhs``: an error ``msg()`` when it fails on numbers, a 'ge' note
        (``text`` says what must hold) when the free symbols decide it."""
        ok = decide_ge(lhs, rhs)
        if ok is False:
            raise self.error(msg())
        if ok is None:
            self.require("ge", text, lhs, rhs)

    def axes(self, x: Axes, nd: int, what: str, minimum: int | None = 1) -> tuple[Value, ...]:
        """A per-axis field: one value for all axes, or a list of exactly ``nd`` values."""
        if isinstance(x, list):
            if len(x) != nd:
                raise self.error(f"{what} has {len(x)} values but the input has {nd} spatial "
                                 f"axes; give one value or {nd}")
            return tuple(self.val(v, what, minimum) for v in x)
        v = self.val(x, what, minimum)
        return (v,) * nd

    def require(self, kind: ConditionKind, text: str, lhs: Value, rhs: Value) -> None:
        """Record a condition ``lhs == rhs`` (kind 'eq') or ``lhs >= rhs`` (kind 'ge')."""
        self.notes.append(Note(kind, self.name, self.index, text, lhs, rhs))

    def warn(self, text: str) -> None:
        """Record something worth knowing that is not an error."""
        self.notes.append(Note("warn", self.name, self.index, text, 0, 0))

    def divisible(self, a: Value, b: Value, what: str) -> Value:
        """``a / b`` where ``b`` must divide ``a`` (e.g. channels by groups)."""
        if type(a) is int and type(b) is int:  # is_num, inline: every conv asks
            if a % b:
                raise self.error(f"{what}: {a} is not divisible by {b}")
            return a // b
        q = floordiv(a, b)
        if same(q * b, a) is not True:
            self.require("eq", f"{what}: {pretty(a)} divisible by {pretty(b)}", norm(q * b), a)
        return ratio(a, b)  # symbolic here (a / b of two ints would be a float)
