"""Warnings at bound sizes: the input rows or columns that a strided window never reads, and the
exact-tiling advice with its state at the given bindings.

A window of effective size ``k_eff`` at stride ``s`` over ``in`` positions padded by ``pb``
before and ``pa`` after has ``out = floor((in + pb + pa - k_eff)/s) + 1`` windows; the last ends
at padded index ``(out - 1)*s + k_eff - 1`` and the last input position is at ``pb + in - 1``,
so ``pb + in - (out - 1)*s - k_eff`` input positions are never read where that is positive
(``(in + pb + pa - k_eff) mod s - pa``). Checked here by hand, by autograd (an input position is
read when the output's gradient reaches it) and by PyTorch's own output sizes on torchvision
models.
"""

from __future__ import annotations

from typing import Any

import pytest

import cnncalc

SEED = cnncalc.zoo_json("seed_example")  # conv1: 12 filters 6x6 stride 2, no padding; relu
ONE_ROW = "conv1: the last row of its input is never read (it lies past the last window)"


def conv(h: int | str, w: int | str, k: int, s: int, p: int = 0, d: int = 1,
         kind: str = "conv") -> dict[str, Any]:
    fields: dict[str, Any] = {"kernel_size": k, "stride": s, "padding": p}
    if kind == "conv":
        fields |= {"out_channels": 2, "dilation": d}
    return {"input": {"shape": [1, 1, h, w]},
            "layers": [{"type": kind, "name": "c", **fields}]}


def unread(an: cnncalc.Analysis) -> dict[str, dict[str, int]]:
    """Per layer, the input positions never read along each axis (the 'unread' notes)."""
    out: dict[str, dict[str, int]] = {}
    for n in an.notes:
        if n.kind == "unread" and isinstance(n.lhs, int) and n.lhs > 0:
            out.setdefault(n.layer, {})[n.text] = n.lhs
    return out


# --- by hand ---------------------------------------------------------------------------------

def test_lecture_case_h33() -> None:
    """H = 33, K = 6, S = 2: out = floor((33 - 6)/2) + 1 = 14 windows; (33 - 6) mod 2 = 1, so
    the last window (rows 26..31) leaves row 32 unread. W = 32: (32 - 6) mod 2 = 0."""
    an = cnncalc.analyze(SEED, {"H": 33, "W": 32})
    assert an.layer("conv1").output_shape == (1, 12, 14, 14)
    assert an.warnings == [ONE_ROW]
    assert an.exact_sizes == ["H=33, W=32: not every strided window tiles its input exactly: "
                              "1 row past the last window at conv1"]
    d = an.to_dict()
    assert d["warnings"] == an.warnings and d["exact_sizes"] == an.exact_sizes


def test_lecture_case_h32_tiles_exactly() -> None:
    """H = W = 32: (32 - 6) mod 2 = 0, the lecture's (32 - 6)/2 + 1 = 14 exactly."""
    an = cnncalc.analyze(SEED, {"H": 32, "W": 32})
    assert an.warnings == []
    assert an.exact_sizes == ["H=32, W=32: every strided window tiles its input exactly"]


def test_advice_and_its_state_symbolic_partial_and_bound() -> None:
    sym = cnncalc.analyze(SEED)
    assert sym.exact_sizes == ["H mod 2 == 0 tiles every stride exactly",
                               "W mod 2 == 0 tiles every stride exactly"]
    assert sym.warnings == []
    half = cnncalc.analyze(SEED, {"H": 33})
    assert half.exact_sizes == ["W mod 2 == 0 tiles every stride exactly",
                                "H=33: not every strided window tiles its input exactly: 1 row "
                                "past the last window at conv1"]
    assert half.warnings == [ONE_ROW]
    # Binding a symbolic analysis gives what analysing at those sizes gives.
    for h, w in ((33, 33), (33, 32), (32, 32), (35, 40)):
        ev, bound = sym.evaluate(H=h, W=w), cnncalc.analyze(SEED, {"H": h, "W": w})
        assert (ev.warnings, ev.exact_sizes) == (bound.warnings, bound.exact_sizes)
    both = cnncalc.analyze(SEED, {"H": 33, "W": 35})
    assert both.warnings == ["conv1: the last row and the last column of its input are never "
                             "read (they lie past the last window)"]


