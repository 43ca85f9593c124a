"""Sub-commands of the ``cnncalc`` console script, one module each.

A command module defines ``NAME`` (the sub-command), ``HELP`` (one line), ``add_arguments(p)``
to declare its arguments, and ``run(args) -> int`` (the exit code). ``cli.py`` registers every
module named in ``COMMANDS``; errors of type CnnCalcError are printed by ``cli.py``
as one line with exit code 2.
"""

COMMANDS = ("analyze", "explain", "zoo", "schema", "validate", "sweep", "compare", "plot",
            "calibrate", "cost", "import_")
