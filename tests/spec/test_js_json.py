"""JSON.parse and JSON.stringify (ECMA-262, section 25.5) as KES's values went through them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kes.js.json import JsObject, JsonError, parse, quote, stringify
from kes.js.objects import MAX_DEPTH, is_array_index, ordered
from kes.js.text import paired


def test_keys_that_are_array_indices_come_first_in_ascending_order() -> None:
    # ECMA-262 10.1.11.1 OrdinaryOwnPropertyKeys: integer indices ascending, then strings
    # in creation order; so JSON.stringify(JSON.parse(text)) reorders.
    document = parse('{"b": 1, "10": 2, "a": 3, "2": 4, "01": 5, "-1": 6, "4294967295": 7}')
    assert list(document) == ["2", "10", "b", "a", "01", "-1", "4294967295"]
    assert stringify(document) == '{"2":4,"10":2,"b":1,"a":3,"01":5,"-1":6,"4294967295":7}'


@pytest.mark.parametrize(("key", "index"), [
    ("0", True), ("7", True), ("4294967294", True), ("4294967295", False), ("01", False),
    ("-0", False), ("1.0", False), ("+1", False), ("", False), ("١", False),
])
def test_array_index_keys(key: str, index: bool) -> None:
    assert is_array_index(key) is index


def test_a_repeated_key_keeps_its_first_place_and_last_value() -> None:
    document = parse('{"a": 1, "b": 2, "a": 3}')  # 25.5.1 JSON.parse: CreateDataProperty
    assert list(document.items()) == [("a", 3), ("b", 2)]
    assert isinstance(document, JsObject) and document.repeated == "a"
    assert parse('{"a": 1}').repeated is None


@pytest.mark.parametrize(("text", "value"), [
    ("1.0", 1.0), ("-0", 0), ("1e400", float("inf")), ("-1e400", float("-inf")),
    ("1" + "0" * 400, float("inf")), ("-" + "9" * 309, float("-inf")),
    ("12345678901234567891", 12345678901234567891),  # kes keeps the digits
    ('"\\ud800"', "\ud800"), ('"\\ud83d\\ude00"', "😀"),
])
def test_numbers_and_strings(text: str, value: Any) -> None:
    assert parse(text) == value


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[1,]", "{'a': 1}", "01",
                                  "\ufeff{}", '"\x01"', "", "[1] x"])
def test_only_strict_json_parses(text: str) -> None:
    with pytest.raises(JsonError, match="^is not valid JSON$"):
        parse(text)


@pytest.mark.parametrize("text", ["[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
                                  "[" * 30000, '{"a":' * 30000])
def test_deep_nesting_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(JsonError, match=f"^nests more than {MAX_DEPTH} levels deep$"):
        parse(text)


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_fine() -> None:
    assert parse("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert parse(json.dumps(["[{" * 500, '\\"[[[[' * 100])) == ["[{" * 500, '\\"[[[[' * 100]


@pytest.mark.parametrize(("value", "text"), [
    ({"a": [1.0, 1e-7, 1e21, None, True]}, '{"a":[1,1e-7,1e+21,null,true]}'),
    ([float("nan"), float("inf")], "[null,null]"),  # 25.5.2.2 SerializeJSONProperty
    ("\u2028\x7f\x1f\"\\", '"\u2028\x7f\\u001f\\"\\\\"'),  # 25.5.2.3 QuoteJSONString
    ("\ud800", '"\\ud800"'),  # well-formed JSON.stringify escapes lone surrogates
    ("\ud83d\ude00", '"😀"'),
    ((1, "é"), '[1,"é"]'),
    ({1: "a", 2.0: "b", False: "c", None: "d"}, '{"1":"a","2":"b","false":"c","null":"d"}'),
])
def test_stringify(value: Any, text: str) -> None:
    assert stringify(value) == text


def test_stringify_with_an_indent_as_json_stringify_with_a_gap() -> None:
    assert stringify({"a": [1, {}], "b": []}, 2) == (
        '{\n  "a": [\n    1,\n    {}\n  ],\n  "b": []\n}'
    )


@pytest.mark.parametrize("value", [b"x", {1, 2}, object(), range(2)])
def test_stringify_refuses_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises(JsonError, match="^cannot write a "):
        stringify([value])


def test_stringify_refuses_deep_values() -> None:
    deep: Any = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(JsonError, match="levels deep"):
        stringify(deep)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_stringify_then_parse_gives_the_value_back(value: Any) -> None:
    assert _as_javascript(parse(stringify(value))) == _as_javascript(value)
    assert _as_javascript(json.loads(stringify(value))) == _as_javascript(value)


@given(json_values)
def test_parse_reads_what_python_reads_in_javascript_order(value: Any) -> None:
    text = json.dumps(value)
    assert parse(text) == json.loads(text)
    assert stringify(parse(text)) == stringify(json.loads(text))


@given(st.text())
def test_quote_is_valid_json_for_any_text(text: str) -> None:
    assert json.loads(quote(text)) == paired(text)


def _as_javascript(value: Any) -> Any:
    """``value`` as a JavaScript engine holds it: keys in its order, numbers as doubles."""
    if isinstance(value, dict):
        return ordered((key, _as_javascript(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_as_javascript(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return float("inf") if value > 0 else float("-inf")
    return value