def test_several_rows() -> None:
    """H = 36, K = 5, S = 4: (36 - 5) mod 4 = 3 rows unread (windows end at 4*7 + 4 = row 32);
    W = 9: (9 - 5) mod 4 = 0."""
    an = cnncalc.analyze(conv(36, 9, 5, 4))
    assert an.warnings == ["c: the last 3 rows of its input are never read (they lie past the "
                           "last window)"]
    assert an.exact_sizes == ["not every strided window tiles its input exactly: 3 rows past "
                              "the last window at c"]


def test_padding_rows_are_not_input_rows() -> None:
    """K = 3, S = 2, P = 1 at H = 32: (32 + 2 - 3) mod 2 = 1 padded row past the last window,
    and it is the padding row after the input (pa = 1): every input row is read."""
    an = cnncalc.analyze(conv(32, 8, 3, 2, p=1))
    assert an.warnings == []
    assert an.exact_sizes == ["not every strided window tiles its input exactly: 1 row and 1 "
                              "column past the last window at c"]


def test_window_narrower_than_its_stride_is_not_warned() -> None:
    """A 1x1 stride-2 shortcut skips every other row at every size, by design: at H = 32 the
    last row (31) is one of those, no different; not a warning, but not an exact tiling."""
    an = cnncalc.analyze(conv(32, 32, 1, 2))
    assert an.warnings == []
    assert an.exact_sizes[0].startswith("not every strided window tiles its input exactly")


def test_position_words_in_1d_and_3d() -> None:
    """1-D: (20 - 4) mod 3 = 1; 3-D: (9 - 3) mod 2 = 0, (10 - 3) mod 2 = 1 along axis 1."""
    one = {"input": {"shape": [1, 2, 20]},
           "layers": [{"type": "conv", "name": "c", "out_channels": 2, "kernel_size": 4,
                       "stride": 3}]}
    assert cnncalc.analyze(one).warnings == [
        "c: the last position along spatial axis 0 of its input is never read (it lies past "
        "the last window)"]
    three = {"input": {"shape": [1, 2, 9, 10, 9]},
             "layers": [{"type": "max_pool", "name": "p", "kernel_size": 3, "stride": 2}]}
    assert cnncalc.analyze(three).warnings == [
        "p: the last position along spatial axis 1 of its input is never read (it lies past "
        "the last window)"]


def _declared(fields: dict[str, Any], name: str, lo: int) -> dict[str, Any]:
    return {"input": {"shape": [1, 2, "H", 9]}, "symbols": {name: {"min": lo}},
            "layers": [{"type": "conv", "name": "c", "out_channels": 2, **fields}]}


@pytest.mark.parametrize(("fields", "name", "lo", "bind", "rows"), [
    # Padding P: (33 + 2P - 6) mod 2 = 1 padded row over; it is input at P = 0, padding at 1.
    ({"kernel_size": 6, "stride": 2, "padding": "P"}, "P", 0, {"P": 0}, 1),
    ({"kernel_size": 6, "stride": 2, "padding": "P"}, "P", 0, {"P": 1}, 0),
    # Kernel K: (33 - 6) mod 2 = 1; a 1-wide window is narrower than the stride: no warning.
    ({"kernel_size": "K", "stride": 2}, "K", 1, {"K": 6}, 1),
    ({"kernel_size": "K", "stride": 2}, "K", 1, {"K": 1}, 0),
    # Stride S: (33 - 6) mod 2 = 1, (33 - 6) mod 3 = 0.
    ({"kernel_size": 6, "stride": "S"}, "S", 1, {"S": 2}, 1),
    ({"kernel_size": 6, "stride": "S"}, "S", 1, {"S": 3}, 0),
])
def test_symbolic_fields_then_bound(fields: dict[str, Any], name: str, lo: int,
                                    bind: dict[str, int], rows: int) -> None:
    """A symbolic analysis bound afterwards (``evaluate``) warns as the bound analysis does,
    where the stride, the kernel or the padding was a free size."""
    arch = _declared(fields, name, lo)
    bound = cnncalc.analyze(arch, {"H": 33, **bind})
    assert unread(bound).get("c", {}).get("row", 0) == rows
    ev = cnncalc.analyze(arch).evaluate(H=33, **bind)
    assert (ev.warnings, ev.exact_sizes) == (bound.warnings, bound.exact_sizes)


