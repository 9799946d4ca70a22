"""Splits: deterministic, stratified, stable by key across versions, recorded in lineage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
import cairn.data
from cairn.errors import InvalidInput
from cairn.workspace import Workspace


def _frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(n), "y": rng.choice([0, 1], n, p=[0.9, 0.1])})


def test_same_seed_gives_the_same_split_and_another_seed_differs() -> None:
    df = _frame()
    a_train, a_test = cairn.data.split(df, 0.25, seed=3)
    b_train, b_test = cairn.data.split(df, 0.25, seed=3)
    _, c_test = cairn.data.split(df, 0.25, seed=4)
    assert a_test.index.equals(b_test.index) and a_train.index.equals(b_train.index)
    assert not a_test.index.equals(c_test.index)
    assert len(a_test) == 250 and len(a_train) == 750
    assert set(a_train.index).isdisjoint(a_test.index)


def test_stratified_split_keeps_class_shares() -> None:
    df = _frame(2000)
    train, test = cairn.data.split(df, 0.2, stratify="y", seed=0)
    share = df["y"].mean()
    assert test["y"].mean() == pytest.approx(share, abs=0.005)
    assert train["y"].mean() == pytest.approx(share, abs=0.005)


def test_hash_split_keeps_each_row_on_its_side_across_versions() -> None:
    v1 = _frame(1000)
    v2 = pd.concat([v1.iloc[100:], _frame(300).assign(id=lambda d: d["id"] + 5000)])
    _, test1 = cairn.data.split(v1, 0.2, by="id", seed=1)
    _, test2 = cairn.data.split(v2, 0.2, by="id", seed=1)
    shared = set(v1["id"]) & set(v2["id"])
    assert set(test1["id"]) & shared == set(test2["id"]) & shared
    assert 0.15 < len(test2) / len(v2) < 0.25


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_size": 0}, "between 0 and 1"),
        ({"test_size": 1.5}, "between 0 and 1"),
        ({"test_size": 0.2, "stratify": "nope"}, "no column 'nope'"),
        ({"test_size": 0.2, "stratify": "y", "by": "id"}, "either stratify"),
    ],
)
def test_bad_split_arguments_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        cairn.data.split(_frame(10), **kwargs)  # type: ignore[arg-type]


def test_split_inside_a_run_records_params_source_and_assignment(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    ds = cairn.data.add(churn_csv(200), "churn")
    with cairn.start_run(experiment="churn") as run:
        _train, test = cairn.data.split(cairn.data.load("churn@v1"), 0.25, stratify="plan", seed=7)
    recorded = cairn.get_run(run.id)
    assert recorded.params["split.test_size"] == "0.25"
    assert recorded.params["split.stratify"] == "plan"
    assert recorded.params["split.test_rows"] == str(len(test))
    source = next(e for e in recorded.inputs if e.role == "split.source")
    assert (source.name, source.digest, source.kind) == ("churn@v1", ds.digest, "dataset")
    assignment = next(e for e in recorded.outputs if e.role == "split.assignment")
    import io

    mask = np.load(io.BytesIO(workspace.artifacts.read_bytes(assignment.digest, verify=True)))
    assert mask.sum() == len(test) and list(np.flatnonzero(mask)) == list(test.index)
    assert [r.id for r in cairn.data.log("churn")[0].runs] == [run.id]
    assert workspace.artifacts.verify(workspace.referenced_digests()).ok
