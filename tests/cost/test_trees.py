"""Regression trees as JSON (cnncalc.cost.trees): hand-written trees whose predictions are
arithmetic, strict reading of corrupted JSON, and equality with LightGBM's own predictions.

The hand-written ensemble has three trees over features ``a`` (column 0) and ``b`` (column 1):

* tree 0: ``a <= 2.5 -> 1.25`` else ``-0.5``;
* tree 1: ``b <= -1.0 -> (a <= 0.0 -> 0.125 else 0.25)`` else ``2.0``;
* tree 2: a single leaf, ``0.0625``.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import cnncalc.cost.trees as trees_module
from cnncalc.cost.trees import FORMAT, FlatTree, TreeEnsemble, fit_trees
from cnncalc.errors import CnnCalcError


def _hand() -> dict[str, Any]:
    return {
        "format": "cnncalc-trees/1",
        "features": ["a", "b"],
        "trees": [
            {"feature": [0, -1, -1], "threshold": [2.5, 0.0, 0.0], "left": [1, -1, -1],
             "right": [2, -1, -1], "value": [0.0, 1.25, -0.5]},
            {"feature": [1, 0, -1, -1, -1], "threshold": [-1.0, 0.0, 0.0, 0.0, 0.0],
             "left": [1, 2, -1, -1, -1], "right": [4, 3, -1, -1, -1],
             "value": [0.0, 0.0, 0.125, 0.25, 2.0]},
            {"feature": [-1], "threshold": [0.0], "left": [-1], "right": [-1],
             "value": [0.0625]},
        ],
    }


# (a, b) -> the leaves each tree picks, written out.
HAND_CASES = [
    ((0.0, 0.0), 1.25 + 2.0 + 0.0625),
    ((2.5, -1.0), 1.25 + 0.25 + 0.0625),      # both on their threshold: go left
    ((2.6, -1.0), -0.5 + 0.25 + 0.0625),
    ((3.0, -2.0), -0.5 + 0.25 + 0.0625),
    ((-1.0, -5.0), 1.25 + 0.125 + 0.0625),
    ((0.0, -1.0), 1.25 + 0.125 + 0.0625),     # a = 0 on tree 1's inner threshold: left
    ((1e9, 1e9), -0.5 + 2.0 + 0.0625),
]


def test_hand_written_trees_predict_the_arithmetic() -> None:
    ens = TreeEnsemble.from_json(_hand())
    x = np.array([c for c, _ in HAND_CASES])
    want = np.array([v for _, v in HAND_CASES])
    assert ens.predict(x).tolist() == want.tolist()
    assert ens.features == ("a", "b")
    assert [len(t) for t in ens.trees] == [3, 5, 1]
    assert ens.depth == 2


def test_trees_are_added_in_order() -> None:
    """Leaves add up from the first tree to the last, as LightGBM adds them, even though the
    deepest trees are walked first: ``1e16 + -1e16 + 1 = 1``, where the other order
    ``1 + 1e16`` would round to ``1e16`` and end at 0."""
    d = _hand()
    leaf = d["trees"][2]
    d["trees"] = [
        {**leaf, "value": [1e16]},
        {**leaf, "value": [-1e16]},
        {**d["trees"][0], "value": [0.0, 1.0, 1.0]},         # depth 1: walked first
        {**leaf, "value": [0.0]},
    ]
    assert TreeEnsemble.from_json(d).predict(np.zeros((2, 2))).tolist() == [1.0, 1.0]


def test_rows_walked_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many rows are walked a block at a time; here 4 tree-row pairs, so one row per block."""
    monkeypatch.setattr(trees_module, "_BLOCK", 4)
    ens = TreeEnsemble.from_json(_hand())
    x = np.array([c for c, _ in HAND_CASES] * 3)
    assert ens.predict(x).tolist() == [v for _, v in HAND_CASES] * 3