def test_advice_lines_in_several_symbols() -> None:
    """W = 9 with K = 6, S = 2 and padding P: (9 + 2P - 6) mod 2 = 1 for every P."""
    an = cnncalc.analyze(_declared({"kernel_size": 6, "stride": 2, "padding": "P"}, "P", 0))
    assert an.exact_sizes == [
        "(H + 2*P - 6) mod 2 == 0 tiles the stride of c exactly",
        "no valid value of P tiles every stride exactly: at every valid size, input is left "
        "past the last window of c",
        "where the sizes are numbers: not every strided window tiles its input exactly: "
        "1 column past the last window at c"]


def test_tables_carry_the_lines() -> None:
    an = cnncalc.analyze(SEED, {"H": 33, "W": 32})
    text = an.to_table()
    assert f"warning: {ONE_ROW}" in text.splitlines()
    assert ("exact sizes: H=33, W=32: not every strided window tiles its input exactly: 1 row "
            "past the last window at conv1") in text.splitlines()
    assert f"- *warning: {ONE_ROW}*" in an.to_table("markdown").splitlines()


def test_resnet18_at_224_and_225() -> None:
    """resnet18's strides are 2 at conv1 (7x7, pad 3), the max pool (3x3, pad 1), and the 3x3
    pad-1 convs and 1x1 shortcuts of layer2..4. At 225 every stride tiles exactly
    ((225 + 6 - 7) mod 2 = 0, then 113, 57, 29, 15 are odd: (n + 2 - 3) mod 2 = 0 and
    (n - 1) mod 2 = 0). At 224 each leaves one padded row over ((224 + 6 - 7) mod 2 = 1, ...),
    but the windows with padding reach every input row (the row over is padding) and the 1x1
    shortcuts skip rows by design: no warning."""
    at225 = cnncalc.analyze("resnet18", {"N": 1, "H": 225, "W": 225})
    assert at225.warnings == []
    assert at225.exact_sizes == ["H=225, W=225: every strided window tiles its input exactly"]
    at224 = cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224})
    assert at224.warnings == []
    assert at224.exact_sizes == [
        "H=224, W=224: not every strided window tiles its input exactly: 1 row and 1 column "
        "past the last window at conv1, maxpool, layer2.0.conv1, "
        "layer2.0.downsample.0, layer3.0.conv1, layer3.0.downsample.0, layer4.0.conv1, "
        "layer4.0.downsample.0"]
    assert cnncalc.analyze("resnet18", {"N": 1}).exact_sizes == [
        "H mod 32 == 1 tiles every stride exactly", "W mod 32 == 1 tiles every stride exactly"]


# --- against PyTorch ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def _trailing_unread(read: list[bool]) -> int:
    n = 0
    for r in reversed(read):
        if r:
            break
        n += 1
    return n


