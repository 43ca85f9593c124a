"""Gradient-boosted regression trees stored as plain JSON and predicted in NumPy.

A device profile predicts log layer time with a sum of regression trees fitted by LightGBM. The
profile is a JSON file, never a pickle: loading it runs no code from the file, needs no LightGBM,
and reads the same on any platform. :class:`TreeEnsemble` holds the trees in that portable form
and predicts from it; :func:`fit_trees` (the ``cost`` extra) fits them.

Each tree is flat: five parallel arrays over its nodes in pre-order, the root first and every
child after its parent. An internal node ``j`` sends a row to ``left[j]`` when
``x[feature[j]] <= threshold[j]``, else to ``right[j]``; a leaf has ``feature[j] == -1``,
``left[j] == right[j] == -1`` and contributes ``value[j]``. The prediction is the sum of one leaf
value per tree. On disk::

    {"format": "cnncalc-trees/1", "features": ["log_macs", ...],
     "trees": [{"feature": [0, -1, -1], "threshold": [2.5, 0.0, 0.0], "left": [1, -1, -1],
                "right": [2, -1, -1], "value": [0.0, 1.25, -0.5]}, ...]}

Values are plain Python floats, which :func:`json.dumps` writes with ``repr``, so a profile read
back predicts bit for bit the same.

Conversion from LightGBM (:meth:`TreeEnsemble.from_booster`) walks ``booster.dump_model()``:
each ``tree_info[i]["tree_structure"]`` is a nested dict whose internal nodes carry
``split_feature``, ``threshold``, ``decision_type`` and ``left_child``/``right_child``, and whose
leaves carry ``leaf_value`` (a tree that never split is one leaf). LightGBM folds the learning
rate and the initial score (``boost_from_average``) into the leaf values, so the sum of leaves
is ``booster.predict(x)`` for objectives whose output is the raw score (L2, L1, Huber...). Only
numeric ``<=`` splits are supported: categorical splits, linear trees, ``zero_as_missing``,
random-forest averaging and multi-output models are refused at conversion. Rows with NaN or
infinity are refused at prediction (cnncalc's features are always finite), so LightGBM's
missing-value routes never apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import CnnCalcError

FORMAT = "cnncalc-trees/1"
"""The ``format`` tag of the JSON form; a change to its meaning gets a new number."""

MAX_TREES = 10_000
MAX_NODES = 100_000
"""Per tree. LightGBM's ``num_leaves`` tops out at 131,072, about 262,000 nodes; cnncalc fits
31 leaves (61 nodes)."""
MAX_TOTAL_NODES = 10_000_000
"""Over all trees: bounds the memory a profile can ask for (about 300 MB of arrays)."""

_BLOCK = 1 << 20
"""Tree-row pairs :meth:`TreeEnsemble.predict` walks at once (bounds its scratch memory)."""
_ARRAYS = ("feature", "threshold", "left", "right", "value")
_INT_ARRAYS = ("feature", "left", "right")
# Objectives whose prediction is the raw sum of leaves (no link function applied).
_RAW_OBJECTIVES = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class FlatTree:
    """One regression tree as parallel node arrays in pre-order (see the module docstring).

    ``feature``, ``left``, ``right`` are int64 (``-1`` at leaves); ``threshold`` and ``value``
    are float64 (``threshold`` is 0 at leaves, ``value`` is 0 at internal nodes)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        for name in _ARRAYS:
            dtype = np.int64 if name in _INT_ARRAYS else np.float64
            object.__setattr__(self, name, _readonly(np.array(getattr(self, name), dtype=dtype)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FlatTree):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _ARRAYS)

    def __len__(self) -> int:
        return int(self.feature.shape[0])

    def to_json(self) -> dict[str, list[Any]]:
        """The five arrays as plain lists (Python ints and floats)."""
        return {n: getattr(self, n).tolist() for n in _ARRAYS}


def _fail(where: str, msg: str) -> CnnCalcError:
    return CnnCalcError(f"{where}: {msg}", kind="input")


