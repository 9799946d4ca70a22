"""The search filter language: parsing, error positions, and SQL agreeing with its meaning."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.errors import FilterSyntaxError
from cairn.store import open_metadata
from cairn.store.filters import (
    And,
    Comparison,
    Expr,
    Field,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from cairn.types import Metric, Run

AUC = Field("metric", "auc")
MODEL = Field("param", "model")
TEAM = Field("tag", "team")


def _cmp(field: Field, op: Any, value: Any = None) -> Comparison:
    return Comparison(field, op, value)


# -- parsing ------------------------------------------------------------------------------------


def test_the_documented_example_parses_with_parentheses_respected() -> None:
    expr = parse_filter("(metrics.auc > 0.9 or params.model in ('rf', 'gb')) and tags.team != 'x'")
    assert expr == And(
        (
            Or((_cmp(AUC, ">", 0.9), _cmp(MODEL, "in", ("rf", "gb")))),
            _cmp(TEAM, "!=", "x"),
        )
    )


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    a, b, c = (_cmp(Field("metric", k), ">", 1) for k in "abc")
    assert parse_filter("metrics.a > 1 or metrics.b > 1 and metrics.c > 1") == Or((a, And((b, c))))
    assert parse_filter("not metrics.a > 1 and metrics.b > 1") == And((Not(a), b))
    assert parse_filter("not (metrics.a > 1 or metrics.b > 1)") == Not(Or((a, b)))
    assert parse_filter("metrics.a > 1 and metrics.b > 1 and metrics.c > 1") == And((a, b, c))


def test_keywords_and_prefixes_are_case_insensitive_but_keys_are_not() -> None:
    assert parse_filter("METRICS.Auc > 1 AND Params.x IN ('a') Or NOT tags.T Like 'a%'") == Or(
        (
            And((_cmp(Field("metric", "Auc"), ">", 1), _cmp(Field("param", "x"), "in", ("a",)))),
            Not(_cmp(Field("tag", "T"), "like", "a%")),
        )
    )


@pytest.mark.parametrize(
    ("literal", "value"),
    [("3", 3), ("-3", -3), ("0.25", 0.25), ("-.5", -0.5), ("1e3", 1000.0), ("2.5E-2", 0.025)],
)
def test_numbers_parse_as_ints_or_floats(literal: str, value: float) -> None:
    parsed = parse_filter(f"metrics.x >= {literal}")
    assert parsed == _cmp(Field("metric", "x"), ">=", value)
    assert isinstance(parsed, Comparison) and type(parsed.value) is type(value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [("'rf'", "rf"), ('"rf"', "rf"), (r"'it\'s'", "it's"), (r'"say \"hi\""', 'say "hi"'),
     ("'a\\\\b'", "a\\b"), ("'50\\%'", "50\\%"), ("''", ""), ("'é ü'", "é ü")],
)  # fmt: skip
def test_strings_take_either_quote_and_escape_only_the_quote_and_backslash(
    literal: str, value: str
) -> None:
    assert parse_filter(f"params.m = {literal}") == _cmp(MODEL.__class__("param", "m"), "=", value)


def test_odd_keys_go_in_backticks_and_plain_keys_may_hold_dots_slashes_dashes() -> None:
    assert parse_filter("metrics.`val loss (%)` < 1") == _cmp(
        Field("metric", "val loss (%)"), "<", 1
    )
    assert parse_filter("metrics.train/loss.ema-3 < 1") == _cmp(
        Field("metric", "train/loss.ema-3"), "<", 1
    )
    assert str(Field("metric", "val loss (%)")) == "metrics.`val loss (%)`"
    assert str(Field("param", "a.b")) == "params.a.b"


def test_attributes_may_be_bare_or_prefixed_and_have_aliases() -> None:
    expected = _cmp(Field("attribute", "id"), "=", "abc")
    assert parse_filter("run_id = 'abc'") == expected
    assert parse_filter("attributes.id = 'abc'") == expected
    assert parse_filter("attributes.run_name = 'x'") == _cmp(Field("attribute", "name"), "=", "x")
    assert parse_filter("status = 'finished'") == _cmp(
        Field("attribute", "status"), "=", "FINISHED"
    )
    assert parse_filter("experiment_id in (1, '2')") == _cmp(
        Field("attribute", "experiment_id"), "in", ("1", "2")
    )


def test_null_tests_have_two_spellings() -> None:
    end = Field("attribute", "end_time")
    assert (
        parse_filter("end_time = null") == parse_filter("end_time is null") == _cmp(end, "is null")
    )
    assert (
        parse_filter("end_time != NULL")
        == parse_filter("end_time IS NOT NULL")
        == _cmp(end, "is not null")
    )


def test_not_in_and_not_like_are_operators() -> None:
    assert parse_filter("params.model not in ('a', 'b')") == _cmp(MODEL, "not in", ("a", "b"))
    assert parse_filter("params.model not like 'a%'") == Not(_cmp(MODEL, "like", "a%"))


def test_an_empty_filter_matches_everything() -> None:
    assert parse_filter("") is None
    assert parse_filter("   ") is None


ERRORS = [
    ("metrics.auc > 0.9 and )", "unexpected token ')'", 22),
    ("metrics.auc >", "unexpected end of filter", 13),
    ("metric.auc > 0.9", "unknown field 'metric.auc'; did you mean metrics.auc?", 0),
    ("params.x = '1' and param.y = 'a'", "did you mean params.y?", 19),
    ("tag.team = 'x'", "did you mean tags.team?", 0),
    ("foo.bar = 1", "fields start with metrics., params., tags. or attributes.", 0),
    ("starttime > 1", "unknown field 'starttime'; did you mean start_time?", 0),
    ("attributes.colour = 'x'", "unknown field 'colour'", 0),
    ("metrics > 1", "missing key: write metrics.KEY", 0),
    ("params.model = 'rf", "unterminated string", 15),
    ("metrics.`val-loss > 1", "unterminated `quoted key`", 8),
    ("(metrics.a > 1", "expected ')'", 14),
    ("metrics.a > 1)", "unexpected token ')'", 13),
    ("metrics.a > 1 metrics.b > 2", "unexpected token 'metrics.b'", 14),
    ("and metrics.a > 1", "unexpected token 'and'", 0),
    ("metrics.a 1", "unexpected token '1' (expected an operator", 10),
    ("metrics.a in ()", "unexpected token ')'", 14),
    ("metrics.a in (1,)", "unexpected token ')'", 16),
    ("metrics.a in 1", "expected '(' to start the list", 13),
    ("params.lr < 0.1", "params are strings: '<' does not apply to params.lr", 10),
    ("tags.t >= 'a'", "tags are strings", 7),
    ("params.depth = 3", "quote the value, params.depth = '3'", 15),
    ("metrics.auc = 'high'", "metrics.auc is a number", 12),
    ("metrics.auc like '0.9%'", "metrics.auc is a number: like needs a string field", 12),
    ("status = 'done'", "unknown status 'done'", 9),
    ("experiment_id > 3", "experiment_id supports =, !=, in, not in", 14),
    ("metrics.a > 1x", "malformed number '1x'", 12),
    ("metrics.a ! 1", "unexpected character '!'", 10),
    ("metrics.a not = 1", "expected 'in', 'like' or 'ilike' after 'not'", 14),
    ("metrics.a < null", "number or string after <, not null", 12),
    ("params.a is 'x'", "expected 'null'", 12),
]


@pytest.mark.parametrize(("text", "message", "position"), ERRORS, ids=[e[0] for e in ERRORS])
def test_malformed_filters_point_at_the_offending_token(
    text: str, message: str, position: int
) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert message in str(info.value)
    assert info.value.position == position
    assert info.value.text == text
    # The message shows where: the text with a marker before the offending token.
    assert f"at position {position}: {text[:position]}»{text[position:]}" in str(info.value)


def test_order_by_items_parse_with_optional_direction() -> None:
    assert parse_order_by(["metrics.auc desc", "params.lr", "start_time ASC", "name"]) == (
        OrderKey(AUC, descending=True),
        OrderKey(Field("param", "lr")),
        OrderKey(Field("attribute", "start_time")),
        OrderKey(Field("attribute", "name")),
    )
    assert parse_order_by([]) == ()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("metrics.auc descending", "unexpected token 'descending'"),
        ("metrics.auc desc name", "unexpected token 'name'"),
        ("metric.auc", "did you mean metrics.auc?"),
        ("", "empty order_by item"),
        ("desc", "unexpected token 'desc'"),
    ],
)
def test_bad_order_by_items_are_syntax_errors(item: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=re.escape(message)):
        parse_order_by([item])


# -- SQL agrees with the language's meaning ------------------------------------------------------


def _like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    out, chars = [], iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _lookup(field: Field, run: Run) -> tuple[bool, Any]:
    if field.kind == "metric":
        metric = run.metrics.get(field.key)
        return (metric is not None, metric.value if metric else None)
    if field.kind in ("param", "tag"):
        values = run.params if field.kind == "param" else run.tags
        return (field.key in values, values.get(field.key))
    value = getattr(run, field.key)
    return (value is not None, value)


def evaluate(expr: Expr, run: Run) -> bool:
    """The documented meaning, written independently of any backend."""
    if isinstance(expr, And):
        return all(evaluate(e, run) for e in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(e, run) for e in expr.items)
    if isinstance(expr, Not):
        return not evaluate(expr.item, run)
    present, value = _lookup(expr.field, run)
    op, target = expr.op, expr.value
    if op == "is null":
        return not present
    if op == "is not null":
        return present
    if op == "!=":
        return not present or value != target
    if op == "not in":
        assert isinstance(target, tuple)
        return not present or not any(value == t for t in target)
    if not present:
        return False
    if op == "in":
        assert isinstance(target, tuple)
        return any(value == t for t in target)
    if op in ("like", "ilike"):
        assert isinstance(target, str)
        return _like_regex(target, op == "ilike").fullmatch(value) is not None
    compare: dict[str, Any] = {
        "=": lambda a, b: a == b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return bool(compare[op](value, target))


def render(expr: Expr) -> str:
    """Filter text for ``expr``, parenthesized so it parses back to the same tree."""
    if isinstance(expr, And | Or):
        joiner = " and " if isinstance(expr, And) else " OR "
        return "(" + joiner.join(render(e) for e in expr.items) + ")"
    if isinstance(expr, Not):
        return f"not ({render(expr.item)})"

    def lit(v: Any) -> str:
        return repr(v) if isinstance(v, str) else str(v)

    field = str(expr.field)
    if expr.op in ("is null", "is not null"):
        return f"{field} {expr.op}"
    if isinstance(expr.value, tuple):
        return f"{field} {expr.op} ({', '.join(lit(v) for v in expr.value)})"
    return f"{field} {expr.op} {lit(expr.value)}"


NUMBERS = [-1.5, 0.0, 0.5, 1.0, 2.5, math.inf]
WORDS = ["x", "y", "xy", "X", "y_x", "%"]
PATTERNS = ["x%", "%y", "_", "%", "X%", "%\\%", "y\\_x", "%x%"]
NUMERIC_OPS = ["=", "!=", "<", "<=", ">", ">="]


def _comparisons() -> st.SearchStrategy[Comparison]:
    def metric(key: str) -> st.SearchStrategy[Comparison]:
        field = Field("metric", key)
        return st.one_of(
            st.builds(Comparison, st.just(field), st.sampled_from(NUMERIC_OPS),
                      st.sampled_from(NUMBERS[:-1])),
            st.builds(Comparison, st.just(field), st.sampled_from(["in", "not in"]),
                      st.lists(st.sampled_from(NUMBERS[:-1]), min_size=1, max_size=3).map(tuple)),
        )  # fmt: skip

    def text(field: Field) -> st.SearchStrategy[Comparison]:
        return st.one_of(
            st.builds(Comparison, st.just(field), st.sampled_from(["=", "!="]),
                      st.sampled_from(WORDS)),
            st.builds(Comparison, st.just(field), st.sampled_from(["like", "ilike"]),
                      st.sampled_from(PATTERNS)),
            st.builds(Comparison, st.just(field), st.sampled_from(["in", "not in"]),
                      st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(tuple)),
        )  # fmt: skip

    fields = [Field("metric", "a"), Field("metric", "b"), Field("param", "p"), Field("tag", "t")]
    nulls = st.builds(
        Comparison, st.sampled_from(fields), st.sampled_from(["is null", "is not null"])
    )
    return st.one_of(
        metric("a"),
        metric("b"),
        text(Field("param", "p")),
        text(Field("tag", "t")),
        text(Field("attribute", "name")),
        nulls,
    )


FILTERS = st.recursive(
    _comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=6,
)

RUNS = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(WORDS),
            "metrics": st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(NUMBERS)),
            "params": st.dictionaries(st.just("p"), st.sampled_from(WORDS)),
            "tags": st.dictionaries(st.just("t"), st.sampled_from(WORDS)),
        }
    ),
    min_size=1,
    max_size=6,
)


@pytest.fixture(
    params=[
        pytest.param(("sqlite", 60), id="sqlite"),
        pytest.param(("postgresql", 25), id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store_and_examples(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    backend, examples = request.param
    uri = (
        f"sqlite:///{tmp_path / 'prop.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_uri")
    )
    metadata = open_metadata(uri, create=True)
    yield metadata.tracking, examples
    metadata.close()


def test_sql_search_agrees_with_the_documented_semantics(store_and_examples: Any) -> None:
    store, examples = store_and_examples
    counter = itertools.count()

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(runs=RUNS, expr=FILTERS)
    def check(runs: list[dict[str, Any]], expr: Expr) -> None:
        text = render(expr)
        assert parse_filter(text) == expr, text
        exp = store.create_experiment(f"e{next(counter)}").id
        created = []
        for spec in runs:
            run = store.create_run(exp, name=spec["name"], params=spec["params"], tags=spec["tags"])
            store.log_batch(run.id, [Metric(k, v, 0, 1) for k, v in spec["metrics"].items()])
            created.append(store.get_run(run.id))
        expected = {r.id for r in created if evaluate(expr, r)}
        found = {r.id for r in store.search_runs([exp], text).items}
        assert found == expected, text

    check()


# -- limits: hostile filters are one-line errors with a position, never a crash ----------------


def _big_or(n: int) -> str:
    return " or ".join(f"metrics.m{i} > {i}" for i in range(n))


def _in_list(n: int, field: str = "metrics.m") -> str:
    return f"{field} in (" + ", ".join(str(i) for i in range(n)) + ")"


LIMIT_ATTACKS = [
    ("(" * 500 + "metrics.a > 1" + ")" * 500, "more than 20 levels deep", 20),
    ("not " * 1000 + "metrics.a > 1", "more than 20 levels deep", 80),
    ("not (" * 300 + "metrics.a > 1" + ")" * 300, "more than 20 levels deep", 50),
    (_big_or(1000), "more than 200 comparisons", _big_or(200).__len__() + len(" or ")),
    (" and ".join(["metrics.a > 1"] * 1000), "more than 200 comparisons", 200 * 18),
    (_in_list(1_000_000), "the limit is 100000", 100_000),
    (_in_list(1001), "'in' list has more than 1000 values", len(_in_list(1000)) - 1 + 2),
    (
        " or ".join(_in_list(1000, f"metrics.m{k}") for k in range(6)),
        "hold more than 5000 values together",
        None,
    ),
    ("metrics.a > 99999999999999999999", "outside the 64-bit range", 12),
    ("metrics.a > 9223372036854775808", "outside the 64-bit range", 12),
    ("metrics.a in (1, -9223372036854775809)", "outside the 64-bit range", 17),
    ("metrics.a < " + "9" * 5000, "outside the 64-bit range", 12),
    ("metrics.a > 1e999", "too large", 12),
    ("start_time > -1e400", "too large", 13),
    ("experiment_id = '99999999999999999999'", "experiment id", 16),
]


@pytest.mark.parametrize(
    ("text", "message", "position"),
    LIMIT_ATTACKS,
    ids=[
        "500-parens",
        "1000-nots",
        "300-not-parens",
        "1000-ors",
        "1000-ands",
        "million-item-in",
        "1001-item-in",
        "6000-values",
        "int-over-2**64",
        "int-2**63",
        "int-under-min",
        "5000-digits",
        "float-inf",
        "negative-inf",
        "experiment-id",
    ],
)
def test_filters_over_a_limit_are_one_line_errors_with_the_position(
    text: str, message: str, position: int | None
) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    error = info.value
    assert message in str(error)
    assert f"at position {error.position}: " in str(error)
    if position is not None:
        assert error.position == position
    assert len(str(error).splitlines()) == 1 and len(str(error)) < 400


def test_filters_at_the_limits_parse() -> None:
    from cairn.store import filter_lexer, filters

    deep = "(" * filters.MAX_DEPTH + "metrics.a > 1" + ")" * filters.MAX_DEPTH
    assert parse_filter(deep) == _cmp(Field("metric", "a"), ">", 1)
    nots = parse_filter("not " * filters.MAX_DEPTH + "metrics.a > 1")
    for _ in range(filters.MAX_DEPTH):
        assert isinstance(nots, Not)
        nots = nots.item
    assert nots == _cmp(Field("metric", "a"), ">", 1)
    many = parse_filter(_big_or(filters.MAX_TERMS))
    assert isinstance(many, Or) and len(many.items) == filters.MAX_TERMS
    listed = parse_filter(_in_list(filters.MAX_IN_ITEMS))
    assert isinstance(listed, Comparison) and len(listed.value or ()) == filters.MAX_IN_ITEMS
    edges = parse_filter(f"metrics.a in ({filter_lexer.MIN_INT}, {filter_lexer.MAX_INT}, 1e308)")
    assert isinstance(edges, Comparison) and edges.value == (-(2**63), 2**63 - 1, 1e308)


def test_order_by_with_too_many_items_is_refused() -> None:
    with pytest.raises(FilterSyntaxError, match="order_by has 17 items; the limit is 16"):
        parse_order_by([f"metrics.m{i}" for i in range(17)])


def test_filter_error_excerpt_stays_on_one_line() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter("metrics.a > 1\nand\u2028metrics.b >> 2")
    assert len(str(info.value).splitlines()) == 1
    assert "»> 2" in str(info.value)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def limit_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    uri = (
        f"sqlite:///{tmp_path / 'limits.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_uri")
    )
    metadata = open_metadata(uri, create=True)
    yield metadata.tracking
    metadata.close()


def test_filters_at_every_limit_run_on_the_sql_backends(limit_store: Any) -> None:
    """The largest filters the parser accepts: SQLite's expression-depth (1,000) and
    bound-variable (32,766) limits, and PostgreSQL's, are never reached."""
    from cairn.store import filter_lexer, filters

    store = limit_store
    exp = store.create_experiment("limits").id
    hit = store.create_run(exp, params={"p": "v"}, tags={"t": "x"})
    store.log_batch(hit.id, [Metric("m", 1.0, 0, 1)])
    miss = store.create_run(exp, params={"p": "w"})
    terms, depth = filters.MAX_TERMS, filters.MAX_DEPTH
    lists = filters.MAX_VALUES // filters.MAX_IN_ITEMS

    def found(text: str, **kw: Any) -> set[str]:
        return {r.id for r in store.search_runs([exp], text, max_results=10, **kw).items}

    any_of = " or ".join([f"metrics.m{i} > {i}" for i in range(terms - 1)] + ["metrics.m = 1"])
    assert found(any_of) == {hit.id}
    all_of = " and ".join(f"params.p != 'z{i}'" for i in range(terms))
    assert found(all_of) == {hit.id, miss.id}
    assert found("not " * (depth - 2) + "(" + any_of + ")") == {hit.id}  # an even number of nots
    assert found("not " * depth + "metrics.m = 1") == {hit.id}
    assert found("(" * depth + any_of + ")" * depth) == {hit.id}
    nested = "metrics.m = 1"
    for level in range(depth // 2):  # each level opens two parentheses
        nested = f"(params.p = 'v' and ({nested} or metrics.q{level} > 0))"
    assert found(nested) == {hit.id}
    number_lists = [
        "metrics.m in (" + ", ".join(str(k * 1000 + j) for j in range(1000)) + ")"
        for k in range(lists // 2)
    ]
    text_lists = [
        "params.p not in (" + ", ".join(f"'x{k}_{j}'" for j in range(1000)) + ")"
        for k in range(lists - lists // 2)
    ]
    filler = [f"tags.t{i} is null" for i in range(terms - lists)]
    widest = " and ".join([*filler, f"({' or '.join(number_lists)})", *text_lists])
    assert len(widest) <= filters.MAX_FILTER_LENGTH
    order = [f"metrics.o{i} desc" for i in range(filters.MAX_ORDER_KEYS)]
    assert found(widest, order_by=order) == {hit.id}
    low, high = filter_lexer.MIN_INT, filter_lexer.MAX_INT
    edges = f"metrics.m > {low} and metrics.m < {high} and start_time > -1e308"
    assert found(edges) == {hit.id}


def test_filters_over_a_limit_are_refused_by_the_sql_backends(limit_store: Any) -> None:
    exp = limit_store.create_experiment("limits").id
    for text, message in [
        (_big_or(1000), "more than 200 comparisons"),
        ("(" * 500 + "metrics.a > 1" + ")" * 500, "levels deep"),
        ("metrics.a > 99999999999999999999", "64-bit range"),
    ]:
        with pytest.raises(FilterSyntaxError, match=message):
            limit_store.search_runs([exp], text)
