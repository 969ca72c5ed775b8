"""Rendering is bounded and deterministic: one JSON parse per payload, 1 MiB per Secret,
template output that is text and never a Python repr, nothing but RenderError out."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable

import pytest

from kes.js import json as js_json
from kes.render import (
    MAX_ANNOTATION_BYTES,
    MAX_SECRET_BYTES,
    DesiredSecret,
    Payload,
    RenderError,
    render_secret,
)
from kes.spec import parse_external_secret
from tests.spec.conftest import manifest

Render = Callable[..., DesiredSecret]
RenderFails = Callable[..., RenderError]


def test_a_payload_is_parsed_once_however_many_entries_read_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_parse = js_json.parse
    monkeypatch.setattr(js_json, "parse", lambda text: calls.append(1) or real_parse(text))
    document = {f"key{i}": f"value-{i:06d}-hunter2" for i in range(1600)}
    payload = Payload(json.dumps(document).encode())
    assert 50_000 < len(payload.data) < 60_000
    data = [{"key": "doc", "name": f"n{i}", "property": f"key{i % 1600}"} for i in range(5000)]
    spec = parse_external_secret(manifest(data=data, dataFrom=["doc"] * 3), "demo-project")
    (ref,) = spec.refs
    secret = render_secret("es", "ns", spec, {ref: payload})
    assert secret.data["n4999"] == b"value-000199-hunter2"  # 4999 % 1600
    render_secret("es", "ns", spec, {ref: payload})
    assert len(calls) == 1


def test_a_payload_pickles_as_its_bytes() -> None:
    payload = Payload(b'{"a": 1}')
    assert payload.json() == {"a": 1}
    copy = pickle.loads(pickle.dumps(payload))
    assert copy.data == b'{"a": 1}' and copy.json() == {"a": 1}
    assert "hunter2" not in repr(Payload(b"hunter2"))


@pytest.mark.parametrize("payload", [
    b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 30_000 + b"1" + b"}" * 30_000,
])
def test_deep_json_is_an_error_naming_the_field(render_fails: RenderFails,
                                                payload: bytes) -> None:
    error = render_fails({"doc": payload}, data=[{"key": "doc", "name": "n", "property": "a"}])
    assert error.field == "spec.data[0].property"
    assert error.message == ("secret doc nests more than 100 levels deep, so property a "
                             "cannot be read")


def test_long_and_deep_property_paths_are_errors(render_fails: RenderFails) -> None:
    for prop in ["a." * 512, "$" + ".a" * 341, "$[" * 300]:
        error = render_fails({"doc": b'{"a": {}}'},
                             data=[{"key": "doc", "name": "n", "property": prop}])
        assert error.field == "spec.data[0].property" and len(str(error)) < 400


def test_many_entries_stop_at_the_secret_limit(render_fails: RenderFails) -> None:
    data = [{"key": "big", "name": f"n{i}"} for i in range(5000)]
    error = render_fails({"big": b"x" * 60_000}, data=data)
    assert error.field == f"spec.data[{MAX_SECRET_BYTES // 60_000}]"
    assert error.message == (f"secret big would make the Secret's data larger than "
                             f"{MAX_SECRET_BYTES} bytes, the most Kubernetes stores in a Secret")


def test_a_secret_of_exactly_1_mib_is_fine(render: Render) -> None:
    half = MAX_SECRET_BYTES // 2
    secret = render({"a": b"a" * half, "b": b"b" * half},
                    data=[{"key": "a", "name": "a"}, {"key": "b", "name": "b"}])
    assert sum(len(value) for value in secret.data.values()) == MAX_SECRET_BYTES


def test_overridden_values_do_not_count(render: Render) -> None:
    big = json.dumps({"K": "x" * 700_000}).encode()
    secret = render({"big": big, "small": b"s"}, dataFrom=["big"] * 2,
                    data=[{"key": "small", "name": "K"}], template={"stringData": {
                        "T": "{{ 'y' * 1000000 }}"}})
    assert secret.data["K"] == b"s" and len(secret.data["T"]) == 1_000_000


def test_many_big_templates_stop_at_the_secret_limit(render_fails: RenderFails) -> None:
    templates = {f"t{i}": "{{ 'x' * 1000000 }}" for i in range(200)}
    error = render_fails({"k": b"v"}, template={"stringData": templates})
    assert error.field == "spec.template.stringData[t1]"
    assert "would make the Secret's data larger than" in error.message


def test_template_annotations_are_bounded(render_fails: RenderFails) -> None:
    annotations = {f"example.com/a{i}": "{{ 'x' * 50000 }}" for i in range(4)}
    error = render_fails({"k": b"v"}, template={"metadata": {"annotations": annotations}})
    assert error.field == "spec.template.metadata.annotations[example.com/a2]"
    assert error.message == (f"template would make the annotations larger than "
                             f"{MAX_ANNOTATION_BYTES} bytes")


@pytest.mark.parametrize(("source", "problem"), [
    ("{{ data }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ data_b64 }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ 'a' ~ data }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ data | string }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ data | upper }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ [data] | join }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ {'a': data} | urlencode }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ {'k': {'a': 1}} | urlencode }}", "cannot write a mapping as text; use tojson or toyaml"),
    ("{{ data | map('upper') }}", "cannot write a generator as text; use tojson or toyaml"),
    ("{{ range }}", "cannot write a function as text; use tojson or toyaml"),
    ("{{ 'a'.upper }}", "cannot write a builtin_function_or_method as text; use tojson or "
                        "toyaml"),
    ("{{ none }}", "cannot write null (none) as text; use tojson or toyaml"),
    ("{{ [1] }}", "cannot write a list as text; use tojson or toyaml"),
    ("{{ 'x'.encode() }}", "cannot write a bytes as text; use tojson or toyaml"),
])
def test_templates_never_write_a_python_repr(render_fails: RenderFails, source: str,
                                             problem: str) -> None:
    error = render_fails({"k": b"v"}, template={"stringData": {"out": source}})
    assert error.message == f"template {problem}"


@pytest.mark.parametrize(("source", "text"), [
    ("{{ true }}-{{ 1 == 2 }}", "true-false"),
    ("{{ 1.0 }} {{ 1 / 4 }} {{ 10 ** 21 }} {{ 0.1 ** 7 }}", "1 0.25 1e+21 1.0000000000000004e-7"),
    ("{{ ['a', 1, true] | join(',') }}", "a,1,true"),
    ("{{ ('{\"b\": 1.0, \"2\": [1e-7]}' | fromjson) | tojson }}", '{"2":[1e-7],"b":1}'),
    ("{{ ('\"\\\\ud800\"' | fromjson) }}", "\ufffd"),
    ("{{ ('\"\\\\ud800\"' | fromjson) | b64enc }}", "77+9"),
    ("{{ {'b': 'line1\\nline2', 'a': ['x']} | toyaml }}", "b: |-\n  line1\n  line2\na:\n  - x\n"),
    ("{{ {'k': 'a b', 'n': 1.0} | urlencode }}", "k=a+b&n=1"),
])
def test_template_values_are_written_as_javascript_writes_them(render: Render, source: str,
                                                               text: str) -> None:
    secret = render({"k": b"v"}, template={"stringData": {"out": source}})
    assert secret.data["out"] == text.encode()


def test_nothing_but_render_errors_from_hostile_templates(render_fails: RenderFails) -> None:
    for source in ["{% set a = 1 %}" + "{% set a = [a] %}" * 3000 + "{{ a | tojson }}",
                   "{{ ('[' * 5000) | fromyaml }}", "{{ ('9' * 5000) | fromyaml }}"]:
        error = render_fails({"k": b"v"}, template={"stringData": {"out": source}})
        assert error.field == "spec.template.stringData[out]"


def test_render_secret_names_a_version_it_was_not_given() -> None:
    spec = parse_external_secret(manifest(), "demo-project")
    with pytest.raises(RenderError) as caught:
        render_secret("es", "ns", spec, {})
    assert caught.value.message == "projects/demo-project/secrets/k/versions/latest was not fetched"

