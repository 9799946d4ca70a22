"""Validation against YAML schema files, and inferring a starting schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import cairn.data
from cairn.errors import InvalidInput
from cairn.workspace import Workspace


def _schema(text: str, name: str = "schema.yaml") -> Path:
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    return path


def test_inferred_schema_passes_on_its_own_version(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    cairn.data.add(churn_csv(300), "churn")
    text = cairn.data.infer_schema("churn@v1")
    assert "customer_id:" in text and "unique: true" in text
    report = cairn.data.validate("churn@v1", _schema(text))
    assert report.ok, [f.describe() for f in report.failures]
    assert report.checks > 10


def test_each_failing_check_reports_failing_rows_and_examples(workspace: Workspace) -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 2, 4, 5, 6],
            "age": [30, -1, 45, 200, None, 50],
            "plan": ["basic", "pro", "gold", "basic", "silver", "pro"],
        }
    )
    frame.to_csv("d.csv", index=False)
    cairn.data.add("d.csv", "d")
    schema = _schema(
        "rows: {min: 10}\n"
        "columns:\n"
        "  id: {dtype: int64, unique: true}\n"
        "  age: {dtype: double, nullable: false, min: 0, max: 120}\n"
        "  plan: {dtype: string, allowed: [basic, pro]}\n"
        "  email: {dtype: string}\n"
    )
    report = cairn.data.validate("d", schema)
    assert not report.ok
    found = {(f.column, f.check): f for f in report.failures}
    assert found[("id", "unique")].failing_rows == 2
    assert found[("age", "min 0")].failing_rows == 1 and found[("age", "min 0")].examples == (-1.0,)
    assert found[("age", "max 120")].examples == (200.0,)
    assert found[("age", "nullable false")].failing_rows == 1
    assert found[("plan", "allowed")].failing_rows == 2
    assert set(found[("plan", "allowed")].examples) == {"gold", "silver"}
    assert found[("email", "present")].message == "column is missing"
    assert "6 rows" in found[(None, "rows")].message


def test_dtype_mismatch_is_reported_from_the_stored_schema(workspace: Workspace) -> None:
    pd.DataFrame({"x": ["a", "b"]}).to_csv("d.csv", index=False)
    cairn.data.add("d.csv", "d")
    report = cairn.data.validate("d", _schema("columns:\n  x: {dtype: int64}\n"))
    assert [(f.check, f.message) for f in report.failures] == [
        ("dtype", "expected int64, found string")
    ]


def test_strict_schema_fails_on_unlisted_columns(workspace: Workspace) -> None:
    pd.DataFrame({"x": [1], "extra": [2]}).to_csv("d.csv", index=False)
    cairn.data.add("d.csv", "d")
    report = cairn.data.validate("d", _schema("strict: true\ncolumns:\n  x: {}\n"))
    assert [(f.column, f.check) for f in report.failures] == [("extra", "strict")]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "columns:\n  x:\n    dtype: int64\n    maxx: 3\n",
            r"schema.yaml:4: unknown check 'maxx' on column 'x'",
        ),
        ("colums:\n  x: {}\n", r"schema.yaml:1: unknown key 'colums'"),
        ("rows: {minimum: 3}\n", r"schema.yaml:1: unknown row-count bound 'minimum'"),
        ("columns:\n  x: {min: low}\n", r"'min' on column 'x' must be a number"),
        ("columns: [x, y]\n", r"'columns' must map"),
        ("columns: {x: [\n", r"not valid YAML"),
    ],
    ids=[
        "unknown-check",
        "unknown-key",
        "unknown-bound",
        "non-numeric-min",
        "columns-list",
        "bad-yaml",
    ],
)
def test_bad_schema_file_is_one_line_error_naming_file_and_line(
    workspace: Workspace, churn_csv: Callable[..., Path], text: str, match: str
) -> None:
    cairn.data.add(churn_csv(), "churn")
    with pytest.raises(InvalidInput, match=match) as caught:
        cairn.data.validate("churn", _schema(text))
    assert "\n" not in str(caught.value)


def test_infer_schema_refuses_bytes_versions(workspace: Workspace) -> None:
    Path("blob.bin").write_bytes(b"\x00\x01")
    cairn.data.add("blob.bin", "blob")
    with pytest.raises(InvalidInput, match="not tabular"):
        cairn.data.infer_schema("blob")
