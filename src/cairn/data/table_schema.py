"""A version's schema as a Frictionless Table Schema (JSON), for tools outside Cairn.

``cairn data infer-schema --format frictionless`` writes the same facts as the YAML
schema (see :mod:`cairn.data.schema`) in the Table Schema vocabulary, which
Frictionless, CKAN, Goodtables and many data catalogues read:

- Arrow types map onto Table Schema field types: integers -> ``integer``, floating
  point and decimals -> ``number``, ``bool`` -> ``boolean``, text -> ``string``, dates
  -> ``date``, timestamps -> ``datetime``, times -> ``time``, durations -> ``duration``,
  lists -> ``array``, structs -> ``object``, anything else -> ``any``;
- checks become field constraints: ``nullable: false`` -> ``required``, ``unique``,
  ``min``/``max`` -> ``minimum``/``maximum``, ``allowed`` -> ``enum``.

Dates and times get ``format: any`` (any spelling a parser recognises), since CSV
writers spell them in many ways. The Arrow type name is kept in each field's
``description`` so the file says which Cairn dtype a field came from.
"""

from __future__ import annotations

import json
from typing import Any

#: Table Schema field types this module writes (a subset of the specification's list).
FIELD_TYPES = (
    "string", "number", "integer", "boolean", "date", "datetime", "time", "duration",
    "array", "object", "any",
)  # fmt: skip

_PREFIXES = (
    (("int", "uint"), "integer"),
    (("halffloat", "float", "double", "decimal"), "number"),
    (("bool",), "boolean"),
    (("string", "large_string", "utf8", "large_utf8"), "string"),
    (("date32", "date64"), "date"),
    (("timestamp",), "datetime"),
    (("time32", "time64"), "time"),
    (("duration",), "duration"),
    (("list", "large_list", "fixed_size_list"), "array"),
    (("struct", "map"), "object"),
)


def field_type(dtype: str) -> str:
    """The Table Schema type of an Arrow dtype name: ``double`` -> ``number``."""
    for prefixes, kind in _PREFIXES:
        if dtype.startswith(prefixes):
            return kind
    return "any"


def table_schema(columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A Table Schema descriptor from inferred column checks (name -> {dtype, ...})."""
    fields = []
    for name, spec in columns.items():
        kind = field_type(spec["dtype"])
        constraints: dict[str, Any] = {}
        if not spec.get("nullable", True):
            constraints["required"] = True
        if spec.get("unique"):
            constraints["unique"] = True
        if kind in ("integer", "number"):
            for ours, theirs in (("min", "minimum"), ("max", "maximum")):
                if spec.get(ours) is not None:
                    value = spec[ours]
                    constraints[theirs] = int(value) if kind == "integer" else value
        if spec.get("allowed") is not None and kind in ("string", "integer", "number"):
            constraints["enum"] = list(spec["allowed"])
        field: dict[str, Any] = {
            "name": name,
            "type": kind,
            "description": f"Cairn dtype {spec['dtype']}",
        }
        if kind in ("date", "datetime", "time"):
            # CSV writers spell times many ways ("2024-01-01 00:00:00", "2024-01-01");
            # the default format accepts only strict ISO 8601 and would reject most files.
            field["format"] = "any"
        if constraints:
            field["constraints"] = constraints
        fields.append(field)
    # Empty cells are how CSV writes a null; Table Schema's default list says the same.
    return {"fields": fields, "missingValues": [""]}


def render(columns: dict[str, dict[str, Any]]) -> str:
    """The Table Schema descriptor as indented JSON text (ending in a newline)."""
    return json.dumps(table_schema(columns), indent=2, ensure_ascii=False) + "\n"
