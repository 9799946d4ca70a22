"""The run search language: a filter parsed into a small AST, and ``order_by`` items.

The parser knows nothing about storage; each backend compiles the AST (the SQL store
in :mod:`cairn.store.sql.filters_sql`). Grammar, loosest binding first::

    filter     := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" or ")" | comparison
    comparison := field op literal
                | field ["not"] ("in") "(" literal ("," literal)* ")"
                | field ["not"] ("like" | "ilike") string
                | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags" | "attributes") "." key | attribute
    key        := [letters digits _ . / -]+ | `any text but a backtick`
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := 'string' | "string" | number | null

Keywords and field prefixes are case-insensitive; keys are not. Metrics compare as
numbers against a run's latest value; params and tags are strings (``<`` and friends on
them is an error). A comparison on a key a run lacks is false, except ``!=``, ``not in``
and ``is null``, which are true. A NaN metric counts as present but compares false. Example::

    (metrics.auc > 0.9 or params.model in ('rf', 'gb')) and tags.team != 'x'

Limits (:data:`MAX_FILTER_LENGTH` and friends) keep every accepted filter within what
both SQL backends run: SQLite refuses expression trees deeper than 1,000 and more than
32,766 bound values, and Python's own recursion limit would stop the parser first. A
filter over a limit is a :class:`~cairn.errors.FilterSyntaxError` pointing at where the
limit was crossed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, cast

from cairn.errors import FilterSyntaxError
from cairn.store.filter_lexer import MAX_INT, Token, tokenize
from cairn.types import RunStatus

FieldKind = Literal["metric", "param", "tag", "attribute"]
Op = Literal[
    "=", "!=", "<", "<=", ">", ">=", "like", "ilike", "in", "not in", "is null", "is not null"
]
Scalar: TypeAlias = str | int | float
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None

PREFIXES: dict[str, FieldKind] = {
    "metrics": "metric",
    "params": "param",
    "tags": "tag",
    "attributes": "attribute",
}
_PREFIX_OF: dict[FieldKind, str] = {kind: prefix for prefix, kind in PREFIXES.items()}

# Attribute spellings accepted in filters -> the canonical name used in the AST.
ATTRIBUTES: dict[str, str] = {
    "id": "id",
    "run_id": "id",
    "name": "name",
    "run_name": "name",
    "status": "status",
    "experiment_id": "experiment_id",
    "start_time": "start_time",
    "end_time": "end_time",
    "parent_id": "parent_id",
    "user": "user",
    "git_commit": "git_commit",
}
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})

_ORDERING_OPS = frozenset({"<", "<=", ">", ">="})
_PATTERN_OPS = frozenset({"like", "ilike"})
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "asc", "desc"})
_BARE_KEY = re.compile(r"[\w./-]+")
_FIELD_HINT = "a field such as metrics.auc, params.model, tags.team or status"

#: Characters in one filter.
MAX_FILTER_LENGTH = 100_000
#: Parentheses and ``not`` nested inside each other.
MAX_DEPTH = 20
#: Comparisons in one filter (so at most MAX_TERMS - 1 ``and``/``or``).
MAX_TERMS = 200
#: Values in one ``in (...)`` list, and in all lists of a filter together.
MAX_IN_ITEMS = 1_000
MAX_VALUES = 5_000
#: Items in one ``order_by`` (each one is a join; SQLite joins at most 64 tables).
MAX_ORDER_KEYS = 16


@dataclass(frozen=True, slots=True)
class Field:
    """What a comparison looks at: ``Field("metric", "auc")`` is ``metrics.auc``."""

    kind: FieldKind
    key: str

    def __str__(self) -> str:
        if self.kind == "attribute":
            return self.key
        key = self.key if _BARE_KEY.fullmatch(self.key) else f"`{self.key}`"
        return f"{_PREFIX_OF[self.kind]}.{key}"

    @property
    def numeric(self) -> bool:
        return self.kind == "metric" or (
            self.kind == "attribute" and self.key in NUMERIC_ATTRIBUTES
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``; ``value`` is a tuple for ``in``/``not in``, None for null tests."""

    field: Field
    op: Op
    value: Value = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``order_by`` item; runs lacking the value sort last in both directions."""

    field: Field
    descending: bool = False


def parse_filter(text: str) -> Expr | None:
    """Parse a filter; None for an empty one (match every run).

    Raises:
        FilterSyntaxError: pointing at the offending token.

    Example:
        >>> parse_filter("tags.team != 'x'")
        Comparison(field=Field(kind='tag', key='team'), op='!=', value='x')
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterSyntaxError(
            f"filter is {len(text)} characters long; the limit is {MAX_FILTER_LENGTH}",
            text,
            MAX_FILTER_LENGTH,
        )
    if not text.strip():
        return None
    parser = _Parser(text)
    expr = parser.parse_or()
    parser.expect_end("'and', 'or' or the end of the filter")
    return expr


