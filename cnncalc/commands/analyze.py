"""``cnncalc analyze ARCH [--bind NAME=VALUE ...] [--format ...] [--columns ...] [--depth D]
[--units [si|iec]] [--profile PROFILE.json] [--convention NAME]``; ``cnncalc analyze
--from-torch PKG.MODULE:FACTORY [--kwargs JSON] [--input SIZES] ...`` analyses a PyTorch model
imported on the fly."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.load import analyze
from ..report import conventions
from ..report.tables import ALL_COLUMNS, render
from ..report.tables import FORMATS as TABLE_FORMATS
from .common import add_bindings, add_convention, add_units
from .import_ import add_torch_source, torch_architecture

NAME = "analyze"
HELP = "analyse an architecture (JSON file or zoo name)"
FORMATS = (*TABLE_FORMATS, "json")


def add_table_options(p: argparse.ArgumentParser) -> None:
    """``--columns``, ``--depth`` and ``--units`` (shared with other table commands)."""
    p.add_argument("--columns", "-c", metavar="LIST",
                   help="comma-separated columns, from: " + ", ".join(ALL_COLUMNS)
                   + " (and time, with --profile)")
    p.add_argument("--depth", "-d", type=int, metavar="D",
                   help="one row per group of layers sharing the first D parts of their "
                        "dotted names (summed)")
    add_units(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", nargs="?", help="a JSON file or a zoo model name (see `cnncalc zoo`); "
                   "omitted with --from-torch")
    p.add_argument("--from-torch", metavar="PKG.MODULE:FACTORY",
                   help="import the PyTorch model this factory builds (as `cnncalc import torch` "
                        "does) and analyse it")
    add_torch_source(p)
    p.set_defaults(_parser=p)
    add_bindings(p)
    p.add_argument("--format", "-f", choices=FORMATS, default="table",
                   help="output format (default: table; json is the full analysis)")
    add_table_options(p)
    p.add_argument("--profile", "-p", metavar="PROFILE.json",
                   help="add the time a device profile (from `cnncalc calibrate`) predicts, per "
                        "layer and in total (every size must be bound)")
    add_convention(p)


def with_times(d: dict[str, Any], times: dict[str, float], device: str) -> dict[str, Any]:
    """The output JSON with ``predicted_time_ms`` per layer and in the totals, and the
    profile's device (a compatible extension: new keys only)."""
    for layer in d["layers"]:
        layer["predicted_time_ms"] = times.get(layer["name"])
    d["totals"]["predicted_time_ms"] = sum(times.values())
    d["profile"] = {"device": device}
    return d


def run(args: argparse.Namespace) -> int:
    if (args.arch is None) == (args.from_torch is None):  # a usage error, as argparse's
        args._parser.error("give an architecture (a JSON file or zoo name) or --from-torch "
                           "PKG.MODULE:FACTORY, not both")
    arch = args.arch if args.from_torch is None else torch_architecture(args, args.from_torch)
    an = conventions.apply(analyze(arch, dict(args.bind)), args.convention)
    times = None
    if args.profile:
        from ..cost import load_profile, predicted_ms
        profile = load_profile(args.profile)
        times = predicted_ms(an, profile)
    if args.format == "json":
        d = an.to_dict()
        if times is not None:
            d = with_times(d, times, profile.meta.get("device_name", profile.device))
        print(json.dumps(d, indent=2))
    else:
        sys.stdout.write(render(an, args.format, columns=args.columns, depth=args.depth,
                                units=args.units or False, times=times))
    return 0
