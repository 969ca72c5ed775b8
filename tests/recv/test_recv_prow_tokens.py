"""GitHubProwTokens: the token map as mounted, re-read in place while deliveries flow."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from multidict import CIMultiDict

from kes.recv.config import parse_config
from kes.recv.registry import build_endpoints
from kes.recv.source import Delivery, Source
from tests.recv.volume import SecretVolume

REPO_EVENT = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "foo/bar"}})
ORG_EVENT = json.dumps({"organization": {"login": "foo"}, "zen": "z"})
OTHER_EVENT = json.dumps({"repository": {"full_name": "qux/one"}})


def token_map(**keys: list[str]) -> bytes:
    document = {
        key.replace("__", "/").replace("STAR", "*"): [
            {"value": v, "created_at": f"2026-01-0{i + 1}T00:00:00Z"} for i, v in enumerate(vals)
        ]
        for key, vals in keys.items()
    }
    return yaml.safe_dump(document).encode()


def signed(token: str, body: str, event: str = "push") -> Delivery:
    raw = body.encode()
    signature = hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()
    return Delivery(CIMultiDict({
        "X-GitHub-Event": event,
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={signature}",
    }), raw)


def prow_source(path: Path) -> Source:
    config = parse_config({"kesRecvVersion": 1, "endpoints": [
        {"source": "GitHubProwTokens", "keyPath": str(path), "name": "prow"}]},
        path.parent / "recv.yaml")
    [endpoint] = build_endpoints(config)
    return endpoint.source


async def statuses(source: Source, *deliveries: Delivery) -> list[int]:
    return [(await source.verify(d)).status for d in deliveries]


@pytest.fixture
def volume(tmp_path: Path) -> SecretVolume:
    return SecretVolume(tmp_path / "secret")


async def test_repo_org_and_global_tokens(volume: SecretVolume) -> None:
    volume.write({"hmac": token_map(foo__bar=["repo"], foo=["org"], STAR=["global"])})
    source = prow_source(volume.path("hmac"))
    assert await statuses(
        source,
        signed("repo", REPO_EVENT), signed("org", REPO_EVENT), signed("global", REPO_EVENT),
        signed("org", ORG_EVENT), signed("repo", ORG_EVENT),
        signed("global", OTHER_EVENT), signed("org", OTHER_EVENT),
    ) == [202, 401, 401, 202, 401, 202, 401]
    ping = await source.verify(signed("org", ORG_EVENT, "ping"))
    assert (ping.status, ping.text) == (200, "pong")


async def test_a_legacy_single_token_is_the_global_token(volume: SecretVolume) -> None:
    volume.write({"hmac": b"  legacy-token\n"})
    source = prow_source(volume.path("hmac"))
    assert await statuses(source, signed("legacy-token", REPO_EVENT)) == [202]


async def test_malformed_and_unsigned_deliveries(volume: SecretVolume) -> None:
    volume.write({"hmac": token_map(foo__bar=["repo"])})
    source = prow_source(volume.path("hmac"))
    not_json = signed("repo", "{not json")
    assert (await source.verify(not_json)).status == 400
    unsigned = Delivery(CIMultiDict({"X-GitHub-Event": "push",
                                     "Content-Type": "application/json"}), REPO_EVENT.encode())
    assert (await source.verify(unsigned)).status == 401
    good = signed("repo", REPO_EVENT)
    no_event = Delivery(CIMultiDict({k: v for k, v in good.headers.items()
                                     if k != "X-GitHub-Event"}), good.body)
    assert (await source.verify(no_event)).status == 400


async def test_rotation_while_running_accepts_old_and_new_until_pruned(
    volume: SecretVolume,
) -> None:
    volume.write({"hmac": token_map(foo__bar=["old"])})
    source = prow_source(volume.path("hmac"))
    assert await statuses(source, signed("old", REPO_EVENT), signed("new", REPO_EVENT)) == [
        202, 401]
    # kes hmac: store old and new, hook edited to sign with new, then the old pruned.
    volume.write({"hmac": token_map(foo__bar=["old", "new"])})
    assert await statuses(source, signed("old", REPO_EVENT), signed("new", REPO_EVENT)) == [
        202, 202]
    volume.write({"hmac": token_map(foo__bar=["new"])})
    assert await statuses(source, signed("old", REPO_EVENT), signed("new", REPO_EVENT)) == [
        401, 202]


async def test_the_map_is_parsed_once_per_change_not_per_delivery(volume: SecretVolume) -> None:
    volume.write({"hmac": token_map(foo__bar=["a"])})
    source: Any = prow_source(volume.path("hmac"))
    for _ in range(50):
        await source.verify(signed("a", REPO_EVENT))
    assert source._tokens.loads == 1
    volume.write({"hmac": token_map(foo__bar=["b"])})
    for _ in range(50):
        await source.verify(signed("b", REPO_EVENT))
    assert source._tokens.loads == 2


async def test_an_invalid_map_keeps_the_previous_one_and_says_so(
    volume: SecretVolume, caplog: pytest.LogCaptureFixture
) -> None:
    volume.write({"hmac": token_map(foo__bar=["good-token"])})
    source = prow_source(volume.path("hmac"))
    volume.write({"hmac": b"foo/bar: [{created_at: 2026-01-01T00:00:00Z}]\n"})
    with caplog.at_level(logging.ERROR, logger="kes.recv"):
        assert await statuses(source, signed("good-token", REPO_EVENT)) == [202]
    [record] = caplog.records
    assert record.getMessage() == "token map invalid, the previous one stays in use"
    assert "good-token" not in caplog.text
    volume.write({"hmac": token_map(foo__bar=["next-token"])})
    assert await statuses(source, signed("next-token", REPO_EVENT)) == [202]
