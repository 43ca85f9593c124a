"""``cnncalc import torch PKG.MODULE:FACTORY [--kwargs JSON] [--input N,3,H,W] [--name NAME]
[--allow-opaque] [-o net.json]`` and ``cnncalc import onnx FILE.onnx [--symbol OLD=NEW ...]
[-o net.json]``: an architecture JSON from a PyTorch model or an ONNX file.

Torch, the model's package and onnx are imported only when the command runs, so the start-up of
``cnncalc`` stays what it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..algebra.expr import NAME_RE
from ..errors import CnnCalcError

NAME = "import"
HELP = "an architecture JSON from a PyTorch model (PKG.MODULE:FACTORY) or an ONNX file"
DEFAULT_INPUT = "N,3,H,W"


def input_shape(text: str) -> list[int | str]:
    """``--input N,3,H,W``: comma-separated sizes, each a positive integer or a symbol name."""
    parts = [p.strip() for p in text.split(",")]
    out: list[int | str] = []
    for p in parts:
        if p.isascii() and p.isdigit() and len(p) <= 9 and int(p) >= 1:
            out.append(int(p))
        elif NAME_RE.match(p):
            out.append(p)
        else:
            raise CnnCalcError(f"--input {text[:60]!r}: {p[:20]!r} is neither a positive integer "
                               "nor a symbol name; write sizes such as N,3,H,W or 1,3,224,224",
                               kind="input")
    if len(out) < 2:
        raise CnnCalcError(f"--input {text[:60]!r}: give the batch, the channels and the spatial "
                           "sizes, e.g. N,3,H,W", kind="input")
    return out


def add_torch_source(p: argparse.ArgumentParser) -> None:
    """``--kwargs``, ``--input``, ``--allow-opaque``: how a PyTorch model is built and traced
    (shared with ``analyze --from-torch``)."""
    p.add_argument("--kwargs", metavar="JSON",
                   help="keyword arguments of the factory, a JSON object, e.g. "
                        "'{\"num_classes\": 10}'")
    p.add_argument("--input", "-i", default=DEFAULT_INPUT, metavar="SIZES",
                   help=f"the input shape: integers or symbol names (default {DEFAULT_INPUT})")
    p.add_argument("--allow-opaque", action="store_true",
                   help="record an operation cnncalc does not know as an 'opaque' layer (shape "
                        "from the trace, counts unknown) instead of failing")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="source", required=True, metavar="{torch,onnx}")
    t = sub.add_parser("torch", help="trace a PyTorch model built by PKG.MODULE:FACTORY",
                       description="Trace the nn.Module that PKG.MODULE:FACTORY returns and "
                       "write its architecture JSON.")
    t.add_argument("factory", metavar="PKG.MODULE:FACTORY",
                   help="e.g. torchvision.models:resnet50, or timm:create_model with --kwargs "
                        "'{\"model_name\": \"convnext_tiny\"}'")
    add_torch_source(t)
    t.add_argument("--name", help="the architecture's name (default: the factory's)")
    add_output(t)
    o = sub.add_parser("onnx", help="read an ONNX file",
                       description="Read an ONNX model and write its architecture JSON.")
    o.add_argument("file", metavar="FILE.onnx")
    o.add_argument("--symbol", "-s", action="append", default=[], type=_rename,
                   metavar="OLD=NEW", help="rename an input axis symbol (dim_param), e.g. "
                   "batch_size=N, or name an unnamed axis by position, e.g. 0=N (repeatable)")
    o.add_argument("--name", help="the architecture's name (default: the file's stem)")
    o.add_argument("--allow-opaque", action="store_true",
                   help="record an op cnncalc does not support as an 'opaque' layer instead of "
                        "failing")
    add_output(o)


def add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write the architecture JSON here (default: standard output)")


def _rename(text: str) -> tuple[str | int, str]:
    old, sep, new = (t.strip() for t in text.partition("="))
    if not sep or not old or not NAME_RE.match(new):
        raise argparse.ArgumentTypeError(f"expected OLD=NEW with NEW a symbol name, got "
                                         f"{text[:40]!r}")
    return (int(old) if old.isascii() and old.isdigit() else old), new


def torch_architecture(args: argparse.Namespace, spec: str) -> Any:
    """The Architecture of the model ``spec`` names, with ``args``' kwargs, input and
    ``--allow-opaque``; parameters the forward pass never uses are listed on stderr."""
    from ..pytorch.factory import load_factory, parse_kwargs, parse_spec
    shape = input_shape(args.input)
    parse_spec(spec)  # a malformed spec fails before anything is imported
    model = load_factory(spec, parse_kwargs(args.kwargs))
    from .. import from_torch
    name = getattr(args, "name", None) or _default_name(spec, args.kwargs)
    try:
        arch = from_torch(model, shape, name=name, allow_opaque=args.allow_opaque)
        report_unused(model, shape)
    except CnnCalcError:
        raise
    except Exception as e:  # the model's own code, run by the trace: one line, not a traceback
        text = " ".join(str(e).split())[:300]
        raise CnnCalcError(f"importing {spec.strip()} failed: {type(e).__name__}: {text}",
                           kind="torch") from None
    return arch


def _default_name(spec: str, kwargs: str | None) -> str:
    tail = spec.strip().partition(":")[2].rsplit(".", 1)[-1]
    value = json.loads(kwargs).get("model_name") if kwargs and kwargs.strip() else None
    return value if isinstance(value, str) and value else tail


def report_unused(model: Any, shape: list[int | str]) -> None:
    """List on stderr the parameters of ``model`` its forward never reads, which the
    architecture does not count (e.g. googlenet's auxiliary heads in eval mode)."""
    from ..pytorch.importer import unused_parameters
    unused = unused_parameters(model, shape)
    if unused:
        total = sum(unused.values())
        items = list(unused.items())
        shown = ", ".join(f"{k} ({v})" for k, v in items[:8]) + (" ..." if len(items) > 8 else "")
        print(f"cnncalc: note: {total} parameters are never used by the forward pass and are "
              f"not counted: {shown}", file=sys.stderr)


def write(arch: Any, output: str | None) -> None:
    """The architecture JSON to ``output`` or standard output."""
    text = dumps(arch.model_dump(mode="json", exclude_defaults=True)) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output} ({arch.name}: {_count(arch)} layers)", file=sys.stderr)
    else:
        sys.stdout.write(text)


def dumps(value: Any, indent: str = "") -> str:
    """JSON, one object field or list item a line, lists of numbers and strings (shapes,
    ``inputs``) on one line."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value)


def _count(arch: Any) -> int:
    from ..core.graph import expand
    return len(expand(arch, {}))


def run_torch(args: argparse.Namespace) -> int:
    write(torch_architecture(args, args.factory), args.output)
    return 0


def run_onnx(args: argparse.Namespace) -> int:
    from .. import from_onnx
    renames = dict(args.symbol)
    if len(renames) != len(args.symbol):
        raise CnnCalcError("--symbol renames a symbol twice; rename each once", kind="input")
    arch = from_onnx(args.file, symbols=renames or None, name=args.name,
                     allow_opaque=args.allow_opaque)
    write(arch, args.output)
    return 0


def run(args: argparse.Namespace) -> int:
    return run_torch(args) if args.source == "torch" else run_onnx(args)