def test_single_leaf_tree_alone() -> None:
    d = _hand()
    d["trees"] = d["trees"][2:]
    ens = TreeEnsemble.from_json(d)
    assert ens.depth == 0
    assert ens.predict(np.zeros((3, 2))).tolist() == [0.0625] * 3


def test_json_round_trip_is_exact() -> None:
    d = _hand()
    d["trees"][0]["threshold"][0] = 0.1 + 0.2           # 0.30000000000000004: needs repr
    d["trees"][0]["value"][1] = 1 / 3
    ens = TreeEnsemble.from_json(d)
    out = ens.to_json()
    assert out == d
    assert out["format"] == FORMAT
    back = TreeEnsemble.from_json(json.loads(json.dumps(out)))
    assert back == ens
    assert json.dumps(back.to_json()) == json.dumps(out)
    x = np.array([[0.30000000000000004, 0.0], [0.3, 0.0], [0.31, 0.0]])
    # 0.3 < 0.1 + 0.2, so it goes left; 0.31 goes right.
    assert back.predict(x).tolist() == [1 / 3 + 2.0 + 0.0625, 1 / 3 + 2.0 + 0.0625,
                                        -0.5 + 2.0 + 0.0625]
    assert back.predict(x).tolist() == ens.predict(x).tolist()


def test_to_json_writes_plain_python_types() -> None:
    out = TreeEnsemble.from_json(_hand()).to_json()
    t = out["trees"][1]
    assert all(type(v) is int for v in t["feature"] + t["left"] + t["right"])
    assert all(type(v) is float for v in t["threshold"] + t["value"])


def test_ensemble_is_frozen_and_compares_by_value() -> None:
    a, b = TreeEnsemble.from_json(_hand()), TreeEnsemble.from_json(_hand())
    assert a == b
    d = _hand()
    d["trees"][0]["value"][2] = -0.75
    assert TreeEnsemble.from_json(d) != a
    with pytest.raises(ValueError):
        a.trees[0].value[1] = 9.0                      # read-only arrays


def test_direct_construction_is_checked() -> None:
    leaf = FlatTree(np.array([-1]), np.array([0.0]), np.array([-1]), np.array([-1]),
                    np.array([2.0]))
    ens = TreeEnsemble(("a",), (leaf, leaf))
    assert ens.predict(np.array([[5.0]])).tolist() == [4.0]
    bad = FlatTree(np.array([3, -1, -1]), np.array([0.0] * 3), np.array([1, -1, -1]),
                   np.array([2, -1, -1]), np.array([0.0] * 3))
    with pytest.raises(CnnCalcError, match=r"trees\[0\]\.feature\[0\] = 3 is not a feature"):
        TreeEnsemble(("a",), (bad,))


@pytest.mark.parametrize("x, fragment", [
    (np.zeros((2, 3)), "x has shape (2, 3)"),
    (np.zeros(2), "x has shape (2,)"),
    (np.array([[0.0, 1.0], [np.nan, 0.0]]), "row 1 holds NaN or infinity"),
    (np.array([[np.inf, 1.0]]), "row 0 holds NaN or infinity"),
    (np.array([["a", "b"]]), "not numbers"),
])
def test_predict_refuses_bad_rows(x: np.ndarray, fragment: str) -> None:
    ens = TreeEnsemble.from_json(_hand())
    with pytest.raises(CnnCalcError) as e:
        ens.predict(x)
    assert e.value.kind == "invalid"
    assert fragment in str(e.value)


def test_predict_no_rows() -> None:
    assert TreeEnsemble.from_json(_hand()).predict(np.zeros((0, 2))).shape == (0,)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    """A corruption: set ``trees[i].name[j]`` (or a top-level key) to ``value``."""
    def f(d: dict[str, Any]) -> Any:
        parts = path.split(".")
        node: Any = d
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node[p]
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value
        return d
    return f


def _pop(key: str, tree: int | None = None) -> Callable[[dict[str, Any]], Any]:
    def f(d: dict[str, Any]) -> Any:
        (d if tree is None else d["trees"][tree]).pop(key)
        return d
    return f


