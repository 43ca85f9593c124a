"""``cnncalc analyze ARCH [--bind NAME=VALUE ...] [--format ...] [--columns ...] [--depth D]
[--units [si|iec]] [--profile PROFILE.json [--threads T]] [--convention NAME]``; ``cnncalc analyze
--from-torch PKG.MODULE:FACTORY [--kwargs JSON] [--input SIZES] ...`` analyses a PyTorch model
imported on the fly."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..core.load import analyze
from ..report import conventions
from ..report.tables import ALL_COLUMNS, table, write
from ..report.tables import FORMATS as TABLE_FORMATS
from .common import add_bindings, add_convention, add_profile, add_units, read_profile
from .import_ import add_torch_source, torch_architecture

if TYPE_CHECKING:
    from ..cost import Prediction

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
    add_profile(p, "add the time a device profile (from `cnncalc calibrate`) predicts, per "
                "layer and in total with its 90%% band")
    add_convention(p)


def with_times(d: dict[str, Any], pred: Prediction, device: str) -> dict[str, Any]:
    """The output JSON with ``predicted_time_ms`` (and its 90 % band,
    ``predicted_time_band_ms``, where the profile has one) per layer and in the totals, and the
    profile's device (a compatible extension: new keys only)."""
    banded = pred.layer_band.n > 0
    for layer, t in zip(d["layers"], pred.layers, strict=True):
        layer["predicted_time_ms"] = 1e3 * t
        if banded:
            layer["predicted_time_band_ms"] = [1e3 * v for v in pred.layer_band.around(t)]
    d["totals"]["predicted_time_ms"] = 1e3 * pred.total
    if banded:
        d["totals"]["predicted_time_band_ms"] = [1e3 * pred.low, 1e3 * pred.high]
    d["profile"] = {"device": device, "notes": list(pred.notes)}
    return d


def time_line(pred: Prediction, device: str) -> str:
    """``predicted time: 12.3 ms (90% band 11.1-13.9 ms) on DEVICE``."""
    band = (f" (90% band {1e3 * pred.low:.3g}-{1e3 * pred.high:.3g} ms: the spread of the "
            "profile's errors on networks it never saw)" if pred.layer_band.n else "")
    return f"predicted time: {1e3 * pred.total:.3g} ms{band} on {device}\n"


def run(args: argparse.Namespace) -> int:
    if (args.arch is None) == (args.from_torch is None):  # a usage error, as argparse's
        args._parser.error("give an architecture (a JSON file or zoo name) or --from-torch "
                           "PKG.MODULE:FACTORY, not both")
    profile = read_profile(args)
    arch = args.arch if args.from_torch is None else torch_architecture(args, args.from_torch)
    an = conventions.apply(analyze(arch, dict(args.bind)), args.convention)
    times = pred = None
    if profile is not None:
        from ..cost import predict_time
        pred = predict_time(an, profile, args.threads)
        for note in pred.notes:
            print(f"note: {note}", file=sys.stderr)
        times = {r.name: 1e3 * t for r, t in zip(an.layers, pred.layers, strict=True)}
        device = str(profile.meta.get("device_name", profile.device))
    if args.format == "json":
        d = an.to_dict()
        if pred is not None:
            d = with_times(d, pred, device)
        print(json.dumps(d, indent=2))
    else:
        t = table(an, args.columns, args.depth, times)
        sys.stdout.write(write(t, args.format, args.units or False))
        if args.format == "csv":  # the CSV has no room for them: on stderr
            for c in t.caveats:
                print(c, file=sys.stderr)
        if pred is not None:
            (sys.stdout if args.format in ("table", "markdown") else sys.stderr).write(
                time_line(pred, device))
    return 0
