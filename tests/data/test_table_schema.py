"""Schema files that map onto the ecosystem: Frictionless Table Schema export, and one
spelling of dtype names per file kind with a hint when the other family's is used."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest

import cairn.data
from cairn.data.table_schema import FIELD_TYPES, field_type
from cairn.errors import InvalidInput
from cairn.workspace import Workspace
from tool_venv import tool_python

# The Table Schema descriptor rules this export must meet, written from the
# specification's prose (fields, field types, constraints, missingValues).
SPEC_FIELD_TYPES = [
    "string", "number", "integer", "boolean", "object", "array", "date", "time",
    "datetime", "year", "yearmonth", "duration", "geopoint", "geojson", "any",
]  # fmt: skip
_CONSTRAINTS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "boolean"},
        "unique": {"type": "boolean"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "minLength": {"type": "integer", "minimum": 0},
        "maxLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string"},
        "enum": {"type": "array", "minItems": 1},
    },
}
TABLE_SCHEMA_RULES = {
    "type": "object",
    "required": ["fields"],
    "properties": {
        "fields": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "type": {"enum": SPEC_FIELD_TYPES},
                    "format": {"type": "string"},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "constraints": _CONSTRAINTS,
                },
            },
        },
        "missingValues": {"type": "array", "items": {"type": "string"}},
        "primaryKey": {"type": ["string", "array"]},
    },
}


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": range(40),
            "tenure": [i % 30 for i in range(40)],
            "plan": ["basic", "pro", "enterprise", "pro"] * 10,
            "charges": [10.5 + i for i in range(40)],
            "active": [True, False] * 20,
            "signed_up": pd.date_range("2024-01-01", periods=40, freq="D"),
        }
    )


@pytest.fixture
def table(workspace: Workspace) -> Path:
    path = Path("customers.parquet")
    _frame().to_parquet(path, index=False)
    cairn.data.add(path, "customers")
    return path


def test_frictionless_export_is_a_table_schema_with_the_mapped_types(table: Path) -> None:
    descriptor = json.loads(cairn.data.infer_schema("customers@v1", format="frictionless"))
    jsonschema.validate(descriptor, TABLE_SCHEMA_RULES)
    fields = {f["name"]: f for f in descriptor["fields"]}
    assert [f["name"] for f in descriptor["fields"]] == list(_frame().columns)
    assert {n: f["type"] for n, f in fields.items()} == {
        "customer_id": "integer",
        "tenure": "integer",
        "plan": "string",
        "charges": "number",
        "active": "boolean",
        "signed_up": "datetime",
    }
    assert fields["customer_id"]["constraints"] == {
        "required": True, "unique": True, "minimum": 0, "maximum": 39,
    }  # fmt: skip
    assert sorted(fields["plan"]["constraints"]["enum"]) == ["basic", "enterprise", "pro"]
    assert fields["charges"]["description"] == "Cairn dtype double"


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [
        ("int8", "integer"), ("uint64", "integer"), ("halffloat", "number"),
        ("float", "number"), ("decimal128(10, 2)", "number"), ("large_string", "string"),
        ("date32[day]", "date"), ("timestamp[us, tz=UTC]", "datetime"),
        ("time64[us]", "time"), ("duration[s]", "duration"), ("list<item: int64>", "array"),
        ("struct<a: int64>", "object"), ("binary", "any"), ("null", "any"),
    ],
)  # fmt: skip
def test_every_arrow_type_maps_to_a_table_schema_type(dtype: str, kind: str) -> None:
    assert field_type(dtype) == kind
    assert set(FIELD_TYPES) <= set(SPEC_FIELD_TYPES)


def test_unknown_schema_format_is_a_one_line_error(table: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown schema format 'avro'; use one of: cairn"):
        cairn.data.infer_schema("customers@v1", format="avro")


def _frictionless_python() -> str:
    """An interpreter with frictionless: this one, or its own cached environment."""
    try:
        import frictionless  # noqa: F401
    except ImportError:
        return str(tool_python("frictionless"))
    return sys.executable


_CHECK = """
import json, sys
from frictionless import Resource, Schema
schema = Schema.from_descriptor(json.load(open(sys.argv[1])))
report = Resource(sys.argv[2], schema=schema, basepath=sys.argv[3]).validate()
print(json.dumps({"valid": report.valid,
                  "errors": sorted({e.type for task in report.tasks for e in task.errors})}))
"""


def test_frictionless_itself_accepts_the_data_and_rejects_a_crafted_copy(
    table: Path, tmp_path: Path
) -> None:
    python = _frictionless_python()
    schema = tmp_path / "schema.json"
    schema.write_text(cairn.data.infer_schema("customers@v1", format="frictionless"))
    good = tmp_path / "good.csv"
    _frame().to_csv(good, index=False)
    crafted = _frame()
    crafted.loc[5, "customer_id"] = 3  # a duplicate id
    crafted.loc[7, "plan"] = "gold"  # a value the schema does not allow
    bad = tmp_path / "bad.csv"
    crafted.to_csv(bad, index=False)

    def check(csv: Path) -> dict[str, Any]:
        out = subprocess.run(
            [python, "-c", _CHECK, str(schema), csv.name, str(csv.parent)],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    assert check(good) == {"valid": True, "errors": []}
    result = check(bad)
    assert result["valid"] is False
    assert {"unique-error", "constraint-error"} <= set(result["errors"])


@pytest.mark.parametrize(
    ("dtype", "arrow"),
    [("float64", "double"), ("str", "string"), ("datetime64[ns]", "timestamp[ns]")],
)
def test_data_schema_with_a_numpy_dtype_names_the_arrow_spelling(
    table: Path, dtype: str, arrow: str
) -> None:
    Path("s.yaml").write_text(f"columns:\n  charges:\n    dtype: {dtype}\n")
    with pytest.raises(InvalidInput) as caught:
        cairn.data.validate("customers", "s.yaml")
    message = str(caught.value)
    assert message.startswith("s.yaml:3: dtype")
    assert f"write dtype: {arrow}" in message
    assert "\n" not in message


def test_cli_writes_a_frictionless_schema_and_refuses_an_unknown_format(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    cairn.data.add(churn_csv(50), "churn")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args], capture_output=True, text=True, timeout=120
        )

    done = run("data", "infer-schema", "churn@v1", "--format", "frictionless", "-o", "t.json")
    assert done.returncode == 0, done.stderr
    descriptor = json.loads(Path("t.json").read_text())
    jsonschema.validate(descriptor, TABLE_SCHEMA_RULES)
    assert {f["name"]: f["type"] for f in descriptor["fields"]}["plan"] == "string"
    refused = run("data", "infer-schema", "churn@v1", "--format", "avro")
    assert refused.returncode == 2
    assert "Invalid value for '--format'" in refused.stderr