def _many_trees(d: dict[str, Any]) -> Any:
    d["trees"] = [d["trees"][2]] * 10_001
    return d


def _many_nodes(d: dict[str, Any]) -> Any:
    n = 100_001
    d["trees"][2] = {"feature": [-1] * n, "threshold": [0.0] * n, "left": [-1] * n,
                     "right": [-1] * n, "value": [0.0] * n}
    return d


def _two_parents(d: dict[str, Any]) -> Any:
    t = d["trees"][1]                   # node 1's children both node 3; node 2 unreached
    t["left"][1] = 3
    return d


def _shared_child(d: dict[str, Any]) -> Any:
    t = d["trees"][1]                   # root's right child = node 3, also node 1's child
    t["right"][0] = 3
    return d


CORRUPTIONS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("not a dict", lambda d: [d], "the trees are a list"),
    ("none", lambda d: None, "the trees are a NoneType"),
    ("format tag", _set("format", "cnncalc-trees/2"), "format is 'cnncalc-trees/2'"),
    ("no format", _pop("format"), "format is None"),
    ("no features", _pop("features"), "missing key 'features'"),
    ("no trees", _pop("trees"), "missing key 'trees'"),
    ("extra key", _set("comment", 1), "unknown key 'comment'"),
    ("features not list", _set("features", "ab"), "features must be a list of strings"),
    ("feature name not str", _set("features", ["a", 2]), "features must be a list of strings"),
    ("duplicate feature", _set("features", ["a", "a"]), "feature 'a' is named twice"),
    ("empty feature name", _set("features", ["a", ""]), "non-empty strings"),
    ("trees not list", _set("trees", {}), "trees is a dict, not a list"),
    ("empty trees", _set("trees", []), "trees is empty"),
    ("tree not dict", _set("trees.1", [1, 2]), "trees[1] is a list, not an object"),
    ("tree missing key", _pop("value", 1), "trees[1] missing key 'value'"),
    ("tree extra key", _set("trees.0.leaf_count", [1, 1, 1]), "trees[0] unknown key"),
    ("list not list", _set("trees.0.left", 1), "trees[0].left is a int, not a list"),
    ("lengths differ", _set("trees.0.value", [0.0, 1.25]),
     "trees[0].value has 2 entries but trees[0].feature has 3"),
    ("no nodes", lambda d: _set("trees.2", {k: [] for k in d["trees"][2]})(d),
     "trees[2] has no nodes"),
    ("child out of range", _set("trees.0.left.0", 9),
     "profile: trees[0].left[0] = 9 points outside the tree (3 nodes)"),
    ("child negative", _set("trees.1.right.0", -1), "trees[1].right[0] = -1 points outside"),
    ("child backward", _set("trees.1.left.1", 0), "trees[1].left[1] = 0 does not point forward"),
    ("self loop", _set("trees.1.right.1", 1), "trees[1].right[1] = 1 does not point forward"),
    ("two parents", _two_parents, "trees[1]: node 2 is not reached from the root"),
    ("shared child", _shared_child, "trees[1]: node 3 has 2 parents"),
    ("leaf with child", _set("trees.0.left.1", 2),
     "trees[0].left[1] = 2 but node 1 is a leaf"),
    ("feature out of range", _set("trees.1.feature.1", 2),
     "trees[1].feature[1] = 2 is not a feature index (2 features"),
    ("feature below -1", _set("trees.1.feature.0", -2), "trees[1].feature[0] = -2 is not"),
    ("float feature", _set("trees.1.feature.0", 1.0),
     "trees[1].feature[0] = 1.0 is not an integer"),
    ("bool feature", _set("trees.1.feature.0", True),
     "trees[1].feature[0] = True is not an integer"),
    ("bool child", _set("trees.0.right.0", True), "trees[0].right[0] = True is not an integer"),
    ("bool threshold", _set("trees.0.threshold.0", False),
     "trees[0].threshold[0] = False is not a number"),
    ("string value", _set("trees.0.value.1", "1.25"),
     "trees[0].value[1] = '1.25' is not a number"),
    ("null value", _set("trees.0.value.1", None), "trees[0].value[1] = None is not a number"),
    ("nan threshold", _set("trees.0.threshold.0", float("nan")),
     "trees[0].threshold[0] = nan is not a finite number"),
    ("inf value", _set("trees.2.value.0", float("inf")),
     "trees[2].value[0] = inf is not a finite number"),
    ("huge int", _set("trees.0.left.0", 2 ** 70), "is out of range"),
    ("too many trees", _many_trees, "10001 trees, more than the limit of 10000"),
    ("too many nodes", _many_nodes, "trees[2].feature has 100001 nodes, more than the limit"),
]


