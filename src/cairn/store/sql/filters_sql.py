"""Compile the search AST (:mod:`cairn.store.filters`) to SQLAlchemy expressions on ``runs``.

Each comparison on a metric, param or tag becomes ``runs.run_key [NOT] IN (SELECT run_key ...)``
over one key of ``latest_metrics``/``params``/``tags``. Those subqueries never yield NULL,
so ``and``/``or``/``not`` keep two-valued logic and a run lacking a key is handled the
same way everywhere: ``!=``, ``not in`` and ``is null`` match it, everything else does not.
The same rule holds for nullable attributes (``end_time``, ``parent_id``, ``git_commit``).

Ordering joins ``latest_metrics``/``params``/``tags`` outward once per key; runs lacking
the value sort last in both directions; ties go newest first, then by id (descending, the
order of the runs indexes), so pages are stable.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

from cairn.errors import InvalidInput
from cairn.store.filters import And, Comparison, Expr, Field, Not, Or, OrderKey
from cairn.store.sql import tables as t

MAX_RESULTS_LIMIT = 50_000
_NULLABLE_ATTRIBUTES = frozenset({"end_time", "parent_id", "git_commit"})
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}


def compile_filter(expr: Expr, dialect: str) -> ColumnElement[bool]:
    """A WHERE clause over ``tables.runs`` for ``expr`` (``dialect``: sqlite or postgresql)."""
    if isinstance(expr, And):
        return sa.and_(*(compile_filter(e, dialect) for e in expr.items))
    if isinstance(expr, Or):
        return sa.or_(*(compile_filter(e, dialect) for e in expr.items))
    if isinstance(expr, Not):
        return sa.not_(compile_filter(expr.item, dialect))
    if expr.field.kind == "attribute":
        return _attribute(expr, dialect)
    return _keyed(expr, dialect)


def _keyed(cmp: Comparison, dialect: str) -> ColumnElement[bool]:
    table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[cmp.field.kind]
    value_col = table.c.value
    op = cmp.op

    def having(condition: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
        sub = sa.select(table.c.run_key).where(table.c.key == cmp.field.key)
        if condition is not None:
            sub = sub.where(condition)
        return t.runs.c.run_key.in_(sub)

    if op == "is null":
        return sa.not_(having())
    if op == "is not null":
        return having()
    if op == "!=":
        return sa.not_(having(value_col == cmp.value))
    if op in ("in", "not in"):
        assert isinstance(cmp.value, tuple)
        matched = having(value_col.in_(cmp.value))
        return matched if op == "in" else sa.not_(matched)
    if op in ("like", "ilike"):
        assert isinstance(cmp.value, str)
        return having(_like(value_col, cmp.value, op == "ilike", dialect))
    return having(_COMPARE[op](value_col, cmp.value))


def _attribute(cmp: Comparison, dialect: str) -> ColumnElement[bool]:
    name = cmp.field.key
    col: ColumnElement[Any] = t.runs.c[name]
    nullable = name in _NULLABLE_ATTRIBUTES
    op = cmp.op
    value: Any = cmp.value
    if name == "experiment_id":
        value = tuple(int(v) for v in value) if isinstance(value, tuple) else int(str(value))
    if op == "is null":
        return col.is_(None)
    if op == "is not null":
        return col.is_not(None)
    if op in ("!=", "not in"):
        differs = col != value if op == "!=" else col.not_in(value)
        return sa.or_(col.is_(None), differs) if nullable else differs
    if op == "in":
        matched = col.in_(value)
    elif op in ("like", "ilike"):
        matched = _like(col, value, op == "ilike", dialect)
    else:
        matched = _COMPARE[op](col, value)
    return sa.and_(col.is_not(None), matched) if nullable else matched


# -- patterns ------------------------------------------------------------------------------


def pattern_parts(pattern: str) -> Iterator[tuple[str, str]]:
    """Split a like pattern into ("any", "%"), ("one", "_") and ("char", c) parts.

    A backslash makes the next character literal; a trailing backslash is itself literal.
    """
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            yield ("char", next(chars, "\\"))
        elif ch == "%":
            yield ("any", ch)
        elif ch == "_":
            yield ("one", ch)
        else:
            yield ("char", ch)


def _like(col: ColumnElement[Any], pattern: str, ignore_case: bool, dialect: str) -> Any:
    if dialect == "sqlite" and not ignore_case:
        # SQLite's LIKE ignores ASCII case; GLOB is its case-sensitive matcher.
        return col.op("GLOB", is_comparison=True)(_glob(pattern))
    escaped = "".join(
        "\\" + c if kind == "char" and c in "%_\\" else c for kind, c in pattern_parts(pattern)
    )
    if ignore_case:
        return col.ilike(escaped, escape="\\")
    return col.like(escaped, escape="\\")


def _glob(pattern: str) -> str:
    out = []
    for kind, c in pattern_parts(pattern):
        if kind == "any":
            out.append("*")
        elif kind == "one":
            out.append("?")
        else:
            out.append(f"[{c}]" if c in "*?[" else c)
    return "".join(out)


# -- ordering --------------------------------------------------------------------------------


def ordered_runs(keys: Sequence[OrderKey]) -> tuple[FromClause, list[Any]]:
    """``runs`` outer-joined to what ``keys`` sort on, and the ORDER BY terms."""
    source: FromClause = t.runs
    terms: list[Any] = []
    for i, key in enumerate(keys):
        col = _order_column(key.field, i)
        if isinstance(col, tuple):
            joined, col = col
            source = source.outerjoin(*joined)
        if key.field.kind != "attribute" or key.field.key in _NULLABLE_ATTRIBUTES:
            terms.append(col.is_(None))  # missing values last, in both directions
        terms.append(col.desc() if key.descending else col.asc())
    terms += [t.runs.c.start_time.desc(), t.runs.c.id.desc()]
    return source, terms


def _order_column(field: Field, i: int) -> Any:
    if field.kind == "attribute":
        return t.runs.c[field.key]
    table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[field.kind]
    alias = table.alias(f"order_{i}")
    on = sa.and_(alias.c.run_key == t.runs.c.run_key, alias.c.key == field.key)
    return (alias, on), alias.c.value


# -- pagination ------------------------------------------------------------------------------


def query_fingerprint(*parts: object) -> str:
    """A short digest of a search so a page token cannot be replayed on another search."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2s(text.encode(), digest_size=6).hexdigest()


def encode_page_token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"offset": offset, "query": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str | None, fingerprint: str) -> int:
    """The offset a token stands for; ``InvalidInput`` for a malformed or foreign token."""
    if token is None or token == "":
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        offset = data["offset"]
        query = data["query"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidInput(
            f"invalid page_token {token[:40]!r}: pass the next_token of a previous page"
        ) from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"invalid page_token {token[:40]!r}: bad offset")
    if query != fingerprint:
        raise InvalidInput(
            f"page_token {token[:40]!r} belongs to a different search; pass the same "
            "experiments, filter and order_by as the search that returned it"
        )
    return offset


def check_max_results(max_results: int) -> None:
    if (
        not isinstance(max_results, int)
        or isinstance(max_results, bool)
        or not 1 <= max_results <= MAX_RESULTS_LIMIT
    ):
        raise InvalidInput(
            f"max_results must be a whole number from 1 to {MAX_RESULTS_LIMIT}, not {max_results!r}"
        )
