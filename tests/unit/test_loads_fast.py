"""``loads_fast`` (orjson, the standard parser where orjson refuses) keeps ``loads_strict``'s
accept/reject decision on every input, and its values except integers beyond 64 bits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.delivery import loads_fast, loads_strict

EDGES = [
    "1e400", "-1e400", "[1e309]", "NaN", "[Infinity]", "-Infinity", '"\\ud800"', '"\\udc00x"',
    '"\\ud83c\\udf89"', "\ufeff{}", '{"a":1,"a":2}', "123456789012345678901234567890",
    "1" + "0" * 400, "1" + "0" * 5000, '"\x01"', '"\x7f"', '"\uffff"', "[" * 1100 + "]" * 1100,
    "[" * 300 + "]" * 300, "[1] x", " [1] ", "-0", "0.0e-400", "1E5", "01", "[1,]", "{'a':1}",
    "", " ", "tru", "true", "null", '{"a":"\\u0000"}', "1.10", "3.141592653589793238462643383279",
    "-9223372036854775808", "18446744073709551615", "18446744073709551616",
]


def decision(fn, text):
    try:
        return "ok", fn(text)
    except ValueError:
        return "rejected", None


def assert_same(text: str, *, exact: bool = True) -> None:
    fast, strict = decision(loads_fast, text), decision(loads_strict, text)
    assert fast[0] == strict[0], (text[:60], fast[0], strict[0])
    if exact and fast[0] == "ok":
        assert json.dumps(fast[1], sort_keys=True) == json.dumps(strict[1], sort_keys=True)


@pytest.mark.parametrize("text", EDGES, ids=range(len(EDGES)))
def test_hostile_edges_get_the_same_decision(text):
    digits = max((len(run) for run in "".join(c if c.isdigit() else " " for c in text).split()),
                 default=0)
    assert_same(text, exact=digits < 19)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                       max_size=4),
    max_leaves=20)


@given(value=json_values, ensure_ascii=st.booleans())
def test_documents_parse_to_the_same_value(value, ensure_ascii):
    assert_same(json.dumps(value, ensure_ascii=ensure_ascii))


@given(value=json_values, cut=st.integers(0, 200), junk=st.sampled_from(
    ["", "}", "]", ",", "NaN", "\x00", "\\", '"', "\ud800", "1e999", "\t", "\x1f"]))
def test_damaged_documents_get_the_same_decision(value, cut, junk):
    text = json.dumps(value)
    assert_same(text[:cut] + junk + text[cut:], exact=False)
