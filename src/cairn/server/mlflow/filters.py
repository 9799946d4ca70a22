"""MLflow's run search syntax -> Cairn's filter language (:mod:`cairn.store.filters`).

The two languages share their operators, literals and ``and``; they differ in how a
field is written. MLflow accepts ``metric.``/``param.``/``tag.``/``attribute.``/``attr.``
prefixes (singular or plural), keys quoted with double quotes or backticks
(``tags."mlflow.user"``), and its own attribute names (``run_name``, ``user_id``,
``created``). Each field is rewritten to Cairn's spelling; everything else is passed
through, so Cairn's parser reports any syntax error with its position.

Example:
    >>> translate_filter('tags."mlflow.user" = \\'ana\\' and metrics.rmse < 1')
    "tags.mlflow.user = 'ana' and metrics.rmse < 1"
    >>> translate_order_by(["metrics.rmse DESC", "attributes.start_time"])
    ['metrics.rmse DESC', 'start_time']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cairn.errors import FilterSyntaxError
from cairn.server.mlflow.convert import RUN_NAME_TAG

_PREFIXES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attr": "attributes",
    "attribute": "attributes",
    "attributes": "attributes",
    "run": "attributes",
}
#: MLflow attribute names -> Cairn's.
_ATTRIBUTES = {
    "run_id": "id",
    "run_uuid": "id",
    "id": "id",
    "run_name": "name",
    "name": "name",
    "status": "status",
    "start_time": "start_time",
    "created": "start_time",
    "end_time": "end_time",
    "user_id": "user",
    "experiment_id": "experiment_id",
}
_UNSUPPORTED_ATTRIBUTES = {"artifact_uri", "lifecycle_stage"}
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "asc", "desc"}
_BARE_KEY = re.compile(r"[\w./-]+")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<field>(?P<prefix>[A-Za-z_]+)\.(?:`(?P<bt>[^`]*)`|"(?P<dq>[^"]*)"|(?P<bare>[\w.:/-]+)))
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<word>[A-Za-z_]\w*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def _field(prefix: str, key: str, text: str, pos: int) -> str:
    kind = _PREFIXES.get(prefix.lower())
    if prefix.lower() in ("dataset", "datasets"):
        raise FilterSyntaxError(
            f"{prefix}.{key}: searching runs by dataset is not supported by Cairn; "
            "filter on metrics., params., tags. or attributes.",
            text,
            pos,
        )
    if kind is None:
        raise FilterSyntaxError(
            f"unknown field {prefix}.{key}: fields start with metrics., params., tags. or "
            "attributes.",
            text,
            pos,
        )
    if kind == "attributes":
        return _attribute(key, text, pos)
    if kind == "tags" and key == RUN_NAME_TAG:
        return "name"  # MLflow keeps the run name in this tag too; Cairn has the attribute
    return f"{kind}.{key}" if _BARE_KEY.fullmatch(key) else f"{kind}.`{key}`"


def _attribute(name: str, text: str, pos: int) -> str:
    if name in _UNSUPPORTED_ATTRIBUTES:
        raise FilterSyntaxError(
            f"searching runs by {name} is not supported by Cairn; use "
            + ", ".join(sorted(_ATTRIBUTES)),
            text,
            pos,
        )
    if name not in _ATTRIBUTES:
        raise FilterSyntaxError(
            f"unknown attribute {name!r}; one of " + ", ".join(sorted(_ATTRIBUTES)), text, pos
        )
    return _ATTRIBUTES[name]


def _rewrite(text: str) -> str:
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "field" or match.group("prefix") is not None:
            key = match.group("bt")
            if key is None:
                key = match.group("dq")
            if key is None:
                key = match.group("bare")
            out.append(_field(match.group("prefix"), key, text, match.start()))
        elif kind == "word" and match.group().lower() not in _KEYWORDS:
            out.append(_attribute(match.group(), text, match.start()))
        elif kind == "ws":
            out.append(" ")
        else:
            out.append(match.group())
    return "".join(out).strip()


def translate_filter(text: str | None) -> str:
    """Cairn's filter for MLflow's ``filter`` string (empty for none)."""
    return _rewrite(text or "")


def translate_order_by(items: Sequence[str]) -> list[str]:
    """Cairn's ``order_by`` items for MLflow's (``"metrics.rmse DESC"``)."""
    return [_rewrite(item) for item in items if item and item.strip()]
