"""Rendering templates: Jinja2 in a sandbox over the fetched values."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from kes.render import DesiredSecret, RenderError

Render = Callable[..., DesiredSecret]
RenderFails = Callable[..., RenderError]

PAYLOADS = {
    "user": b"alice",
    "pw": b"hunter2-pw",
    "cfg": json.dumps({"host": "db", "port": 5432}).encode(),
    "bin": b"\xff\x00hunter2",
}
DATA = [
    {"key": "user", "name": "user"},
    {"key": "pw", "name": "password"},
    {"key": "cfg", "name": "cfg.json"},
    {"key": "bin", "name": "blob"},
]


def with_template(**template: Any) -> dict[str, Any]:
    return {"data": DATA, "template": template}


def string_data(render: Render, source: str) -> bytes:
    return render(PAYLOADS, **with_template(stringData={"out": source})).data["out"]


def test_string_data_renders_text(render: Render) -> None:
    assert string_data(render, "{{ data.user }}:{{ data['password'] }}") == b"alice:hunter2-pw"


def test_trailing_newlines_are_kept(render: Render) -> None:
    assert string_data(render, "user={{ data.user }}\n") == b"user=alice\n"


def test_no_autoescape(render: Render) -> None:
    assert string_data(render, "{{ '<&>\"' }}") == b'<&>"'


@pytest.mark.parametrize(("source", "out"), [
    ("{{ data.user | b64enc }}", b"YWxpY2U="),
    ("{{ 'YWxpY2U=' | b64dec }}", b"alice"),
    ("{{ (data['cfg.json'] | fromjson)['port'] }}", b"5432"),
    ("{{ {'a': data.user, 'n': [1, 2]} | tojson }}", b'{"a":"alice","n":[1,2]}'),
    ("{{ {'a': 'é'} | tojson(indent=2) }}", '{\n  "a": "é"\n}'.encode()),
    ("{{ {'a': data.user, 'b': [1]} | toyaml }}", b"a: alice\nb:\n  - 1\n"),
    ("{{ ('x: ' ~ data.user) | fromyaml | tojson }}", b'{"x":"alice"}'),
    ("{{ data_b64.blob }}", base64.b64encode(PAYLOADS["bin"])),
    ("{{ data | length }}", b"4"),
])
def test_filters(render: Render, source: str, out: bytes) -> None:
    assert string_data(render, source) == out


def test_whole_data_encodes(render: Render) -> None:
    secret = render({"a": b"x", "b": b"\xff"},
                    data=[{"key": "a", "name": "A"}, {"key": "b", "name": "B"}],
                    template={"stringData": {"json": "{{ data_b64 | tojson }}",
                                             "yaml": "{{ data_b64 | toyaml }}"}})
    assert secret.data["json"] == b'{"A":"eA==","B":"/w=="}'
    assert secret.data["yaml"] == b"A: eA==\nB: /w==\n"


def test_template_data_is_base64_and_lies_under_generated_keys(render: Render) -> None:
    secret = render(PAYLOADS, **with_template(data={
        "copy": "{{ data_b64.blob }}",
        "user": "{{ 'bm90IHdpbm5pbmc=' }}",  # the generated "user" wins, as in KES
    }))
    assert secret.data["copy"] == PAYLOADS["bin"]
    assert secret.data["user"] == b"alice"


def test_string_data_lies_over_generated_keys(render: Render) -> None:
    secret = render(PAYLOADS, **with_template(stringData={"user": "{{ data.user | upper }}"}))
    assert secret.data["user"] == b"ALICE"
    assert secret.data["password"] == b"hunter2-pw"


def test_templates_see_data_from_keys(render: Render) -> None:
    secret = render({"obj": b'{"A": "x", "B": "y"}'}, data=None, dataFrom=["obj"],
                    template={"stringData": {"AB": "{{ data.A }}{{ data.B }}"}})
    assert secret.data == {"A": b"x", "B": b"y", "AB": b"xy"}


def test_metadata_and_type(render: Render) -> None:
    secret = render(PAYLOADS, **with_template(
        type="kubernetes.io/basic-auth",
        metadata={"labels": {"app": "db", "user": "{{ data.user }}"},
                  "annotations": {"example.com/note": "for {{ data.user }}: {{ 'a b' }}"}},
    ))
    assert secret.type == "kubernetes.io/basic-auth"
    assert secret.labels == {"app": "db", "user": "alice"}
    assert secret.annotations == {"example.com/note": "for alice: a b"}


def test_rendered_label_must_be_a_label_value(render_fails: RenderFails) -> None:
    labels = {"pw": "{{ data.password }}!"}
    error = render_fails(PAYLOADS, **with_template(metadata={"labels": labels}))
    assert (error.key, error.field) == ("pw", "spec.template.metadata.labels[pw]")
    assert error.message.startswith("rendered text is not a label value")


def test_template_data_must_render_base64(render_fails: RenderFails) -> None:
    error = render_fails(PAYLOADS, **with_template(data={"k": "{{ data.password }}"}))
    assert str(error) == (
        "ExternalSecret ns/es: spec.template.data[k]: rendered text is not base64 "
        "(template.data holds base64 as a Secret's data does; use stringData for text)"
    )


@pytest.mark.parametrize(("source", "message"), [
    ("{{ data.nope }}",
     "template refers to something undefined (data has keys: user, password, cfg.json, blob)"),
    ("{{ nope }}",
     "template refers to something undefined (data has keys: user, password, cfg.json, blob)"),
    ("{{ data[data.password] }}",  # a key computed from a value must not be quoted
     "template refers to something undefined (data has keys: user, password, cfg.json, blob)"),
    ("{{ ''.__class__ }}", "template does something the template sandbox forbids"),
    ("{{ data.user.__class__.__mro__ }}", "template does something the template sandbox forbids"),
    ("{{ data._values }}", "template does something the template sandbox forbids"),
    ("{{ [].append(1) }}", "template does something the template sandbox forbids"),
    ("{{ data.password | b64dec }}", "template b64dec: input is not valid base64"),
    ("{{ '/w==' | b64dec }}", "template b64dec: decoded bytes are not UTF-8 text"),
    ("{{ data.password | fromjson }}", "template fromjson: input is not valid JSON"),
    ("{{ ('{' ~ data.password) | fromyaml }}", "template fromyaml: input is not valid YAML"),
    ("{{ data.blob }}", "template data['blob'] is not UTF-8 text; use data_b64['blob']"),
    ("{{ data | tojson }}", "template data['blob'] is not UTF-8 text; use data_b64['blob']"),
    ("{{ data | toyaml }}", "template data['blob'] is not UTF-8 text; use data_b64['blob']"),
    ("{{ range(3) | tojson }}", "template tojson: cannot write a range"),
    ("{{ data.password | int / 0 }}", "template failed with ZeroDivisionError"),
    ("{{ data.password + 1 }}", "template failed with TypeError"),
])
def test_render_errors_name_the_field_never_the_value(render_fails: RenderFails, source: str,
                                                      message: str) -> None:
    error = render_fails(PAYLOADS, **with_template(stringData={"out": source}))
    assert (error.key, error.field, error.message) == (
        "out", "spec.template.stringData[out]", message
    )
