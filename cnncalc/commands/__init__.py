"""Sub-commands of the ``cnncalc`` console script, one module each.

A command module defines ``NAME`` (the sub-command), ``HELP`` (one line), ``add_arguments(p)``
to declare its arguments, and ``run(args) -> int`` (the exit code). :data:`COMMANDS` registers
each by name with its module and its one-line help, so that ``cnncalc --help`` lists them and
``cnncalc NAME ...`` imports only that module (a test checks the registry against the
modules); errors of type CnnCalcError are printed by ``cli.py`` as one line with exit code 2.
"""

COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("analyze", "analyse an architecture (JSON file or zoo name)"),
    "explain": ("explain", "show the working: each layer's formulas with its numbers and the "
                           "result"),
    "zoo": ("zoo", "list the reference architectures"),
    "schema": ("schema", "print the JSON Schema of the architecture format"),
    "validate": ("validate", "build in PyTorch, run, and compare predictions with real shapes, "
                             "counts and timing"),
    "sweep": ("sweep", "totals of an architecture over a grid of sizes, one row per "
                       "combination"),
    "compare": ("compare", "architectures side by side: totals and their formulas "
                           "(design-choice tables)"),
    "plot": ("plot", "plot MACs and params per layer, receptive-field growth, or totals "
                     "against a size"),
    "calibrate": ("calibrate", "time single layers and layers inside real networks on a "
                               "device, fit the time models, write a device profile"),
    "cost": ("cost", "score cost measures (params, FLOPs, bytes, alpha-FLOPs, roofline, "
                     "fitted) on timings"),
    "import": ("import_", "an architecture JSON from a PyTorch model (PKG.MODULE:FACTORY) or "
                          "an ONNX file"),
    "batch": ("batch", "totals of every architecture of a JSONL file, one row each (CSV, JSONL "
                       "or Parquet)"),
}
"""Sub-command -> (module in :mod:`cnncalc.commands`, one-line help), in ``--help`` order."""
