"""Start-up of the ``cnncalc`` command against its targets; prints figures, asserts nothing.

Run: ``python tests/bench/bench_cli.py [--repeats 11] [--also DIR]`` (figures in
docs/benchmarks.md). ``--also DIR`` times the same commands of the ``cnncalc`` package found
in ``DIR`` too (``git archive REV cnncalc | tar -x -C DIR``: the figures before a change),
side by side in the same rounds.

Method: whole processes, as a shell runs them (the venv's ``cnncalc`` script), with compiled
bytecode written first (one untimed run of each case with ``PYTHONDONTWRITEBYTECODE`` unset),
then ``--repeats`` rounds in which every case runs once, interleaved, so that a busy machine
slows all cases alike; the figure is the median wall time of each case, and the ratio is that
median over the median of ``python -c pass`` (the same interpreter). No output is cached:
every run loads and analyses the model anew. The zoo model is built without validation (the
tests check it equals the validated one); the same JSON as a user's file is validated, and
that case shows what the layer union's validators cost. Two floor rows time importing pydantic
and the layer classes alone, which every analysis needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIND = ["--bind", "N=1", "--bind", "H=224", "--bind", "W=224"]
MAIN = "import sys; from cnncalc.cli import main; sys.exit(main())"
"""What the console script runs (for a tree given with ``--also``)."""

Case = tuple[str, list[str], float | None, dict[str, str]]


def cases(env: dict[str, str], user_file: str, also: str | None) -> list[Case]:
    """(label, argv, target ratio to ``python -c pass``, environment)."""
    exe = shutil.which("cnncalc", path=str(Path(sys.executable).parent)) or "cnncalc"
    commands: list[tuple[str, list[str], float | None]] = [
        ("cnncalc --help", ["--help"], 3.0),
        ("cnncalc zoo", ["zoo"], 3.0),
        ("cnncalc analyze resnet50 (bound, table)", ["analyze", "resnet50", *BIND], 5.0),
        ("cnncalc analyze resnet50 (bound, json)",
         ["analyze", "resnet50", *BIND, "--format", "json"], 5.0),
        ("cnncalc analyze resnet50.json (a file)", ["analyze", user_file, *BIND], None)]
    out: list[Case] = [("python -c pass", [sys.executable, "-c", "pass"], None, env)]
    # The floor of any process that uses the layer classes: pydantic, then the classes.
    out += [(label, [sys.executable, "-c", code], None, env) for label, code in (
        ("floor: python -c 'from pydantic import BaseModel'", "from pydantic import BaseModel"),
        ("floor: python -c 'import cnncalc.layers'", "import cnncalc.layers"))]
    out += [(label, [exe, *args], target, env) for label, args, target in commands]
    if also is not None:
        env2 = {**env, "PYTHONPATH": also}
        out += [(f"{label} [{Path(also).name}]", [sys.executable, "-c", MAIN, *args], None,
                 env2) for label, args, _ in commands]
    return out


def run_once(argv: list[str], env: dict[str, str]) -> float:
    # In the folder of PYTHONPATH (the tree to time) or a neutral one: never this checkout,
    # whose cnncalc ``python -c`` would find first.
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, cwd=env.get("PYTHONPATH", tempfile.gettempdir()))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=11, help="interleaved rounds (default 11)")
    ap.add_argument("--also", metavar="DIR", help="also time the cnncalc package in DIR")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    from cnncalc.zoo import zoo_json
    with tempfile.TemporaryDirectory() as tmp:
        user_file = str(Path(tmp) / "resnet50.json")
        Path(user_file).write_text(json.dumps(zoo_json("resnet50")), encoding="utf-8")
        todo = cases(env, user_file, args.also)
        for _, argv, _, case_env in todo:  # write the bytecode; not timed
            run_once(argv, case_env)
        times: dict[str, list[float]] = {label: [] for label, *_ in todo}
        for _ in range(args.repeats):
            for label, argv, _, case_env in todo:
                times[label].append(run_once(argv, case_env))
    base = statistics.median(times[todo[0][0]])
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeats} "
          "interleaved runs")
    print(f"{'case':52s} {'median ms':>9s} {'ratio':>6s} {'target':>7s}")
    for label, _, target, _ in todo:
        ms = 1000 * statistics.median(times[label])
        ratio = statistics.median(times[label]) / base
        goal = f"<= {target:g}x" if target is not None else "-"
        print(f"{label:52s} {ms:9.1f} {ratio:5.1f}x {goal:>7s}")


if __name__ == "__main__":
    main()
