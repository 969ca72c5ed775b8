"""Each source's checks, called directly: signatures, payloads, event choices."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from kes.names import SecretName
from kes.recv.config import RecvConfigError, parse_config
from kes.recv.registry import build_endpoints
from kes.recv.source import Delivery, SecretUsers, Selected, route_digest
from kes.recv.sources.dockerhub import DockerHub
from kes.recv.sources.gcp_secret_manager_pubsub import event_verdict
from kes.recv.sources.github import GitHub, signed_by_one_of
from kes.recv.sources.github_prow_tokens import owner_of, tokens_for
from kes.tokens import parse_token_map

# GitHub's documented test vector (docs: "Validating webhook deliveries").
VECTOR_SECRET = b"It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SHA256 = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
VECTOR_SHA1 = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"


def delivery(body: bytes, **headers: str) -> Delivery:
    return Delivery(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}), body)


def signed(key: bytes, body: bytes, event: str = "push",
           content_type: str = "application/json") -> Delivery:
    return delivery(
        body, X_GitHub_Event=event, Content_Type=content_type,
        X_Hub_Signature_256="sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    )


def test_githubs_test_vector_verifies() -> None:
    assert signed_by_one_of(delivery(VECTOR_BODY, X_Hub_Signature_256=VECTOR_SHA256),
                            [VECTOR_SECRET])
    assert signed_by_one_of(delivery(VECTOR_BODY, X_Hub_Signature=VECTOR_SHA1), [VECTOR_SECRET])
    assert not signed_by_one_of(delivery(VECTOR_BODY + b" ", X_Hub_Signature_256=VECTOR_SHA256),
                                [VECTOR_SECRET])
    assert not signed_by_one_of(delivery(VECTOR_BODY, X_Hub_Signature_256=VECTOR_SHA256),
                                [VECTOR_SECRET + b"\n"])


def test_a_sha256_signature_is_never_traded_for_a_sha1_one() -> None:
    wrong_sha256 = "sha256=" + "0" * 64
    both = delivery(VECTOR_BODY, X_Hub_Signature_256=wrong_sha256, X_Hub_Signature=VECTOR_SHA1)
    assert not signed_by_one_of(both, [VECTOR_SECRET])
    swapped = delivery(VECTOR_BODY, X_Hub_Signature_256=VECTOR_SHA1)
    assert not signed_by_one_of(swapped, [VECTOR_SECRET])
    assert not signed_by_one_of(delivery(VECTOR_BODY), [VECTOR_SECRET])


@given(st.binary(max_size=64), st.binary(min_size=1, max_size=32), st.binary(max_size=8))
def test_only_the_exact_body_and_key_verify(body: bytes, key: bytes, change: bytes) -> None:
    good = signed(key, body)
    assert signed_by_one_of(good, [b"other", key])
    if change:
        assert not signed_by_one_of(Delivery(good.headers, body + change), [key])
    if change.strip(b"\0"):  # HMAC pads short keys with zeros: b"k" and b"k\0" are one key
        assert not signed_by_one_of(good, [key + change])


async def test_github_events() -> None:
    source = GitHub(b"k")
    body = json.dumps({"zen": "z", "hook_id": 1}).encode()
    ping = await source.verify(signed(b"k", body, "ping"))
    assert (ping.status, ping.text, ping.target) == (200, "pong", None)
    push = await source.verify(signed(b"k", body, "push"))
    assert (push.status, push.result, push.reason, push.target) == (
        202, "accepted", "push", Selected())
    issues = await source.verify(signed(b"k", body, "issues"))
    assert (issues.status, issues.result, issues.target) == (200, "ignored", None)
    bad = await source.verify(signed(b"other", body))
    assert (bad.status, bad.reason) == (401, "bad_signature")
    no_event = signed(b"k", body)
    del no_event.headers["X-GitHub-Event"]  # type: ignore[attr-defined]
    assert (await source.verify(no_event)).status == 400
    not_json = await source.verify(signed(b"k", b"{not json"))
    assert (not_json.status, not_json.reason) == (400, "bad_payload")
    array = await source.verify(signed(b"k", b"[1]"))
    assert array.status == 400


async def test_github_form_encoded_payloads_verify_over_the_form_body() -> None:
    form = urlencode({"payload": json.dumps({"ref": "main"})}).encode()
    verdict = await GitHub(b"k").verify(
        signed(b"k", form, content_type="application/x-www-form-urlencoded"))
    assert verdict.status == 202
    no_payload = urlencode({"other": "x"}).encode()
    assert (await GitHub(b"k").verify(signed(
        b"k", no_payload, content_type="application/x-www-form-urlencoded"))).status == 400


TOKENS = {
    "foo/bar": (b"repo-old", b"repo-new"),
    "foo": (b"org",),
    "*": (b"global",),
}


def token_map(tokens: dict[str, tuple[bytes, ...]]) -> Any:
    document = {k: [{"value": v.decode()} for v in values] for k, values in tokens.items()}
    return parse_token_map(yaml.safe_dump(document).encode(), respect_legacy_global_token=True)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"repository": {"full_name": "foo/bar"}}, (b"repo-old", b"repo-new")),
        ({"repository": {"full_name": "foo/other"}}, (b"org",)),  # the repo's org
        ({"organization": {"login": "foo"}}, (b"org",)),  # an org-level event
        ({"repository": {"full_name": "qux/one"}}, (b"global",)),
        ({"zen": "no owner at all"}, (b"global",)),
        ({"repository": "foo/bar"}, (b"global",)),  # not Prow's shape: no owner
    ],
)
def test_prow_tokens_come_from_the_most_specific_key(payload: Any, expected: Any) -> None:
    assert tokens_for(token_map(TOKENS), owner_of(payload)) == expected


def test_without_a_global_key_an_unknown_owner_has_no_tokens() -> None:
    assert tokens_for(token_map({"foo/bar": (b"x",)}), "qux/one") == ()


async def test_dockerhub_takes_push_payloads_only() -> None:
    push = {"push_data": {"tag": "latest"}, "repository": {"repo_name": "me/app"}}
    assert (await DockerHub().verify(delivery(json.dumps(push).encode()))).target == Selected()
    for body in (b"", b"{", b"[]", json.dumps({"repository": {}}).encode()):
        assert (await DockerHub().verify(delivery(body))).status == 400


def envelope(attributes: dict[str, str] | None, **message: Any) -> bytes:
    return json.dumps({"message": {"attributes": attributes, "data": "", **message},
                       "subscription": "projects/p/subscriptions/s"}).encode()


@pytest.mark.parametrize("event", [
    "SECRET_VERSION_ADD", "SECRET_VERSION_ENABLE", "SECRET_VERSION_DISABLE",
    "SECRET_VERSION_DESTROY", "SECRET_VERSION_DESTROY_SCHEDULED", "SECRET_UPDATE",
    "SECRET_DELETE",
])
def test_secret_events_refresh_the_secrets_users(event: str) -> None:
    verdict = event_verdict(envelope({"eventType": event,
                                      "secretId": "projects/proj/secrets/db"}), {})
    assert (verdict.status, verdict.reason) == (202, event)
    assert verdict.target == SecretUsers(SecretName("proj", "db"))


@pytest.mark.parametrize(("attributes", "reason"), [
    ({"eventType": "TOPIC_CONFIGURED"}, "topic_configured"),
    ({"eventType": "SECRET_CREATE", "secretId": "projects/p/secrets/db"}, "event_ignored"),
    ({"eventType": "SECRET_ROTATE", "secretId": "projects/p/secrets/db"}, "event_ignored"),
    ({"eventType": "SOMETHING_NEW"}, "event_ignored"),
    ({}, "event_ignored"),
    ({"eventType": "SECRET_VERSION_ADD", "secretId": "db"}, "bad_secret_id"),
])
def test_other_messages_are_acknowledged_and_ignored(attributes: Any, reason: str) -> None:
    verdict = event_verdict(envelope(attributes), {})
    assert (verdict.status, verdict.reason, verdict.target) == (200, reason, None)


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"message": 1}', envelope(None)])
def test_envelopes_that_are_not_pubsub_pushes_are_malformed(body: bytes) -> None:
    assert event_verdict(body, {}).status == 400


def test_project_numbers_map_to_ids_or_match_any_project() -> None:
    body = envelope({"eventType": "SECRET_VERSION_ADD", "secretId":
                     "projects/123/locations/eu/secrets/db"})
    assert event_verdict(body, {"123": "proj"}).target == SecretUsers(
        SecretName("proj", "db", "eu"))
    assert event_verdict(body, {}).target == SecretUsers(
        SecretName("123", "db", "eu"), any_project=True)


def config(tmp_path: Path, endpoints: list[dict[str, Any]]) -> Any:
    return parse_config({"kesRecvVersion": 1, "endpoints": endpoints}, tmp_path / "recv.yaml")


def test_routes_are_the_digest_of_the_key_files_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.key").write_bytes(b"secret\n")
    (tmp_path / "b.key").write_bytes(b"secret")
    (tmp_path / "tokens").write_text("'*': [{value: x}]\n")
    endpoints = build_endpoints(config(tmp_path, [
        {"source": "GitHub", "keyPath": "a.key"},
        {"source": "DockerHub", "keyPath": "b.key"},
        {"source": "GitHubProwTokens", "keyPath": "tokens", "name": "prow"},
    ]))
    assert [e.path for e in endpoints] == [
        "/hook/" + hashlib.sha256(b"secret\n").hexdigest(),
        "/hook/" + route_digest(b"secret"),
        "/hook/prow",
    ]
    assert endpoints[0].label == "endpoints[0] (GitHub)"


@pytest.mark.parametrize(("endpoints", "message"), [
    ([{"source": "Gitlab", "keyPath": "a.key"}],
     "endpoints[0].source: 'Gitlab' is not a source; known: GitHub, GitHubProwTokens, "
     "DockerHub, GCPSecretManagerPubSub"),
    ([{"source": "GitHub", "keyPath": "missing.key"}],
     "endpoints[0].keyPath: cannot read {tmp}/missing.key: No such file or directory"),
    ([{"source": "GitHub", "keyPath": "empty.key"}],
     "endpoints[0].keyPath: {tmp}/empty.key is empty"),
    ([{"source": "GitHub", "keyPath": "a.key"}, {"source": "DockerHub", "keyPath": "copy.key"}],
     "endpoints[1]: the same route as endpoints[0]"),
    ([{"source": "GitHub", "keyPath": "a.key", "audience": "x"}],
     "endpoints[0].audience: unknown field for source GitHub"),
    ([{"source": "GCPSecretManagerPubSub", "keyPath": "a.key", "audience": "x"}],
     "endpoints[0].serviceAccount: required for GCPSecretManagerPubSub: a non-empty string"),
    ([{"source": "GCPSecretManagerPubSub", "keyPath": "a.key", "audience": "x",
       "serviceAccount": "sa", "projectNumbers": ["1"]}],
     "endpoints[0].projectNumbers: must be a mapping of strings"),
    ([{"source": "GitHubProwTokens", "keyPath": "a.key"}],
     "endpoints[0].name: required for GitHubProwTokens"),
    ([{"source": "GitHubProwTokens", "keyPath": "a.key", "name": "../x"}],
     "endpoints[0].name: '../x' must be 1-63 letters, digits"),
    ([{"source": "GitHubProwTokens", "keyPath": "bad-map", "name": "prow"}],
     "endpoints[0].keyPath: {tmp}/bad-map: key 'foo/bar': must be a non-empty list of tokens"),
])
def test_endpoints_that_cannot_be_served_stop_the_start(
    tmp_path: Path, endpoints: list[dict[str, Any]], message: str
) -> None:
    (tmp_path / "a.key").write_bytes(b"key-a")
    (tmp_path / "copy.key").write_bytes(b"key-a")
    (tmp_path / "empty.key").write_bytes(b"")
    (tmp_path / "bad-map").write_text("foo/bar: []\n")
    with pytest.raises(RecvConfigError) as raised:
        build_endpoints(config(tmp_path, endpoints))
    assert str(raised.value).startswith(f"{tmp_path / 'recv.yaml'}: ")
    assert message.format(tmp=tmp_path) in str(raised.value)
    assert "key-a" not in str(raised.value)
