"""Safe expression strings: a whitelist over Python's ``ast``, never ``eval`` or ``sympify``.

Grammar: integers, names (each a positive-integer size symbol), ``+ - * / // %``, ``**`` with a
small literal exponent, parentheses, and calls to ``floor``, ``ceil``, ``min``, ``max``.
``floor(a/b)`` and ``ceil(a/b)`` round; every other ``/`` must divide exactly. Anything else is
refused with a :class:`CnnCalcError` before any evaluation. Limits keep the work bounded: text
length, nesting depth, node count, literal size, exponent size. Every formula cnncalc prints is
in this grammar (:mod:`cnncalc.algebra.printing`); :func:`compile_formula` reads one back under
limits sized for cnncalc's own output (a network's total can be thousands of characters).

An expression compiles once (cached by its text) into a closure that evaluates under an
environment mapping names to values; with ints for every name it returns an int and does no
sympy work.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from ..envvars import limit as _env_limit
from ..errors import CnnCalcError
from .arith import Value, ceildiv, floordiv, is_num, mod, norm, sym, vmax, vmin
from .bounds import MAX_SYMBOLIC_LOG10

if TYPE_CHECKING:
    import sympy
else:
    from .lazy import sympy  # ints need no sympy

MAX_LENGTH = _env_limit("CNNCALC_MAX_EXPR_LENGTH", 256, 1, 100_000)
MAX_DEPTH = _env_limit("CNNCALC_MAX_EXPR_DEPTH", 16, 1, 100)
MAX_NODES = 128
MAX_LITERAL = 10**12
MAX_EXPONENT = 8
MAX_MAGNITUDE = 10**30
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
FUNCTIONS = ("floor", "ceil", "min", "max")
RESERVED = set(FUNCTIONS) | {"input", "same", "valid"}

Env = Mapping[str, Value]
Compiled = Callable[[Env], Value]


class Limits(NamedTuple):
    """The bounds one compilation works under."""

    length: int     # characters of text
    depth: int      # nested brackets
    nodes: int      # operations
    literal: int    # largest integer literal
    magnitude: int  # largest value computed


FORMULA_LIMITS = Limits(length=100_000, depth=100, nodes=100_000,
                        literal=10**MAX_SYMBOLIC_LOG10, magnitude=10**MAX_SYMBOLIC_LOG10)
"""Limits of :func:`compile_formula`: room for any formula cnncalc prints (a per-layer formula
stays below ``10**MAX_SYMBOLIC_LOG10`` at every allowed binding)."""


def _user_limits() -> Limits:
    """Limits of :func:`compile_expr` (read when called, so settings made later hold)."""
    return Limits(MAX_LENGTH, MAX_DEPTH, MAX_NODES, MAX_LITERAL, MAX_MAGNITUDE)


class Expression:
    """A compiled expression: its text, the names it uses, and an evaluator."""

    __slots__ = ("text", "names", "_fn")

    def __init__(self, text: str, names: frozenset[str], fn: Compiled) -> None:
        self.text = text
        self.names = names
        self._fn = fn

    def __call__(self, env: Env) -> Value:
        """Evaluate; a name missing from ``env`` becomes a free symbol."""
        return self._fn(env)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def describe_char(ch: str) -> str:
    """A character as ``U+00E9 ('\u00e9')``; a lone surrogate (not printable, not encodable) only as
    its code point."""
    code = f"U+{ord(ch):04X}"
    if 0xD800 <= ord(ch) <= 0xDFFF:
        return f"{code} (a lone surrogate, not valid Unicode text)"
    return f"{code} ({ch!r})" if ch.isprintable() else code


def first_non_ascii(text: str) -> str | None:
    """The first character of ``text`` outside ASCII, described by :func:`describe_char`."""
    if text.isascii():
        return None
    return describe_char(next(ch for ch in text if not ch.isascii()))


def _fail(text: str, why: str) -> CnnCalcError:
    return CnnCalcError(f"expression {text!r}: {why}", kind="expression")


def compile_expr(text: str) -> Expression:
    """Parse and check ``text`` against the whitelist; raise CnnCalcError if it is refused."""
    if not isinstance(text, str):
        raise CnnCalcError(f"expected an expression string, got {type(text).__name__}",
                           kind="expression")
    return _compile_text(text)


def compile_formula(text: str) -> Expression:
    """Like :func:`compile_expr`, for a formula cnncalc printed (:data:`FORMULA_LIMITS`): the
    same grammar, room for a network's totals."""
    if not isinstance(text, str):
        raise CnnCalcError(f"expected an expression string, got {type(text).__name__}",
                           kind="expression")
    return _compile_limited(text, FORMULA_LIMITS)


