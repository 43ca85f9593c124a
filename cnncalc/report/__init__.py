"""The report wing: design tables, sweeps, side-by-side comparisons and plots, all built on an
:class:`~cnncalc.core.analysis.Analysis`."""
