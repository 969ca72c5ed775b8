"""KES compatibility: for manifests covering every field of the API, `kes render
--show-values` writes exactly the Secret bytes KES (v8.5.5, GCP backend) wrote.

Each row cites where its expectation comes from: a line of KES's source (K = its
lib/backends/kv-backend.js, G = lib/backends/gcp-secrets-manager-backend.js,
P = lib/poller.js, all at tag 8.5.5), the JavaScript rule it follows, or, where kes
differs on purpose, the difference as documented. The CLI runs in-process against
the Secret Manager emulator; all rows render in one `kes render` call.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kes.cli import main
from kes_emulators.gsm import SecretManagerEmulator
from tests.controller.conftest import gsm_seed

PROJECT = "compat-proj1"
OTHER_PROJECT = "compat-proj2"


@dataclass(frozen=True)
class Row:
    name: str
    spec: dict[str, Any]  # without backendType; secret ids get the row's name as prefix
    payloads: dict[str, list[bytes]]  # secret id -> versions
    data: dict[str, bytes]  # the Secret's data, exactly
    source: str  # where the expectation comes from
    type: str = "Opaque"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def doc(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


NUMBERS = b'{"one": 1.0, "tiny": 1e-7, "small": 0.00001, "big": 1.2345678901234568e20, ' \
          b'"huge": 1e21, "neg": -0.0, "int": 5432, "exact": 12345678901234567891}'

ROWS = [
    Row("plain", {"data": [{"key": "s", "name": "v"}]}, {"s": ["hello wörld\n".encode()]},
        {"v": "hello wörld\n".encode()}, "G:47 toString('utf8'); K:171 Buffer.from(v, 'utf8')"),
    Row("version", {"data": [{"key": "s", "name": "latest"},
                             {"key": "s", "name": "second", "version": 2},
                             {"key": "s", "name": "first", "version": "1"}]},
        {"s": [b"v1", b"v2", b"v3"]}, {"latest": b"v3", "second": b"v2", "first": b"v1"},
        "G:37-45 'latest' unless keyOptions.version names one"),
    Row("project", {"projectId": OTHER_PROJECT, "data": [{"key": "s", "name": "v"}]},
        {f"projects/{OTHER_PROJECT}/secrets/project-s": [b"other"]}, {"v": b"other"},
        "G:31-45 specOptions.projectId names the project"),
    Row("property-string", {"data": [{"key": "s", "name": "user", "property": "user"}]},
        {"s": [doc({"user": "alice", "pw": "x"})]}, {"user": b"alice"},
        "K:57-69 JSON.parse, hasIn, get; K:171"),
    Row("property-numbers", {"data": [
        {"key": "s", "name": key, "property": key}
        for key in ("one", "tiny", "small", "big", "huge", "neg", "int", "exact")]},
        {"s": [NUMBERS]},
        {"one": b"1", "tiny": b"1e-7", "small": b"0.00001", "big": b"123456789012345680000",
         "huge": b"1e+21", "neg": b"0", "int": b"5432",
         "exact": b"12345678901234567891"},
        "K:171 `${value}`: ECMA-262 Number::toString; 'exact' keeps its digits (a kes "
        "difference: JavaScript reads 12345678901234567000)"),
    Row("property-json", {"data": [
        {"key": "s", "name": "obj", "property": "obj"},
        {"key": "s", "name": "on", "property": "on"},
        {"key": "s", "name": "nothing", "property": "nothing"}]},
        {"s": [b'{"obj": {"b": 1, "10": [1.0, "\xc3\xa9", 1e-7], "a": {"2": null}}, '
               b'"on": true, "nothing": null}']},
        {"obj": '{"10":[1,"é",1e-7],"b":1,"a":{"2":null}}'.encode(), "on": b"true",
         "nothing": b"null"},
        "K:168 JSON.stringify (typeof null is 'object'); ECMA-262 10.1.11.1 key order"),
    Row("property-paths", {"data": [
        {"key": "s", "name": "literal", "property": "a.b"},
        {"key": "s", "name": "nested", "property": "a.c[0].d"},
        {"key": "s", "name": "bracket", "property": "a['c'][0]['d']"},
        {"key": "s", "name": "keyword", "property": "where.é"},
        {"key": "s", "name": "dotted", "property": 'x["y.z"]'},
        {"key": "s", "name": "jsonpath", "property": "$.a.c[0].d"}]},
        {"s": [doc({"a.b": "lit", "a": {"c": [{"d": "deep"}]}, "where": {"é": "kw"},
                    "x": {"y.z": "dot"}})]},
        {"literal": b"lit", "nested": b"deep", "bracket": b"deep", "keyword": b"kw",
         "dotted": b"dot", "jsonpath": b"deep"},
        "K:65-69 lodash 4.17.21 get (castPath: a key read whole first, then stringToPath); "
        "'$.' paths are a kes addition (JSONPath)"),
    Row("surrogates", {"data": [{"key": "s", "name": "lone", "property": "s"},
                                {"key": "s", "name": "inside", "property": "o"}],
                       "dataFrom": ["s"]},
        {"s": [b'{"s": "\\ud800x", "o": {"t": "\\udc00"}}']},
        {"lone": b"\xef\xbf\xbdx", "inside": b'{"t":"\\udc00"}', "s": b"\xef\xbf\xbdx",
         "o": b'{"t":"\\udc00"}'},
        "K:171 Node's UTF-8 writes a lone surrogate as U+FFFD; K:168 JSON.stringify "
        "escapes it (ECMA-262 25.5.2.3 QuoteJSONString)"),
    Row("binary", {"data": [{"key": "s", "name": "raw", "isBinary": True},
                            {"key": "j", "name": "cert", "property": "cert",
                             "isBinary": True}]},
        {"s": [base64.b64encode(b"\x00\x01\xff")], "j": [doc({"cert": "3q2+7w=="})]},
        {"raw": b"\x00\x01\xff", "cert": b"\xde\xad\xbe\xef"},
        "K:72-78 Buffer.from(value, 'base64') for a string value"),
    Row("data-from", {"dataFrom": ["s"]},
        {"s": [doc({"USER": "u", "PORT": 5432, "TLS": True, "cfg": {"b": [1.0], "1": 2},
                    "none": None})]},
        {"USER": b"u", "PORT": b"5432", "TLS": b"true", "cfg": b'{"1":2,"b":[1]}',
         "none": b"null"},
        "K:103-107 JSON.parse; K:195-203 spread into the Secret; K:168-171"),
    Row("data-from-with-options", {"dataFromWithOptions": [{"key": "s", "version": 2}]},
        {"s": [doc({"K": "old"}), doc({"K": "two", "N": 0.5})]}, {"K": b"two", "N": b"0.5"},
        "K:120-127 keyOptions.version; G:37-45"),
    Row("merge-order", {"dataFrom": ["a"], "dataFromWithOptions": [{"key": "b"}],
                        "data": [{"key": "c", "name": "C"}]},
        {"a": [doc({"A": "a", "B": "a", "C": "a"})], "b": [doc({"B": "b", "C": "b"})],
         "c": [b"c"]},
        {"A": b"a", "B": b"b", "C": b"c"},
        "K:195-199 dataFrom, then dataFromWithOptions, then data; later wins"),
    Row("options", {"controllerId": "team-a", "refreshInterval": "1h",
                    "data": [{"key": "s", "name": "v"}]},
        {"s": [b"x"]}, {"v": b"x"},
        "controllerId and refreshInterval do not change the Secret (refreshInterval is kes's)"),
    Row("template", {
        "data": [{"key": "s", "name": "user", "property": "user"},
                 {"key": "s", "name": "password", "property": "password"}],
        "template": {
            "type": "kubernetes.io/basic-auth",
            "metadata": {"labels": {"app": "db", "who": "{{ data.user }}"},
                         "annotations": {"example.com/note": "for {{ data.user }}"}},
            "data": {"user": "bm90LXRoaXM=", "extra": "{{ 'x' | b64enc }}"},
            "stringData": {"password": "{{ data.password | upper }}",
                           "url": "db://{{ data.user }}@host:{{ 1.0 }}/{{ true }}"}}},
        {"s": [doc({"user": "alice", "password": "pw"})]},
        {"user": b"alice", "password": b"PW", "extra": b"x", "url": b"db://alice@host:1/true"},
        "P:93 type; P:117 merge(template, manifest): generated data wins over template.data; "
        "stringData over data as the API server folds it; Jinja2 syntax is kes's",
        type="kubernetes.io/basic-auth", labels={"app": "db", "who": "alice"},
        annotations={"example.com/note": "for alice"}),
    Row("template-yaml-json", {
        "data": [{"key": "s", "name": "cfg"}],
        "template": {"stringData": {
            "cfg.yaml": "{{ data.cfg | fromjson | toyaml }}",
            "cfg.json": "{{ data.cfg | fromjson | tojson }}"}}},
        {"s": [b'{"name": "x", "list": [1.0, 2], "text": "a\\nb", "10": "ten", '
               b'"on": "yes", "long": "' + b"w " * 50 + b'w"}']},
        {"cfg": b'{"name": "x", "list": [1.0, 2], "text": "a\\nb", "10": "ten", "on": "yes", '
                b'"long": "' + b"w " * 50 + b'w"}',
         "cfg.yaml": ("'10': ten\nname: x\nlist:\n  - 1\n  - 2\ntext: |-\n  a\n  b\n"
                      "'on': 'yes'\nlong: >-\n  " + "w " * 38 + "w\n  " + "w " * 11 + "w\n"
                      ).encode(),
         "cfg.json": b'{"10":"ten","name":"x","list":[1,2],"text":"a\\nb","on":"yes",'
                     b'"long":"' + b"w " * 50 + b'w"}'},
        "yaml.dump in KES templates: js-yaml 3.14.1 dumper.js (block style, indent 2, "
        "'|-' and '>-' blocks, quoting); JSON.parse then JSON.stringify"),
    Row("deprecated-aliases", {}, {"s": [b"legacy"]}, {"v": b"legacy"},
        "P:64 secretDescriptor; K:182-183 properties; P:93 spec.type",
        type="kubernetes.io/tls-like"),
    Row("kes-binary-options", {"dataFromWithOptions": [{"key": "s", "isBinary": True}]},
        {"s": [doc({"k": "eA=="})]}, {"k": b"x"},
        "a kes difference: isBinary in dataFromWithOptions decodes each value (KES's GCP "
        "backend ignored it, K:123 passes it only to _get)"),
    Row("kes-binary-number", {"data": [{"key": "s", "name": "n", "property": "n",
                                        "isBinary": True}]},
        {"s": [doc({"n": 1234})]}, {"n": base64.b64decode("1234")},
        "a kes difference: isBinary decodes a number's text too (K:74-79 decoded strings only)"),
]


def manifest(row: Row) -> dict[str, Any]:
    prefix = f"{row.name}-"
    spec = json.loads(json.dumps(row.spec).replace('"key": "', f'"key": "{prefix}'))
    spec["dataFrom"] = [prefix + key for key in spec.get("dataFrom", [])]
    if not spec["dataFrom"]:
        del spec["dataFrom"]
    spec.setdefault("projectId", PROJECT)
    obj: dict[str, Any] = {"apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
                           "metadata": {"name": row.name, "namespace": "compat"}}
    if row.name == "deprecated-aliases":
        obj["secretDescriptor"] = {"backendType": "gcpSecretsManager", "projectId": PROJECT,
                                   "type": row.type,
                                   "properties": [{"key": prefix + "s", "name": "v"}]}
    else:
        obj["spec"] = {"backendType": "gcpSecretsManager", **spec}
    return obj


def seed_values() -> dict[str, list[str | bytes]]:
    values: dict[str, list[str | bytes]] = {}
    for row in ROWS:
        for secret, versions in row.payloads.items():
            name = secret if secret.startswith("projects/") else (
                f"projects/{PROJECT}/secrets/{row.name}-{secret}")
            values[name] = list(versions)
    return values


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("compat") / "externalsecrets.yaml"
    path.write_text(yaml.safe_dump_all([manifest(row) for row in ROWS]))
    with SecretManagerEmulator().background() as emulator, pytest.MonkeyPatch.context() as env:
        emulator.seed(gsm_seed(seed_values()))
        env.setenv("SECRET_MANAGER_EMULATOR_HOST", emulator.address)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["render", "-f", str(path), "--show-values"])
    assert code == 0, err.getvalue()
    yield {secret["metadata"]["name"]: secret for secret in yaml.safe_load_all(out.getvalue())}


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_kes_render_writes_the_bytes_kes_wrote(rendered: dict[str, Any], row: Row) -> None:
    secret = rendered[row.name]
    data = {key: base64.b64decode(value) for key, value in secret["data"].items()}
    assert data == row.data, row.source
    assert secret["type"] == row.type, row.source
    assert {k: v for k, v in secret["metadata"]["labels"].items()
            if k != "app.kubernetes.io/managed-by"} == row.labels, row.source
    assert {k: v for k, v in secret["metadata"]["annotations"].items()
            if not k.startswith("externalsecrets.kubernetes-client.io/")} == row.annotations


# The spec fields the GCP backend reads (G, K, P), kes's refreshInterval, and the
# deprecated aliases; the CRD's other fields belong to KES's other backends.
GCP_FIELDS = {"backendType", "projectId", "data", "dataFrom", "dataFromWithOptions", "template",
              "controllerId", "refreshInterval", "properties", "type"}


def test_every_field_of_the_api_is_covered() -> None:
    crd = yaml.safe_load((Path(__file__).resolve().parents[2] / "crds" /
                          "externalsecret.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert set(schema["properties"]["spec"]["properties"]) >= GCP_FIELDS
    used = {key for row in ROWS for key in manifest(row).get("spec", {})}
    used |= {"properties", "type"}  # the deprecated-aliases row, under secretDescriptor
    assert used == GCP_FIELDS
    items = {key for row in ROWS for item in row.spec.get("data", []) for key in item}
    assert items == {"key", "name", "version", "property", "isBinary"}
    options = {key for row in ROWS for item in row.spec.get("dataFromWithOptions", [])
               for key in item}
    assert options == {"key", "version", "isBinary"}
    template = {key for row in ROWS for key in row.spec.get("template", {})}
    assert template == {"type", "metadata", "data", "stringData"}
