import copy
from typing import Any

import pytest

from kes_emulators.apiserver.errors import Cause, invalid
from kes_emulators.apiserver.schema import (
    FieldError,
    UnsupportedSchema,
    apply_defaults,
    prune,
    unknown_fields,
    validate,
)

BACKENDS = ["secretsManager", "systemManager", "vault", "gcpSecretsManager"]

# Shaped like the KES ExternalSecret CRD (kubernetes-client.io/v1).
EXTERNAL_SECRET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["backendType"],
            "properties": {
                "backendType": {"type": "string", "enum": BACKENDS},
                "projectId": {"type": "string"},
                "type": {"type": "string", "default": "Opaque"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["key", "name"],
                        "properties": {
                            "key": {"type": "string", "minLength": 1},
                            "name": {"type": "string", "maxLength": 253},
                            "property": {"type": "string"},
                            "version": {"type": "string", "default": "latest"},
                            "isBinary": {"type": "boolean"},
                        },
                    },
                },
                "dataFrom": {"type": "array", "items": {"type": "string"},
                             "x-kubernetes-list-type": "set"},
                "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "refreshInterval": {"x-kubernetes-int-or-string": True},
            },
        },
        "status": {
            "type": "object",
            "properties": {
                "lastSync": {"type": "string", "format": "date-time"},
                "observedGeneration": {"type": "integer", "format": "int64"},
            },
        },
    },
}


def external_secret(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {"backendType": "gcpSecretsManager", "projectId": "p",
                 "data": [{"key": "db", "name": "password", "version": "3"}], **spec},
    }


def messages(errors: list[FieldError]) -> list[str]:
    return [str(e) for e in errors]


def test_a_valid_external_secret_has_no_errors() -> None:
    obj = external_secret(template={"metadata": {"labels": {"a": "b"}}, "anything": [1]},
                          labels={"team": "infra"}, refreshInterval="1m", dataFrom=["a", "b"])
    obj["status"] = {"lastSync": "2024-05-01T10:00:00Z", "observedGeneration": 3}
    assert validate(EXTERNAL_SECRET, obj) == []


INVALID_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"data": [{"name": "password"}]}, ["spec.data[0].key: Required value"]),
    ({"backendType": "aws"},
     ['spec.backendType: Unsupported value: "aws": supported values: "secretsManager", '
      '"systemManager", "vault", "gcpSecretsManager"']),
    ({"data": "db"},
     ['spec.data: Invalid value: "string": spec.data in body must be of type array: "string"']),
    ({"data": [{"key": "db", "name": "p", "isBinary": "yes"}]},
     ['spec.data[0].isBinary: Invalid value: "string": spec.data[0].isBinary in body must be '
      'of type boolean: "string"']),
    ({"projectId": None},
     ['spec.projectId: Invalid value: "null": spec.projectId in body must be of type string: '
      '"null"']),
    ({"projectId": 7},
     ['spec.projectId: Invalid value: "integer": spec.projectId in body must be of type '
      'string: "integer"']),
    ({"data": [{"key": "", "name": "p"}]},
     ['spec.data[0].key: Invalid value: "": spec.data[0].key in body should be at least 1 '
      "chars long"]),
    ({"data": [{"key": "k", "name": "n" * 254}]},
     ["spec.data[0].name: Too long: may not be more than 253 bytes"]),
    ({"labels": {"team": 5}},
     ['spec.labels.team: Invalid value: "integer": spec.labels.team in body must be of type '
      'string: "integer"']),
    ({"refreshInterval": True},
     ['spec.refreshInterval: Invalid value: "boolean": spec.refreshInterval in body must be '
      'of type integer,string: "boolean"']),
    ({"dataFrom": ["a", "b", "a"]}, ['spec.dataFrom[2]: Duplicate value: "a"']),
    ({"data": [{}], "backendType": "x"},
     ['spec.backendType: Unsupported value: "x": supported values: "secretsManager", '
      '"systemManager", "vault", "gcpSecretsManager"',
      "spec.data[0].key: Required value", "spec.data[0].name: Required value"]),
]


