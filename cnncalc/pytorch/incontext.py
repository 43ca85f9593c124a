"""Time every layer inside real networks: the measurements the in-context time model learns from.

Each *run* is one network (a zoo model, a small teaching network of ``suite/``, or a
torchvision model imported by :func:`cnncalc.from_torch`) at one input size, batch and thread
count. cnncalc builds the network from its own analysis (one module per layer,
:func:`cnncalc.pytorch.build.build`), warms it up, then repeats, interleaved so that both see
the same machine: one plain forward pass (the network's time) and one pass with per-layer
hooks (:class:`~.timing.LayerTimer`: each layer's time where it really runs, after the layer
before it, its input fresh or not in cache). A run appends one row per layer (its median time
and the features of :func:`cnncalc.cost.features.layer_features`) and one ``(network)`` row,
all at once: a run is in the CSV whole or not at all, so an interrupted calibration resumes at
the next run and loses nothing that finished.

PyTorch's eager CPU path runs a convolution, its batch norm and its ReLU as separate kernels, so
every layer has its own time; the layer before (``prev``) is a feature, so a fusing backend's
pattern can be learnt where one times it.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from ..core.load import analyze, load
from ..cost.features import NUMERIC, layer_features
from ..cost.machine import caches as machine_caches
from ..errors import CnnCalcError
from ..progress import Progress
from .device import load_torch, resolve_device
from .timing import Stats, interleaved, time_once


@dataclass(frozen=True)
class Net:
    """A network of the calibration suite and its input sizes (height, width)."""

    name: str
    source: str  # "zoo", "suite" (a JSON file of suite/) or "torchvision"
    sizes: tuple[tuple[int, int], ...]


_S3 = ((64, 96), (160, 160), (224, 224))
_DIGITS = ((28, 28), (32, 32), (48, 48))
SUITE: tuple[Net, ...] = (
    Net("seed_example", "zoo", ((32, 32), (64, 48), (96, 96))),
    Net("lenet5", "zoo", ((32, 32), (36, 40), (48, 48))),
    # Small networks of tutorials and textbooks: the layers of a network that fits in cache.
    Net("lenet1", "suite", _DIGITS), Net("d2l_lenet", "suite", _DIGITS),
    Net("mnist_cnn", "suite", _DIGITS),
    Net("cifar_tutorial", "suite", ((32, 32), (40, 40), (64, 64))),
    Net("tiny_vgg", "suite", ((32, 32), (64, 64), (96, 96))),
    Net("alexnet", "zoo", ((127, 127), (160, 160), (224, 224))),
    Net("vgg16", "zoo", ((64, 64), (128, 128), (224, 224))),
    Net("resnet18", "zoo", _S3), Net("resnet50", "zoo", _S3),
    Net("mobilenet_v2", "zoo", _S3), Net("squeezenet1_0", "zoo", _S3),
    Net("densenet121", "zoo", _S3), Net("googlenet", "zoo", _S3),
    Net("inception_v3", "zoo", ((107, 107), (203, 203), (299, 299))),
    Net("unet", "zoo", ((64, 64), (128, 128), (256, 256))),
    Net("resnet34", "torchvision", _S3), Net("resnet101", "torchvision", _S3),
    Net("resnext50_32x4d", "torchvision", _S3), Net("wide_resnet50_2", "torchvision", _S3),
    Net("vgg11", "torchvision", ((64, 64), (128, 128), (224, 224))),
    Net("vgg13_bn", "torchvision", ((64, 64), (128, 128), (224, 224))),
    Net("squeezenet1_1", "torchvision", _S3),
    Net("mobilenet_v3_small", "torchvision", _S3),
    Net("mobilenet_v3_large", "torchvision", _S3),
    Net("shufflenet_v2_x0_5", "torchvision", _S3),
    Net("shufflenet_v2_x1_0", "torchvision", _S3),
    Net("mnasnet0_5", "torchvision", _S3), Net("mnasnet1_0", "torchvision", _S3),
    Net("efficientnet_b0", "torchvision", _S3), Net("efficientnet_b1", "torchvision", _S3),
    Net("regnet_x_400mf", "torchvision", _S3), Net("regnet_y_400mf", "torchvision", _S3),
    Net("regnet_x_1_6gf", "torchvision", _S3), Net("densenet169", "torchvision", _S3),
    Net("convnext_tiny", "torchvision", _S3),
)
"""The default suite: the zoo, 5 small networks of tutorials and textbooks and 20 imported
torchvision models, at three sizes each."""

BATCH_NETS = ("seed_example", "lenet5", "lenet1", "d2l_lenet", "mnist_cnn", "resnet18",
              "resnet50", "mobilenet_v2", "squeezenet1_0", "googlenet", "vgg11",
              "shufflenet_v2_x1_0", "mnasnet1_0", "efficientnet_b0", "regnet_x_400mf")
"""Networks also timed at the larger batches, at :data:`BATCH_SIZE`."""
BATCH_SIZE = (64, 64)

COLUMNS = ("run", "network", "source", "h", "w", "batch", "device", "dtype", "index",
           "layer", "time_ms", "iqr_ms", "type", "group", "prev", *NUMERIC, "layers", "macs",
           "layer_sum_ms")
NETWORK_ROW = "(network)"
"""The ``layer`` of a run's whole-network row (``index`` -1, with its ``layers``, total
``macs`` and the sum of its layers' medians ``layer_sum_ms``; its features are empty)."""


