"""cnncalc side by side with the tools people use today; prints figures, asserts nothing.

Run (needs the bench-only extra: ``pip install -c constraints.txt -e '.[peers]'``)::

    python tests/bench/bench_peers.py [--threads N] [--repeats N] [--models resnet50 vgg16]

For resnet50 and vgg16 built by our builder (``cnncalc.to_torch``) at N=1, 224x224, in one
process it asks torchinfo.summary, fvcore FlopCountAnalysis, torch's FlopCounterMode, ptflops
and thop for parameters and multiply-accumulates, and times each next to ``cnncalc.analyze``
with every size bound (numeric) and with none (symbolic formulas, then bound by ``evaluate``).
Figures recorded in docs/benchmarks.md.

Method: in-process; each tool's first call is timed apart (``first ms``), then the median of
``--repeats`` calls, with a full garbage collection before each. Every peer builds nothing
(the model is built once, up front) but runs its forward pass; thop gets a fresh copy of the
model each call because it adds buffers to it.

Each tool's MAC figure is then *reconstructed* from the analysis's layers under that tool's
convention (:mod:`cnncalc.report.conventions`, docs/conventions.md), to show exactly why the
figures differ (column ``explained``; tests/pytorch/test_peers.py asserts it).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any

import torch

import cnncalc
from cnncalc.report.conventions import count

SIZE = {"N": 1, "H": 224, "W": 224}


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float, float]:
    """(result, first call ms, median ms of the next ``repeats`` calls)."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    first = (time.perf_counter() - t0) * 1e3
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, first, statistics.median(times) * 1e3


def explained(tool: str, an: Any) -> int:
    """The figure ``tool`` should report: its convention's reproduction from the analysis's
    layers (:mod:`cnncalc.report.conventions`, docs/conventions.md)."""
    return int(count(an, tool).macs)


def version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def bench(model: str, repeats: int) -> list[tuple[str, Any, int, float, float, str]]:
    """Rows: tool, params, MACs as the tool reports them (converted to MACs), first ms,
    median ms, explained."""
    from fvcore.nn import FlopCountAnalysis, parameter_count

    from cnncalc.pytorch.tvshim import declare_torchvision_ops
    declare_torchvision_ops()  # ptflops imports torchvision
    from ptflops import get_model_complexity_info
    from thop import profile
    from torch.utils.flop_counter import FlopCounterMode
    from torchinfo import summary

    arch = cnncalc.load(model)
    net: Any = cnncalc.to_torch(arch, SIZE)
    shape = (SIZE["N"], 3, SIZE["H"], SIZE["W"])
    x = torch.randn(*shape)
    rows: list[tuple[str, Any, int, float, float, str]] = []

    an, f, m = timed(lambda: cnncalc.analyze(arch, SIZE), max(repeats, 21))
    macs = int(an.totals.macs)
    rows.append(("cnncalc.analyze, numeric", an.totals.params, macs, f, m, "-"))
    sym, f, m = timed(lambda: cnncalc.analyze(arch), max(repeats, 11))
    ev = sym.evaluate(**SIZE)
    rows.append(("cnncalc.analyze, symbolic (+evaluate)", ev.totals.params, int(ev.totals.macs),
                 f, m, "-"))

    def check(tool: str, got: int) -> str:
        want = explained(tool, an)
        return "yes" if want == got else f"no ({want:,})"

    def ti() -> Any:
        return summary(net, input_size=shape, verbose=0)
    s, f, m = timed(ti, repeats)
    rows.append(("torchinfo.summary", s.total_params, int(s.total_mult_adds), f, m,
                 check("torchinfo", int(s.total_mult_adds))))

    def fv() -> Any:
        fa = FlopCountAnalysis(net, x).unsupported_ops_warnings(False) \
            .uncalled_modules_warnings(False)
        return fa.total()
    total, f, m = timed(fv, repeats)
    rows.append(("fvcore FlopCountAnalysis", parameter_count(net)[""], int(total), f, m,
                 check("fvcore", int(total))))

    def fcm() -> int:
        with torch.inference_mode(), FlopCounterMode(display=False) as fc:
            net(x)
        return int(fc.get_total_flops())
    flops, f, m = timed(fcm, repeats)
    rows.append(("torch FlopCounterMode (FLOPs / 2)", "-", flops // 2, f, m,
                 "yes" if flops == 2 * macs else "no"))

    def pt() -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return get_model_complexity_info(net, shape[1:], as_strings=False,
                                             print_per_layer_stat=False, backend="pytorch")
    (pm, pp), f, m = timed(pt, repeats)
    rows.append(("ptflops (pytorch backend)", pp, int(pm), f, m, check("ptflops", int(pm))))

    def th() -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return profile(copy.deepcopy(net), inputs=(x,), verbose=False)
    (tm, tp), f, m = timed(th, repeats)
    rows.append(("thop.profile (incl. deepcopy)", int(tp), int(tm), f, m,
                 check("thop", int(tm))))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per peer (median)")
    p.add_argument("--models", nargs="+", default=["resnet50", "vgg16"])
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"python {sys.version.split()[0]}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), cnncalc {cnncalc.__version__}, torchinfo "
          f"{version('torchinfo')}, fvcore {version('fvcore')}, ptflops {version('ptflops')}, "
          f"thop {version('thop')}")
    for model in args.models:
        rows = bench(model, args.repeats)
        base = rows[0][4]
        print(f"\n{model} at N=1, 3x224x224 (the model built once by cnncalc.to_torch)")
        head = (f"{'tool':40s} {'params':>12s} {'MACs reported':>15s} {'vs cnncalc':>11s} "
                f"{'first ms':>9s} {'median ms':>10s} {'x cnncalc':>10s}  explained")
        print(head)
        print("-" * len(head))
        macs = rows[0][2]
        for tool, params, m, first, med, why in rows:
            diff = f"{(m - macs) / macs:+.3%}" if m != macs else "="
            params_s = f"{params:,}" if isinstance(params, int) else str(params)
            print(f"{tool:40s} {params_s:>12s} {m:>15,} {diff:>11s} {first:>9.2f} {med:>10.2f} "
                  f"{med / base:>10.1f}  {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