@pytest.mark.parametrize(("spec", "expected"), INVALID_CASES)
def test_invalid_external_secrets_get_the_servers_messages(
        spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(validate(EXTERNAL_SECRET, external_secret(**spec))) == expected


def test_missing_required_top_level_field() -> None:
    obj = external_secret()
    del obj["spec"]["backendType"]
    [error] = validate(EXTERNAL_SECRET, obj)
    assert (error.path, error.reason, error.message) == (
        "spec.backendType", "FieldValueRequired", "Required value")


def test_status_format_is_checked() -> None:
    obj = external_secret()
    obj["status"] = {"lastSync": "yesterday"}
    [error] = validate(EXTERNAL_SECRET, obj)
    assert str(error) == ('status.lastSync: Invalid value: "yesterday": status.lastSync in body '
                          'must be of type date-time: "yesterday"')
    assert error.reason == "FieldValueTypeInvalid"


def field_schema(**constraints: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "f": constraints}}}}


CONSTRAINT_CASES: list[tuple[dict[str, Any], Any, list[str]]] = [
    ({"type": "integer"}, 3, []),
    ({"type": "integer"}, 3.0, []),
    ({"type": "integer"}, 3.5,
     ['spec.f: Invalid value: "number": spec.f in body must be of type integer: "number"']),
    ({"type": "integer"}, True,
     ['spec.f: Invalid value: "boolean": spec.f in body must be of type integer: "boolean"']),
    ({"type": "number"}, 3, []),
    ({"type": "integer", "format": "int32"}, 2**40, []),
    ({"type": "integer", "maximum": 10}, 11,
     ["spec.f: Invalid value: 11: spec.f in body should be less than or equal to 10"]),
    ({"type": "integer", "maximum": 10, "exclusiveMaximum": True}, 10,
     ["spec.f: Invalid value: 10: spec.f in body should be less than 10"]),
    ({"type": "number", "minimum": 0.5}, 0.25,
     ["spec.f: Invalid value: 0.25: spec.f in body should be greater than or equal to 0.5"]),
    ({"type": "integer", "minimum": 1, "exclusiveMinimum": True}, 1,
     ["spec.f: Invalid value: 1: spec.f in body should be greater than 1"]),
    ({"type": "string", "pattern": "^[a-z]+$"}, "Ab",
     ["spec.f: Invalid value: \"Ab\": spec.f in body should match '^[a-z]+$'"]),
    ({"type": "string", "format": "uuid"}, "0cc7e8a6-3a4e-4d44-9d77-0c5a1b9a2f9e", []),
    ({"type": "string", "format": "byte"}, "not base64!",
     ['spec.f: Invalid value: "not base64!": spec.f in body must be of type byte: '
      '"not base64!"']),
    ({"type": "string", "format": "date-time"}, "2024-02-30T00:00:00Z",
     ['spec.f: Invalid value: "2024-02-30T00:00:00Z": spec.f in body must be of type '
      'date-time: "2024-02-30T00:00:00Z"']),
    ({"type": "array", "items": {"type": "string"}, "minItems": 1}, [],
     ["spec.f: Invalid value: 0: spec.f in body should have at least 1 items"]),
    ({"type": "array", "items": {"type": "string"}, "maxItems": 1}, ["a", "b"],
     ["spec.f: Too many: 2: must have at most 1 items"]),
    ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, [1, 2, 1],
     ['spec.f: Invalid value: "": spec.f in body shouldn\'t contain duplicates']),
    ({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
      "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
     [{"name": "a"}, {"name": "b"}, {"name": "a"}],
     ['spec.f[2]: Duplicate value: map[string]interface {}{"name":"a"}']),
    ({"type": "string", "nullable": True}, None, []),
    ({"type": "string", "enum": ["a", "b"]}, "c",
     ['spec.f: Unsupported value: "c": supported values: "a", "b"']),
    ({"type": "integer", "enum": [1, 2]}, 3,
     ['spec.f: Unsupported value: 3: supported values: "1", "2"']),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1, "b": "x"},
     ['spec.f.b: Invalid value: "string": spec.f.b in body must be of type integer: '
      '"string"']),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]}, {},
     ["spec.f.a: Required value", "spec.f.b: Required value"]),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "x", []),
    ({"oneOf": [{"minimum": 1}, {"minimum": 2}]}, 5,
     ['<nil>: Invalid value: "": "spec.f" must validate one and only one schema (oneOf). '
      "Found 2 valid alternatives"]),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5,
     ['<nil>: Invalid value: "": "spec.f" must validate at least one schema (anyOf)',
      'spec.f: Invalid value: "number": spec.f in body must be of type string: "number"']),
    ({"allOf": [{"minLength": 2}, {"maxLength": 3}]}, "abcd",
     ["spec.f: Too long: may not be more than 3 bytes",
      '<nil>: Invalid value: "": "spec.f" must validate all the schemas (allOf)']),
    ({"type": "string", "not": {"enum": ["forbidden"]}}, "forbidden",
     ['<nil>: Invalid value: "": "spec.f" must not validate the schema (not)']),
    ({"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
     "50%", []),
]


