"""Parsing ExternalSecret manifests: every field, default, alias and error path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kes.names import SecretVersionName as Version
from kes.spec import (
    DataFromItem,
    DataItem,
    ExternalSecretSpec,
    SpecError,
    parse_duration,
    parse_external_secret,
)

Parse = Callable[..., ExternalSecretSpec]
Fails = Callable[..., SpecError]
Make = Callable[..., dict[str, Any]]


def test_minimal_spec_gets_kes_defaults(parse: Parse) -> None:
    spec = parse()
    assert spec.project == "demo-project"
    assert spec.data == (
        DataItem(
            field="spec.data[0]", key="k", ref=Version("demo-project", "k", "latest"),
            name="n", property=None, is_binary=False,
        ),
    )
    assert spec.data_from == ()
    assert spec.template.type == "Opaque"
    assert spec.template.labels == spec.template.annotations == {}
    assert spec.template.data == spec.template.string_data == {}
    assert spec.controller_id is None
    assert spec.refresh_interval is None


def test_every_data_field(parse: Parse) -> None:
    spec = parse(projectId="other-project", data=[
        {"key": "db", "name": "pw", "version": 7, "property": "a.b", "isBinary": True},
    ])
    (item,) = spec.data
    assert item.ref == Version("other-project", "db", "7")
    assert str(item.ref) == "projects/other-project/secrets/db/versions/7"
    assert (item.name, item.property, item.is_binary) == ("pw", "a.b", True)


@pytest.mark.parametrize("version", ["latest", "12", 12, "my-alias"])
def test_versions_are_numbers_latest_or_aliases(parse: Parse, version: object) -> None:
    (item,) = parse(data=[{"key": "k", "name": "n", "version": version}]).data
    assert item.ref.version == str(version)


def test_yaml_nulls_count_as_absent(parse: Parse) -> None:
    (item,) = parse(data=[{"key": "k", "name": "n", "version": None, "property": None,
                           "isBinary": None}], template=None, dataFrom=None).data
    assert (item.ref.version, item.property, item.is_binary) == ("latest", None, False)


def test_data_from_and_with_options_keep_merge_order(parse: Parse) -> None:
    spec = parse(
        data=None,
        dataFrom=["a", "b"],
        dataFromWithOptions=[{"key": "c", "version": 2, "isBinary": True}, {"key": "a"}],
    )
    assert spec.data_from == (
        DataFromItem("spec.dataFrom[0]", "a", Version("demo-project", "a", "latest"), False),
        DataFromItem("spec.dataFrom[1]", "b", Version("demo-project", "b", "latest"), False),
        DataFromItem("spec.dataFromWithOptions[0]", "c", Version("demo-project", "c", "2"),
                     True),
        DataFromItem("spec.dataFromWithOptions[1]", "a",
                     Version("demo-project", "a", "latest"), False),
    )


def test_refs_are_the_distinct_versions_needed(parse: Parse) -> None:
    spec = parse(
        dataFrom=["k"],
        data=[{"key": "k", "name": "a", "property": "x"}, {"key": "k", "name": "b"},
              {"key": "k", "name": "c", "version": 3}],
    )
    assert spec.refs == {Version("demo-project", "k", "latest"),
                           Version("demo-project", "k", "3")}


def test_controller_id(parse: Parse) -> None:
    assert parse(controllerId="team-a").controller_id == "team-a"


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0.0), ("0s", 0.0), ("30s", 30.0), ("500ms", 0.5), ("1h", 3600.0),
    ("1h30m", 5400.0), ("1.5m", 90.0), ("2m30s250ms", 150.25),
])
def test_refresh_interval_durations(parse: Parse, text: str, seconds: float) -> None:
    assert parse(refreshInterval=text).refresh_interval == seconds
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "-1s", "1d", "1 h", "h", "1h-5m", "0.5"])
def test_refresh_interval_rejects_non_durations(fails: Fails, text: str) -> None:
    error = fails(refreshInterval=text)
    assert error.field == "spec.refreshInterval"


def test_refresh_interval_may_be_a_bare_zero(parse: Parse) -> None:
    assert parse(refreshInterval=0).refresh_interval == 0.0


@pytest.mark.parametrize("number", [30, 1, -5])
def test_refresh_interval_other_bare_numbers_need_a_unit(fails: Fails, number: int) -> None:
    assert str(fails(refreshInterval=number)) == (
        f"ExternalSecret ns/es: spec.refreshInterval: {number} needs a unit, such as "
        f"{number}s or {number}m (a bare number may only be 0, to sync once)"
    )


@pytest.mark.parametrize("value", [True, 1.5, ["30s"]])
def test_refresh_interval_must_be_a_string_or_zero(fails: Fails, value: object) -> None:
    assert str(fails(refreshInterval=value)) == (
        "ExternalSecret ns/es: spec.refreshInterval: must be a string"
    )


# ---- keys: secret ids and full names -------------------------------------------


@pytest.mark.parametrize(("key", "ref"), [
    ("projects/p-1234/secrets/s", Version("p-1234", "s", "latest")),
    ("projects/123456789/secrets/s", Version("123456789", "s", "latest")),
    ("projects/example.com:my-proj/secrets/s", Version("example.com:my-proj", "s", "latest")),
    ("projects/p-1234/locations/europe-west1/secrets/s",
     Version("p-1234", "s", "latest", "europe-west1")),
    ("projects/p-1234/secrets/s/versions/4", Version("p-1234", "s", "4")),
    ("projects/p-1234/locations/us-east4/secrets/s/versions/latest",
     Version("p-1234", "s", "latest", "us-east4")),
])
def test_full_name_keys(key: str, ref: Version) -> None:
    es = {"metadata": {"name": "es", "namespace": "ns"},
          "spec": {"backendType": "gcpSecretsManager", "data": [{"key": key, "name": "n"}]}}
    (item,) = parse_external_secret(es, None).data
    assert item.ref == ref
    expected = key if "/versions/" in key else key + "/versions/latest"
    assert str(item.ref) == expected


def test_regional_names(parse: Parse) -> None:
    (item,) = parse(data=[{"key": "projects/p-1234/locations/us-east4/secrets/s",
                           "name": "n"}]).data
    assert str(item.ref.secret_name) == "projects/p-1234/locations/us-east4/secrets/s"
    assert str(item.ref) == "projects/p-1234/locations/us-east4/secrets/s/versions/latest"


def test_version_in_key_and_field_must_agree(parse: Parse, fails: Fails) -> None:
    key = "projects/p-1234/secrets/s/versions/4"
    (item,) = parse(data=[{"key": key, "name": "n", "version": 4}]).data
    assert item.ref.version == "4"
    error = fails(data=[{"key": key, "name": "n", "version": 5}])
    assert error.field == "spec.data[0].version"
    assert "contradicts" in error.message


@pytest.mark.parametrize(("key", "problem"), [
    ("has space", "must be a Secret Manager secret id"),
    ("x" * 256, "must be a Secret Manager secret id"),
    ("a/b", "must be a Secret Manager secret id"),
    ("projects/p-1234/secrets/", "secret id ''"),
    ("projects/p-1234/secrets/s/extra", "is not a secret name"),
    ("projects/Bad_Project/secrets/s", "is not a GCP project id"),
    ("projects/p-1234/locations/EU/secrets/s", "is not a GCP location"),
    ("projects/p-1234/secrets/s/versions/0", "is not a version"),
])
def test_bad_keys_name_the_key_field(fails: Fails, key: str, problem: str) -> None:
    error = fails(data=[{"key": "ok", "name": "a"}, {"key": key, "name": "b"}])
    assert error.field == "spec.data[1].key"
    assert problem in error.message


def test_str_names_object_field_and_problem(fails: Fails) -> None:
    assert str(fails(data=[{"key": "a b", "name": "n"}])) == (
        "ExternalSecret ns/es: spec.data[0].key: 'a b' must be a Secret Manager secret id "
        "(1-255 letters, digits, '_' or '-') or a full name projects/P/secrets/S"
    )


@pytest.mark.parametrize("version", [0, -1, True, "", "1.5", "007", "x" * 64, 1.5])
def test_bad_versions(fails: Fails, version: object) -> None:
    error = fails(data=[{"key": "k", "name": "n", "version": version}])
    assert error.field == "spec.data[0].version"


def test_data_from_key_errors_point_at_the_entry(fails: Fails) -> None:
    assert fails(dataFrom=["ok", "not ok"]).field == "spec.dataFrom[1]"
    assert fails(dataFrom=[7]).field == "spec.dataFrom[0]"
    assert fails(dataFromWithOptions=[{"key": "k", "version": "x.y"}]).field == (
        "spec.dataFromWithOptions[0].version"
    )
    assert fails(dataFromWithOptions=[{"version": 1}]).field == "spec.dataFromWithOptions[0].key"
    assert fails(dataFromWithOptions=[{"key": "k", "isBinary": "yes"}]).field == (
        "spec.dataFromWithOptions[0].isBinary"
    )


# ---- projects ------------------------------------------------------------------


def test_project_id_overrides_the_default(parse: Parse) -> None:
    assert parse(projectId="my-project").data[0].ref.project == "my-project"


def test_no_project_anywhere_is_an_error_only_for_bare_ids(make: Make) -> None:
    with pytest.raises(SpecError) as caught:
        parse_external_secret(make(), None)
    assert caught.value.field == "spec.projectId"
    assert "no default project" in caught.value.message
    full = make(data=[{"key": "projects/p-1234/secrets/s", "name": "n"}])
    assert parse_external_secret(full, None).project is None


@pytest.mark.parametrize("project", ["Upper-case", "short", "1starts-with-digit", "ends-", 42])
def test_bad_project_ids(fails: Fails, project: object) -> None:
    assert fails(projectId=project).field == "spec.projectId"


# ---- backends, structure, unknown fields ---------------------------------------


def test_other_kes_backends_are_named_as_such(fails: Fails) -> None:
    assert str(fails(backendType="vault")) == (
        "ExternalSecret ns/es: spec.backendType: 'vault' is a KES backend; "
        "kes serves only gcpSecretsManager"
    )
    assert fails(backendType="nope").message == (
        "'nope' is not a backend KES knew; kes serves only gcpSecretsManager"
    )


def test_backend_type_is_required(fails: Fails) -> None:
    error = fails(backendType=None)
    assert (error.field, error.message) == ("spec.backendType",
                                            "required; kes serves gcpSecretsManager")


def test_backend_is_checked_before_other_backends_fields(fails: Fails) -> None:
    assert fails(backendType="secretsManager", roleArn="arn:aws:iam::1:role/x").field == (
        "spec.backendType"
    )


def test_fields_of_other_backends_are_unknown_here(fails: Fails) -> None:
    assert fails(roleArn="arn").field == "spec.roleArn"
    error = fails(data=[{"key": "k", "name": "n", "versionStage": "AWSCURRENT"}])
    assert error.field == "spec.data[0].versionStage"
    assert error.message.startswith("unknown field; known here: isBinary, key, name")


def test_at_least_one_source_is_required(fails: Fails) -> None:
    error = fails(data=[])
    assert (error.field, error.message) == (
        "spec", "needs at least one entry in data, dataFrom or dataFromWithOptions")


@pytest.mark.parametrize(("fields", "path", "message"), [
    ({"data": {"key": "k"}}, "spec.data", "must be a list"),
    ({"data": ["k"]}, "spec.data[0]", "must be an object"),
    ({"data": [{"name": "n"}]}, "spec.data[0].key", "must be a string"),
    ({"data": [{"key": "k"}]}, "spec.data[0].name", "must be a string"),
    ({"data": [{"key": "", "name": "n"}]}, "spec.data[0].key", "must not be empty"),
    ({"data": [{"key": "k", "name": "n", "property": ""}]}, "spec.data[0].property",
     "must not be empty"),
    ({"data": [{"key": "k", "name": "n", "isBinary": "true"}]}, "spec.data[0].isBinary",
     "must be true or false"),
    ({"controllerId": 5}, "spec.controllerId", "must be a string"),
    ({"template": []}, "spec.template", "must be an object"),
])
def test_type_errors(fails: Fails, fields: dict[str, Any], path: str, message: str) -> None:
    error = fails(**fields)
    assert (error.field, error.message) == (path, message)


@pytest.mark.parametrize(("name", "problem"), [
    ("has space", "must consist of letters"),
    ("a/b", "must consist of letters"),
    (".", "must not be '.'"),
    ("..", "must not be '.'"),
    ("..hidden", "start with '..'"),
    ("x" * 254, "at most 253"),
])
def test_secret_key_names_follow_kubernetes(fails: Fails, name: str, problem: str) -> None:
    error = fails(data=[{"key": "k", "name": name}])
    assert error.field == "spec.data[0].name"
    assert problem in error.message


def test_valid_secret_key_names(parse: Parse) -> None:
    names = ["a", ".dockerconfigjson", "tls.crt", "A_B-c.d", "x" * 253]
    spec = parse(data=[{"key": "k", "name": n} for n in names])
    assert [item.name for item in spec.data] == names


def test_duplicate_names_in_data(fails: Fails) -> None:
    error = fails(data=[{"key": "a", "name": "x"}, {"key": "b", "name": "y"},
                        {"key": "c", "name": "x"}])
    assert (error.field, error.message) == ("spec.data[2].name",
                                            "'x' is already set by spec.data[0].name")


def test_metadata_name_is_required() -> None:
    with pytest.raises(SpecError) as caught:
        parse_external_secret({"metadata": {"namespace": "ns"}, "spec": {}}, "demo-project")
    assert str(caught.value) == "ExternalSecret ns/<unnamed>: metadata.name: required"


def test_object_ref_without_namespace_is_the_name(make: Make) -> None:
    es = make(data=[])
    del es["metadata"]["namespace"]
    with pytest.raises(SpecError) as caught:
        parse_external_secret(es, "demo-project")
    assert str(caught.value).startswith("ExternalSecret es: spec:")


def test_spec_is_required(make: Make) -> None:
    es = make()
    del es["spec"]
    with pytest.raises(SpecError) as caught:
        parse_external_secret(es, "demo-project")
    assert (caught.value.field, caught.value.message) == ("spec", "required")


# ---- deprecated aliases --------------------------------------------------------


def test_secret_descriptor_is_spec(make: Make) -> None:
    es = make(projectId="my-project", properties=[{"key": "k", "name": "n"}], data=None,
              type="kubernetes.io/tls")
    es["secretDescriptor"] = es.pop("spec")
    spec = parse_external_secret(es, None)
    assert spec.data[0].ref == Version("my-project", "k", "latest")
    assert spec.data[0].field == "secretDescriptor.properties[0]"
    assert spec.template.type == "kubernetes.io/tls"


def test_secret_descriptor_errors_use_its_path(make: Make) -> None:
    es = make(data=[{"key": "bad key", "name": "n"}])
    es["secretDescriptor"] = es.pop("spec")
    with pytest.raises(SpecError) as caught:
        parse_external_secret(es, "demo-project")
    assert caught.value.field == "secretDescriptor.data[0].key"


def test_spec_and_secret_descriptor_together(make: Make) -> None:
    es = make()
    es["secretDescriptor"] = dict(es["spec"])
    with pytest.raises(SpecError) as caught:
        parse_external_secret(es, "demo-project")
    assert caught.value.field == "secretDescriptor"


def test_properties_is_data(parse: Parse, fails: Fails) -> None:
    spec = parse(data=None, properties=[{"key": "k", "name": "n"}])
    assert spec.data[0].field == "spec.properties[0]"
    assert fails(properties=[{"key": "k", "name": "m"}]).field == "spec.properties"


def test_spec_type_is_template_type(parse: Parse, fails: Fails) -> None:
    assert parse(type="kubernetes.io/tls").template.type == "kubernetes.io/tls"
    assert parse(type="x", template={"type": "x"}).template.type == "x"
    error = fails(type="x", template={"type": "y"})
    assert error.field == "spec.type"
    assert "deprecated alias of spec.template.type" in error.message


# ---- template structure --------------------------------------------------------


@pytest.mark.parametrize("secret_type", ["kubernetes.io/service-account-token",
                                         "bootstrap.kubernetes.io/token"])
def test_credential_minting_types_are_refused(fails: Fails, secret_type: str) -> None:
    assert fails(template={"type": secret_type}).field == "spec.template.type"
    assert fails(type=secret_type).field == "spec.type"


def test_template_fields(parse: Parse) -> None:
    template = parse(template={
        "type": "kubernetes.io/basic-auth",
        "metadata": {"labels": {"app": "x"}, "annotations": {"example.com/a": "{{ 1 }}"}},
        "data": {"d": "eA=="},
        "stringData": {"s": "text"},
    }).template
    assert template.type == "kubernetes.io/basic-auth"
    assert template.labels["app"].source == "x"
    assert template.annotations["example.com/a"].field == (
        "spec.template.metadata.annotations[example.com/a]"
    )
    assert template.data["d"].field == "spec.template.data[d]"
    assert template.string_data["s"].source == "text"


@pytest.mark.parametrize(("template", "path"), [
    ({"immutable": True}, "spec.template.immutable"),
    ({"metadata": {"name": "other"}}, "spec.template.metadata.name"),
    ({"data": {"bad key": "x"}}, "spec.template.data[bad key]"),
    ({"stringData": {"port": 5432}}, "spec.template.stringData[port]"),
    ({"data": {"k": "eA=="}, "stringData": {"k": "x"}}, "spec.template.stringData[k]"),
    ({"metadata": {"labels": {"-bad": "x"}}}, "spec.template.metadata.labels[-bad]"),
    ({"metadata": {"annotations": {"Bad_Prefix/x": "x"}}},
     "spec.template.metadata.annotations[Bad_Prefix/x]"),
    ({"metadata": {"labels": {"app.kubernetes.io/managed-by": "me"}}},
     "spec.template.metadata.labels[app.kubernetes.io/managed-by]"),
    ({"type": ""}, "spec.template.type"),
])
def test_template_errors(fails: Fails, template: dict[str, Any], path: str) -> None:
    assert fails(template=template).field == path
