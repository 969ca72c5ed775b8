"""A tiny kopf operator run by `KopfRunner` against the emulator, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import kubernetes
import pytest
from kopf.testing import KopfRunner
from kubernetes.client.rest import ApiException

from kes_emulators.apiserver import ApiServer
from tests.support.waiting import wait_for

GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"


def widget_operator(server: ApiServer, kubeconfig: Path) -> kopf.OperatorRegistry:
    """Status on create and update, an owned ConfigMap per Widget, a delete handler."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server.url, token=server.admin_token)

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def created(body: Any, spec: Any, patch: Any, name: str, namespace: str,
                **_: Any) -> None:
        child = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": f"{name}-child"}, "data": {"size": str(spec["size"])}}
        kopf.adopt(child, owner=body)
        with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as client:
            kubernetes.client.CoreV1Api(client).create_namespaced_config_map(namespace, child)
        patch.status["phase"] = "Ready"
        patch.status["size"] = spec["size"]

    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec.size", registry=registry)
    def resized(new: Any, patch: Any, **_: Any) -> None:
        patch.status["size"] = new

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def deleted(**_: Any) -> None:
        pass

    return registry


@pytest.fixture
def custom(kubeconfig: Path, widget_crd: dict[str, Any]) -> Iterator[Any]:
    with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as client:
        kubernetes.client.ApiextensionsV1Api(client).create_custom_resource_definition(
            widget_crd)
        yield kubernetes.client.CustomObjectsApi(client), kubernetes.client.CoreV1Api(client)


def test_operator_lifecycle_resume_and_relist(background_server: ApiServer, kubeconfig: Path,
                                              custom: Any, make_widget: Any) -> None:
    objects, core = custom
    server = background_server
    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = 30.0  # sent as timeoutSeconds=30.0
    settings.watching.reconnect_backoff = 0.05
    registry = widget_operator(server, kubeconfig)

    def get(name: str) -> Any:
        try:
            return objects.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def configmap_exists(name: str) -> bool:
        return any(c.metadata.name == name for c in core.list_namespaced_config_map(
            "default").items)

    def count(verb: str) -> int:
        return server.call(lambda: server.requests.count(verb=verb, resource=PLURAL))

    with KopfRunner(["run", "-A", "--standalone"], registry=registry, settings=settings,
                    timeout=60) as runner:
        objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                make_widget("w1", size=2))
        ready = wait_for(lambda: (get("w1") or {}).get("status", {}).get("phase") == "Ready",
                         "w1 to be Ready")
        assert ready
        w1 = get("w1")
        assert "kopf.zalando.org/KopfFinalizerMarker" in w1["metadata"]["finalizers"]
        assert configmap_exists("w1-child")

        objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1",
                                               {"spec": {"size": 5}})
        wait_for(lambda: get("w1")["status"].get("size") == 5, "w1 status.size to follow")

        lists, watches = count("list"), count("watch")
        server.drop_watches()
        wait_for(lambda: count("watch") > watches, "kopf to resume its widget watch")
        objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                make_widget("w2"))
        wait_for(lambda: (get("w2") or {}).get("status", {}).get("phase") == "Ready",
                 "w2 handled after the resumed watch")
        assert count("list") == lists  # resumed from a resourceVersion, no re-list

        watches = count("watch")
        server.drop_watches(abort=True)  # a cut connection, not a clean end
        wait_for(lambda: count("watch") > watches, "kopf to resume after a cut connection")
        objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                make_widget("w2b"))
        wait_for(lambda: (get("w2b") or {}).get("status", {}).get("phase") == "Ready",
                 "w2b handled after the watch resumed from the cut")
        assert count("list") == lists

        server.faults.expire_next_watch(resource=PLURAL)
        server.drop_watches()
        wait_for(lambda: count("list") == lists + 1, "kopf to re-list after 410")
        objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                make_widget("w3"))
        wait_for(lambda: (get("w3") or {}).get("status", {}).get("phase") == "Ready",
                 "w3 handled after the re-list")

        objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
        wait_for(lambda: get("w1") is None, "w1 finalizer removed and w1 gone")
        wait_for(lambda: not configmap_exists("w1-child"), "w1-child garbage-collected")
        assert configmap_exists("w2-child")

    assert runner.exit_code == 0
    assert runner.exception is None


def test_operator_with_initial_event_streaming(background_server: ApiServer, kubeconfig: Path,
                                               custom: Any, make_widget: Any) -> None:
    objects, _ = custom
    server = background_server
    objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                            make_widget("early"))
    settings = kopf.OperatorSettings()
    settings.watching.initial_streaming = True  # sendInitialEvents instead of a list

    def phase(name: str) -> Any:
        obj = objects.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
        return obj.get("status", {}).get("phase")

    with KopfRunner(["run", "-A", "--standalone"], registry=widget_operator(server, kubeconfig),
                    settings=settings, timeout=60) as runner:
        wait_for(lambda: phase("early") == "Ready", "the pre-existing widget handled")
        objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                make_widget("late"))
        wait_for(lambda: phase("late") == "Ready", "the new widget handled")
        assert server.call(lambda: server.requests.count(verb="list", resource=PLURAL)) == 0
    assert runner.exit_code == 0 and runner.exception is None