@dataclass(frozen=True)
class RunSpec:
    """One timed run: a network at a size, batch and thread count."""

    net: Net
    h: int
    w: int
    batch: int
    threads: int

    @property
    def id(self) -> str:
        return f"{self.net.name}@{self.h}x{self.w}@b{self.batch}@t{self.threads}"


def plan(suite: Sequence[Net] = SUITE, threads: Sequence[int] = (1,),
         batches: Sequence[int] = (1,), batch_nets: Iterable[str] = BATCH_NETS) -> list[RunSpec]:
    """Every run: each network at each size with batch 1 and each thread count, then the
    :data:`BATCH_NETS` at :data:`BATCH_SIZE` with every other batch (each thread count)."""
    out = [RunSpec(n, h, w, 1, t) for t in threads for n in suite for h, w in n.sizes]
    if any(b != 1 for b in batches):
        wanted = set(batch_nets)
        out += [RunSpec(n, *BATCH_SIZE, b, t) for t in threads for b in batches if b != 1
                for n in suite if n.name in wanted]
    return out


def architecture(net: Net) -> Any:
    """What :func:`cnncalc.analyze` takes for ``net``: a zoo name, the path of a suite
    network's JSON file, or the imported module."""
    if net.source == "zoo":
        return net.name
    if net.source == "suite":
        return Path(__file__).with_name("suite") / f"{net.name}.json"
    if net.source != "torchvision":
        raise CnnCalcError(f"unknown network source {net.source!r}", kind="input")
    from ..pytorch.tvshim import declare_torchvision_ops
    declare_torchvision_ops()
    import importlib
    tv = importlib.import_module("torchvision.models")
    kwargs = {"aux_logits": False, "init_weights": False} \
        if net.name in ("googlenet", "inception_v3") else {}
    from ..pytorch.importer import from_torch
    return from_torch(tv.get_model(net.name, weights=None, **kwargs).eval(), name=net.name)


def _bindings(an_free: Iterable[str], run: RunSpec) -> dict[str, int]:
    b = {"N": run.batch, "H": run.h, "W": run.w}
    return {k: v for k, v in b.items() if k in set(an_free)}