def _check_tree(t: FlatTree, n_features: int, where: str, tp: str) -> None:
    """Refuse a tree (``tp``, e.g. ``trees[3]``) that is not a proper binary tree over
    ``n_features`` features: lists of different lengths, no nodes, a feature index out of range,
    a child outside the tree, not after its parent, or shared, a node the root does not reach,
    a non-finite number."""
    n = len(t)
    for name in _ARRAYS:
        a = getattr(t, name)
        if a.ndim != 1 or a.shape[0] != n:
            raise _fail(where, f"{tp}.{name} has {a.size} entries but {tp}.feature has {n}; "
                        "the five lists of a tree have one entry per node")
    if n == 0:
        raise _fail(where, f"{tp} has no nodes; a tree has at least one leaf")
    if n > MAX_NODES:
        raise _fail(where, f"{tp} has {n} nodes, more than the limit of {MAX_NODES}")
    for name in ("threshold", "value"):
        a = getattr(t, name)
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            j = int(bad[0])
            raise _fail(where, f"{tp}.{name}[{j}] = {a[j]} is not a finite number")
    bad = np.flatnonzero((t.feature < -1) | (t.feature >= n_features))
    if bad.size:
        j = int(bad[0])
        raise _fail(where, f"{tp}.feature[{j}] = {t.feature[j]} is not a feature index "
                    f"({n_features} features; -1 marks a leaf)")
    leaf = t.feature == -1
    idx = np.arange(n)
    for name in ("left", "right"):
        c = getattr(t, name)
        bad = np.flatnonzero(leaf & (c != -1))
        if bad.size:
            j = int(bad[0])
            raise _fail(where, f"{tp}.{name}[{j}] = {c[j]} but node {j} is a leaf (feature "
                        "-1); a leaf's children are -1")
        bad = np.flatnonzero(~leaf & ((c < 0) | (c >= n)))
        if bad.size:
            j = int(bad[0])
            raise _fail(where, f"{tp}.{name}[{j}] = {c[j]} points outside the tree ({n} nodes)")
        bad = np.flatnonzero(~leaf & (c <= idx))
        if bad.size:
            j = int(bad[0])
            raise _fail(where, f"{tp}.{name}[{j}] = {c[j]} does not point forward (children "
                        f"come after their parent, node {j}), so the tree could cycle")
    parents = np.bincount(np.concatenate([t.left[~leaf], t.right[~leaf]]), minlength=n)
    parents[0] += 1                                  # the root, entered from outside
    bad = np.flatnonzero(parents != 1)
    if bad.size:
        j = int(bad[0])
        what = "is not reached from the root" if parents[j] == 0 else \
            f"has {parents[j]} parents"
        raise _fail(where, f"{tp}: node {j} {what}; each node but the root has one parent")


