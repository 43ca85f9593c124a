"""``cnncalc validate ARCH --bind ... [--device cpu|cuda|auto] [--rf] [--repeats N] [--profile P]``.

Builds the network in PyTorch, runs it and compares every prediction (shapes, params, MACs,
optionally receptive fields; peak memory on CUDA) with reality, and times it. Exit code 0 when
everything matches, 1 on any mismatch (or when torch fails in a layer), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import CnnCalcError
from .common import add_arch, add_bindings, int_between

MAX_REPEATS = 10_000
MAX_WARMUP = 1_000
MAX_THREADS = 1_024
MAX_MEMORY = 2**50
"""The largest --max-memory (1 PiB): a budget beyond any machine is a typo."""

NAME = "validate"
HELP = "build in PyTorch, run, and compare predictions with real shapes, counts and timing"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..pytorch.validation import DTYPES
    add_arch(p)
    add_bindings(p)
    p.add_argument("--device", "-d", default="auto", metavar="cpu|cuda|cuda:N|auto",
                   help="where to run (default: auto = cuda when available, else cpu)")
    p.add_argument("--dtype", choices=DTYPES, default=None,
                   help="dtype of weights and input (default: the architecture's input dtype "
                        "when floating, else float32)")
    p.add_argument("--rf", action="store_true",
                   help="also measure receptive fields by autograd (one backward per layer)")
    p.add_argument("--repeats", "-n", type=int_between(0, MAX_REPEATS), default=20, metavar="N",
                   help="timed runs (median and quartiles; 0 skips timing; default 20)")
    p.add_argument("--warmup", type=int_between(0, MAX_WARMUP), default=3, metavar="N",
                   help="untimed runs first (default 3)")
    p.add_argument("--threads", type=int_between(1, MAX_THREADS), default=None, metavar="N",
                   help="torch CPU threads for the run (default: torch's)")
    p.add_argument("--max-memory", default=None, metavar="BYTES",
                   help="refuse runs predicted to need more (default $CNNCALC_VALIDATE_MAX_BYTES "
                        "or 2GiB; accepts 4GiB, 500MB)")
    p.add_argument("--profile", "-p", metavar="PROFILE.json",
                   help="put the time a device profile (from `cnncalc calibrate`) predicts next "
                        "to the measured time, per layer and for the network")
    p.add_argument("--format", "-f", choices=("table", "json"), default="table")


def memory_budget(text: str, source: str = "--max-memory") -> int:
    """A byte count (``2GiB``, ``500MB``, ``1.5e9``) from 1 byte to 1 PiB; ``source`` (the
    option or the environment variable) is named in the error."""
    from ..pytorch.budget import parse_bytes
    try:
        n = parse_bytes(text)
    except CnnCalcError as e:
        raise CnnCalcError(f"{source}: {e.message}", kind="input") from None
    except (OverflowError, ValueError):  # 1e400: float infinity
        n = MAX_MEMORY + 1
    if n > MAX_MEMORY:
        raise CnnCalcError(f"{source}: memory budget {text[:40]!r} is more than 1 PiB "
                           f"({MAX_MEMORY} bytes); give a byte count such as 4GiB",
                           kind="input")
    return n


def _budget(args: argparse.Namespace) -> int | None:
    from ..pytorch.budget import ENV_MAX_BYTES
    if args.max_memory is not None:
        return memory_budget(args.max_memory)
    env = os.environ.get(ENV_MAX_BYTES)
    if env is not None and env.strip():
        return memory_budget(env, f"environment variable {ENV_MAX_BYTES}")
    return None


def run(args: argparse.Namespace) -> int:
    from ..pytorch.validation import validate
    report = validate(args.arch, dict(args.bind), args.device, dtype=args.dtype,
                      repeats=args.repeats, warmup=args.warmup, threads=args.threads,
                      rf=args.rf, max_bytes=_budget(args), progress=True,
                      profile=args.profile)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        sys.stdout.write(report.to_table())
    return 0 if report.ok else 1