@pytest.mark.parametrize(("constraints", "value", "expected"), CONSTRAINT_CASES)
def test_schema_constraints(constraints: dict[str, Any], value: Any,
                            expected: list[str]) -> None:
    obj = {"spec": {"f": value}}
    assert messages(validate(field_schema(**constraints), obj)) == expected


def test_cel_rules_are_refused_loudly() -> None:
    schema = field_schema(type="string", **{
        "x-kubernetes-validations": [{"rule": "self.size() > 1"}]})
    with pytest.raises(UnsupportedSchema) as info:
        validate(schema, {"spec": {"f": "ab"}})
    assert "spec.f" in str(info.value)
    assert "x-kubernetes-validations" in str(info.value)


def test_invalid_message_lists_errors_like_the_server() -> None:
    causes = [Cause(e.reason, e.message, e.path)
              for e in validate(EXTERNAL_SECRET, external_secret(data=[{}]))]
    group = "kubernetes-client.io"
    assert invalid("ExternalSecret", group, "x", causes).message == (
        'ExternalSecret.kubernetes-client.io "x" is invalid: '
        "[spec.data[0].key: Required value, spec.data[0].name: Required value]")
    assert invalid("ExternalSecret", group, "x", causes[:1]).message == (
        'ExternalSecret.kubernetes-client.io "x" is invalid: spec.data[0].key: Required value')
    assert invalid("Foo", "example.com", "y", causes[:1] * 2).message.endswith(
        '"y" is invalid: spec.data[0].key: Required value')


def test_prune_drops_unknown_fields_but_keeps_preserved_and_root_fields() -> None:
    obj = external_secret(
        unknown=1, template={"free": {"form": True}},
        data=[{"key": "k", "name": "n", "extra": "x"}])
    obj["metadata"]["labels"] = {"a": "b"}
    obj["extraTopLevel"] = {}
    before = copy.deepcopy(obj)
    pruned = prune(EXTERNAL_SECRET, obj)
    assert obj == before
    assert pruned["spec"] == {
        "backendType": "gcpSecretsManager", "projectId": "p",
        "data": [{"key": "k", "name": "n"}], "template": {"free": {"form": True}}}
    assert pruned["metadata"] == obj["metadata"]
    assert pruned["apiVersion"] == "kubernetes-client.io/v1"
    assert "extraTopLevel" not in pruned
    assert unknown_fields(EXTERNAL_SECRET, obj) == [
        "spec.data[0].extra", "spec.unknown", "extraTopLevel"]


def test_prune_keeps_root_fields_without_a_schema_for_them() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object"}}}
    obj = {"apiVersion": "v1", "kind": "K", "metadata": {"name": "n"}, "spec": {"a": 1},
           "other": 2}
    assert prune(schema, obj) == {"apiVersion": "v1", "kind": "K", "metadata": {"name": "n"},
                                  "spec": {}}


