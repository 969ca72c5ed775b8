"""A running receiver (the real one: config, sources, index fed by kopf's watch, the
annotation through kes.kube) on the emulated API server, and a hand to post to it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kes.kube import load_cluster
from kes.recv.config import load_config
from kes.recv.main import Listen, Receiver
from kes.recv.registry import build_endpoints
from kes_emulators.apiserver import ApiServer
from kes_emulators.google_oidc import GoogleTokenIssuer
from kes_emulators.serving import BackgroundLoop
from tests.recv.volume import SecretVolume
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
RECV_IDENTITY = "system:serviceaccount:kes-system:kes-recv"
REQUESTED_AT = "externalsecrets.kubernetes-client.io/requested-at"
GITHUB_KEY = b"github-endpoint-key"
DOCKERHUB_KEY = b"dockerhub-endpoint-key"
PUBSUB_KEY = b"pubsub-endpoint-key"
AUDIENCE = "https://recv.example.com/hook/gsm"
PUSH_SA = "gsm-push@proj-one.iam.gserviceaccount.com"


def externalsecret(name: str, namespace: str, secrets: list[str],
                   labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "kubernetes-client.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"backendType": "gcpSecretsManager", "projectId": "proj-one",
                 "data": [{"key": s, "name": f"key{i}"} for i, s in enumerate(secrets)]},
    }


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def github_headers(key: bytes, body: bytes, event: str = "push") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
    }


def route(key: bytes) -> str:
    return "/hook/" + hashlib.sha256(key).hexdigest()


@dataclass
class Answer:
    status: int
    text: str
    headers: dict[str, str]


@dataclass
class Harness:
    api: ApiServer
    receiver: Receiver
    issuer: GoogleTokenIssuer
    volume: SecretVolume
    custom: Any
    port: int
    loop: BackgroundLoop

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None,
             method: str = "POST") -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.read().decode(), dict(response.getheaders()))
        finally:
            connection.close()

    def get(self, path: str) -> Answer:
        return self.post(path, b"", method="GET")

    def requested_at(self, name: str, ns: str = "apps") -> str | None:
        obj = self.custom.get_namespaced_custom_object(
            "kubernetes-client.io", "v1", ns, "externalsecrets", name)
        value: str | None = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        return value

    def patches(self, **filters: Any) -> int:
        return self.api.call(lambda: self.api.requests.count(
            verb="patch", resource="externalsecrets", identity=RECV_IDENTITY, **filters))

    def drain(self) -> None:
        """Wait until every refresh asked for so far was patched."""
        self.loop.run(self.receiver.refresher.drain())

    def metric(self, sample: str) -> float:
        text = self.get("/metrics").text
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def write_config(folder: Path, issuer: GoogleTokenIssuer, extra: dict[str, Any]) -> Path:
    (folder / "github.key").write_bytes(GITHUB_KEY)
    (folder / "dockerhub.key").write_bytes(DOCKERHUB_KEY)
    (folder / "pubsub.key").write_bytes(PUBSUB_KEY)
    config = {
        "kesRecvVersion": 1,
        "maxBodyBytes": 4096,
        "headerTimeout": "500ms",
        "readTimeout": "500ms",
        "endpoints": [
            {"source": "GitHub", "keyPath": "github.key",
             "refresh": {"namespace": "apps", "selector": {"matchLabels": {"team": "a"}}}},
            {"source": "GitHubProwTokens", "keyPath": "tokens/hmac", "name": "prow",
             "refresh": {"namespace": "apps", "names": ["web"]}},
            {"source": "DockerHub", "keyPath": "dockerhub.key",
             "refresh": {"namespace": "apps"}, "rateLimit": {"perSecond": 0.001, "burst": 3}},
            {"source": "GCPSecretManagerPubSub", "keyPath": "pubsub.key", "audience": AUDIENCE,
             "serviceAccount": PUSH_SA, "certsUrl": issuer.certs_url},
        ],
        **extra,
    }
    path = folder / "recv.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


CLUSTER = [
    CRD, namespace("apps"), namespace("other"),
    externalsecret("db", "apps", ["db"], {"team": "a"}),
    externalsecret("cache", "apps", ["cache", "db"], {"team": "a"}),
    externalsecret("web", "apps", ["web"], {"team": "b"}),
    externalsecret("db", "other", ["db"], {"team": "a"}),
]


@contextmanager
def running(receiver: Receiver) -> Iterator[BackgroundLoop]:
    """The receiver serving on a port of its own, on a loop of its own, until the block
    ends; it has listed the ExternalSecrets and started its watch when the block starts."""
    stop = asyncio.Event()
    with BackgroundLoop("kes-recv") as loop:
        run = asyncio.run_coroutine_threadsafe(receiver.run(Listen("127.0.0.1", 0), stop),
                                               loop.loop)
        try:
            wait_for(lambda: run.done() or (receiver.ready.is_set() and receiver.port),
                     "the receiver")
            yield loop
        finally:
            loop.loop.call_soon_threadsafe(stop.set)
            run.result(timeout=30)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with ApiServer().background() as api, GoogleTokenIssuer().background() as issuer:
        api.load(CLUSTER)
        token = api.create_service_account_token("kes-system", "kes-recv")
        kubeconfig = api.write_kubeconfig(tmp_path / "recv.kubeconfig", token)
        admin = api.write_kubeconfig(tmp_path / "admin.kubeconfig")
        volume = SecretVolume(tmp_path / "tokens")
        volume.write({"hmac": yaml.safe_dump({"apps-org/web": [{"value": "prow-token"}]}).encode()})
        config = load_config(write_config(tmp_path, issuer, {}))
        receiver = Receiver(build_endpoints(config), config.limits,
                            load_cluster(str(kubeconfig)), None)
        with running(receiver) as loop:
            custom = k8s.CustomObjectsApi(k8s_config.new_client_from_config(str(admin)))
            yield Harness(api, receiver, issuer, volume, custom, receiver.port or 0, loop)


def envelope(secret: str, event: str = "SECRET_VERSION_ADD") -> bytes:
    return json.dumps({
        "message": {"attributes": {"eventType": event, "dataFormat": "JSON_API_V1",
                                   "secretId": secret},
                    "data": "", "messageId": "1"},
        "subscription": "projects/proj-one/subscriptions/kes-recv",
    }).encode()
