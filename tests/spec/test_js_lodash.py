"""lodash 4.17 ``get`` paths (``castPath``/``stringToPath``), as KES read properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kes.js.json import parse
from kes.js.lodash import MISSING, get, is_whole_key, to_path


@pytest.mark.parametrize(("path", "keys"), [
    ("a.b.c", ["a", "b", "c"]),  # lodash docs: _.toPath('a.b.c')
    ("a[0].b.c", ["a", "0", "b", "c"]),  # lodash docs: _.toPath('a[0].b.c')
    ('a["b.c"]', ["a", "b.c"]), ("a['b']", ["a", "b"]),
    ("a[\"x\\\"y\"]", ["a", 'x"y']), ("a['\\\\']", ["a", "\\"]),
    ("a[b]", ["a", "b"]), ("a[-1]", ["a", "-1"]), ("a[1.5]", ["a", "1.5"]),
    ("a..b", ["a", "", "b"]), ("a.", ["a", ""]), (".a", ["", "a"]), ("a[].b", ["a", "", "b"]),
    ("where.é.$.*", ["where", "é", "$", "*"]),
    ("].[", []),
])
def test_to_path_splits_as_lodash(path: str, keys: list[str]) -> None:
    assert to_path(path) == keys


@pytest.mark.parametrize(("path", "whole"), [
    ("a", True), ("a b", True), ("é", True), ("a[", True), ("a]", True),
    ("a.b", False), ("a[0]", False), ("a['x']", False), ("[]", False),
])
def test_whole_keys(path: str, whole: bool) -> None:
    assert is_whole_key(path) is whole


DOC = parse('{"a.b": 1, "a": {"b": [10, {"c": "x"}], "": {"": 2}, "where": 3, "é": 4},'
            ' "list": [[5]], "n": null, "s": "text"}')


@pytest.mark.parametrize(("path", "value"), [
    ("a.b", 1),  # a key of the object is read whole first
    ("a.b[1].c", "x"), ("a['b'][0]", 10), ("a..", 2), ("a.where", 3), ("a.é", 4),
    ("list[0][0]", 5), ("list.0.0", 5), ("n", None),
])
def test_get_reads_keys_and_elements(path: str, value: Any) -> None:
    assert get(DOC, path) == value


@pytest.mark.parametrize("path", [
    "a.b[2]", "a.b[01]", "a.b[-1]", "s.length", "s[0]", "a.constructor", "a.toString",
    "list.length", "nope", "a.b.c", "].[", "n.x",
])
def test_get_finds_nothing_beyond_what_json_holds(path: str) -> None:
    assert get(DOC, path) is MISSING


def test_a_top_level_array() -> None:
    assert get(parse('[{"v": 1}]'), "[0].v") == 1
    assert get(parse('[{"v": 1}]'), "0.v") == 1


keys = st.text(st.sampled_from("ab1é _-$"), min_size=1, max_size=5)


@given(st.lists(keys, min_size=1, max_size=6))
def test_dotted_paths_of_plain_keys_walk_those_keys(path: list[str]) -> None:
    document: Any = "leaf"
    for key in reversed(path):
        document = {key: document}
    assert to_path(".".join(path)) == path
    assert get(document, ".".join(path)) == "leaf"
    assert get(document, "".join(f"[{key!r}]" for key in path)) == "leaf"
