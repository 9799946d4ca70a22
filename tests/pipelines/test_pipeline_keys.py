"""Cache keys are a function of (step, code, params, inputs) only, and explain decodes
exactly which of them differ."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cairn.pipelines.cache import explain, key_of

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
PARAMS = st.dictionaries(st.text(min_size=1, max_size=4), JSON, max_size=4)


@given(PARAMS)
def test_the_key_ignores_the_order_parameters_were_given_in(params: dict[str, Any]) -> None:
    reversed_order = dict(reversed(list(params.items())))
    assert key_of("s", "c", params, {})[0] == key_of("s", "c", reversed_order, {})[0]


@given(PARAMS, PARAMS)
def test_different_parameters_give_different_keys_and_explain_names_them(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    same = json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)
    key_before, components_before = key_of("s", "c", before, {"x": "d1"}, ["up"])
    key_after, components_after = key_of("s", "c", after, {"x": "d1"}, ["renamed"])
    assert (key_before == key_after) == same
    lines = explain(json.loads(components_after), json.loads(components_before))
    changed = {
        k for k in set(before) | set(after)
        if json.dumps(before.get(k), sort_keys=True) != json.dumps(after.get(k), sort_keys=True)
        or (k in before) != (k in after)
    }  # fmt: skip
    named = sorted(line.split(" changed: ")[0] for line in lines)
    assert named == sorted(f"param {k!r}" for k in changed)


def test_code_and_inputs_each_change_the_key_and_are_named() -> None:
    base, components = key_of("s", "c1", {"a": 1}, {"x": "d1"})
    code, code_components = key_of("s", "c2", {"a": 1}, {"x": "d1"})
    data, data_components = key_of("s", "c1", {"a": 1}, {"x": "d2"})
    assert len({base, code, data}) == 3
    assert explain(json.loads(code_components), json.loads(components))[0].startswith(
        "code changed"
    )
    assert explain(json.loads(data_components), json.loads(components)) == [
        'input \'x\' changed: "d1" -> "d2"'
    ]
