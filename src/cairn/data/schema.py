"""Dataset schema files (YAML) and validation against them.

A schema file::

    rows: {min: 1000, max: 10000000}   # row-count bounds (either may be left out)
    strict: false                      # true: columns not listed below fail
    columns:
      customer_id: {dtype: int64, nullable: false, unique: true}
      tenure: {dtype: int64, min: 0, max: 100}
      plan: {dtype: string, allowed: [basic, pro, enterprise]}
      email: {dtype: string, pattern: '^[^@]+@[^@]+$'}

Column checks: ``dtype`` (an Arrow type name as ``cairn data show`` prints it: ``int64``,
``double``, ``string``, ``bool``, ``timestamp[us]``; a numpy spelling such as ``float64``
or ``str``, as model signatures write them, is refused with the Arrow name), ``nullable``
(default true), ``unique``, ``min``, ``max``, ``allowed`` and ``pattern`` (a regular
expression every value must match). The file is checked before any data is read: an
unknown key is an error naming the key, the file and the line.

Row-level checks run through pandera on the version loaded as a DataFrame (so memory
grows with the data, unlike profiles); the dtype, column and row-count checks compare
the stored schema and row count and read no data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import yaml

    from cairn.data.dataset import Dataset

COLUMN_CHECKS = ("dtype", "nullable", "unique", "min", "max", "allowed", "pattern")
TOP_KEYS = ("rows", "strict", "columns")
ROW_KEYS = ("min", "max")
EXAMPLES = 5
#: Columns with at most this many distinct values get ``allowed`` from infer_schema.
ALLOWED_MAX = 20


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str | None = None
    nullable: bool = True
    unique: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class SchemaSpec:
    """A parsed schema file."""

    columns: tuple[ColumnSpec, ...] = ()
    rows_min: int | None = None
    rows_max: int | None = None
    strict: bool = False
    source: str = ""


@dataclass(frozen=True)
class CheckFailure:
    """One failing check: which column and check, how many rows, a few example values."""

    column: str | None
    check: str
    failing_rows: int | None
    examples: tuple[Any, ...] = ()
    message: str = ""

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        count = "" if self.failing_rows is None else f": {self.failing_rows} failing rows"
        shown = ", ".join(repr(e) for e in self.examples)
        examples = f" (e.g. {shown})" if shown else ""
        detail = f" - {self.message}" if self.message else ""
        return f"{where} {self.check}{count}{examples}{detail}"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`; ``ok`` is False if any check failed."""

    ref: str
    rows: int
    checks: int
    failures: tuple[CheckFailure, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "ok": self.ok,
            "rows": self.rows,
            "checks": self.checks,
            "failures": [
                {
                    "column": f.column,
                    "check": f.check,
                    "failing_rows": f.failing_rows,
                    "examples": [_jsonable(e) for e in f.examples],
                    "message": f.message,
                }
                for f in self.failures
            ],
        }