@dataclass(frozen=True)
class TreeEnsemble:
    """Sum of regression trees over named numeric features: ``predict(x) = sum of leaf values``.

    The trees are checked at construction and compiled once into flat arrays over all trees, so
    :meth:`predict` walks every tree for every row at once, one level per step."""

    features: tuple[str, ...]
    trees: tuple[FlatTree, ...]
    _feat: np.ndarray = field(init=False, repr=False, compare=False)
    _thr: np.ndarray = field(init=False, repr=False, compare=False)
    _child: np.ndarray = field(init=False, repr=False, compare=False)
    _val: np.ndarray = field(init=False, repr=False, compare=False)
    _roots: np.ndarray = field(init=False, repr=False, compare=False)
    _unorder: np.ndarray = field(init=False, repr=False, compare=False)
    _active: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _depth: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "trees", tuple(self.trees))
        self._check("trees")
        self._compile()

    def _check(self, where: str) -> None:
        if not all(isinstance(f, str) and f for f in self.features):
            raise _fail(where, "features must be non-empty strings")
        if len(set(self.features)) != len(self.features):
            dup = next(f for f in self.features if self.features.count(f) > 1)
            raise _fail(where, f"feature {dup!r} is named twice")
        if not self.trees:
            raise _fail(where, "trees is empty; an ensemble has at least one tree")
        if len(self.trees) > MAX_TREES:
            raise _fail(where, f"{len(self.trees)} trees, more than the limit of {MAX_TREES}")
        for i, t in enumerate(self.trees):
            if not isinstance(t, FlatTree):
                raise _fail(where, f"trees[{i}] is a {type(t).__name__}, not a FlatTree")
            _check_tree(t, len(self.features), where, f"trees[{i}]")
        total = sum(len(t) for t in self.trees)
        if total > MAX_TOTAL_NODES:
            raise _fail(where, f"{total} nodes in all, more than the limit of {MAX_TOTAL_NODES}")

    def _compile(self) -> None:
        """Concatenate the trees into arrays indexed by ``2 * global node``: ``_feat`` and
        ``_thr`` repeated per slot, ``_child[2g + went_right]`` the next slot (a leaf points to
        itself, so walking past a leaf stays there), ``_val[2g]`` the leaf value."""
        sizes = np.array([len(t) for t in self.trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        feat = np.concatenate([t.feature for t in self.trees])
        leaf = feat == -1
        g = np.arange(feat.size)
        off = np.repeat(offsets, sizes)
        left = np.where(leaf, g, np.concatenate([t.left for t in self.trees]) + off)
        right = np.where(leaf, g, np.concatenate([t.right for t in self.trees]) + off)
        thr = np.concatenate([t.threshold for t in self.trees])
        val = np.concatenate([t.value for t in self.trees])
        index = np.intp
        object.__setattr__(self, "_feat", _readonly(np.repeat(np.where(leaf, 0, feat), 2)
                                                    .astype(index)))
        object.__setattr__(self, "_thr", _readonly(np.repeat(thr, 2)))
        object.__setattr__(self, "_child", _readonly(
            (2 * np.stack([left, right], axis=1).ravel()).astype(index)))
        object.__setattr__(self, "_val", _readonly(np.repeat(val, 2)))
        # Depth of each tree: walk down level by level from all roots at once.
        tree = np.repeat(np.arange(len(self.trees)), sizes)
        depths = np.zeros(len(self.trees), dtype=np.intp)
        step, level = 0, offsets
        while True:
            inner = level[~leaf[level]]
            if inner.size == 0:
                break
            step += 1
            depths[tree[inner]] = step
            level = np.concatenate([left[inner], right[inner]])
        # predict walks the trees deepest first, so at each step the trees still walking are a
        # leading block of rows; it adds them up in the original order.
        order = np.argsort(-depths, stable=True)
        object.__setattr__(self, "_unorder", _readonly(np.argsort(order)))
        object.__setattr__(self, "_roots", _readonly((2 * offsets[order]).astype(index)))
        object.__setattr__(self, "_active", tuple(int((depths > s).sum()) for s in range(step)))
        object.__setattr__(self, "_depth", step)

    @property
    def depth(self) -> int:
        """Edges on the longest root-to-leaf path over all trees (the steps of :meth:`predict`)."""
        return self._depth

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The sum of leaf values per row of ``x`` (``(rows, len(features))``, finite).

        Trees are added in order starting from the first, as LightGBM does, so the result equals
        ``booster.predict(x)`` to rounding (in practice bit for bit)."""
        try:
            a = np.ascontiguousarray(x, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise CnnCalcError(f"the features are not numbers: {e}", kind="invalid") from None
        nf = len(self.features)
        if a.ndim != 2 or a.shape[1] != nf:
            raise CnnCalcError(
                f"x has shape {a.shape}; the trees need (rows, {nf}) with columns "
                f"{', '.join(self.features)}", kind="invalid")
        if not np.isfinite(a).all():
            r = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
            raise CnnCalcError(f"x row {r} holds NaN or infinity; every feature must be finite",
                               kind="invalid")
        step = max(1, _BLOCK // len(self.trees))
        parts = [self._walk(a[i:i + step]) for i in range(0, a.shape[0], step)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _walk(self, a: np.ndarray) -> np.ndarray:
        """Predict a block of rows: all trees, all rows, one level per step."""
        rows, nf = a.shape
        flat = a.ravel()
        rowoff = (np.arange(rows, dtype=np.intp) * nf)[None, :]
        slot = np.repeat(self._roots[:, None], rows, axis=1)       # (trees, rows)
        nxt = np.empty_like(slot)
        feat_i = np.empty_like(slot)
        xv = np.empty(slot.shape)
        thr = np.empty(slot.shape)
        right = np.empty(slot.shape, dtype=bool)
        # Indices are in range by construction: mode="clip" skips numpy's checks and buffering.
        for k in self._active:                       # trees still walking at this step
            s, f = slot[:k], feat_i[:k]
            np.take(self._feat, s, out=f, mode="clip")
            f += rowoff
            np.take(flat, f, out=xv[:k], mode="clip")
            np.take(self._thr, s, out=thr[:k], mode="clip")
            np.greater(xv[:k], thr[:k], out=right[:k])
            s += right[:k]
            np.take(self._child, s, out=nxt[:k], mode="clip")
            s[...] = nxt[:k]
        leaves = np.take(self._val, slot, mode="clip")[self._unorder]
        # Reducing over axis 0 adds tree by tree, in order, like LightGBM.
        return np.add.reduce(leaves, axis=0)

    def to_json(self) -> dict[str, Any]:
        """The portable JSON form (see the module docstring): plain lists, exact floats."""
        return {"format": FORMAT, "features": list(self.features),
                "trees": [t.to_json() for t in self.trees]}

    @classmethod
    def from_json(cls, d: Any, where: str = "profile") -> TreeEnsemble:
        """Read and check the JSON form; any defect raises one ``CnnCalcError(kind='input')``
        naming ``where`` and the defect."""
        if not isinstance(d, dict):
            raise _fail(where, f"the trees are a {type(d).__name__}, not an object with "
                        f"format {FORMAT!r}, features and trees")
        if d.get("format") != FORMAT:
            raise _fail(where, f"format is {d.get('format')!r}, expected {FORMAT!r}")
        _keys(d, {"format", "features", "trees"}, where)
        feats, trees = d["features"], d["trees"]
        if not isinstance(feats, list) or not all(isinstance(f, str) for f in feats):
            raise _fail(where, "features must be a list of strings")
        if not isinstance(trees, list):
            raise _fail(where, f"trees is a {type(trees).__name__}, not a list")
        if len(trees) > MAX_TREES:
            raise _fail(where, f"{len(trees)} trees, more than the limit of {MAX_TREES}")
        parsed = tuple(_tree_from_json(t, where, f"trees[{i}]") for i, t in enumerate(trees))
        ens = cls.__new__(cls)
        object.__setattr__(ens, "features", tuple(feats))
        object.__setattr__(ens, "trees", parsed)
        ens._check(where)
        ens._compile()
        return ens

    @classmethod
    def from_booster(cls, booster: Any) -> TreeEnsemble:
        """Convert a fitted ``lightgbm.Booster`` through ``booster.dump_model()``."""
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("num_class", 1) != 1:
            raise _unsupported("the model has several outputs per row (multiclass)")
        if dump.get("average_output"):
            raise _unsupported("the model averages its trees (boosting 'rf')")
        objective = str(dump.get("objective", "regression")).split()[0]
        if objective not in _RAW_OBJECTIVES:
            raise _unsupported(f"objective {objective!r} transforms the sum of leaves; fit a "
                               "regression objective (cnncalc fits log time with L2)")
        trees = tuple(_tree_from_dump(t["tree_structure"], i)
                      for i, t in enumerate(dump["tree_info"]))
        return cls(tuple(dump["feature_names"]), trees)


def _keys(d: dict[str, Any], want: set[str], where: str, tp: str = "") -> None:
    at = f"{tp} " if tp else ""
    missing = sorted(want - set(d))
    if missing:
        raise _fail(where, f"{at}missing key {missing[0]!r}")
    extra = sorted(str(k) for k in set(d) - want)
    if extra:
        raise _fail(where, f"{at}unknown key {extra[0]!r} (expected "
                    f"{', '.join(sorted(want))})")


def _numbers(v: Any, path: str, integer: bool, where: str) -> np.ndarray:
    """A JSON list of numbers (integers for ``integer``) as an array; bools, strings, nulls and
    non-finite floats are refused, naming the first bad entry."""
    if not isinstance(v, list):
        raise _fail(where, f"{path} is a {type(v).__name__}, not a list")
    for j, e in enumerate(v):
        ok = type(e) is int if integer else type(e) in (int, float)
        if not ok:
            want = "an integer" if integer else "a number"
            raise _fail(where, f"{path}[{j}] = {e!r} is not {want}")
        if not integer and not math.isfinite(e):
            raise _fail(where, f"{path}[{j}] = {e!r} is not a finite number")
        if integer and not -(2 ** 62) < e < 2 ** 62:
            raise _fail(where, f"{path}[{j}] = {e} is out of range")
    return np.array(v, dtype=np.int64 if integer else np.float64)


def _tree_from_json(t: Any, where: str, tp: str) -> FlatTree:
    if not isinstance(t, dict):
        raise _fail(where, f"{tp} is a {type(t).__name__}, not an object of five lists "
                    f"({', '.join(_ARRAYS)})")
    _keys(t, set(_ARRAYS), where, tp)
    for name in _ARRAYS:
        if isinstance(t[name], list) and len(t[name]) > MAX_NODES:
            raise _fail(where, f"{tp}.{name} has {len(t[name])} nodes, more than the limit of "
                        f"{MAX_NODES}")
    arrays = {n: _numbers(t[n], f"{tp}.{n}", n in _INT_ARRAYS, where) for n in _ARRAYS}
    return FlatTree(**arrays)


def _unsupported(why: str) -> CnnCalcError:
    return CnnCalcError(f"cannot store this LightGBM model as cnncalc trees: {why}",
                        kind="invalid")


def _tree_from_dump(root: dict[str, Any], i: int) -> FlatTree:
    """Flatten one ``tree_structure`` in pre-order (left subtree first), without recursion so
    deep leaf-wise trees convert too."""
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []
    stack: list[tuple[dict[str, Any], int, list[int] | None]] = [(root, -1, None)]
    while stack:
        node, parent, slot = stack.pop()
        j = len(feature)
        if slot is not None:
            slot[parent] = j
        if "leaf_value" in node:
            if "leaf_coeff" in node:
                raise _unsupported(f"tree {i} is a linear tree (linear_tree=true)")
            feature.append(-1)
            threshold.append(0.0)
            left.append(-1)
            right.append(-1)
            value.append(float(node["leaf_value"]))
            continue
        if node.get("decision_type") != "<=":
            raise _unsupported(f"tree {i} splits feature {node.get('split_feature')} with "
                               f"decision_type {node.get('decision_type')!r}; only numeric "
                               "'<=' splits are supported (no categorical_feature)")
        if node.get("missing_type") == "Zero":
            raise _unsupported(f"tree {i} treats zero as missing (zero_as_missing=true)")
        feature.append(int(node["split_feature"]))
        threshold.append(float(node["threshold"]))
        left.append(-1)
        right.append(-1)
        value.append(0.0)
        stack.append((node["right_child"], j, right))
        stack.append((node["left_child"], j, left))
    return FlatTree(np.array(feature), np.array(threshold), np.array(left), np.array(right),
                    np.array(value))


def _invalid(msg: str) -> CnnCalcError:
    return CnnCalcError(msg, kind="invalid")


def fit_trees(x: np.ndarray, y: np.ndarray, features: Sequence[str], *,
              monotone: Sequence[int] | None = None, rounds: int = 400,
              learning_rate: float = 0.05, num_leaves: int = 31, min_data_in_leaf: int = 5,
              seed: int = 0, weight: np.ndarray | None = None) -> TreeEnsemble:
    """LightGBM regression (L2) of ``y`` on ``x``, returned as a :class:`TreeEnsemble`.

    Deterministic (fixed seed, ``deterministic``, one thread, column-wise histograms), so the
    same data gives the same profile. ``monotone`` (-1, 0 or 1 per feature) constrains the
    prediction to fall, be free or rise along each feature (method 'advanced'). Needs the
    ``cost`` extra."""
    try:
        import lightgbm as lgb
    except ImportError:
        raise CnnCalcError("fitting the time model needs LightGBM: pip install 'cnncalc[cost]'",
                           kind="dependency") from None
    xa = np.ascontiguousarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    names = tuple(features)
    if xa.ndim != 2 or xa.shape[1] != len(names):
        raise _invalid(f"x has shape {xa.shape}; expected (rows, {len(names)}) for features "
                       f"{', '.join(names)}")
    if ya.shape != (xa.shape[0],):
        raise _invalid(f"y has shape {ya.shape}; expected ({xa.shape[0]},), one per row of x")
    if xa.shape[0] == 0:
        raise _invalid("no rows to fit")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise _invalid("x and y must be finite (no NaN or infinity)")
    if rounds < 1:
        raise _invalid(f"rounds = {rounds}; at least one boosting round is needed")
    params: dict[str, Any] = {
        "objective": "regression", "learning_rate": learning_rate, "num_leaves": num_leaves,
        "min_data_in_leaf": min_data_in_leaf, "seed": seed, "deterministic": True,
        "num_threads": 1, "force_col_wise": True, "verbose": -1,
    }
    if monotone is not None:
        mono = [int(m) for m in monotone]
        if len(mono) != len(names) or any(m not in (-1, 0, 1) for m in mono):
            raise _invalid(f"monotone = {list(monotone)}; give -1, 0 or 1 for each of the "
                           f"{len(names)} features")
        params["monotone_constraints"] = mono
        params["monotone_constraints_method"] = "advanced"
    w = None
    if weight is not None:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != ya.shape or not np.isfinite(w).all() or (w < 0).any():
            raise _invalid(f"weight has shape {w.shape}; expected {ya.shape}, finite and >= 0")
    # LightGBM's own column names: the caller's may hold characters LightGBM refuses.
    data = lgb.Dataset(xa, ya, weight=w, params=params, free_raw_data=True)
    booster = lgb.train(params, data, num_boost_round=rounds)
    return replace(TreeEnsemble.from_booster(booster), features=names)
