"""The algebra wing: exact arithmetic on sizes that are ints or sympy expressions.

``arith`` (the helpers layer rules are written with), ``budget`` (a bound on symbolic work),
``bounds`` (digit bounds of results), ``expr`` (the expression grammar users write),
``printing`` (formulas printed in that grammar), ``nodes`` and ``compile`` (exact integer
evaluation of results, scalar or over arrays of bindings).

It knows nothing of layers or networks; every other wing builds on it."""