def load_schema(path: str | Path) -> SchemaSpec:
    """Parse and check a schema file; errors name the file, line and offending key."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read schema file {file}: {exc.strerror}") from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict) or node is None:
        raise InvalidInput(
            f"{file}: a schema file is a mapping with 'columns' (and 'rows', 'strict')"
        )
    return _spec(file, node, data)


def _spec(file: Path, node: yaml.Node, data: dict[str, Any]) -> SchemaSpec:
    def fail(at: yaml.Node | None, message: str) -> InvalidInput:
        line = f":{at.start_mark.line + 1}" if at is not None else ""
        return InvalidInput(f"{file}{line}: {message}")

    _unknown(data, node, TOP_KEYS, "key", "", fail)
    rows = data.get("rows") or {}
    if not isinstance(rows, dict):
        raise fail(_child(node, "rows"), "'rows' must be a mapping like {min: 1, max: 1000}")
    _unknown(rows, _child(node, "rows"), ROW_KEYS, "row-count bound", "", fail)
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        raise fail(_child(node, "columns"), "'columns' must map column names to their checks")
    specs = []
    columns_node = _child(node, "columns")
    for name, checks in columns.items():
        column_node = _child(columns_node, name)
        checks = checks or {}
        if not isinstance(checks, dict):
            raise fail(column_node, f"column {name!r} must map check names to values")
        _unknown(checks, column_node, COLUMN_CHECKS, "check", f" on column {name!r}", fail)
        allowed = checks.get("allowed")
        if allowed is not None and not isinstance(allowed, list):
            raise fail(
                _child(column_node, "allowed"), f"'allowed' on column {name!r} must be a list"
            )
        for bound in ("min", "max"):
            value = checks.get(bound)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise fail(
                    _child(column_node, bound), f"'{bound}' on column {name!r} must be a number"
                )
        dtype = checks.get("dtype")
        if dtype is not None:
            _check_dtype(str(dtype), str(name), _child(column_node, "dtype"), fail)
        specs.append(
            ColumnSpec(
                name=str(name),
                dtype=None if checks.get("dtype") is None else str(checks["dtype"]),
                nullable=bool(checks.get("nullable", True)),
                unique=bool(checks.get("unique", False)),
                min=checks.get("min"),
                max=checks.get("max"),
                allowed=None if allowed is None else tuple(allowed),
                pattern=checks.get("pattern"),
            )
        )
    return SchemaSpec(
        columns=tuple(specs),
        rows_min=rows.get("min"),
        rows_max=rows.get("max"),
        strict=bool(data.get("strict", False)),
        source=str(file),
    )


def _check_dtype(dtype: str, column: str, at: yaml.Node | None, fail: Any) -> None:
    """Refuse a numpy dtype name (the model-signature spelling) with its Arrow name."""
    from cairn.dtypes import arrow_spelling

    other = arrow_spelling(dtype)
    if other is not None:
        raise fail(
            at,
            f"dtype {dtype!r} on column {column!r} is the model-signature (numpy) spelling; "
            f"data schemas use Arrow names: write dtype: {other}",
        )


def _child(node: yaml.Node | None, key: Any) -> yaml.Node | None:
    """The value node under ``key`` of a mapping node (for line numbers)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == str(key):
            return value_node  # type: ignore[no-any-return]
    return None


def _key_node(node: yaml.Node | None, key: Any) -> yaml.Node | None:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, _ in node.value:
        if key_node.value == str(key):
            return key_node  # type: ignore[no-any-return]
    return None


def _unknown(
    data: dict[str, Any],
    node: yaml.Node | None,
    known: tuple[str, ...],
    what: str,
    where: str,
    fail: Any,
) -> None:
    for key in data:
        if key not in known:
            raise fail(
                _key_node(node, key),
                f"unknown {what} {key!r}{where}; known: {', '.join(known)}",
            )


def validate(dataset: Dataset, spec: SchemaSpec) -> ValidationReport:
    """Check ``dataset`` against ``spec``; every failing check is in the report."""
    import pandera.pandas as pa

    failures: list[CheckFailure] = []
    rows = dataset.rows or 0
    checks = 0
    if spec.rows_min is not None or spec.rows_max is not None:
        checks += 1
        low, high = spec.rows_min, spec.rows_max
        if (low is not None and rows < low) or (high is not None and rows > high):
            bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
            failures.append(CheckFailure(None, "rows", None, (), f"{rows} rows, expected {bounds}"))
    present = dataset.schema
    for extra in [c for c in present if spec.strict and c not in {s.name for s in spec.columns}]:
        checks += 1
        failures.append(CheckFailure(extra, "strict", None, (), "column is not in the schema"))
    pandera_columns: dict[str, Any] = {}
    names: dict[str, list[str]] = {}
    for col in spec.columns:
        if col.name not in present:
            checks += 1
            failures.append(CheckFailure(col.name, "present", None, (), "column is missing"))
            continue
        if col.dtype is not None:
            checks += 1
            if present[col.name] != col.dtype:
                failures.append(
                    CheckFailure(
                        col.name,
                        "dtype",
                        None,
                        (),
                        f"expected {col.dtype}, found {present[col.name]}",
                    )
                )
        value_checks, labels = [], []
        for label, bound in (("min", col.min), ("max", col.max)):
            if bound is not None:
                check = pa.Check.ge(bound) if label == "min" else pa.Check.le(bound)
                value_checks.append(check)
                labels.append(f"{label} {bound}")
        if col.allowed is not None:
            value_checks.append(pa.Check.isin(list(col.allowed)))
            labels.append("allowed")
        if col.pattern is not None:
            value_checks.append(pa.Check.str_matches(col.pattern))
            labels.append(f"pattern {col.pattern!r}")
        checks += len(value_checks) + (not col.nullable) + col.unique
        names[col.name] = labels
        pandera_columns[col.name] = pa.Column(
            None, checks=value_checks, nullable=col.nullable, unique=col.unique, required=False
        )
    if pandera_columns:
        frame = dataset.load(list(pandera_columns))
        try:
            pa.DataFrameSchema(pandera_columns).validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            failures.extend(_failures(exc.failure_cases, names))
    return ValidationReport(dataset.ref, rows, checks, tuple(failures))