def parse_order_by(items: Sequence[str]) -> tuple[OrderKey, ...]:
    """Parse ``order_by`` items such as ``"metrics.auc desc"``, ``"name"``.

    Example:
        >>> parse_order_by(["metrics.auc desc"])
        (OrderKey(field=Field(kind='metric', key='auc'), descending=True),)
    """
    if isinstance(items, str):
        items = [items]
    if len(items) > MAX_ORDER_KEYS:
        raise FilterSyntaxError(f"order_by has {len(items)} items; the limit is {MAX_ORDER_KEYS}")
    keys = []
    for item in items:
        if not item.strip():
            raise FilterSyntaxError("empty order_by item: write a field such as 'metrics.auc desc'")
        if len(item) > MAX_FILTER_LENGTH:
            raise FilterSyntaxError(
                f"order_by item is {len(item)} characters long; the limit is {MAX_FILTER_LENGTH}"
            )
        parser = _Parser(item, "order_by item")
        field = parser.parse_field()
        descending = False
        token = parser.peek()
        if token.kind == "word" and token.text.lower() in ("asc", "desc"):
            descending = token.text.lower() == "desc"
            parser.advance()
        parser.expect_end("'asc', 'desc' or the end of the order_by item")
        keys.append(OrderKey(field, descending))
    return tuple(keys)


