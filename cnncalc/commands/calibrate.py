"""``cnncalc calibrate --device cpu|cuda -o profile.json [--threads 1,2] [--networks ...]
[--batches 1,4,16,64]``: time a sweep of single layers and every layer inside real networks,
fit the time models, score them (leave-one-network-out) and write a device profile."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import CnnCalcError
from .common import float_between, int_between

NAME = "calibrate"
HELP = ("time single layers and layers inside real networks on a device, fit the time models, "
        "write a device profile")


MAX_BUDGET_S = 7 * 24 * 3600.0
MAX_CONFIGS = 100_000
MAX_REPEATS = 1_000
MAX_THREADS = 1_024
MAX_SEED = 2**63 - 1
MAX_BATCH = 4096
MAX_LIST = 64


def int_list(lo: int, hi: int) -> Callable[[str], list[int]]:
    """``1,2,4``: distinct integers in ``[lo, hi]``, in the order given."""
    one = int_between(lo, hi)

    def parse(text: str) -> list[int]:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts) or len(parts) > MAX_LIST:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give up to {MAX_LIST} comma-separated integers, e.g. 1,2")
        vals = [one(p) for p in parts]
        if len(set(vals)) != len(vals):
            raise argparse.ArgumentTypeError(f"{text!r}: a value is repeated")
        return vals
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N|auto",
                   help="where to time (default cpu)")
    p.add_argument("-o", "--output", default="profile.json", help="device profile to write")
    p.add_argument("--csv", default=None, help="measurements CSV (appended to; a rerun resumes "
                   "it); default: the profile's name with .csv")
    p.add_argument("--budget", type=float_between(0.0, MAX_BUDGET_S), default=600.0,
                   help="seconds to spend timing this run (default 600, at most a week)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    p.add_argument("--threads", type=int_list(1, MAX_THREADS), default=None, metavar="T[,T...]",
                   help="CPU thread counts to calibrate (torch), e.g. 1,2; the sweep of single "
                        "layers runs with the first; a profile predicts only for these")
    p.add_argument("--networks", default="default", metavar="default|none|NAME[,NAME...]",
                   help="networks whose layers are timed where they run (default: the zoo and "
                        "20 torchvision models at three sizes; none: only the single-layer "
                        "sweep; names: zoo or torchvision models)")
    p.add_argument("--batches", type=int_list(1, MAX_BATCH), default=[1], metavar="B[,B...]",
                   help="batch sizes; batches other than 1 run on a subset of the networks at "
                        "64x64 (default 1)")
    p.add_argument("--context-csv", default=None,
                   help="in-network measurements CSV (appended to; a rerun resumes it); "
                        "default: the profile's name with .context.csv")
    p.add_argument("--no-evaluate", dest="evaluate", action="store_false",
                   help="skip the leave-one-network-out evaluation (no uncertainty band)")
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
    nets = args.networks.strip()
    networks = None if nets == "default" else [] if nets == "none" else \
        [n.strip() for n in nets.split(",") if n.strip()]
    if networks is not None and nets != "none" and not networks:
        raise CnnCalcError("--networks: give default, none or network names", kind="input")
    if networks is not None and args.context_csv:
        _writable(args.context_csv, "the in-network measurements CSV")
    from ..pytorch.calibrate import calibrate
    prof = calibrate(args.device, csv_path, args.output, budget_s=args.budget, dtype=args.dtype,
                     threads=args.threads, seed=args.seed, n_conv=args.configs,
                     n_other=max(args.configs // 4, 10), repeats=args.repeats,
                     networks=networks, context_csv=args.context_csv, batches=args.batches,
                     evaluate=args.evaluate, log=lambda m: print(m, file=sys.stderr))
    ours = prof.scores.get("cnncalc_model", {}).get("kfold", {})
    ctx = prof.scores.get("context", {}).get("leave_one_network_out", {})
    print(json.dumps({"profile": args.output, "csv": csv_path, "device": prof.meta.get(
        "device_name"), "rows": prof.meta.get("rows"), "peak_gflops": prof.peak_flops / 1e9,
        "bandwidth_gbs": prof.bandwidth / 1e9, "overhead_us": prof.overhead_s * 1e6,
        "cnncalc_model_kfold": ours, "context_csv": prof.meta.get("context_csv"),
        "in_context_leave_one_network_out": ctx.get("all"),
        "in_context_layers": ctx.get("layers")}, indent=2))
    return 0
