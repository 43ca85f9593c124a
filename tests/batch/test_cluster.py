"""The Dask backend: a real local cluster (worker processes) used through ``scheduler=`` and
``--scheduler``, and a scheduler that does not answer failing fast with one line."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cnncalc
from cnncalc.batch import analyze_many
from cnncalc.cli import main

distributed = pytest.importorskip("distributed")

CONV: dict[str, Any] = {"input": {"shape": ["N", 3, 32, 32]},
                        "layers": [{"type": "conv", "out_channels": 12, "kernel_size": 6}]}


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_rows_from_the_cluster(scheduler: str) -> None:
    archs: list[Any] = [{**CONV, "name": f"c{i}"} for i in range(40)]
    archs[5] = {"input": {"shape": [1, 3, 4, 4]}, "layers": CONV["layers"]}
    archs.append("resnet18")
    rows = list(analyze_many(archs, {"N": 2, "H": 64, "W": 64}, scheduler=scheduler, chunk=3))
    assert [r.index for r in rows] == list(range(1, 42))
    assert rows[0].params == 6 * 6 * 3 * 12 + 12
    assert rows[0].macs == 2 * 27 * 27 * 12 * 6 * 6 * 3
    assert "larger than the padded input" in rows[5].error and rows[5].name == "6"
    r18 = cnncalc.analyze("resnet18", {"N": 2, "H": 64, "W": 64}).totals
    assert (rows[-1].name, rows[-1].macs) == ("resnet18", r18.macs)


def test_cli_scheduler(scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "nets.jsonl"
    p.write_text("\n".join([json.dumps(CONV), "not json", '"lenet5"']) + "\n")
    code = main(["batch", str(p), "--scheduler", scheduler, "-b", "N=1", "-b", "H=32", "-b",
                 "W=32", "-f", "jsonl"])
    out, _ = capsys.readouterr()
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in rows] == [1, 2, 3]
    assert rows[0]["params"] == 6 * 6 * 3 * 12 + 12
    assert rows[1]["error"].startswith("line 2 is not valid JSON")
    lenet = cnncalc.analyze("lenet5", {"N": 1, "H": 32, "W": 32}).totals
    assert (rows[2]["params"], rows[2]["macs"]) == (lenet.params, lenet.macs)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_scheduler_that_does_not_answer(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "nets.jsonl"
    p.write_text(json.dumps(CONV) + "\n")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    code = main(["batch", str(p), "--scheduler", address])
    assert time.monotonic() - t0 < 15
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"cnncalc: error: no Dask scheduler answered at '{address}'")
    assert err.count("\n") == 1
    with pytest.raises(cnncalc.CnnCalcError, match="no Dask scheduler answered") as e:
        analyze_many([CONV], scheduler=address)
    assert e.value.kind == "input"