@pytest.mark.parametrize(("h", "k", "s", "p", "d"), [
    (33, 6, 2, 0, 1), (36, 5, 4, 0, 1), (32, 3, 2, 1, 1), (35, 7, 3, 2, 1), (40, 3, 2, 0, 1),
    (41, 3, 3, 0, 1), (50, 3, 2, 0, 2), (29, 4, 4, 1, 1), (30, 11, 4, 2, 1), (31, 5, 3, 1, 1),
    (227, 11, 4, 2, 1), (224, 7, 2, 3, 1), (17, 2, 2, 0, 1), (64, 4, 3, 0, 1),
])
def test_unread_rows_match_autograd(torch: Any, h: int, k: int, s: int, p: int,
                                    d: int) -> None:
    """Rows of the input whose gradient is zero after a conv with every weight 1, counted from
    the end, are the rows never read; cnncalc's count along H must be that. (A dilated window
    also skips rows between its taps, like a window narrower than its stride: the cases with
    dilation here have no such row at the end.)"""
    x = torch.ones(1, 1, h, 9, requires_grad=True)
    c = torch.nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1), bias=False)
    torch.nn.init.constant_(c.weight, 1.0)
    c(x).sum().backward()
    expected = _trailing_unread((x.grad[0, 0, :, 0] != 0).tolist())
    arch = {"input": {"shape": [1, 1, h, 9]},
            "layers": [{"type": "conv", "name": "c", "out_channels": 1, "kernel_size": [k, 1],
                        "stride": [s, 1], "padding": [p, 0], "dilation": [d, 1]}]}
    got = unread(cnncalc.analyze(arch)).get("c", {}).get("row", 0)
    assert got == expected


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def torch_unread(model: Any, h: int, torch: Any) -> dict[str, dict[str, int]]:
    """Per strided conv or pool of ``model`` whose window is at least its stride, the input
    rows and columns past its last window, from the output sizes PyTorch itself gives (meta
    tensors: shapes only)."""
    found: dict[str, dict[str, int]] = {}
    hooks = []

    def hook(name: str) -> Any:
        def f(mod: Any, inp: Any, out: Any) -> None:
            k, s, p = _pair(mod.kernel_size), _pair(mod.stride), _pair(mod.padding)
            d = _pair(getattr(mod, "dilation", 1))
            for a, word in enumerate(("row", "column")):
                k_eff = d[a] * (k[a] - 1) + 1
                if s[a] == 1 or k_eff < s[a]:
                    continue
                n_in, n_out = inp[0].shape[2 + a], out.shape[2 + a]
                left = p[a] + n_in - ((n_out - 1) * s[a] + k_eff)
                if left > 0:
                    found.setdefault(name, {})[word] = left
        return f

    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.MaxPool2d, torch.nn.AvgPool2d)):
            hooks.append(mod.register_forward_hook(hook(name)))
    model(torch.empty(1, 3, h, h, device="meta"))
    for hk in hooks:
        hk.remove()
    return found


@pytest.mark.parametrize(("model", "size", "expected"), [
    # vgg16: 2x2 stride-2 pools; 225 is odd at the first: (225 - 2) mod 2 = 1.
    ("vgg16", 225, {"features.4": {"row": 1, "column": 1}}),
    ("vgg16", 224, {}),
    # squeezenet1_0: a 7x7 stride-2 conv without padding: (224 - 7) mod 2 = 1.
    ("squeezenet1_0", 224, {"features.0": {"row": 1, "column": 1}}),
    ("squeezenet1_0", 225, {}),
    ("resnet18", 224, {}),
    ("resnet18", 225, {}),
    ("resnet50", 230, {}),
    ("alexnet", 224, {}),
])
def test_zoo_matches_torchvision(torch: Any, model: str, size: int,
                                 expected: dict[str, dict[str, int]]) -> None:
    from cnncalc.pytorch.tvshim import declare_torchvision_ops
    declare_torchvision_ops()
    import torchvision

    with torch.device("meta"):
        m = getattr(torchvision.models, model)()
    assert torch_unread(m, size, torch) == expected
    an = cnncalc.analyze(model, {"N": 1, "H": size, "W": size})
    assert unread(an) == expected
    assert len(an.warnings) == len(expected)


def test_resnet18_shortcuts_skip_the_last_row_by_design(torch: Any) -> None:
    """At 224 the 1x1 stride-2 shortcut of layer2 reads rows 0, 2, ..., 54 of its 56: row 55
    is unread, like every odd row; the window is narrower than the stride, so no warning."""
    x = torch.ones(1, 1, 56, 56, requires_grad=True)
    c = torch.nn.Conv2d(1, 1, 1, 2, bias=False)
    torch.nn.init.constant_(c.weight, 1.0)
    c(x).sum().backward()
    read = (x.grad[0, 0, :, 0] != 0).tolist()
    assert read[54] and not read[55] and not read[53]
    an = cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224})
    assert "layer2.0.downsample.0" not in unread(an)
