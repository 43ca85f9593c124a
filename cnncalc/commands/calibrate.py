"""``cnncalc calibrate --device cpu|cuda -o profile.json``: time a layer sweep, fit, score."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import CnnCalcError
from .common import float_between, int_between

NAME = "calibrate"
HELP = "time a sweep of single layers on a device, fit the time model, write a device profile"


MAX_BUDGET_S = 7 * 24 * 3600.0
MAX_CONFIGS = 100_000
MAX_REPEATS = 1_000
MAX_THREADS = 1_024
MAX_SEED = 2**63 - 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N|auto",
                   help="where to time (default cpu)")
    p.add_argument("-o", "--output", default="profile.json", help="device profile to write")
    p.add_argument("--csv", default=None, help="measurements CSV (appended to; a rerun resumes "
                   "it); default: the profile's name with .csv")
    p.add_argument("--budget", type=float_between(0.0, MAX_BUDGET_S), default=600.0,
                   help="seconds to spend timing this run (default 600, at most a week)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    p.add_argument("--threads", type=int_between(1, MAX_THREADS), default=None,
                   help="CPU threads (torch)")
    p.add_argument("--configs", type=int_between(1, MAX_CONFIGS), default=700,
                   help=f"conv and linear configurations in the sweep (default 700, at most "
                        f"{MAX_CONFIGS})")
    p.add_argument("--repeats", type=int_between(1, MAX_REPEATS), default=15,
                   help="timed runs per configuration, after 2 warm-up runs; the median is "
                        f"kept (default 15, at most {MAX_REPEATS})")
    p.add_argument("--seed", type=int_between(0, MAX_SEED), default=0)


def _writable(path: str, what: str) -> None:
    """Refuse, before any timing, a file whose folder is missing or that is a folder."""
    p = Path(path)
    if p.is_dir():
        raise CnnCalcError(f"{what} {path} is a directory; give a file name", kind="input")
    parent = p.parent
    if not parent.is_dir():
        raise CnnCalcError(f"cannot write {what} {path}: no folder {parent} (create it first)",
                           kind="input")


def run(args: argparse.Namespace) -> int:
    _writable(args.output, "the profile")
    csv_path = args.csv or str(Path(args.output).with_suffix(".csv"))
    _writable(csv_path, "the measurements CSV")
    from ..pytorch.calibrate import calibrate
    prof = calibrate(args.device, csv_path, args.output, budget_s=args.budget, dtype=args.dtype,
                     threads=args.threads, seed=args.seed, n_conv=args.configs,
                     n_other=max(args.configs // 4, 10), repeats=args.repeats)
    ours = prof.scores.get("cnncalc_model", {}).get("kfold", {})
    print(json.dumps({"profile": args.output, "csv": csv_path, "device": prof.meta.get(
        "device_name"), "rows": prof.meta.get("rows"), "peak_gflops": prof.peak_flops / 1e9,
        "bandwidth_gbs": prof.bandwidth / 1e9, "overhead_us": prof.overhead_s * 1e6,
        "cnncalc_model_kfold": ours}, indent=2))
    return 0
