"""The real `kubernetes` Python client against the emulator, over a socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client.rest import ApiException

from kes_emulators.apiserver import ApiServer


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[Any]:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def core(api_client: Any) -> Any:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def custom(api_client: Any, widget_crd: dict[str, Any]) -> Any:
    kubernetes.client.ApiextensionsV1Api(api_client).create_custom_resource_definition(
        widget_crd)
    return kubernetes.client.CustomObjectsApi(api_client)


def new_secret(name: str, **data: str) -> Any:
    return kubernetes.client.V1Secret(metadata=kubernetes.client.V1ObjectMeta(name=name),
                                      string_data=data)


def test_secret_round_trip(core: Any) -> None:
    created = core.create_namespaced_secret("default", new_secret("a", k="v"))
    assert created.data == {"k": "dg=="} and created.type == "Opaque"
    fetched = core.read_namespaced_secret("a", "default")
    assert fetched.metadata.uid == created.metadata.uid
    listed = core.list_namespaced_secret("default")
    assert [s.metadata.name for s in listed.items] == ["a"]
    assert listed.metadata.resource_version


def test_replace_and_conflict(core: Any) -> None:
    created = core.create_namespaced_secret("default", new_secret("a", k="v"))
    created.data = {"k": "dw=="}
    replaced = core.replace_namespaced_secret("a", "default", created)
    assert replaced.data == {"k": "dw=="}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_secret("a", "default", created)
    assert caught.value.status == 409


def test_three_patch_types(core: Any) -> None:
    core.create_namespaced_secret("default", new_secret("a", k="v"))
    patched = core.patch_namespaced_secret("a", "default",
                                           {"metadata": {"labels": {"strategic": "yes"}}})
    assert patched.metadata.labels == {"strategic": "yes"}
    patched = core.patch_namespaced_secret(
        "a", "default", [{"op": "add", "path": "/metadata/annotations", "value": {"j": "1"}}])
    assert patched.metadata.annotations == {"j": "1"}
    core.api_client.set_default_header("Content-Type", "application/merge-patch+json")
    patched = core.patch_namespaced_secret("a", "default", {"metadata": {"labels": None}})
    assert patched.metadata.labels is None


def test_errors_map_to_api_exceptions(core: Any) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_secret("missing", "default")
    assert caught.value.status == 404
    core.create_namespaced_secret("default", new_secret("a"))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret("default", new_secret("a"))
    assert caught.value.status == 409


def test_delete(core: Any) -> None:
    core.create_namespaced_secret("default", new_secret("a"))
    status = core.delete_namespaced_secret("a", "default")
    assert status["status"] == "Success"
    assert core.list_namespaced_secret("default").items == []


def test_custom_objects_with_status(custom: Any, make_widget: Any) -> None:
    created = custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                                     make_widget("w", size=2))
    assert created["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object_status("example.com", "v1", "default", "widgets",
                                                 "w", {"status": {"phase": "Ready"}})
    fetched = custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                                  "w")
    assert fetched["status"] == {"phase": "Ready"} and fetched["spec"]["color"] == "blue"
    listed = custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w"]
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                               make_widget("bad", size=-1))
    assert caught.value.status == 422
    custom.delete_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    listed = custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert listed["items"] == []


def test_watch_resumes_from_resource_version(core: Any) -> None:
    first = core.create_namespaced_secret("default", new_secret("a"))
    core.create_namespaced_secret("default", new_secret("b"))
    core.delete_namespaced_secret("a", "default")
    watcher = kubernetes.watch.Watch()
    seen = [(e["type"], e["object"].metadata.name) for e in watcher.stream(
        core.list_namespaced_secret, "default",
        resource_version=first.metadata.resource_version, timeout_seconds=1)]
    assert seen == [("ADDED", "b"), ("DELETED", "a")]


def test_relist_after_forced_410(core: Any, background_server: ApiServer) -> None:
    created = core.create_namespaced_secret("default", new_secret("a"))
    background_server.faults.expire_next_watch()
    with pytest.raises(ApiException) as caught:
        list(kubernetes.watch.Watch().stream(
            core.list_namespaced_secret, "default",
            resource_version=created.metadata.resource_version, timeout_seconds=1))
    assert caught.value.status == 410
    listed = core.list_namespaced_secret("default")
    core.create_namespaced_secret("default", new_secret("b"))
    seen = [(e["type"], e["object"].metadata.name) for e in kubernetes.watch.Watch().stream(
        core.list_namespaced_secret, "default",
        resource_version=listed.metadata.resource_version, timeout_seconds=1)]
    assert seen == [("ADDED", "b")]


def test_watch_resumes_after_a_clean_end_and_after_a_cut_connection(
        background_server: ApiServer, core: Any) -> None:
    """A clean end makes the client's Watch reconnect from the last resourceVersion by
    itself; a cut connection raises in the client, which resumes from the same place."""
    rv = core.list_namespaced_secret("default").metadata.resource_version
    core.create_namespaced_secret("default", new_secret("a"))
    watcher = kubernetes.watch.Watch()
    seen = []
    for event in watcher.stream(core.list_namespaced_secret, "default", resource_version=rv):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            background_server.drop_watches()
            core.create_namespaced_secret("default", new_secret("b"))
        else:
            watcher.stop()
    assert seen == [("ADDED", "a"), ("ADDED", "b")]
    assert background_server.call(lambda: background_server.requests.count(verb="watch")) == 2

    stream = watcher.stream(core.list_namespaced_secret, "default",
                            resource_version=watcher.resource_version)
    core.create_namespaced_secret("default", new_secret("c"))
    assert next(stream)["object"].metadata.name == "c"
    background_server.drop_watches(abort=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        next(stream)
    core.create_namespaced_secret("default", new_secret("d"))
    resumed = watcher.stream(core.list_namespaced_secret, "default",
                             resource_version=watcher.resource_version, timeout_seconds=1)
    assert [e["object"].metadata.name for e in resumed] == ["d"]
