"""Rendering values from payloads: properties, binary data, dataFrom and merge order."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from kes.names import SecretVersionName
from kes.render import DesiredSecret, Payload, RenderError, json_text, render_secret
from kes.spec import parse_external_secret

Render = Callable[..., DesiredSecret]
RenderFails = Callable[..., RenderError]

DOC = json.dumps({
    "a.b": "literal-hunter2",
    "a": {"b": "nested-hunter2", "list": [{"c": "first-hunter2"}, {"c": "second-hunter2"}]},
    "port": 5432,
    "ratio": 0.25,
    "whole": 2.0,
    "on": True,
    "off": False,
    "nothing": None,
    "obj": {"x": [1, "é"], "y": {}},
    "text": "ünïcode hunter2",
}).encode()


def prop(name: str) -> dict[str, Any]:
    return {"data": [{"key": "doc", "name": "out", "property": name}]}


@pytest.mark.parametrize(("path", "value"), [
    ("a.b", b"literal-hunter2"),  # the exact top-level key wins over the path
    ("$.a.b", b"nested-hunter2"),
    ("a.list[1].c", b"second-hunter2"),
    ("$.a.list[0].c", b"first-hunter2"),
    ("port", b"5432"),
    ("ratio", b"0.25"),
    ("whole", b"2"),
    ("on", b"true"),
    ("off", b"false"),
    ("nothing", b"null"),
    ("obj", '{"x":[1,"é"],"y":{}}'.encode()),
    ("a.list", b'[{"c":"first-hunter2"},{"c":"second-hunter2"}]'),
    ("text", "ünïcode hunter2".encode()),
])
def test_property_paths(render: Render, path: str, value: bytes) -> None:
    assert render({"doc": DOC}, **prop(path)).data == {"out": value}


def test_nested_path_when_no_literal_key(render: Render) -> None:
    payload = json.dumps({"a": {"b": "nested-hunter2"}}).encode()
    assert render({"doc": payload}, **prop("a.b")).data == {"out": b"nested-hunter2"}


@pytest.mark.parametrize("path", ["x['a.b']", 'x["a.b"]', "$.x.'a.b'", "$['x']['a.b']"])
def test_quoted_dotted_key_below_the_top_level(render: Render, path: str) -> None:
    payload = json.dumps({"x": {"a.b": "deep-hunter2"}}).encode()
    assert render({"doc": payload}, **prop(path)).data == {"out": b"deep-hunter2"}


def test_literal_key_that_is_no_path(render: Render) -> None:
    payload = json.dumps({"my key!": "v-hunter2"}).encode()
    assert render({"doc": payload}, **prop("my key!")).data == {"out": b"v-hunter2"}


def test_top_level_array_payload(render: Render) -> None:
    payload = json.dumps([{"v": "x-hunter2"}]).encode()
    assert render({"doc": payload}, **prop("[0].v")).data == {"out": b"x-hunter2"}


def test_missing_property(render_fails: RenderFails) -> None:
    error = render_fails({"doc": DOC, "ok": b"x"}, data=[{"key": "ok", "name": "a"},
                                             {"key": "doc", "name": "b", "property": "a.zz"}])
    assert str(error) == (
        "ExternalSecret ns/es: spec.data[1].property: could not find property a.zz in secret doc"
    )
    assert (error.object_ref, error.key, error.field) == ("ns/es", "doc", "spec.data[1].property")


def test_missing_property_that_is_no_path(render_fails: RenderFails) -> None:
    error = render_fails({"doc": DOC}, **prop("no such!"))
    assert error.message == "could not find property no such! in secret doc"


def test_property_matching_many_values(render_fails: RenderFails) -> None:
    error = render_fails({"doc": DOC}, **prop("$.a.list[*].c"))
    assert error.message == "found 2 values for property $.a.list[*].c in secret doc"
    error = render_fails({"doc": DOC}, **prop("a.list[*].c"))  # lodash: "*" is a key
    assert error.message == "could not find property a.list[*].c in secret doc"


@pytest.mark.parametrize(("payload", "why"), [
    (b"not json hunter2", "not valid JSON"),
    (b'{"a": NaN}', "not valid JSON"),
    (b"\xff\xfehunter2", "not UTF-8 text"),
])
def test_property_of_non_json(render_fails: RenderFails, payload: bytes, why: str) -> None:
    error = render_fails({"doc": payload}, **prop("a"))
    assert error.field == "spec.data[0].property"
    assert error.message == f"secret doc is {why}, so property a cannot be read"


def test_payload_bytes_stay_exact_without_property(render: Render) -> None:
    every_byte = bytes(range(256))
    assert render({"k": every_byte}).data == {"n": every_byte}


def test_text_payload_is_not_json_parsed_without_property(render: Render) -> None:
    assert render({"k": b' {"a": 1} \n'}).data == {"n": b' {"a": 1} \n'}


def test_is_binary_decodes_base64(render: Render) -> None:
    every_byte = bytes(range(256))
    encoded = base64.b64encode(every_byte)
    wrapped = b"\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)) + b"\n"
    data = [{"key": "k", "name": "n", "isBinary": True}]
    assert render({"k": encoded}, data=data).data == {"n": every_byte}
    assert render({"k": wrapped}, data=data).data == {"n": every_byte}
    assert render({"k": b"YWI"}, data=data).data == {"n": b"ab"}  # padding may be missing


def test_is_binary_property_that_is_not_base64(render_fails: RenderFails) -> None:
    payload = json.dumps({"cert": "hunter2!"}).encode()
    data = [{"key": "k", "name": "n", "property": "cert", "isBinary": True}]
    assert render_fails({"k": payload}, data=data).message == (
        "property cert of secret k is not valid base64"
    )


def test_is_binary_with_property(render: Render) -> None:
    payload = json.dumps({"cert": base64.b64encode(b"\x00\x01hunter2").decode()}).encode()
    data = [{"key": "k", "name": "n", "property": "cert", "isBinary": True}]
    assert render({"k": payload}, data=data).data == {"n": b"\x00\x01hunter2"}


@pytest.mark.parametrize("payload", [b"hunter2!!", b"aGVsbG8=hunter2", "héllo".encode()])
def test_is_binary_rejects_non_base64(render_fails: RenderFails, payload: bytes) -> None:
    error = render_fails({"k": payload}, data=[{"key": "k", "name": "n", "isBinary": True}])
    assert (error.field, error.message) == ("spec.data[0].isBinary",
                                            "secret k is not valid base64")


# ---- dataFrom --------------------------------------------------------------------


def test_data_from_explodes_a_json_object(render: Render) -> None:
    payload = json.dumps({"USER": "u-hunter2", "PORT": 5432, "TLS": True, "cfg": {"a": [1]},
                          "none": None}).encode()
    assert render({"obj": payload}, data=None, dataFrom=["obj"]).data == {
        "USER": b"u-hunter2", "PORT": b"5432", "TLS": b"true", "cfg": b'{"a":[1]}',
        "none": b"null",
    }


def test_data_from_with_options_decodes_each_value(render: Render) -> None:
    payload = json.dumps({"ca.crt": base64.b64encode(b"\xffhunter2").decode()}).encode()
    rendered = render({"obj/versions/3": payload}, data=None,
                      dataFromWithOptions=[{"key": "obj", "version": 3, "isBinary": True}])
    assert rendered.data == {"ca.crt": b"\xffhunter2"}


def test_merge_order_data_from_then_with_options_then_data(render: Render) -> None:
    rendered = render(
        {
            "defaults": json.dumps({"A": "from-dataFrom", "B": "from-dataFrom",
                                    "C": "from-dataFrom"}).encode(),
            "overrides": json.dumps({"B": "from-withOptions", "C": "from-withOptions"}).encode(),
            "c": b"from-data",
        },
        dataFrom=["defaults"],
        dataFromWithOptions=[{"key": "overrides"}],
        data=[{"key": "c", "name": "C"}],
    )
    assert rendered.data == {"A": b"from-dataFrom", "B": b"from-withOptions", "C": b"from-data"}


def test_later_data_from_entries_win(render: Render) -> None:
    rendered = render({"one": b'{"K": "1"}', "two": b'{"K": "2"}'}, data=None,
                      dataFrom=["one", "two"])
    assert rendered.data == {"K": b"2"}


@pytest.mark.parametrize(("payload", "why"), [
    (b'["hunter2"]', "a JSON array"),
    (b'"hunter2"', "a JSON string"),
    (b"42", "a JSON number"),
    (b" null ", "a JSON null"),
    (b"hunter2", "not valid JSON"),
    (b"\xff", "not UTF-8 text"),
    (b'{"K": "hunter2", "K": "again hunter2"}', "a JSON object with key 'K' twice"),
])
def test_data_from_needs_a_json_object(render_fails: RenderFails, payload: bytes,
                                       why: str) -> None:
    error = render_fails({"ok": b"{}", "obj": payload}, data=None, dataFrom=["ok", "obj"])
    assert (error.key, error.field) == ("obj", "spec.dataFrom[1]")
    assert error.message == f"secret obj is {why}; dataFrom needs a JSON object"


def test_data_from_keys_must_be_secret_keys(render_fails: RenderFails) -> None:
    error = render_fails({"obj": b'{"bad key": "hunter2"}'}, data=None,
                         dataFromWithOptions=[{"key": "obj"}])
    assert error.field == "spec.dataFromWithOptions[0]"
    assert error.message == ("JSON key 'bad key' of secret obj is not a Secret key: "
                             "must consist of letters, digits, '-', '_' or '.'")


def test_data_from_with_binary_values_that_are_not_base64(render_fails: RenderFails) -> None:
    error = render_fails({"obj": b'{"K": "hunter2!"}'}, data=None,
                         dataFromWithOptions=[{"key": "obj", "isBinary": True}])
    assert (error.field, error.message) == ("spec.dataFromWithOptions[0].isBinary",
                                            "value of 'K' in secret obj is not valid base64")


# ---- the Secret ------------------------------------------------------------------


def test_desired_secret_identity_and_defaults(render: Render) -> None:
    secret = render({"k": b"v"})
    assert (secret.name, secret.namespace, secret.type) == ("es", "ns", "Opaque")
    assert secret.labels == secret.annotations == {}


def test_desired_secret_repr_hides_data(render: Render) -> None:
    secret = render({"k": b"hunter2"})
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)


def test_regional_and_cross_project_refs_are_rendered_by_ref() -> None:
    es = {"metadata": {"name": "es", "namespace": "ns"}, "spec": {
        "backendType": "gcpSecretsManager",
        "data": [{"key": "projects/p-1234/locations/eu-west1/secrets/s", "name": "eu"},
                 {"key": "projects/q-1234/secrets/s", "name": "global"}]}}
    spec = parse_external_secret(es, None)
    payloads = {SecretVersionName("p-1234", "s", "latest", "eu-west1"): Payload(b"eu"),
                SecretVersionName("q-1234", "s", "latest"): Payload(b"global")}
    assert render_secret("es", "ns", spec, payloads).data == {"eu": b"eu", "global": b"global"}


@pytest.mark.parametrize(("value", "text"), [
    ("s", b"s"), (1, b"1"), (-0.5, b"-0.5"), (1e21, b"1e+21"), (3.0, b"3"), (True, b"true"),
    (None, b"null"), ({"a": "é"}, '{"a":"é"}'.encode()), ([], b"[]"),
])
def test_json_text_matches_kes(value: Any, text: bytes) -> None:
    assert json_text(value) == text