def _compile_text(text: str) -> Expression:
    return _compile_limited(text, _user_limits())


@functools.lru_cache(maxsize=8192)
def _compile_limited(text: str, lim: Limits) -> Expression:
    bad = first_non_ascii(text)
    if bad is not None:
        # Python's parser NFKC-normalises identifiers (U+210C is H, fullwidth "max" is max):
        # only ASCII is ever parsed, so what is read is what is written.
        raise _fail(text[:60],
                    f"contains the non-ASCII character {bad}; expressions are ASCII: "
                    "integers, size names of letters, digits and _, + - * / // % **, "
                    "brackets and floor/ceil/min/max")
    if len(text) > lim.length:
        raise _fail(text[:40] + "...", f"longer than {lim.length} characters")
    if not text.strip():
        raise _fail(text, "empty expression")
    # Bound the nesting before the parser sees it (CPython's parser recurses on brackets).
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > lim.depth:
                raise _fail(text[:40], f"nested deeper than {lim.depth} brackets")
        elif ch in ")]}":
            depth -= 1
    if any(ch in text for ch in "'\"\\;\n\r\t`@$"):
        raise _fail(text, "only integers, size names, + - * / // % **, brackets and "
                          "floor/ceil/min/max are allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _fail(text, "not a valid arithmetic expression") from None
    c = _Compiler(text, lim)
    fn = c.compile(tree.body, 0)
    return Expression(text, frozenset(c.names), fn)


def _power_text(n: int) -> str:
    """A limit as written: its digits, or ``10**k`` for a large power of ten."""
    k = len(str(n)) - 1
    return f"10**{k}" if n == 10**k and k > 12 else str(n)


def _positive_divisor(text: str, b: Value) -> None:
    if is_num(b) and b <= 0:
        raise _fail(text, "division by zero or by a negative number")


def _power(v: Value, k: int) -> Value:
    """``v ** k`` for a literal ``k >= 0``."""
    if is_num(v):
        out: int = v**k
        return out
    return norm(v**k)


class _Compiler:
    """Compiles one parsed text under its limits, counting operations and collecting names."""

    def __init__(self, text: str, lim: Limits) -> None:
        self.text = text
        self.lim = lim
        self.count = 0
        self.names: set[str] = set()

    def checked(self, v: Value) -> Value:
        if is_num(v) and abs(v) > self.lim.magnitude:
            raise _fail(self.text, f"a value exceeds {_power_text(self.lim.magnitude)}; sizes "
                                   "must be reasonable integers")
        return v

    def compile(self, node: ast.AST, depth: int) -> Compiled:
        text = self.text
        self.count += 1
        if self.count > self.lim.nodes:
            raise _fail(text, f"more than {self.lim.nodes} operations")
        if depth > 2 * self.lim.depth:
            raise _fail(text, "nested too deeply")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int):
                raise _fail(text, f"only integer literals are allowed, not {v!r}")
            if v > self.lim.literal:
                raise _fail(text, f"integer literal larger than {_power_text(self.lim.literal)}")
            const: int = v

            def literal(env: Env) -> Value:
                return const
            return literal
        if isinstance(node, ast.Name):
            name = node.id
            if not NAME_RE.match(name) or name in RESERVED or "__" in name:
                raise _fail(text, f"{name!r} is not allowed as a size name")
            self.names.add(name)

            def lookup(env: Env) -> Value:
                v = env.get(name)
                return sym(name) if v is None else v  # sym is cached: made once per name
            return lookup
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self.compile(node.operand, depth + 1)
            if isinstance(node.op, ast.USub):
                return lambda env: norm(-inner(env))
            return inner
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise _fail(text, f"{type(node).__name__} is not allowed; only integers, size names, "
                          "+ - * / // % **, brackets and floor/ceil/min/max")

    def call(self, node: ast.Call, depth: int) -> Compiled:
        text = self.text
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise _fail(text, "only floor, ceil, min and max may be called")
        if node.keywords:
            raise _fail(text, "keyword arguments are not allowed")
        fname = node.func.id
        args = [self.compile(a, depth + 1) for a in node.args]
        if fname in ("floor", "ceil"):
            if len(args) != 1:
                raise _fail(text, f"{fname} takes one argument")
            return self.floor_ceil(node.args[0], fname, depth)
        if len(args) < 2:
            raise _fail(text, f"{fname} takes at least two arguments")
        combine = vmin if fname == "min" else vmax
        return lambda env: combine(*(a(env) for a in args))

    def floor_ceil(self, arg: ast.AST, fname: str, depth: int) -> Compiled:
        """floor(a / b) and ceil(a / b) become exact integer divisions; floor(x) of an integer
        is x."""
        if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Div):
            text = self.text
            num = self.compile(arg.left, depth + 1)
            den = self.compile(arg.right, depth + 1)
            op = floordiv if fname == "floor" else ceildiv

            def div(env: Env) -> Value:
                b = den(env)
                _positive_divisor(text, b)
                return op(num(env), b)
            return div
        return self.compile(arg, depth + 1)

    def binop(self, node: ast.BinOp, depth: int) -> Compiled:
        text, checked = self.text, self.checked
        left = self.compile(node.left, depth + 1)
        op = node.op
        if isinstance(op, ast.Pow):
            if isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Pow):
                raise _fail(text, "powers of powers are not allowed")
            e = node.right
            k = e.value if isinstance(e, ast.Constant) else None
            if not (isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= MAX_EXPONENT):
                raise _fail(text, f"an exponent must be a literal integer from 0 to "
                                  f"{MAX_EXPONENT}")
            exponent: int = k
            return lambda env: checked(_power(left(env), exponent))
        right = self.compile(node.right, depth + 1)
        if isinstance(op, ast.Add):
            return lambda env: checked(norm(left(env) + right(env)))
        if isinstance(op, ast.Sub):
            return lambda env: checked(norm(left(env) - right(env)))
        if isinstance(op, ast.Mult):
            return lambda env: checked(norm(left(env) * right(env)))
        if isinstance(op, ast.FloorDiv):
            def fdiv(env: Env) -> Value:
                b = right(env)
                _positive_divisor(text, b)
                return floordiv(left(env), b)
            return fdiv
        if isinstance(op, ast.Mod):
            def fmod(env: Env) -> Value:
                b = right(env)
                _positive_divisor(text, b)
                return mod(left(env), b)
            return fmod
        if isinstance(op, ast.Div):
            def tdiv(env: Env) -> Value:
                a, b = left(env), right(env)
                _positive_divisor(text, b)
                if is_num(a) and is_num(b):
                    if a % b:
                        raise _fail(text, f"{a}/{b} is not an integer; use // or floor()/ceil()")
                    return a // b
                return norm(sympy.sympify(a) / b)
            return tdiv
        raise _fail(text, f"operator {type(op).__name__} is not allowed")


def evaluate(value: int | str, env: Env) -> Value:
    """An integer field's value (int or expression string) under ``env``."""
    if is_num(value):
        return value
    return compile_expr(value)(env)


def names_in(value: int | str) -> frozenset[str]:
    """Names an integer field uses (empty for a plain int)."""
    if isinstance(value, str):
        return compile_expr(value).names
    return frozenset()