# -- parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, what: str = "filter") -> None:
        self.text = text
        self.what = what
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0  # parentheses and nots open around the current token
        self.terms = 0
        self.values = 0

    def limit(self, token: Token, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.text, token.pos)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def error(self, token: Token, expected: str) -> FilterSyntaxError:
        if token.kind == "end":
            return FilterSyntaxError(
                f"unexpected end of {self.what} (expected {expected})", self.text, token.pos
            )
        return FilterSyntaxError(
            f"unexpected token {token.text!r} (expected {expected})", self.text, token.pos
        )

    def expect_end(self, expected: str) -> None:
        token = self.peek()
        if token.kind != "end":
            raise self.error(token, expected)

    # Precedence climbs: or < and < not < comparison.
    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.is_word("or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_not()]
        while self.is_word("and"):
            self.advance()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Expr:
        # A run of nots is read in a loop; each one and each "(" is one level of depth,
        # checked before going deeper, so no filter can exhaust Python's stack.
        nots = 0
        while self.is_word("not"):
            self.enter(self.advance())
            nots += 1
        token = self.peek()
        if token.kind == "(":
            self.enter(self.advance())
            expr = self.parse_or()
            if self.peek().kind != ")":
                raise self.error(self.peek(), "')' or 'and'/'or'")
            self.advance()
            self.depth -= 1
        else:
            expr = self.parse_comparison()
        for _ in range(nots):
            expr = Not(expr)
        self.depth -= nots
        return expr

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.limit(
                token,
                f"filter nests parentheses and 'not' more than {MAX_DEPTH} levels deep",
            )

    def parse_field(self) -> Field:
        token = self.peek()
        if token.kind == "field":
            prefix, key = cast(tuple[str, str], token.value)
            kind = PREFIXES.get(prefix.lower())
            if kind is None:
                raise FilterSyntaxError(
                    _unknown_prefix(prefix, key, token.text), self.text, token.pos
                )
            if kind == "attribute":
                if key not in ATTRIBUTES:
                    raise FilterSyntaxError(_unknown_attribute(key), self.text, token.pos)
                key = ATTRIBUTES[key]
            self.advance()
            return Field(kind, key)
        if token.kind == "word" and token.text.lower() not in _KEYWORDS:
            if token.text.lower() in PREFIXES:
                raise FilterSyntaxError(
                    f"missing key: write {token.text}.KEY (for example metrics.auc)",
                    self.text,
                    token.pos,
                )
            if token.text not in ATTRIBUTES:
                raise FilterSyntaxError(_unknown_attribute(token.text), self.text, token.pos)
            self.advance()
            return Field("attribute", ATTRIBUTES[token.text])
        raise self.error(token, _FIELD_HINT)

    def parse_comparison(self) -> Expr:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.limit(
                self.peek(),
                f"filter has more than {MAX_TERMS} comparisons; the limit is {MAX_TERMS}",
            )
        field = self.parse_field()
        token = self.peek()
        negate = False
        if self.is_word("not"):
            self.advance()
            negate = True
            if not self.is_word("in", "like", "ilike"):
                raise self.error(self.peek(), "'in', 'like' or 'ilike' after 'not'")
            token = self.peek()
        if token.kind == "op":
            self.advance()
            op = str(token.value)
            literal_token = self.peek()
            literal = self.parse_literal()
            if literal is None:
                if op not in ("=", "!="):
                    raise self.error(literal_token, f"a number or string after {op}, not null")
                return Comparison(field, "is null" if op == "=" else "is not null")
            _check(self, field, op, literal, literal_token, token)
            return Comparison(field, cast(Op, op), _normalize(field, literal))
        if self.is_word("is"):
            self.advance()
            op = "is null"
            if self.is_word("not"):
                self.advance()
                op = "is not null"
            if not self.is_word("null"):
                raise self.error(self.peek(), "'null'")
            self.advance()
            return Comparison(field, cast(Op, op))
        if self.is_word("in"):
            self.advance()
            values = self.parse_list()
            for v, tok in values:
                _check(self, field, "in", v, tok, token)
            in_op: Op = "not in" if negate else "in"
            return Comparison(field, in_op, tuple(_normalize(field, v) for v, _ in values))
        if self.is_word("like", "ilike"):
            self.advance()
            op = token.text.lower()
            literal_token = self.peek()
            literal = self.parse_literal()
            if not isinstance(literal, str):
                raise self.error(literal_token, f"a quoted pattern after {op}")
            _check(self, field, op, literal, literal_token, token)
            comparison = Comparison(field, cast(Op, op), literal)
            return Not(comparison) if negate else comparison
        raise self.error(token, "an operator (=, !=, <, <=, >, >=, in, like, ilike, is)")

    def parse_literal(self) -> Scalar | None:
        token = self.peek()
        if token.kind in ("string", "number"):
            self.advance()
            return token.value  # type: ignore[return-value]
        if self.is_word("null"):
            self.advance()
            return None
        raise self.error(token, "a number, a quoted string or null")

    def parse_list(self) -> list[tuple[Scalar, Token]]:
        if self.peek().kind != "(":
            raise self.error(self.peek(), "'(' to start the list")
        self.advance()
        values: list[tuple[Scalar, Token]] = []
        while True:
            token = self.peek()
            value = self.parse_literal()
            if value is None:
                raise self.error(token, "a number or string in the list, not null")
            if len(values) == MAX_IN_ITEMS:
                raise self.limit(
                    token,
                    f"'in' list has more than {MAX_IN_ITEMS} values; the limit is {MAX_IN_ITEMS}",
                )
            self.values += 1
            if self.values > MAX_VALUES:
                raise self.limit(
                    token,
                    f"filter's 'in' lists hold more than {MAX_VALUES} values together; "
                    f"the limit is {MAX_VALUES}",
                )
            values.append((value, token))
            if self.peek().kind == ",":
                self.advance()
                continue
            if self.peek().kind == ")":
                self.advance()
                return values
            raise self.error(self.peek(), "',' or ')'")


def _check(
    parser: _Parser,
    field: Field,
    op: str,
    value: Scalar,
    token: Token,
    operator: Token,
) -> None:
    """Reject comparisons whose operator or literal does not fit the field's type."""
    at = operator.pos
    text = parser.text
    if field.kind == "attribute" and field.key == "experiment_id":
        if op in _ORDERING_OPS or op in _PATTERN_OPS:
            raise FilterSyntaxError(f"experiment_id supports =, !=, in, not in, not {op}", text, at)
        if not re.fullmatch(r"\d+", str(value)):
            raise FilterSyntaxError(f"experiment ids are whole numbers, not {value!r}", text, at)
        if len(str(value).lstrip("0")) > 19 or int(value) > MAX_INT:
            raise FilterSyntaxError(
                f"experiment id {str(value)[:30]!r} is outside the 64-bit range", text, token.pos
            )
        return
    if field.numeric:
        if op in _PATTERN_OPS:
            raise FilterSyntaxError(f"{field} is a number: {op} needs a string field", text, at)
        if isinstance(value, str):
            raise FilterSyntaxError(
                f"{field} is a number: compare it with a number, not the string {value!r}",
                text,
                at,
            )
        return
    what = "params" if field.kind == "param" else "tags" if field.kind == "tag" else str(field)
    if op in _ORDERING_OPS:
        raise FilterSyntaxError(
            f"{what} are strings: {op!r} does not apply to {field}; use =, !=, like, ilike, "
            "in or not in (log numbers as metrics to compare them)",
            text,
            at,
        )
    if not isinstance(value, str):
        raise FilterSyntaxError(
            f"{what} are strings: quote the value, {field} {op} '{token.text}'", text, token.pos
        )
    is_status = field.kind == "attribute" and field.key == "status"
    if is_status and op not in _PATTERN_OPS and value.upper() not in RunStatus.__members__:
        known = ", ".join(RunStatus.__members__)
        raise FilterSyntaxError(f"unknown status {value!r}; one of {known}", text, token.pos)


def _normalize(field: Field, value: Scalar) -> Scalar:
    if field.kind == "attribute" and field.key == "status":
        return str(value).upper()
    if field.kind == "attribute" and field.key == "experiment_id":
        return str(int(value))
    return value


def _unknown_prefix(prefix: str, key: str, written: str) -> str:
    choices = [*PREFIXES, "attr", "metric", "param", "tag", "attribute"]
    guess = difflib.get_close_matches(prefix.lower(), choices, n=1, cutoff=0.5)
    if guess:
        canonical = guess[0] if guess[0] in PREFIXES else guess[0].rstrip("s") + "s"
        canonical = "attributes" if canonical.startswith("attr") else canonical
        return f"unknown field {written!r}; did you mean {canonical}.{key}?"
    return f"unknown field {written!r}; fields start with metrics., params., tags. or attributes."


def _unknown_attribute(name: str) -> str:
    guess = difflib.get_close_matches(name, list(ATTRIBUTES), n=1, cutoff=0.6)
    hint = (
        f"did you mean {guess[0]}?"
        if guess
        else (
            "use metrics.KEY, params.KEY, tags.KEY or an attribute: "
            + ", ".join(sorted(ATTRIBUTES))
        )
    )
    return f"unknown field {name!r}; {hint}"
