"""The core wing: from architecture JSON to an :class:`~cnncalc.core.analysis.Analysis`.

Modules in import order (each imports only those above it, :mod:`cnncalc.algebra`,
:mod:`cnncalc.layers` and the foundation)::

    dtypes, bindings, parse     bytes per dtype; binding checks; JSON text and errors
    schema                      the architecture JSON as pydantic models (docs/schema.md)
    graph, apply                blocks and repeats expanded; one layer's rules under budget
    constraints/                conditions on the free symbols, solved and put in words
    results, analysis           what is said per layer and in total; the Analysis
    engine                      walks the graph, applies the layers, builds the Analysis
    load                        load() and analyze(), the entry points

The two things the core needs from above, the table renderer and the zoo's names, are
installed by :mod:`cnncalc` (see :func:`~cnncalc.core.analysis.set_table_renderer` and
:func:`~cnncalc.core.load.set_catalog`).
"""