@pytest.mark.parametrize("name, corrupt, fragment", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupted_json_is_one_clear_error(
        name: str, corrupt: Callable[[dict[str, Any]], Any], fragment: str) -> None:
    d = corrupt(copy.deepcopy(_hand()))
    with pytest.raises(CnnCalcError) as e:
        TreeEnsemble.from_json(d, where="profile")
    assert e.value.kind == "input"
    assert str(e.value).startswith("profile: ")
    assert fragment in str(e.value), str(e.value)


def test_where_names_the_source() -> None:
    d = _hand()
    d["trees"][0]["left"][0] = 9
    with pytest.raises(CnnCalcError, match=r"^gpu\.json: trees\[0\]\.left\[0\] = 9"):
        TreeEnsemble.from_json(d, where="gpu.json")


def test_core_needs_no_lightgbm() -> None:
    """Importing and predicting from JSON neither needs nor imports LightGBM; fitting says what
    to install."""
    code = (
        "import sys; sys.modules['lightgbm'] = None\n"
        "import numpy as np\n"
        "from cnncalc.cost.trees import TreeEnsemble, fit_trees\n"
        "from cnncalc.errors import CnnCalcError\n"
        f"e = TreeEnsemble.from_json({_hand()!r})\n"
        "print(e.predict(np.array([[0.0, 0.0]])).tolist())\n"
        "try:\n"
        "    fit_trees(np.zeros((4, 1)), np.zeros(4), ['a'])\n"
        "except CnnCalcError as err:\n"
        "    print(err.kind, err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == str([1.25 + 2.0 + 0.0625])
    assert out[1].startswith("dependency ") and "pip install 'cnncalc[cost]'" in out[1]
    code = "import sys, cnncalc.cost.trees; print('lightgbm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


# --- LightGBM ------------------------------------------------------------------------------

PARAMS = {"objective": "regression", "verbose": -1, "deterministic": True, "num_threads": 1,
          "force_col_wise": True, "seed": 0}


def _data(rows: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4)) * [1.0, 2.0, 0.5, 3.0]
    y = x[:, 0] + np.sin(2 * x[:, 1]) * x[:, 2] + 0.1 * x[:, 3] ** 2 + 0.1 * rng.normal(size=rows)
    return x, y


def _agree(ens: TreeEnsemble, booster: Any, x: np.ndarray) -> None:
    got, want = ens.predict(x), booster.predict(x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_booster_predictions_match() -> None:
    lgb = pytest.importorskip("lightgbm")
    x, y = _data()
    booster = lgb.train({**PARAMS, "num_leaves": 31, "learning_rate": 0.1},
                        lgb.Dataset(x, y), num_boost_round=120)
    ens = TreeEnsemble.from_booster(booster)
    assert len(ens.trees) == 120
    assert ens.features == ("Column_0", "Column_1", "Column_2", "Column_3")
    leaves = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
    assert [len(t) for t in ens.trees] == [2 * n - 1 for n in leaves]     # n leaves, n - 1 splits
    assert [int((t.feature == -1).sum()) for t in ens.trees] == leaves
    assert max(leaves) > 8
    xt = np.random.default_rng(1).normal(size=(300, 4)) * 2
    _agree(ens, booster, xt)
    _agree(ens, booster, x)                                   # the training rows
    # Rows exactly on the split thresholds, and one float above them: ties go left in both.
    rng = np.random.default_rng(5)
    cuts = [np.concatenate([t.threshold[t.feature == f] for t in ens.trees]) for f in range(4)]
    assert all(c.size for c in cuts)
    on = np.column_stack([rng.choice(c, 200) for c in cuts])
    _agree(ens, booster, on)
    _agree(ens, booster, np.nextafter(on, np.inf))
    _agree(TreeEnsemble.from_json(json.loads(json.dumps(ens.to_json()))), booster, xt)


def test_fit_trees_matches_its_booster_and_is_deterministic() -> None:
    lgb = pytest.importorskip("lightgbm")
    x, y = _data()
    ens = fit_trees(x, y, ["p", "k", "c in", "c out"], rounds=80, num_leaves=15)
    assert ens.features == ("p", "k", "c in", "c out")
    booster = lgb.train({**PARAMS, "learning_rate": 0.05, "num_leaves": 15,
                         "min_data_in_leaf": 5}, lgb.Dataset(x, y), num_boost_round=80)
    _agree(ens, booster, x)
    again = fit_trees(x, y, ["p", "k", "c in", "c out"], rounds=80, num_leaves=15)
    assert json.dumps(again.to_json()) == json.dumps(ens.to_json())
    # The fit is real: far better than the mean on its own training data.
    assert np.mean((ens.predict(x) - y) ** 2) < 0.2 * np.var(y)


def test_constant_target_gives_single_leaf_trees() -> None:
    lgb = pytest.importorskip("lightgbm")
    x = np.random.default_rng(2).normal(size=(50, 3))
    y = np.full(50, 1.75)
    booster = lgb.train(PARAMS, lgb.Dataset(x, y), num_boost_round=5)
    ens = TreeEnsemble.from_booster(booster)
    assert all(len(t) == 1 for t in ens.trees)
    assert ens.predict(x).tolist() == [1.75] * 50             # boost_from_average: the mean
    _agree(ens, booster, x)
    fitted = fit_trees(x, y, ["a", "b", "c"], rounds=5)
    assert fitted.predict(x[:3]).tolist() == [1.75] * 3


def test_some_trees_split_and_some_do_not() -> None:
    """A step target: the first trees split, later rounds may find nothing; mixed depths."""
    lgb = pytest.importorskip("lightgbm")
    x = np.linspace(0.0, 1.0, 40)[:, None]
    y = (x[:, 0] > 0.5) * 1.0
    booster = lgb.train({**PARAMS, "num_leaves": 2, "min_data_in_leaf": 1,
                         "min_data_in_bin": 1, "learning_rate": 1.0},
                        lgb.Dataset(x, y, params={"min_data_in_bin": 1}), num_boost_round=4)
    ens = TreeEnsemble.from_booster(booster)
    assert len(ens.trees[0]) == 3
    _agree(ens, booster, np.linspace(-1, 2, 301)[:, None])


def test_monotone_constraint_is_honoured() -> None:
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, size=(800, 3))
    # Strongly non-monotone in feature 0: only the constraint makes the fit rise along it.
    y = x[:, 0] + 2 * np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * rng.normal(size=800)
    grid = np.linspace(-3.5, 3.5, 400)
    free = fit_trees(x, y, ["a", "b", "c"], rounds=150)
    mono = fit_trees(x, y, ["a", "b", "c"], rounds=150, monotone=[1, 0, -1])
    for b, c in [(0.0, 0.0), (-2.0, 1.5), (2.5, -2.5)]:
        rows = np.column_stack([grid, np.full_like(grid, b), np.full_like(grid, c)])
        assert np.all(np.diff(mono.predict(rows)) >= 0)
        assert np.any(np.diff(free.predict(rows)) < 0)       # the test can fail
    for a, b in [(0.0, 0.0), (1.0, -2.0)]:
        rows = np.column_stack([np.full_like(grid, a), np.full_like(grid, b), grid])
        assert np.all(np.diff(mono.predict(rows)) <= 0)
    booster = lgb.train({**PARAMS, "learning_rate": 0.05, "num_leaves": 31,
                         "min_data_in_leaf": 5, "monotone_constraints": [1, 0, -1],
                         "monotone_constraints_method": "advanced"},
                        lgb.Dataset(x, y), num_boost_round=150)
    _agree(mono, booster, x)


def test_weights_change_the_fit() -> None:
    pytest.importorskip("lightgbm")
    x, y = _data(200)
    w = np.where(x[:, 0] > 0, 10.0, 0.1)
    plain = fit_trees(x, y, list("abcd"), rounds=30)
    weighted = fit_trees(x, y, list("abcd"), rounds=30, weight=w)
    assert not np.array_equal(plain.predict(x), weighted.predict(x))
    assert fit_trees(x, y, list("abcd"), rounds=30, weight=np.ones(200)) == plain


@pytest.mark.parametrize("kwargs, fragment", [
    ({"features": ["a"]}, "x has shape (200, 4); expected (rows, 1)"),
    ({"y": np.zeros(3)}, "y has shape (3,)"),
    ({"monotone": [1, 0]}, "give -1, 0 or 1 for each of the 4 features"),
    ({"monotone": [2, 0, 0, 0]}, "give -1, 0 or 1"),
    ({"weight": -np.ones(200)}, "finite and >= 0"),
    ({"rounds": 0}, "rounds = 0"),
    ({"x": np.full((200, 4), np.nan)}, "must be finite"),
])
def test_fit_trees_refuses_bad_arguments(kwargs: dict[str, Any], fragment: str) -> None:
    pytest.importorskip("lightgbm")
    x, y = _data(200)
    args: dict[str, Any] = {"x": x, "y": y, "features": list("abcd"), **kwargs}
    with pytest.raises(CnnCalcError) as e:
        fit_trees(args.pop("x"), args.pop("y"), args.pop("features"), **args)
    assert e.value.kind == "invalid"
    assert fragment in str(e.value)


def test_categorical_splits_are_refused() -> None:
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(4)
    x = np.column_stack([rng.integers(0, 5, 300), rng.normal(size=300)]).astype(float)
    y = np.array([3.0, -1.0, 2.0, 0.0, 5.0])[x[:, 0].astype(int)] + x[:, 1]
    booster = lgb.train({**PARAMS, "min_data_per_group": 5, "cat_smooth": 1.0},
                        lgb.Dataset(x, y, categorical_feature=[0]), num_boost_round=5)
    assert "==" in json.dumps(booster.dump_model())
    with pytest.raises(CnnCalcError, match="decision_type '=='; only numeric '<=' splits"):
        TreeEnsemble.from_booster(booster)


@pytest.mark.parametrize("params, fragment", [
    ({"objective": "poisson"}, "objective 'poisson' transforms"),
    ({"objective": "multiclass", "num_class": 3}, "several outputs per row"),
    ({"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.5}, "averages its trees"),
    ({"linear_tree": True}, "is a linear tree"),
    ({"zero_as_missing": True}, "treats zero as missing"),
])
def test_unsupported_models_are_refused(params: dict[str, Any], fragment: str) -> None:
    lgb = pytest.importorskip("lightgbm")
    x, y = _data(300)
    x[::3, 0] = 0.0
    target = {"poisson": np.exp(y / 4), "multiclass": np.digitize(y, [-1.0, 1.0])}
    label = target.get(str(params.get("objective")), y)
    booster = lgb.train({**PARAMS, **params}, lgb.Dataset(x, label, params=params),
                        num_boost_round=3)
    with pytest.raises(CnnCalcError) as e:
        TreeEnsemble.from_booster(booster)
    assert e.value.kind == "invalid"
    assert "cannot store this LightGBM model as cnncalc trees" in str(e.value)
    assert fragment in str(e.value)