def _failures(cases: Any, names: dict[str, list[str]]) -> list[CheckFailure]:
    out = []
    for (column, check, number), group in cases.groupby(
        ["column", "check", cases["check_number"].fillna(-1)], sort=False, dropna=False
    ):
        if check == "not_nullable":
            label = "nullable false"
        elif check == "field_uniqueness":
            label = "unique"
        elif number is not None and 0 <= int(number) < len(names.get(column, [])):
            label = names[column][int(number)]
        else:
            label = str(check)
        index = group["index"].dropna()
        failing = int(index.nunique()) if len(index) else None
        values = group["failure_case"].tolist()
        message = ""
        if failing is None and values:
            message, values = str(values[0]), []  # the check could not run on this column
        examples = tuple(_jsonable(v) for v in values[:EXAMPLES])
        out.append(CheckFailure(str(column), label, failing, examples, message))
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if value != value else value
    try:
        return value.item()  # numpy scalars
    except AttributeError:
        return str(value)


#: ``infer_schema`` output formats: Cairn's YAML schema, or a Frictionless Table Schema.
SCHEMA_FORMATS = ("cairn", "frictionless")


def infer_schema(dataset: Dataset, format: str = "cairn") -> str:
    """A starting schema file for ``dataset``, from its profile.

    Every column gets its dtype and nullability; numbers their observed min and max;
    columns with few values the list of them; integer and string columns whose values
    are all distinct get ``unique: true``. Review it: it describes this version, not
    what future versions must satisfy.

    ``format="cairn"`` gives the YAML that ``cairn data validate`` reads;
    ``format="frictionless"`` the same facts as a Table Schema (JSON), see
    :mod:`cairn.data.table_schema`.
    """
    import yaml

    if format not in SCHEMA_FORMATS:
        raise InvalidInput(
            f"unknown schema format {format!r}; use one of: {', '.join(SCHEMA_FORMATS)}"
        )
    profile = dataset.profile
    if profile is None:
        raise InvalidInput(f"{dataset.ref} is not tabular (stored as bytes); it has no schema")
    columns: dict[str, dict[str, Any]] = {}
    for name, info in profile["columns"].items():
        spec: dict[str, Any] = {"dtype": info["dtype"], "nullable": info["nulls"] > 0}
        present = info["count"] - info["nulls"]
        if info["kind"] == "numeric" and info.get("min") is not None:
            spec["min"], spec["max"] = info["min"], info["max"]
        top = info.get("top")
        if (
            top is not None
            and info["top_exact"]
            and 0 < info["distinct"] <= ALLOWED_MAX
            and info["dtype"] != "bool"
        ):
            spec["allowed"] = sorted(t["value"] for t in top if t["value"] is not None)
        discrete = info["dtype"].startswith(("int", "uint")) or info["dtype"] == "string"
        if discrete and info["distinct_exact"] and present > 1 and info["distinct"] == present:
            spec["unique"] = True
        columns[name] = spec
    if format == "frictionless":
        from cairn.data.table_schema import render

        return render(columns)
    document = {"rows": {"min": 1}, "strict": False, "columns": columns}
    header = (
        f"# Schema inferred from {dataset.ref} ({profile['rows']} rows). Review before use.\n"
        f"# Validate with: cairn data validate {dataset.name} --schema <this file>\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
