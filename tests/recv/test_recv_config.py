"""recv.yaml and `refresh` scopes: pure parsing, every error naming its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kes.recv.config import (
    MAX_BODY_LIMIT,
    Limits,
    RateLimit,
    RecvConfigError,
    load_config,
    parse_config,
)
from kes.recv.scope import LabelSelector, RefreshScope, Requirement, ScopeError, parse_scope

PATH = Path("/etc/recv/recv.yaml")


def parse(document: Any) -> Any:
    return parse_config(document, PATH)


def test_a_full_config_reads_every_field() -> None:
    config = parse(yaml.safe_load("""
kesRecvVersion: 1
maxBodyBytes: 2097152
headerTimeout: 5s
readTimeout: 1m
rateLimit: {perSecond: 10, burst: 20}
endpoints:
- source: GitHub
  keyPath: keys/github.key
  refresh:
    namespace: apps
    selector:
      matchLabels: {team: a}
      matchExpressions: [{key: tier, operator: In, values: [web, db]}]
    names: [db, cache]
- source: GCPSecretManagerPubSub
  keyPath: /abs/pubsub.key
  audience: https://recv.example.com/hook/x
  rateLimit: {perSecond: 1000}
"""))
    assert config.limits == Limits(2097152, 5.0, 60.0, RateLimit(10.0, 20))
    github, pubsub = config.endpoints
    assert github.key_path == Path("/etc/recv/keys/github.key")
    assert github.refresh == RefreshScope(
        "apps",
        LabelSelector({"team": "a"}, (Requirement("tier", "In", frozenset({"web", "db"})),)),
        frozenset({"db", "cache"}),
    )
    assert github.rate_limit == RateLimit(10.0, 20)
    assert github.options == {}
    assert pubsub.key_path == Path("/abs/pubsub.key")
    assert pubsub.refresh == RefreshScope()
    assert pubsub.rate_limit == RateLimit(1000.0, 1000)  # burst grows to one second's worth
    assert pubsub.options == {"audience": "https://recv.example.com/hook/x"}
    assert pubsub.where == "endpoints[1]"


def test_a_flux_recv_config_is_accepted_as_it_is() -> None:
    config = parse({"fluxRecvVersion": 1, "endpoints": [{"keyPath": "k", "source": "GitHub"}]})
    assert config.limits == Limits()
    assert config.endpoints[0].refresh == RefreshScope()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a mapping with kesRecvVersion and endpoints"),
        ({"endpoints": []}, "needs exactly one of kesRecvVersion or fluxRecvVersion"),
        ({"kesRecvVersion": 1, "fluxRecvVersion": 1}, "needs exactly one of"),
        ({"kesRecvVersion": 2}, "kesRecvVersion: 2 is not supported; use 1"),
        ({"kesRecvVersion": True}, "kesRecvVersion: True is not supported"),
        ({"kesRecvVersion": 1, "endpoint": []}, "endpoint: unknown field"),
        ({"kesRecvVersion": 1, "endpoints": []}, "endpoints: must be a non-empty list"),
        ({"kesRecvVersion": 1, "endpoints": ["x"]}, "endpoints[0]: must be a mapping"),
        ({"kesRecvVersion": 1, "endpoints": [{"keyPath": "k"}]},
         "endpoints[0].source: must be a source name"),
        ({"kesRecvVersion": 1, "endpoints": [{"source": "GitHub"}]},
         "endpoints[0].keyPath: must be a file path"),
        ({"kesRecvVersion": 1, "maxBodyBytes": MAX_BODY_LIMIT + 1, "endpoints": [{}]},
         "maxBodyBytes: 26214401 must be a whole number from 1 to 26214400"),
        ({"kesRecvVersion": 1, "readTimeout": "soon", "endpoints": [{}]},
         "readTimeout: 'soon' is not a duration above zero"),
        ({"kesRecvVersion": 1, "headerTimeout": "0", "endpoints": [{}]},
         "headerTimeout: '0' is not a duration above zero"),
        ({"kesRecvVersion": 1, "rateLimit": {"perSecond": 0}, "endpoints": [{}]},
         "rateLimit.perSecond: 0 must be a number above zero"),
        ({"kesRecvVersion": 1, "rateLimit": {"perSecond": float("nan")}, "endpoints": [{}]},
         "rateLimit.perSecond: nan must be a number above zero"),
        ({"kesRecvVersion": 1, "rateLimit": {"burst": 0}, "endpoints": [{}]},
         "rateLimit.burst: 0 must be a whole number from 1"),
        ({"kesRecvVersion": 1, "rateLimit": {"every": 1}, "endpoints": [{}]},
         "rateLimit.every: unknown field"),
        ({"kesRecvVersion": 1, "endpoints": [
            {"source": "GitHub", "keyPath": "k", "refresh": {"namespaces": ["a"]}}]},
         "endpoints[0].refresh.namespaces: unknown field; known here: namespace, selector, names"),
        ({"kesRecvVersion": 1, "endpoints": [
            {"source": "GitHub", "keyPath": "k", "refresh": {"selector": {"matchLabels": {
                "a": 1}}}}]},
         "endpoints[0].refresh.selector.matchLabels[a]: must be a string (quote numbers"),
        ({"kesRecvVersion": 1, "endpoints": [
            {"source": "GitHub", "keyPath": "k", "refresh": {"selector": {"matchExpressions": [
                {"key": "a", "operator": "Exists", "values": ["x"]}]}}}]},
         "endpoints[0].refresh.selector.matchExpressions[0].values: Exists takes no values"),
        ({"kesRecvVersion": 1, "endpoints": [
            {"source": "GitHub", "keyPath": "k", "refresh": {"selector": {"matchExpressions": [
                {"key": "a", "operator": "in", "values": ["x"]}]}}}]},
         "matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist"),
        ({"kesRecvVersion": 1, "endpoints": [
            {"source": "GitHub", "keyPath": "k", "refresh": {"names": "db"}}]},
         "endpoints[0].refresh.names: must be a list of names"),
    ],
)
def test_bad_configs_name_the_field(document: Any, message: str) -> None:
    with pytest.raises(RecvConfigError) as raised:
        parse(document)
    assert str(raised.value).startswith(f"{PATH}: ")
    assert message in str(raised.value)


def test_load_config_names_an_unreadable_or_non_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(RecvConfigError, match=r"missing.yaml: cannot read: No such file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("endpoints: [")
    with pytest.raises(RecvConfigError, match=r"bad.yaml: not YAML"):
        load_config(tmp_path / "bad.yaml")


# Anything YAML can hold: parsing either gives a config or says what is wrong.
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["kesRecvVersion", "endpoints", "source", "keyPath", "refresh",
                         "selector", "matchLabels", "matchExpressions", "key", "operator",
                         "values", "names", "namespace", "rateLimit", "perSecond", "burst",
                         "maxBodyBytes", "readTimeout", "x"]) | st.text(max_size=5),
        inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.just("kesRecvVersion"), st.just(1), min_size=1).flatmap(
    lambda head: st.dictionaries(st.text(max_size=12), _values, max_size=4).map(
        lambda rest: {**rest, **head})) | _values)
def test_any_document_parses_or_names_its_fault(document: Any) -> None:
    try:
        parse(document)
    except RecvConfigError as e:
        assert str(e).startswith(f"{PATH}: ")


@given(
    st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=5),
    st.data(),
)
def test_a_selector_matches_exactly_the_labels_it_names(
    labels: dict[str, str], data: st.DataObject
) -> None:
    chosen = data.draw(st.sets(st.sampled_from(sorted(labels)))) if labels else set()
    selector = parse_scope({"selector": {"matchLabels": {k: labels[k] for k in chosen}}},
                           "refresh").selector
    assert selector is not None and selector.matches(labels)
    for key in chosen:
        assert not selector.matches({**labels, key: labels[key] + "-other"})
        assert not selector.matches({k: v for k, v in labels.items() if k != key})


def test_expressions_follow_kubernetes_semantics() -> None:
    def matches(expression: dict[str, Any], labels: dict[str, str]) -> bool:
        selector = parse_scope({"selector": {"matchExpressions": [expression]}}, "r").selector
        assert selector is not None
        return selector.matches(labels)

    assert matches({"key": "t", "operator": "In", "values": ["a", "b"]}, {"t": "b"})
    assert not matches({"key": "t", "operator": "In", "values": ["a"]}, {})
    assert matches({"key": "t", "operator": "NotIn", "values": ["a"]}, {})  # as Kubernetes
    assert not matches({"key": "t", "operator": "NotIn", "values": ["a"]}, {"t": "a"})
    assert matches({"key": "t", "operator": "Exists"}, {"t": ""})
    assert matches({"key": "t", "operator": "DoesNotExist"}, {"u": "x"})


def test_a_scope_narrows_by_namespace_names_and_labels() -> None:
    scope = parse_scope({"namespace": "a", "names": ["db"], "selector": {
        "matchLabels": {"team": "x"}}}, "r")
    assert scope.matches("a", "db", {"team": "x"})
    assert not scope.matches("b", "db", {"team": "x"})
    assert not scope.matches("a", "web", {"team": "x"})
    assert not scope.matches("a", "db", {})
    assert RefreshScope().matches("any", "thing", {})
    with pytest.raises(ScopeError, match=r"r.namespace: must be a non-empty string"):
        parse_scope({"namespace": ""}, "r")
