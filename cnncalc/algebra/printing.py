"""Formulas as text in the grammar cnncalc reads (:mod:`cnncalc.algebra.expr`).

Every formula cnncalc prints (JSON, tables, CLI, HTTP) goes through :func:`pretty`, so a client
can parse it back (``cnncalc.compile_expr``, or any evaluator of that grammar) and get the same
value at every valid binding. The text is sympy's own ``str()`` layout (``floor(H/2) + 1``,
``64*N*ceil(H/4)``) with the grammar's words: ``ceil``, ``min``, ``max``, ``%``.

Division is what makes this more than renaming. In the grammar ``floor(a/b)`` and ``ceil(a/b)``
round, and every other ``/`` divides exactly (a remainder is refused): so a floor prints its
argument as one fraction (sympy's ``floor(H/4 + 1/4)`` is ``floor((H + 1)/4)``), and a sum with
several fractional terms prints over one denominator (``H/2 + W/2`` is ``(H + W)/2``): a sum
can be an integer while its terms are not. A value that is not an integer at a binding (a
receptive-field stride after an adaptive pool can be ``32/3``) is refused by the grammar there:
it has no rational numbers. LaTeX output keeps sympy's printer (:func:`sympy.latex`).
"""

# ruff: noqa: N802  (sympy's printer dispatches on _print_<class name>)
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sympy
else:
    from .lazy import sympy  # an int prints without sympy


def pretty(e: int | sympy.Basic) -> str:
    """The text of a value in the expression grammar (an int as its digits)."""
    if isinstance(e, int):
        return str(e)
    return _text(e)


@functools.lru_cache(maxsize=65536)
def _text(e: sympy.Basic) -> str:
    return _printer_class()().doprint(e)


def _has_den(e: sympy.Basic) -> bool:
    """A fraction outside any function of ``e``: a rational that is not an integer, or a
    negative power (floor, ceiling, min, max and Mod are integers: their insides don't count)."""
    if isinstance(e, sympy.Rational):
        return e.q != 1
    if e.is_Pow:
        return bool(e.args[1].is_negative) or _has_den(e.args[0])
    if e.is_Add or e.is_Mul:
        return any(_has_den(a) for a in e.args)
    return False


@functools.cache
def _printer_class() -> Any:
    """The printer class, made on first use (it subclasses sympy's, imported then)."""
    from sympy.printing.precedence import PRECEDENCE
    from sympy.printing.str import StrPrinter

    class _Printer(StrPrinter):
        """sympy's ``str()`` printer, speaking the expression grammar."""

        def _fraction(self, e: sympy.Expr) -> str:
            """``e`` as one ``numerator/denominator`` (exact when ``e`` is an integer)."""
            num, den = sympy.fraction(sympy.together(e))
            for _ in range(3):  # together() may cancel a factor and distribute: (H*S - ...)/(2*S)
                if den != 1 or not _has_den(num):
                    break
                num, den = sympy.fraction(sympy.together(num))
            if den == 1:
                return self._print(num)
            # as Python reads a/b: the numerator in brackets below a product, the denominator
            # from a product on (H/(2*S))
            return (f"{self.parenthesize(num, PRECEDENCE['Mul'], strict=True)}/"
                    f"{self.parenthesize(den, PRECEDENCE['Mul'])}")

        def _print_Add(self, expr: sympy.Add, order: object = None) -> str:
            # One fractional term is exact exactly when the sum is; two or more go over one
            # denominator (H/2 + W/2 is an integer for odd H and W).
            if sum(1 for t in expr.args if _has_den(t)) >= 2:
                return self._fraction(expr)
            return super()._print_Add(expr, order=order)

        def _print_Mul(self, expr: sympy.Mul) -> str:
            # A factor that is a sum with fractions, (H/2 + 1/2)*W: one fraction for the product.
            if any(_has_den(f) for f in expr.args if f.is_Add or (f.is_Pow and f.args[0].is_Add)):
                return self._fraction(expr)
            return super()._print_Mul(expr)

        def _rounding(self, name: str, arg: sympy.Expr) -> str:
            # floor(a/b) rounds only when the division is the whole argument.
            return f"{name}({self._fraction(arg)})"

        def _print_floor(self, expr: sympy.floor) -> str:
            return self._rounding("floor", expr.args[0])

        def _print_ceiling(self, expr: sympy.ceiling) -> str:
            return self._rounding("ceil", expr.args[0])

        def _print_Max(self, expr: sympy.Max) -> str:
            return f"max({self.stringify(expr.args, ', ')})"

        def _print_Min(self, expr: sympy.Min) -> str:
            return f"min({self.stringify(expr.args, ', ')})"

        def _print_Mod(self, expr: sympy.Mod) -> str:
            a, b = expr.args
            return (f"{self.parenthesize(a, PRECEDENCE['Mul'], strict=True)} % "
                    f"{self.parenthesize(b, PRECEDENCE['Mul'])}")

    return _Printer
