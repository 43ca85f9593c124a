"""Differential test where any integer field may be a symbol (tests/support/strategies_symbolic.py).

For each drawn architecture and each of its bindings ``b`` these must agree on every layer
quantity (output shape, params, buffers, MACs, other ops, activations, receptive field) and every
total (peak activation bytes included), or all refuse with :class:`cnncalc.CnnCalcError`:

(a) ``analyze(arch)`` then ``.evaluate(**b)`` (structural symbols, repeat counts, bound first),
(b) ``analyze(arch, b)``, and for the first binding the concrete network the generator drew,
(c) ``evaluate_many(TOTALS, ...)`` over the valid bindings of the batch, and ``cnncalc.sweep``
    over one symbol (which must refuse a grid holding an invalid size),
(d) for small sizes, PyTorch (tests/support/torch_oracle.py): shapes, params and MACs per layer
    (left out where torch is not installed, or the network has an ``opaque`` layer, which
    cannot be built; (a) to (c) need only the core).

The constraints of the symbolic analysis must hold at every valid binding and fail at every
invalid one. No other exception type may escape, and no step may run longer than
``CNNCALC_DIFF_TIMEOUT`` seconds (default 30): symbolic work must be bounded. The symbolic
analysis may refuse where a bound one succeeds only with kind ``limit`` (its work budget): that
example is skipped (counted in ``STATS``).

Examples: ``CNNCALC_HYPOTHESIS_EXAMPLES`` (default 60; CI sets 300). A long run that collects
every distinct failure instead of stopping at the first::

    CNNCALC_HYPOTHESIS_EXAMPLES=20000 CNNCALC_HYPOTHESIS_SEED=1 \
        python tests/differential/test_symbolic_fields.py survey out.json
    # shrink one class of failure:
    python tests/differential/test_symbolic_fields.py minimize 'SIGNATURE' [examples]
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import math
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import constraint_reader  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from strategies_symbolic import SymCase, symbolic_cases  # noqa: E402

import cnncalc  # noqa: E402
from cnncalc.core.analysis import TOTALS  # noqa: E402

EXAMPLES = int(os.environ.get("CNNCALC_HYPOTHESIS_EXAMPLES", "60"))
TIMEOUT = float(os.environ.get("CNNCALC_DIFF_TIMEOUT", "30"))
CI = bool(os.environ.get("CI"))
TORCH_MAX_NUMEL = 20_000
HAVE_TORCH = importlib.util.find_spec("torch") is not None
LAYER_QS = ("params", "buffers", "macs", "other_ops", "activations")

STATS: Counter[str] = Counter()
"""What the runs saw: refusals by kind, skips, comparisons made."""

Finding = tuple[str, str]
"""(signature: the mechanism, for grouping; detail)."""


class StepTimeout(BaseException):
    """A step ran past TIMEOUT (a BaseException so that no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise StepTimeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _norm_msg(msg: str) -> str:
    """A message without its numbers, names and formulas: a signature for grouping."""
    msg = re.sub(r"'[^']*'", "'_'", msg)
    msg = re.sub(r"\[[^\]]*\]", "[_]", msg)
    msg = re.sub(r"\([^()]*\)", "(_)", msg)
    msg = re.sub(r"\d+", "#", msg)
    return msg[:90]


def attempt(step: Callable[[], Any]) -> tuple[str, Any]:
    """('ok', value), ('refused', CnnCalcError), ('timeout', seconds) or ('crash', exception)."""
    t0 = time.monotonic()
    try:
        with time_limit(TIMEOUT):
            return "ok", step()
    except cnncalc.CnnCalcError as e:
        return "refused", e
    except StepTimeout:
        return "timeout", round(time.monotonic() - t0, 1)
    except Exception as e:  # noqa: BLE001 - any other exception type is a finding
        return "crash", e


# --- comparing analyses -------------------------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int) and isinstance(b, int) or a is None or b is None:
        return a == b  # None: a receptive field that is not defined
    try:
        return bool(sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0)
    except (TypeError, ValueError, sympy.SympifyError):
        return False


def _rf(rf: Any) -> tuple[Any, ...]:
    return (*rf.size, *rf.stride, *rf.start)


def _layer_values(r: Any) -> dict[str, Any]:
    d: dict[str, Any] = {q: getattr(r, q) for q in LAYER_QS}
    d["output_shape"] = tuple(r.output_shape)
    d["receptive_field"] = _rf(r.receptive_field)
    return d


def diff(got: cnncalc.Analysis, want: cnncalc.Analysis) -> list[tuple[str, str, str]]:
    """(quantity, layer type, text) for every disagreement of ``got`` with ``want``."""
    out = []
    if [r.name for r in got.layers] != [r.name for r in want.layers]:
        return [("layers", "-", f"layer names {[r.name for r in got.layers][:8]} != "
                                f"{[r.name for r in want.layers][:8]}")]
    for g, w in zip(got.layers, want.layers, strict=True):
        gv, wv = _layer_values(g), _layer_values(w)
        for q in gv:
            a, b = gv[q], wv[q]
            if isinstance(a, tuple):
                ok = len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
            else:
                ok = _same(a, b)
            if not ok:
                out.append((q, w.type, f"{w.name} ({w.type}).{q}: {a} != {b}"))
    for q in TOTALS:
        a, b = getattr(got.totals, q), getattr(want.totals, q)
        if not _same(a, b):
            out.append((f"total.{q}", "-", f"total {q}: {a} != {b}"))
    return out


# --- constraints, read back -------------------------------------------------------------------

def constraint_holds(text: str, env: dict[str, int]) -> bool | None:
    """Whether a constraint line holds under ``env`` (None when it cannot be read)."""
    return constraint_reader.holds(text, env)


def _broadcast_eq(text: str, env: dict[str, int]) -> bool:
    """A merge equality ``a == b`` that fails because one side is 1 (it broadcasts)."""
    if "broadcast" not in text or " == " not in text:
        return False
    t = re.sub(r"\s\([A-Za-z0-9_.\-]+: .*\)$", "", text)
    lhs, rhs = t.split(" == ", 1)
    try:
        return 1 in (constraint_reader.formula(lhs, env), constraint_reader.formula(rhs, env))
    except (ValueError, KeyError, SyntaxError, ZeroDivisionError, TypeError):
        return False


def _merge_eq_fails(an: cnncalc.Analysis, b: dict[str, int]) -> bool:
    """Whether a size the symbolic analysis took as equal at a merge differs under ``b`` (a size
    of 1 that broadcasts: ``evaluate`` analyses such a binding afresh)."""
    for n in an.notes:
        if n.kind != "eq":
            continue
        try:
            lhs, rhs = (sympy.sympify(x).xreplace(
                {sympy.Symbol(k, integer=True, positive=True): v for k, v in b.items()})
                for x in (n.lhs, n.rhs))
            if sympy.simplify(lhs - rhs) != 0:
                return True
        except (TypeError, ValueError, ZeroDivisionError):
            return True
    return False


KNOWN_LIMITATIONS = ("constraint-false-at-valid:broadcast-1",
                     "constraints-miss-invalid:broadcast-1",
                     "symbolic-refuses-valid:broadcast-1:",
                     "symbolic-refuses-valid:needs-binding:",
                     "symbolic-refuses-valid:from-zero:")
"""Documented (docs/conventions.md): symbolic merges take a symbolic size as never 1, so the
merge equality is listed as required though a size of 1 broadcasts, and a merge whose sizes are
equal only where one of them is 1 is refused symbolically (see test_random_archs.py); a
``split`` into parts of one size or a ``chunk`` whose number of parts depends on the free sizes
is refused symbolically, asking for the sizes to be bound (docs/schema.md). Counted, not
failed."""

NEEDS_BINDING = "on the free sizes; "
"""In the refusal of a split or chunk whose parts depend on the free sizes."""


# --- one example --------------------------------------------------------------------------------

def _small(an: cnncalc.Analysis) -> bool:
    return (max([math.prod(int(v) for v in an.input_shape),
                 *(int(r.activations) for r in an.layers)]) <= TORCH_MAX_NUMEL
            and int(an.totals.params) <= 10**6 and int(an.totals.macs) <= 10**8)


def check(case: SymCase, torch: bool = HAVE_TORCH, sweep: bool = True) -> list[Finding]:
    """Every disagreement between the paths, as (signature, detail)."""
    found: list[Finding] = []

    def bad(sig: str, detail: str) -> None:
        found.append((sig, detail))

    arch, bs = case.arch, case.bindings
    STATS["examples"] += 1
    # (b) the bound analyses; the first binding is the concrete network the generator drew
    bound = [attempt(functools.partial(cnncalc.analyze, arch, b)) for b in bs]
    for b, (how, v) in zip(bs, bound, strict=True):
        if how == "crash":
            bad(f"crash:analyze(arch, b):{type(v).__name__}", f"{b}: {v!r}")
        elif how == "timeout":
            bad("timeout:analyze(arch, b)", f"{b}: over {TIMEOUT}s")
        elif how == "refused":
            STATS[f"bound_refused:{v.kind}"] += 1
    how, concrete = attempt(lambda: cnncalc.analyze(case.concrete, case.concrete_bindings or None))
    if how != "ok":
        bad(f"concrete-{how}", f"the generator's concrete network: {concrete!r}")
    elif bound[0][0] == "refused":
        bad(f"bound-refuses-drawn:{_norm_msg(bound[0][1].message)}",
            f"{bs[0]}: {bound[0][1]} (the concrete network is accepted)")
    elif bound[0][0] == "ok":
        for q, _t, text in diff(bound[0][1], concrete):
            bad(f"bound-vs-concrete:{q}", text)
    valid = [i for i, (how, _) in enumerate(bound) if how == "ok"]
    invalid = [i for i, (how, _) in enumerate(bound) if how == "refused"]

    # (a) the symbolic analysis (structural symbols bound), evaluated under each binding
    fixed = {s: bs[0][s] for s in case.structural}
    how, sym = attempt(lambda: cnncalc.analyze(arch, fixed or None))
    if how == "crash":
        bad(f"crash:analyze(arch):{type(sym).__name__}", repr(sym))
        return found
    if how == "timeout":
        bad("timeout:analyze(arch)", f"symbolic analysis over {TIMEOUT}s")
        return found
    if how == "refused":
        STATS[f"sym_refused:{sym.kind}"] += 1
        if sym.kind == "limit":
            STATS["skipped_symbolic_limit"] += 1
        elif valid:
            zero0 = {k for k, v in case.arch.get("symbols", {}).items() if v.get("min") == 0}
            # Free sizes are analysed from 1; one declared from 0 is analysed at 0 when bound.
            from_zero = "declared from 0" in sym.message and all(
                any(bs[i].get(k) == 0 for k in zero0) for i in valid)
            tag = "broadcast-1:" if "broadcast" in sym.message and "holds for no value" in \
                sym.message else "needs-binding:" if NEEDS_BINDING in sym.message else \
                "from-zero:" if from_zero else ""
            bad(f"symbolic-refuses-valid:{tag}{sym.kind}:{_norm_msg(sym.message)}",
                f"analyze(arch) refuses ({sym}) but analyze(arch, {bs[valid[0]]}) succeeds")
        return found
    free = sym.free_symbols
    zero = {k for k, v in case.arch.get("symbols", {}).items() if v.get("min") == 0}
    how, cons = attempt(lambda: sym.constraints)
    if how != "ok":
        if how != "refused" or valid:
            bad(f"constraints-{how}:{type(cons).__name__}", repr(cons))
        cons = None
    for i, b in enumerate(bs):
        sub = {k: b[k] for k in free}
        how, ev = attempt(functools.partial(sym.evaluate, **sub))
        bhow, bv = bound[i]
        if how in ("crash", "timeout"):
            bad(f"{how}:evaluate:{type(ev).__name__}", f"evaluate({sub}): {ev!r}")
            continue
        if bhow == "ok" and how == "refused":
            bad(f"evaluate-refuses-valid:{_norm_msg(ev.message)}",
                f"evaluate({sub}) refuses ({ev}) but analyze(arch, b) succeeds")
        elif bhow == "refused" and how == "ok":
            bad(f"evaluate-accepts-invalid:{_norm_msg(bv.message)}",
                f"evaluate({sub}) returns (params {ev.totals.params}) but analyze(arch, b) "
                f"refuses: {bv}")
        elif bhow == "ok" and how == "ok":
            STATS["evaluate_compared"] += 1
            if ev.free_symbols:
                bad("evaluate-leaves-symbols", f"evaluate({sub}) leaves {ev.free_symbols}")
            for q, t, text in diff(ev, bv):
                bad(f"evaluate-mismatch:{q}:{t}", f"evaluate({sub}): {text}")
        # Constraints describe free sizes >= 1 (docs/schema.md: a size declared with min 0 is
        # analysed exactly once bound to 0, by a bound analysis, which (b) above compares).
        at_zero = any(b.get(k) == 0 for k in zero)
        if at_zero:
            STATS["constraints_skipped_at_zero"] += 1
        if cons is not None and bhow in ("ok", "refused") and not at_zero:
            held = [constraint_holds(c, b) for c in cons]
            if None in held:
                STATS["constraints_unreadable"] += 1
                continue
            if bhow == "ok" and not all(held):
                broken = [c for c, h in zip(cons, held, strict=True) if not h]
                # documented limitation: a symbolic merge takes a symbolic size as never 1
                why = ("broadcast-1" if _merge_eq_fails(sym, b)
                       or all(_broadcast_eq(c, b) for c in broken) else "wrong")
                bad(f"constraint-false-at-valid:{why}",
                    f"{b}: {broken} fail, yet the network is valid")
            elif bhow == "refused" and all(held) and bv.kind != "limit":
                # documented limitation: where a binding makes a symbolic merge broadcast, the
                # later layers' formulas (and so the constraints) describe the equal-size case
                why = "broadcast-1" if _merge_eq_fails(sym, b) else _norm_msg(bv.message)
                bad(f"constraints-miss-invalid:{why}",
                    f"{b}: every constraint {cons} holds but analyze refuses: {bv}")

    # (c) evaluate_many over the valid bindings, and over all of them
    if free and valid:
        cols = {k: np.array([bs[i][k] for i in valid], dtype=np.int64) for k in free}
        how, many = attempt(lambda: sym.evaluate_many(TOTALS, **cols))
        want = {q: [int(getattr(bound[i][1].totals, q)) for i in valid] for q in TOTALS}
        edge = any(abs(v) >= 2**62 for vs in want.values() for v in vs)
        if how == "ok":
            STATS["evaluate_many_compared"] += 1
            for q in TOTALS:
                got = [int(x) for x in np.asarray(many[q]).ravel()]
                if got != want[q]:
                    big = any(abs(v) >= 2**62 for v in want[q])
                    j = next(j for j, (g, w) in enumerate(zip(got, want[q], strict=True))
                             if g != w)
                    kind = ("merge-broadcast" if _merge_eq_fails(sym, bs[valid[j]])
                            else "int64-edge" if big else "small")
                    bad(f"evaluate_many-mismatch:{q}:{kind}",
                        f"row {bs[valid[j]]}: {q} {got[j]} != {want[q][j]}")
        elif how == "refused" and edge:
            STATS["evaluate_many_refused_edge"] += 1
        else:
            bad(f"evaluate_many-{how}:{type(many).__name__}",
                f"{ {k: v.tolist() for k, v in cols.items()} }: {many!r}")
        if invalid:
            cols = {k: np.array([b[k] for b in bs], dtype=np.int64) for k in free}
            how, many = attempt(lambda: sym.evaluate_many(TOTALS, **cols))
            STATS[f"evaluate_many_with_invalid_rows:{how}"] += 1
            if how in ("crash", "timeout"):
                bad(f"evaluate_many-{how}-invalid-rows:{type(many).__name__}", repr(many))

    # (c') sweep over one symbol, the others bound as in the first binding
    swept = sorted(set(free) - set(case.structural))
    if sweep and swept:
        s = swept[len(bs) % len(swept)]
        values = sorted({b[s] for b in bs})
        rows = [{**bs[0], s: v} for v in values]
        rest = {k: v for k, v in bs[0].items() if k != s}
        how, res = attempt(lambda: cnncalc.sweep(arch, {s: values}, rest, TOTALS,
                                                 as_frame=False))
        truth = [attempt(functools.partial(cnncalc.analyze, arch, r)) for r in rows]
        all_ok = all(h == "ok" for h, _ in truth)
        if how in ("crash", "timeout"):
            bad(f"sweep-{how}:{type(res).__name__}", f"sweep {s}={values} under {rest}: {res!r}")
        elif how == "ok" and not all_ok:
            j = next(j for j, (h, _) in enumerate(truth) if h != "ok")
            bad(f"sweep-accepts-invalid:{_norm_msg(str(truth[j][1]))}",
                f"sweep {s}={values} under {rest} returns rows, but {rows[j]} is refused: "
                f"{truth[j][1]}")
        elif how == "refused" and all_ok:
            if res.kind == "limit":
                STATS["sweep_limit"] += 1
            else:
                bad(f"sweep-refuses-valid:{_norm_msg(res.message)}",
                    f"sweep {s}={values} under {rest}: {res}")
        elif how == "ok":
            STATS["sweep_compared"] += 1
            for row, (_, an) in zip(res, truth, strict=True):
                for q in TOTALS:
                    if row[q] != int(getattr(an.totals, q)):
                        bad(f"sweep-mismatch:{q}", f"sweep row {s}={row[s]} under {rest}: "
                                                   f"{q} {row[q]} != {getattr(an.totals, q)}")

    # (d) PyTorch for small sizes (an opaque layer cannot be built)
    opaque = any(layer.get("type") == "opaque" for layer in case.concrete["layers"])
    if torch and opaque:
        STATS["torch_skipped_opaque"] += 1
    elif torch:
        from torch_oracle import mismatches
        done = 0
        for i in valid:
            if done >= 2 or not _small(bound[i][1]):
                continue
            done += 1
            how, mm = attempt(functools.partial(mismatches, arch, bs[i]))
            STATS["torch_compared"] += 1
            if how != "ok":
                bad(f"torch-{how}:{type(mm).__name__}:{_norm_msg(str(mm))}",
                    f"{bs[i]}: {mm!r}")
            for m in mm if how == "ok" else []:
                bad(f"torch-mismatch:{_norm_msg(m)}", f"{bs[i]}: {m}")
    return found


def report(case: SymCase, found: list[Finding]) -> str:
    lines = [f"{sig}\n    {detail}" for sig, detail in found]
    return case.describe() + "\n" + "\n".join(lines)


HYPOTHESIS = dict(deadline=None, derandomize=CI, database=None if CI else settings().database,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])


