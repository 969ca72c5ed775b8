"""Whatever a tenant writes, parsing and rendering raise nothing but KesError (issue 9):
random and mutated manifests, payloads and templates, checked by Hypothesis."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kes.errors import KesError
from kes.render import Payload, render_secret
from kes.spec import parse_external_secret

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

text = st.text(st.sampled_from([*"ab.$[]'\"\\ {}%#-_:0159", "\ud800", "😀", "é", "\n", "\x00"]),
               max_size=20)
numbers = st.integers() | st.floats()
scalars = st.none() | st.booleans() | numbers | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(text, inner, max_size=4), max_leaves=12)
# Pieces of Jinja2 that reach filters, operators, loops and the limits.
template_pieces = st.sampled_from([
    "{{ ", " }}", "{% ", " %}", "data", "data_b64", ".", "['a']", " | ", "tojson", "toyaml",
    "fromjson", "fromyaml", "b64enc", "b64dec", "join", "string", "upper", "urlencode",
    "int", "list", "length", "(", ")", "[", "]", "{", "}", "1", "1.5", "'x'", "~", "+", "*",
    "**", "%", "if ", "for x in ", "range(3)", "endif", "endfor", "set y = ", "not ", "none",
    "true", "a", ",", "\n", "{#", "#}", "'[1, {\"k\": 1e400}]'", "'\"\\\\ud800\"'",
])
templates = st.lists(template_pieces, max_size=25).map("".join)
keys = st.sampled_from(["k", "doc", "obj", "projects/p-1234/secrets/s/versions/2", "bad key"])
properties = text | st.sampled_from(["a", "a.b", "a[0]", "$.a", "$..a", "$[*]", "a.length",
                                     "constructor", "[0].v", "$.a[?(@.b)]", "$." * 40])
data_items = st.fixed_dictionaries(
    {"key": keys, "name": st.sampled_from(["n", "m", ".x", "a" * 300])},
    optional={"property": properties, "isBinary": st.booleans() | scalars,
              "version": st.sampled_from([1, "2", "latest", 0, -1, 10**30, "a" * 70]) | scalars},
)
template_maps = st.dictionaries(st.sampled_from(["k", "n", "tls.crt", "example.com/x", "b a",
                                                 "app.kubernetes.io/managed-by"]),
                                templates | scalars, max_size=3)
specs = st.fixed_dictionaries(
    {"backendType": st.just("gcpSecretsManager") | scalars},
    optional={
        "data": st.lists(data_items, max_size=4) | values,
        "dataFrom": st.lists(keys, max_size=3) | values,
        "dataFromWithOptions": st.lists(st.fixed_dictionaries(
            {"key": keys}, optional={"isBinary": st.booleans(), "version": scalars}),
            max_size=2),
        "template": st.fixed_dictionaries({}, optional={
            "type": st.sampled_from(["Opaque", "kubernetes.io/tls",
                                     "kubernetes.io/dockerconfigjson"]) | scalars,
            "stringData": template_maps, "data": template_maps,
            "metadata": st.fixed_dictionaries({}, optional={
                "labels": template_maps, "annotations": template_maps}) | values,
        }) | values,
        "refreshInterval": st.sampled_from(["1s", "0", 0, "9" * 400 + "h", "1d"]) | scalars,
        "projectId": st.sampled_from(["p-1234", "bad"]) | scalars,
        "properties": values, "type": scalars, "controllerId": scalars,
    },
)
json_documents = values.map(json.dumps).map(str.encode)
payloads = (json_documents | st.binary(max_size=64)
            | st.sampled_from([b"[" * 5000, b'{"a": [1e400, -0.0, 12345678901234567891]}',
                               b'"\\ud800"', b'{"a": {"b": "\\udc00"}, "a.b": 1}',
                               b'{"k": "eA==", "bad key": 1}', b"\xff\xfe"]))


def render_any(manifest: Any, payload_list: list[bytes]) -> None:
    try:
        spec = parse_external_secret(manifest, "demo-project")
    except KesError:
        return
    by_ref = {ref: Payload(payload_list[i % len(payload_list)])
              for i, ref in enumerate(sorted(spec.refs))}
    with contextlib.suppress(KesError):
        render_secret("es", "ns", spec, by_ref)


@SETTINGS
@given(specs, st.lists(payloads, min_size=1, max_size=3))
def test_random_specs_and_payloads_raise_only_kes_errors(spec: Any,
                                                         payload_list: list[bytes]) -> None:
    render_any({"metadata": {"name": "es", "namespace": "ns"}, "spec": spec}, payload_list)


@SETTINGS
@given(values, st.lists(payloads, min_size=1, max_size=2))
def test_any_value_as_a_manifest_raises_only_kes_errors(manifest: Any,
                                                        payload_list: list[bytes]) -> None:
    render_any(manifest, payload_list)
    render_any({"metadata": {"name": "es"}, "spec": manifest}, payload_list)


@SETTINGS
@given(templates, payloads, properties)
def test_any_template_over_any_payload_raises_only_kes_errors(
        template: str, payload: bytes, prop: str) -> None:
    spec = {"backendType": "gcpSecretsManager",
            "data": [{"key": "doc", "name": "whole"},
                     {"key": "doc", "name": "part", "property": prop}],
            "dataFrom": ["doc"],
            "template": {"stringData": {"out": template}, "data": {"b64": template},
                         "metadata": {"labels": {"l": template},
                                      "annotations": {"example.com/a": template}}}}
    render_any({"metadata": {"name": "es", "namespace": "ns"}, "spec": spec}, [payload])
