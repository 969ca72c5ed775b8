"""Parsing is bounded whatever a manifest holds: durations, lengths, echoed values and
kes's own bookkeeping are checked, and every fault is a SpecError naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kes.api import BOOKKEEPING_ANNOTATIONS, MANAGED_BY_LABEL
from kes.spec import (
    MAX_PROPERTY_CHARS,
    MAX_REFRESH_INTERVAL,
    ExternalSecretSpec,
    SpecError,
    parse_external_secret,
)

Parse = Callable[..., ExternalSecretSpec]
Fails = Callable[..., SpecError]


@pytest.mark.parametrize("text", ["169h", "10081m", "9" * 400 + "h", "1" * 64 + "s"])
def test_refresh_interval_has_a_maximum(fails: Fails, text: str) -> None:
    error = fails(refreshInterval=text)
    assert error.field == "spec.refreshInterval"
    assert error.message.endswith("is longer than the maximum of 168h (7 days)")
    assert len(str(error)) < 200


def test_refresh_interval_up_to_the_maximum(parse: Parse) -> None:
    assert parse(refreshInterval="168h").refresh_interval == MAX_REFRESH_INTERVAL


@pytest.mark.parametrize("value", ["1" * 1024 + "s", "1s" * 600])
def test_overlong_durations_are_not_durations(fails: Fails, value: str) -> None:
    assert "is not a duration" in fails(refreshInterval=value).message


@pytest.mark.parametrize("value", [10**5000, -(10**400)], ids=["5001-digits", "minus-401-digits"])
def test_huge_numbers_are_echoed_by_size(fails: Fails, value: int) -> None:
    assert "needs a unit" in str(fails(refreshInterval=value))
    error = fails(data=[{"key": "k", "name": "n", "version": value}])
    assert error.field == "spec.data[0].version" and "-bit number>" in error.message


def test_property_paths_have_a_maximum_length(parse: Parse, fails: Fails) -> None:
    prop = "a." * (MAX_PROPERTY_CHARS // 2)
    assert parse(data=[{"key": "k", "name": "n", "property": prop}]).data[0].property == prop
    error = fails(data=[{"key": "k", "name": "n", "property": prop + "ab"}])
    assert (error.field, error.message) == ("spec.data[0].property",
                                            f"must be at most {MAX_PROPERTY_CHARS} characters")


@pytest.mark.parametrize("annotation", sorted(BOOKKEEPING_ANNOTATIONS))
def test_templates_cannot_set_kes_bookkeeping(fails: Fails, annotation: str) -> None:
    error = fails(template={"metadata": {"annotations": {annotation: "x"}}})
    assert (error.field, error.message) == (
        f"spec.template.metadata.annotations[{annotation}]",
        "set by the kes controller for its own bookkeeping",
    )
    error = fails(template={"metadata": {"labels": {MANAGED_BY_LABEL: "x"}}})
    assert error.field == f"spec.template.metadata.labels[{MANAGED_BY_LABEL}]"


@pytest.mark.parametrize(("fields", "path"), [
    ({"x" * 300_000: 1}, "spec." + "x" * 50),
    ({"template": {"stringData": {"k" * 300_000: "v"}}}, "spec.template.stringData[" + "k" * 50),
    ({"backendType": ["vault"] * 100_000}, "spec.backendType"),
    ({"backendType": "v" * 300_000}, "spec.backendType"),
])
def test_errors_quote_fields_and_values_briefly(fails: Fails, fields: dict[str, Any],
                                               path: str) -> None:
    error = fails(**fields)
    assert error.field.startswith(path)
    assert len(str(error)) < 600


def test_deeply_nested_values_are_echoed_briefly(fails: Fails) -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    assert len(str(fails(backendType=deep))) < 300


@pytest.mark.parametrize(("obj", "field", "message"), [
    ([], "", "must be an object"),
    ({"metadata": {"name": "n" * 300}, "spec": {}}, "metadata.name",
     "must be at most 253 characters"),
    ({"metadata": {"name": "es", "namespace": ["ns"]}, "spec": {}}, "metadata.namespace",
     "must be a string of at most 253 characters"),
])
def test_metadata_is_checked(obj: Any, field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_external_secret(obj, "demo-project")
    assert (caught.value.field, caught.value.message) == (field, message)
    assert len(str(caught.value)) < 400