@settings(max_examples=EXAMPLES, **HYPOTHESIS)  # type: ignore[arg-type]
@given(symbolic_cases())
def test_symbolic_fields_agree(case: SymCase) -> None:
    found = []
    for f in check(case):
        if f[0].startswith(KNOWN_LIMITATIONS):
            STATS[f"known:{f[0]}"] += 1
        else:
            found.append(f)
    assert not found, report(case, found)


# --- the strategy itself ------------------------------------------------------------------------

def test_strategy_symbolises_every_kind_of_field() -> None:
    """The generator reaches kernels, strides, paddings, channels, repeat counts, args..."""
    seen: Counter[str] = Counter()

    @settings(max_examples=150, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(symbolic_cases())
    def collect(case: SymCase) -> None:
        for f in case.fields:
            seen[f.split("=")[0].rsplit(".", 1)[-1]] += 1
        zero = {k for k, v in case.arch.get("symbols", {}).items() if v.get("min") == 0}
        assert all(v >= (0 if k in zero else 1) for b in case.bindings for k, v in b.items())
        seen["zero"] += any(b.get(k) == 0 for b in case.bindings for k in zero)

    collect()
    for f in ("kernel_size", "stride", "padding", "out_channels", "dilation", "groups",
              "shape", "zero"):
        assert seen[f] > 0, (f, seen)


def test_constraint_reader() -> None:
    env = {"H": 7, "K": 3}
    assert constraint_holds("H >= 3", env) is True
    assert constraint_holds("floor(H/2 - K/2) + 1 >= 1", env) is True
    assert constraint_holds("floor(H/2 - K/2) + 1 >= 4", env) is False
    assert constraint_holds("H mod 2 == 1", env) is True
    assert constraint_holds("H mod 4 in {0, 2}", env) is False
    assert constraint_holds("2*K == H - 1 (a: merge)", env) is True
    assert constraint_holds("H in {5, 7} (a: merge)", env) is True
    assert constraint_holds("import os", env) is None
    assert constraint_holds("2 <= K <= 3", env) is True
    assert constraint_holds("4 <= K <= 9", env) is False
    assert constraint_holds("H in {3} or H >= 2 and H mod 2 == 0", env) is False
    assert constraint_holds("H in {7} or K >= 9", env) is True
    assert constraint_holds("max(H, K) % 4 == 3", env) is True
    assert constraint_holds("ceiling(H/2) >= 1", env) is None  # sympy's spelling is not ours


def test_time_limit_fires() -> None:
    how, v = attempt(lambda: time.sleep(5) if TIMEOUT > 0.5 else None)
    assert how in ("ok", "timeout")


# --- long runs ----------------------------------------------------------------------------------

def survey(n: int, out: str, torch: bool = True, run_seed: int = 0) -> dict[str, Any]:
    """Run ``n`` examples from ``run_seed``; keep the smallest example of every finding."""
    classes: dict[str, dict[str, Any]] = {}
    done = [0]
    t0 = time.monotonic()

    @seed(run_seed)
    @settings(max_examples=n, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(symbolic_cases())
    def run(case: SymCase) -> None:
        done[0] += 1
        if done[0] % 500 == 0:  # a checkpoint, so a long run that is stopped still reports
            write(done[0])
        for sig, detail in check(case, torch=torch):
            size = len(json.dumps(case.arch)) + len(str(case.bindings))
            c = classes.setdefault(sig, {"count": 0})
            c["count"] += 1
            if "size" not in c or size < c["size"]:
                c.update(size=size, detail=detail, arch=case.arch, bindings=case.bindings,
                         structural=list(case.structural), fields=case.fields)

    def write(done: int) -> dict[str, Any]:
        result = {"examples": done, "seed": run_seed,
                  "seconds": round(time.monotonic() - t0, 1), "stats": dict(STATS),
                  "classes": dict(sorted(classes.items(), key=lambda kv: -kv[1]["count"]))}
        Path(out).write_text(json.dumps(result, indent=1, default=str))
        return result

    run()
    return write(n)


def minimize(signature: str, n: int) -> None:
    """Let hypothesis shrink an example whose findings include ``signature`` (a prefix)."""

    @settings(max_examples=n, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(symbolic_cases())
    def run(case: SymCase) -> None:
        found = [f for f in check(case) if f[0].startswith(signature)]
        assert not found, report(case, found)

    try:
        run()
    except AssertionError as e:
        print(e)
    else:
        print(f"no example with {signature!r} in {n} examples")


if __name__ == "__main__":
    if sys.argv[1:2] == ["survey"]:
        r = survey(EXAMPLES, sys.argv[2] if len(sys.argv) > 2 else "survey.json",
                   torch=os.environ.get("CNNCALC_DIFF_TORCH", "1") == "1",
                   run_seed=int(os.environ.get("CNNCALC_HYPOTHESIS_SEED", "0")))
        print(json.dumps({k: r[k] for k in ("examples", "seed", "seconds", "stats")}, indent=1))
        for sig, c in r["classes"].items():
            print(f"{c['count']:6d}  {sig}")
    elif sys.argv[1:2] == ["minimize"]:
        minimize(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
    else:
        sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
