"""js-yaml 3.14 ``safeDump`` (lib/js-yaml/dumper.js at 3.14.1), as KES templates wrote YAML.

Each expected text below is what js-yaml 3.14.1 writes for the value.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kes.js.objects import MAX_DEPTH
from kes.js.yaml import safe_dump


@pytest.mark.parametrize(("value", "text"), [
    ({'a': [1, 2], 'b': {'c': 'd'}},
     'a:\n  - 1\n  - 2\nb:\n  c: d\n'),
    ([{'name': 'x', 'ports': [80, 443]}, []],
     '- name: x\n  ports:\n    - 80\n    - 443\n- []\n'),
    ({'empty': {}, 'list': [], 'none': None, 'yes': True, 'no': False},
     "empty: {}\nlist: []\nnone: null\n'yes': true\n'no': false\n"),
    ({'text': 'line1\nline2'},
     'text: |-\n  line1\n  line2\n'),
    ({'text': 'line1\nline2\n'},
     'text: |\n  line1\n  line2\n'),
    ({'text': 'a\n\n'},
     'text: |+\n  a\n\n'),
    ({'text': ' indented\nnext'},
     'text: |2-\n   indented\n  next\n'),
    ({"long": " ".join(["word"] * 30)},
     "long: >-\n  " + " ".join(["word"] * 15) + "\n  " + " ".join(["word"] * 15) + "\n"),
    ({'k': 'true'},
     "k: 'true'\n"),
    ({'k': 'yes'},
     "k: 'yes'\n"),
    ({'k': '1'},
     "k: '1'\n"),
    ({'k': '1.5'},
     "k: '1.5'\n"),
    ({'k': '0x1F'},
     "k: '0x1F'\n"),
    ({'k': '2001-12-14'},
     "k: '2001-12-14'\n"),
    ({'k': '~'},
     "k: '~'\n"),
    ({'k': ''},
     "k: ''\n"),
    ({'k': '<<'},
     "k: '<<'\n"),
    ({'k': 'a: b'},
     "k: 'a: b'\n"),
    ({'k': 'a #b'},
     "k: 'a #b'\n"),
    ({'k': '-x'},
     "k: '-x'\n"),
    ({'k': "it's"},
     "k: it's\n"),
    ({'k': 'x '},
     "k: 'x '\n"),
    ({'k': 'tab\there'},
     'k: "tab\\there"\n'),
    ({'k': 'emoji 😀'},
     'k: "emoji \\U0001F600"\n'),
    ({'k': 'é ü'},
     'k: é ü\n'),
    ({'n': [1.5, 1e-07, 5e-324, 1e+21, -0.0, 100, 0.1]},
     "'n':\n  - 1.5\n  - 1.e-7\n  - 5.e-324\n  - 1e+21\n  - -0.0\n  - 100\n  - 0.1\n"),
    ({'10': 'a', '2': 'b', 'x': 'c'},
     "'2': b\n'10': a\nx: c\n"),
])
def test_safe_dump_writes_what_js_yaml_writes(value: Any, text: str) -> None:
    assert safe_dump(value) == text


def test_the_same_object_twice_is_an_anchor_then_an_alias() -> None:
    shared: dict[str, Any] = {"p": 1}
    empty: list[Any] = []
    assert safe_dump({"a": shared, "b": [shared, empty, empty]}) == (
        "a: &ref_0\n  p: 1\nb:\n  - *ref_0\n  - &ref_1 []\n  - *ref_1\n"
    )


def test_keys_longer_than_1024_characters_are_explicit() -> None:
    key = "k" * 1025
    assert safe_dump({key: 1}) == f"? {key}\n: 1\n"


def test_unpaired_surrogates_and_dates() -> None:
    assert safe_dump(["\ud800", "\ud83d\ude00"]) == '- "\\uD800"\n- "\\U0001F600"\n'
    assert safe_dump([datetime.date(2001, 12, 14),
                      datetime.datetime(2001, 12, 14, 21, 59, 43, 100000,
                                        datetime.timezone(datetime.timedelta(hours=-5)))]) == (
        "- 2001-12-14T00:00:00.000Z\n- 2001-12-15T02:59:43.100Z\n"
    )


@pytest.mark.parametrize("value", [b"x", {1, 2}, object()])
def test_values_yaml_cannot_hold_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="^cannot write a "):
        safe_dump({"a": value})


def test_deep_values_are_refused() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(ValueError, match="levels deep"):
        safe_dump(deep)


# Text without what YAML 1.1 readers (PyYAML) take for other types than js-yaml does.
texts = st.lists(st.sampled_from([*"ab xy:#-'\"\n\t,[]{}é😀\x85\u2028", "word "]),
                 max_size=40).map("".join)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_a_yaml_reader_reads_the_value_back(value: Any) -> None:
    assert yaml.safe_load(safe_dump(value)) == value
