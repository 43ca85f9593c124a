"""``cnncalc calibrate --device cpu|cuda -o profile.json``: time a layer sweep, fit, score."""

from __future__ import annotations

import argparse
import json

NAME = "calibrate"
HELP = "time a sweep of single layers on a device, fit the time model, write a device profile"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    p.add_argument("-o", "--output", default="profile.json", help="device profile to write")
    p.add_argument("--csv", default=None, help="measurements CSV (appended to; a rerun resumes "
                   "it); default: the profile's name with .csv")
    p.add_argument("--budget", type=float, default=600.0,
                   help="seconds to spend timing this run (default 600)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (torch)")
    p.add_argument("--configs", type=int, default=700,
                   help="conv and linear configurations in the sweep (default 700)")
    p.add_argument("--repeats", type=int, default=15,
                   help="timed runs per configuration, after 2 warm-up runs; the median is "
                        "kept (default 15)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from ..calibrate import calibrate
    from ..errors import CnnCalcError
    for opt in ("budget", "threads", "configs", "repeats"):
        v = getattr(args, opt)
        if v is not None and v <= 0:
            raise CnnCalcError(f"--{opt} must be positive, got {v}", kind="input")
    csv_path = args.csv or (args.output.rsplit(".", 1)[0] + ".csv")
    prof = calibrate(args.device, csv_path, args.output, budget_s=args.budget, dtype=args.dtype,
                     threads=args.threads, seed=args.seed, n_conv=args.configs,
                     n_other=max(args.configs // 4, 10), repeats=args.repeats)
    ours = prof.scores.get("cnncalc_model", {}).get("kfold", {})
    print(json.dumps({"profile": args.output, "csv": csv_path, "device": prof.meta.get(
        "device_name"), "rows": prof.meta.get("rows"), "peak_gflops": prof.peak_flops / 1e9,
        "bandwidth_gbs": prof.bandwidth / 1e9, "overhead_us": prof.overhead_s * 1e6,
        "cnncalc_model_kfold": ours}, indent=2))
    return 0