def test_prune_keeps_embedded_resource_type_fields() -> None:
    schema = field_schema(type="object", **{"x-kubernetes-embedded-resource": True,
                                            "properties": {"spec": {"type": "object"}}})
    obj = {"spec": {"f": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                          "spec": {}, "data": {"a": "b"}}}}
    assert prune(schema, obj)["spec"]["f"] == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "spec": {}}


def test_defaults_fill_missing_fields_recursively() -> None:
    obj = external_secret(data=[{"key": "k", "name": "n"}, {"key": "k2", "name": "n2",
                                                             "version": "2"}])
    defaulted = apply_defaults(EXTERNAL_SECRET, obj)
    assert defaulted["spec"]["type"] == "Opaque"
    assert [d["version"] for d in defaulted["spec"]["data"]] == ["latest", "2"]
    assert "type" not in obj["spec"]


def test_non_nullable_nulls_are_dropped_or_defaulted() -> None:
    obj = external_secret(projectId=None, type=None)
    defaulted = apply_defaults(EXTERNAL_SECRET, obj)
    assert "projectId" not in defaulted["spec"]
    assert defaulted["spec"]["type"] == "Opaque"
    nullable = field_schema(type="string", nullable=True)
    assert apply_defaults(nullable, {"spec": {"f": None}}) == {"spec": {"f": None}}


def test_defaults_apply_inside_defaulted_objects() -> None:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "default": {},
        "properties": {"replicas": {"type": "integer", "default": 1}}}}}
    assert apply_defaults(schema, {}) == {"spec": {"replicas": 1}}


def test_updates_ratchet_errors_in_unchanged_subtrees() -> None:
    stored = external_secret(data=[{"name": "p"}], labels={"team": 5})
    assert messages(validate(EXTERNAL_SECRET, stored)) == [
        "spec.data[0].key: Required value",
        'spec.labels.team: Invalid value: "integer": spec.labels.team in body must be of type '
        'string: "integer"']
    unrelated_change = external_secret(data=[{"name": "p"}], labels={"team": 5},
                                       projectId="other")
    assert validate(EXTERNAL_SECRET, unrelated_change, old=stored) == []
    assert validate(EXTERNAL_SECRET, stored, old=stored) == []
    # data is an atomic list: changing any item re-validates all of them.
    touched = external_secret(data=[{"name": "q"}], labels={"team": 5, "new": "x"})
    assert messages(validate(EXTERNAL_SECRET, touched, old=stored)) == [
        "spec.data[0].key: Required value"]
    still_bad = external_secret(data=[{"name": "p"}], labels={"team": 6})
    assert [e.path for e in validate(EXTERNAL_SECRET, still_bad, old=stored)] == [
        "spec.labels.team"]


def test_ratcheting_correlates_map_list_items_by_key() -> None:
    schema = field_schema(**{
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "port": {"type": "integer", "maximum": 100}}}})
    old = {"spec": {"f": [{"name": "a", "port": 500}]}}
    reordered = {"spec": {"f": [{"name": "b", "port": 1}, {"name": "a", "port": 500}]}}
    assert validate(schema, reordered, old=old) == []
    changed = {"spec": {"f": [{"name": "a", "port": 501}]}}
    assert [e.path for e in validate(schema, changed, old=old)] == ["spec.f[0].port"]


@pytest.mark.parametrize(("embedded", "expected"), [
    ({"apiVersion": "v1", "kind": "ConfigMap"}, []),
    ({"kind": "ConfigMap"}, ["spec.f.apiVersion: Required value: must not be empty"]),
    ({"apiVersion": "v1", "kind": ""}, ['spec.f.kind: Invalid value: "": must not be empty']),
    ({"apiVersion": 1, "kind": "K"}, ["spec.f.apiVersion: Invalid value: 1: must be a string"]),
])
def test_embedded_resources_need_type_fields(embedded: dict[str, Any],
                                             expected: list[str]) -> None:
    schema = field_schema(type="object", **{"x-kubernetes-embedded-resource": True,
                                            "x-kubernetes-preserve-unknown-fields": True})
    assert messages(validate(schema, {"spec": {"f": embedded}})) == expected