def time_in_network(an: Any, dev: Any, tdtype: Any, target_s: float = 1.0,
                    min_repeats: int = 5, max_repeats: int = 20) -> tuple[Stats, dict[str, Stats]]:
    """Whole-network and per-layer times of a bound analysis, each the median of interleaved
    plain and hooked passes after warm-up; repeats chosen to spend about ``target_s`` in
    plain passes."""
    torch = load_torch()
    from .build import build
    from .builders import as_ints
    net: Any = build(an).to(device=dev, dtype=tdtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(as_ints(an.input_shape), generator=gen).to(device=dev, dtype=tdtype)
    modules = {r.name: net.layer(r.name) for r in an.layers}

    def run() -> None:
        net(x)

    with torch.inference_mode():
        run()  # first pass: allocations, oneDNN's primitive choices
        warm: list[float] = []
        while len(warm) < 3 or (sum(warm) < 0.3 and len(warm) < 50):
            warm.append(time_once(run, dev))
        repeats = max(min_repeats, min(max_repeats, int(target_s / max(min(warm), 1e-6))))
        return interleaved(run, modules, dev, repeats)


MAX_RATIO = 1.3
"""A network whose plain passes take this much longer than the sum of its hooked layers (or
1 / 1.2 of it) ran beside other load: it is timed again, up to :data:`RETRIES` times."""
RETRIES = 2


def _steady(an: Any, dev: Any, tdtype: Any, target_s: float
            ) -> tuple[Stats, dict[str, Stats]]:
    """:func:`time_in_network`, again while the plain and hooked passes disagree."""
    for _ in range(RETRIES + 1):
        whole, per = time_in_network(an, dev, tdtype, target_s)
        layer_sum = sum(s.median_ms for s in per.values())
        if layer_sum and 1 / 1.2 <= whole.median_ms / layer_sum <= MAX_RATIO:
            break
    return whole, per


def _open(path: Path, mode: str) -> IO[str]:
    """A text file, gzip-compressed when its name ends in ``.gz``."""
    if path.suffix == ".gz":
        import gzip
        return cast(IO[str], gzip.open(path, mode + "t", newline="", encoding="utf-8"))
    return path.open(mode, newline="", encoding="utf-8")


def _append(path: Path, text: str) -> None:
    """Append one run's rows and close the file: on disk (and, for ``.gz``, as one complete
    gzip member, which readers see as part of one stream) before the next run starts."""
    with _open(path, "a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _rows(path: Path) -> list[dict[str, str]]:
    """The CSV's rows; of a ``.gz`` cut short (a member left unfinished), those before it."""
    rows: list[dict[str, str]] = []
    try:
        with _open(path, "r") as f:
            rows.extend(csv.DictReader(f))
    except (EOFError, OSError):
        pass
    return rows


def _complete_runs(csv_path: Path) -> set[str]:
    """Runs with their network row; rewrites the file without the rows of unfinished runs."""
    if not csv_path.exists():
        return set()
    with _open(csv_path, "r") as f:
        try:
            header = f.readline().strip()
        except (EOFError, OSError):
            header = ""
    if header and header != ",".join(COLUMNS):
        raise CnnCalcError(f"{csv_path} is not a file of layers timed in networks by this "
                           "version of cnncalc (its columns differ); give another "
                           "--context-csv", kind="input")
    rows = _rows(csv_path)
    done = {r["run"] for r in rows if r.get("layer") == NETWORK_ROW}
    if any(r.get("run") not in done for r in rows) or not rows:
        tmp = csv_path.with_name(csv_path.name + ".tmp" + csv_path.suffix)
        with _open(tmp, "w") as f:
            w = csv.DictWriter(f, COLUMNS, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows(r for r in rows if r.get("run") in done)
        os.replace(tmp, csv_path)
    return done


def _fmt(v: object) -> str:
    return f"{v:.9g}" if isinstance(v, float) else str(v)


def collect(csv_path: str | Path, runs: Sequence[RunSpec], device: str = "cpu",
            dtype: str = "float32", budget_s: float = 3600.0, target_s: float = 1.0,
            progress: bool | None = None,
            log: Callable[[str], None] | None = None) -> int:
    """Time the runs not yet complete in ``csv_path`` and append them; returns how many were
    timed before the budget ran out. A network that cannot be imported or built is skipped
    with a line on ``log``."""
    torch = load_torch()
    dev = resolve_device(device)
    tdtype = getattr(torch, dtype, None)
    if dtype not in ("float32", "bfloat16", "float16") or tdtype is None:
        raise CnnCalcError(f"unknown dtype {dtype!r}; float32, bfloat16 or float16",
                           kind="input")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    csv_path = Path(csv_path)
    done = _complete_runs(csv_path)
    pending = [r for r in runs if r.id not in done]
    caches = machine_caches()
    archs: dict[str, Any] = {}
    start, timed = time.monotonic(), 0
    if not csv_path.exists():
        _append(csv_path, ",".join(COLUMNS) + "\n")
    with Progress(len(pending), f"timing layers in networks on {dev.type}",
                  enabled=progress) as bar:
        for run in pending:
            if time.monotonic() - start > budget_s:
                break
            try:
                if run.net.name not in archs:
                    a = load(architecture(run.net))
                    if a.input.dtype != dtype:  # bytes and features by the timed dtype
                        a = a.model_copy(update={"input": a.input.model_copy(
                            update={"dtype": dtype})})
                    archs[run.net.name] = a
                arch = archs[run.net.name]
                free = analyze(arch).free_symbols
                if run.batch != 1 and "N" not in free:  # a network of one fixed batch
                    bar.advance(label=run.net.name)
                    continue
                an = analyze(arch, _bindings(free, run))
                torch.set_num_threads(run.threads)
                whole, per = _steady(an, dev, tdtype, target_s)
            except (CnnCalcError, RuntimeError, ValueError, ImportError) as e:
                if log:
                    log(f"{run.id}: skipped ({str(e).splitlines()[0][:200]})")
                bar.advance(label=run.net.name)
                continue
            feats = layer_features(an, run.threads, caches)
            head = [run.id, run.net.name, run.net.source, run.h, run.w, run.batch, dev.type,
                    dtype]
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            layer_sum = 0.0
            for i, (r, ft) in enumerate(zip(an.layers, feats, strict=True)):
                s = per.get(r.name)
                if s is None:
                    continue
                layer_sum += s.median_ms
                w.writerow([*head, i, r.name, _fmt(s.median_ms), _fmt(s.spread_ms),
                            *(_fmt(ft[c]) for c in ("type", "group", "prev", *NUMERIC)),
                            "", "", ""])
            w.writerow([*head, -1, NETWORK_ROW, _fmt(whole.median_ms), _fmt(whole.spread_ms),
                        "", "", "", *(run.threads if c == "threads" else "" for c in NUMERIC),
                        len(an.layers), an.totals.macs,
                        _fmt(layer_sum)])
            _append(csv_path, buf.getvalue())
            timed += 1
            bar.advance(label=run.net.name)
    return timed
