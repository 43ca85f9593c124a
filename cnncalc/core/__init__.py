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

The things the core needs from above, the table renderer, the explainer and the zoo's names,
are named in :mod:`cnncalc.hooks` and installed by :mod:`cnncalc.core.load` (see
:func:`~cnncalc.core.analysis.set_table_renderer` and :func:`~cnncalc.core.load.set_catalog`);
each imports its module on the first call.
"""
