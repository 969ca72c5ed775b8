"""Object semantics: create, update, patch, delete with the real server's metadata rules.

Longer than most modules: every write path shares the same metadata rules
(resourceVersion, generation, finalizers, owner references), kept in one place so
the four verbs cannot drift apart.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kes_emulators.apiserver import errors, patch
from kes_emulators.apiserver.admission import admit, crd_status, validate_name
from kes_emulators.apiserver.decoding import UnknownFields, check_metadata_types
from kes_emulators.apiserver.errors import ApiError, Cause
from kes_emulators.apiserver.resources import CRD_KEY, NAMESPACES_KEY, Registry, ResourceType
from kes_emulators.apiserver.store import Obj, Store

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"
POLICIES = ("Orphan", "Background", "Foreground")
_NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"
_MAX_GENERATED_PREFIX = 63 - 5
MAX_STORED_BYTES = 1536 * 1024  # etcd's default request limit
# Kinds whose delete answers with the deleted object rather than a Status.
_RETURNS_DELETED = {("", "serviceaccounts")}

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_view(obj: Obj, status_split: bool) -> Obj:
    """What counts as spec for generation: everything but metadata (and status if split)."""
    skip = ("metadata", "status") if status_split else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip}


def _held(rtype: ResourceType, obj: Obj) -> bool:
    """Whether finalizers (or a namespace's spec finalizers) still keep `obj` from going."""
    return bool(obj["metadata"].get("finalizers")) or _held_by_spec(rtype, obj)


def _held_by_spec(rtype: ResourceType, obj: Obj) -> bool:
    """A namespace's `spec.finalizers` (the namespace controller's) keep it from going."""
    return rtype.storage_key == NAMESPACES_KEY and bool((obj.get("spec") or {}).get("finalizers"))


def _settled_crd_status(obj: Obj, old: Obj) -> dict[str, Any]:
    """The CRD status after a write; an unchanged condition keeps its lastTransitionTime,
    so a write that changes nothing else stays a no-op."""
    status = crd_status(obj, now())
    previous = {c.get("type"): c for c in (old.get("status") or {}).get("conditions") or ()}
    status["conditions"] = [
        previous[c["type"]] if _same_condition(previous.get(c["type"]), c) else c
        for c in status["conditions"]]
    return status


def _same_condition(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    return old is not None and {k: v for k, v in old.items() if k != "lastTransitionTime"} == {
        k: v for k, v in new.items() if k != "lastTransitionTime"}


def _tracks_generation(rtype: ResourceType) -> bool:
    return not rtype.builtin or rtype.generation or rtype.storage_key == CRD_KEY


class Objects:
    """The write path every request and the garbage collector go through."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    # reads

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rtype.storage_key, namespace, name)
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    def items(self, rtype: ResourceType, namespace: str | None) -> Iterator[Obj]:
        return self.store.items(rtype.storage_key, namespace)

    # create

    def create(self, rtype: ResourceType, namespace: str, body: Any, dry_run: bool,
               unknown: UnknownFields | None = None) -> Obj:
        obj = self._check_body(rtype, namespace, body)
        (unknown or UnknownFields("Ignore")).check(rtype, obj)
        meta = obj["metadata"]
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(rtype.kind, rtype.group, "", [
                    Cause("FieldValueRequired", "Required value: name or generateName is "
                          "required", "metadata.name")])
            # as upstream's name generator: the prefix is cut to leave room for the suffix
            meta["name"] = meta["generateName"][:_MAX_GENERATED_PREFIX] + "".join(
                random.choice(_NAME_SUFFIX) for _ in range(5))
        name = meta["name"]
        if rtype.namespaced:
            self._check_namespace_open(namespace)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        self._check_crd_open(rtype)
        if self.store.get(rtype.storage_key, namespace, name) is not None:
            raise errors.already_exists(rtype.plural, rtype.group, name)
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                    "managedFields", "selfLink", "generation"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if _tracks_generation(rtype):
            meta["generation"] = 1
        if rtype.status_subresource:
            obj.pop("status", None)
        causes = validate_name(rtype, name) + admit(rtype, obj, None)
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, name, causes)
        meta = obj["metadata"]  # admission may have rebuilt the object
        if rtype.storage_key == CRD_KEY:
            meta["finalizers"] = list(meta.get("finalizers") or []) + [CRD_CLEANUP]
            obj["status"] = crd_status(obj, meta["creationTimestamp"])
        if dry_run:
            return obj
        _check_storable(obj)
        meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(rtype.storage_key, obj, None)
        return obj

    def _check_body(self, rtype: ResourceType, namespace: str, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request is not a {rtype.kind} object")
        api_version = body.setdefault("apiVersion", rtype.api_version)
        kind = body.setdefault("kind", rtype.kind)
        if api_version != rtype.api_version or kind != rtype.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rtype.api_version})" if api_version != rtype.api_version else
                f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})")
        meta = body.get("metadata")
        if meta is None:
            meta = body["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        check_metadata_types(rtype, meta)
        if rtype.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        obj = {"apiVersion": api_version, "kind": kind, **body}  # the usual key order
        return rtype.converter.to_storage(obj) if rtype.converter else obj

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.get(NAMESPACES_KEY, "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, f"unable to create new content in namespace {namespace} because "
                                "it is being terminated", details={
                                    "name": namespace, "kind": "namespaces",
                                    "causes": [{"reason": "NamespaceTerminating",
                                                "message": f"namespace {namespace} is being "
                                                           "terminated",
                                                "field": "metadata.namespace"}]})

    def _check_crd_open(self, rtype: ResourceType) -> None:
        if rtype.builtin:
            return
        crd = self.store.get(CRD_KEY, "", f"{rtype.plural}.{rtype.group}")
        if crd is not None and crd["metadata"].get("deletionTimestamp"):
            raise ApiError(405, "create not allowed while custom resource definition is "
                                "terminating", reason="MethodNotAllowed")

    # update and patch

    def update(self, rtype: ResourceType, namespace: str, name: str, body: Any,
               subresource: str, dry_run: bool, unknown: UnknownFields | None = None) -> Obj:
        old = self.get(rtype, namespace, name)
        obj = self._check_body(rtype, namespace, body)
        if obj["metadata"].get("name") != name:
            raise errors.bad_request(f"the name of the object ({obj['metadata'].get('name')}) "
                                     f"does not match the name on the URL ({name})")
        if not obj["metadata"].get("resourceVersion") and not rtype.builtin:
            raise errors.invalid(rtype.kind, rtype.group, name, [Cause(
                "FieldValueInvalid", "Invalid value: 0x0: must be specified for an update",
                "metadata.resourceVersion")])
        (unknown or UnknownFields("Ignore")).check(rtype, obj)
        return self._write(rtype, old, obj, subresource, dry_run)

    def patch(self, rtype: ResourceType, namespace: str, name: str, content_type: str,
              body: Any, subresource: str, dry_run: bool,
              unknown: UnknownFields | None = None) -> Obj:
        if content_type == APPLY_PATCH:  # whether or not the object exists yet
            raise ApiError(415, "server-side apply (application/apply-patch+yaml) is not "
                                "emulated by the kes API server; use client-side apply "
                                "(kubectl apply without --server-side) or a merge patch")
        old = self.get(rtype, namespace, name)
        # the patch functions never mutate their inputs
        target = rtype.converter.from_storage(old) if rtype.converter else old
        try:
            if content_type == MERGE_PATCH:
                patched = patch.merge_patch(target, body)
            elif content_type == JSON_PATCH:
                if not isinstance(body, list):
                    raise errors.bad_request("json patch must be an array of operations")
                patched = patch.json_patch(target, body)
            elif content_type == STRATEGIC_PATCH and rtype.builtin:
                patched = patch.strategic_merge_patch(target, body, rtype.model)
            else:
                accepted = [JSON_PATCH, MERGE_PATCH]
                if rtype.builtin:
                    accepted.append(STRATEGIC_PATCH)
                raise errors.unsupported_media_type(content_type, accepted)
        except patch.PatchError as exc:
            if exc.code != 422:
                raise ApiError(exc.code, str(exc)) from exc
            raise ApiError(422, "the server rejected our request due to an error in our "
                                "request", details={"causes": [
                                    {"reason": "FieldValueInvalid", "message": str(exc),
                                     "field": "patch"}]}) from exc
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        if not isinstance(patched.setdefault("metadata", {}), dict):
            raise errors.bad_request("metadata must be an object")
        check_metadata_types(rtype, patched["metadata"])
        if rtype.converter:
            patched = rtype.converter.to_storage(patched)
        (unknown or UnknownFields("Ignore")).check(rtype, patched)
        return self._write(rtype, old, patched, subresource, dry_run)

    def _write(self, rtype: ResourceType, old: Obj, body: Obj, subresource: str,
               dry_run: bool) -> Obj:
        old_meta = old["metadata"]
        name = old_meta["name"]
        sent_rv = body["metadata"].get("resourceVersion")
        if sent_rv and sent_rv != old_meta["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name, errors.STALE)
        sent_uid = body["metadata"].get("uid")
        if sent_uid and sent_uid != old_meta["uid"]:
            raise errors.conflict(rtype.plural, rtype.group, name,
                                  f"Precondition failed: UID in precondition: {sent_uid}, "
                                  f"UID in object meta: {old_meta['uid']}")
        if subresource == "status":
            obj = copy.deepcopy(old)
            obj["status"] = body.get("status")
            if obj["status"] is None:
                del obj["status"]
        elif subresource == "finalize":  # a namespace's spec.finalizers change only here
            obj = copy.deepcopy(old)
            obj["spec"] = {"finalizers": list((body.get("spec") or {}).get("finalizers") or [])}
        elif subresource:
            raise errors.method_not_allowed()
        else:
            obj = body
            if rtype.storage_key == NAMESPACES_KEY:
                obj["spec"] = old.get("spec", {})
            if rtype.status_subresource:
                if "status" in old:
                    obj["status"] = old["status"]
                else:
                    obj.pop("status", None)
        meta = obj["metadata"]
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                    "generation", "namespace", "resourceVersion"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("managedFields", None)
        meta["name"] = name
        causes = admit(rtype, obj, old)
        meta = obj["metadata"]  # admission may have rebuilt the object
        if rtype.storage_key == CRD_KEY and subresource != "status":
            causes.extend(_crd_immutable(obj, old))
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                causes.append(Cause("FieldValueForbidden", "Forbidden: no new finalizers can be "
                                    f"added if the object is being deleted, found new finalizers "
                                    f"{sorted(added)}", "metadata.finalizers"))
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, name, causes)
        if rtype.storage_key == CRD_KEY:
            obj["status"] = _settled_crd_status(obj, old) if subresource != "status" else (
                obj.get("status", {}))
        if _tracks_generation(rtype) and _spec_view(obj, rtype.status_subresource) != _spec_view(
                old, rtype.status_subresource):
            meta["generation"] = old_meta.get("generation", 0) + 1
        if obj == old or dry_run:
            return obj
        if meta.get("deletionTimestamp") and not _held(rtype, obj):
            return self._remove(rtype, old, obj)
        _check_storable(obj)
        meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(rtype.storage_key, obj, old)
        return obj

    # delete

    def delete(self, rtype: ResourceType, namespace: str, name: str, options: dict[str, Any],
               dry_run: bool) -> tuple[Obj, bool]:
        """Delete or mark for deletion; answers the object and whether it is gone now."""
        old = self.get(rtype, namespace, name)
        old_meta = old["metadata"]
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != old_meta["uid"]:
            raise errors.conflict(rtype.plural, rtype.group, name,
                                  f"Precondition failed: UID in precondition: "
                                  f"{preconditions['uid']}, UID in object meta: {old_meta['uid']}")
        if preconditions.get("resourceVersion") and (
                preconditions["resourceVersion"] != old_meta["resourceVersion"]):
            raise errors.conflict(rtype.plural, rtype.group, name,
                                  f"Precondition failed: ResourceVersion in precondition: "
                                  f"{preconditions['resourceVersion']}, ResourceVersion in object "
                                  f"meta: {old_meta['resourceVersion']}")
        finalizers = _deletion_finalizers(old_meta, options)
        if not finalizers and not _held_by_spec(rtype, old):
            if dry_run:
                return old, True
            return self._remove(rtype, old, copy.copy(old)), True
        if old_meta.get("deletionTimestamp") and finalizers == (old_meta.get("finalizers") or []):
            return old, False
        obj = copy.deepcopy(old)
        meta = obj["metadata"]
        meta["finalizers"] = finalizers
        if not old_meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now()
            meta["deletionGracePeriodSeconds"] = 0
            if "generation" in meta:
                meta["generation"] += 1
        if rtype.storage_key == NAMESPACES_KEY:
            obj["status"] = {"phase": "Terminating"}
        if dry_run:
            return obj, False
        meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(rtype.storage_key, obj, old)
        return obj, False

    def _remove(self, rtype: ResourceType, old: Obj, last: Obj) -> Obj:
        last["metadata"] = dict(last["metadata"], resourceVersion=str(self.store.next_rv()))
        self.store.remove(rtype.storage_key, last, old)
        return last

    @staticmethod
    def returns_deleted_object(rtype: ResourceType) -> bool:
        return not rtype.builtin or rtype.storage_key in _RETURNS_DELETED

    # used by the garbage collector and namespace/CRD cleanup

    def set_finalizers(self, rtype: ResourceType, obj: Obj, finalizers: list[str]) -> None:
        meta = obj["metadata"]
        body = dict(obj, metadata=dict(meta, finalizers=finalizers))
        self._write(rtype, obj, body, "", False)

    def set_owner_references(self, rtype: ResourceType, obj: Obj, refs: list[Any]) -> None:
        meta = dict(obj["metadata"])
        if refs:
            meta["ownerReferences"] = refs
        else:
            meta.pop("ownerReferences", None)
        self._write(rtype, obj, dict(obj, metadata=meta), "", False)

    def set_field(self, rtype: ResourceType, obj: Obj, field: str, value: Any) -> None:
        self._write(rtype, obj, dict(obj, **{field: value}), "", False)

    def finish_namespace(self, obj: Obj) -> None:
        """The namespace controller's last step: drop the `kubernetes` spec finalizer."""
        rtype = self.registry.lookup("", "v1", "namespaces")
        assert rtype is not None
        self._write(rtype, obj, {"spec": {"finalizers": []}, "metadata": {}}, "finalize", False)



def _check_storable(obj: Obj) -> None:
    """etcd refuses requests over 1.5 MiB (`--max-request-bytes`), and kube-apiserver
    passes that on as a 500. Measured here on the object's JSON, which for built-in
    kinds stored as protobuf by the real server is a little larger."""
    size = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_STORED_BYTES:
        raise ApiError(500, "etcdserver: request is too large", reason="InternalError")


def _deletion_finalizers(meta: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The finalizers a delete leaves: a given policy replaces the garbage collector's
    orphan/foreground finalizer; without one the existing ones stay, as on a real server."""
    existing = list(meta.get("finalizers") or ())
    policy = options.get("propagationPolicy")
    if not policy and isinstance(options.get("orphanDependents"), bool):
        policy = "Orphan" if options["orphanDependents"] else "Background"
    if not policy:
        return existing
    if policy not in POLICIES:
        raise errors.invalid("DeleteOptions", "", "", [Cause(
            "FieldValueNotSupported", f'Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"', "propagationPolicy")])
    finalizers = [f for f in existing if f not in (ORPHAN, FOREGROUND)]
    if policy == "Orphan":
        finalizers.append(ORPHAN)
    elif policy == "Foreground":
        finalizers.append(FOREGROUND)
    return finalizers


def _crd_immutable(obj: Obj, old: Obj) -> list[Cause]:
    """An established CRD's scope cannot change (its objects' paths depend on it)."""
    scope = (obj.get("spec") or {}).get("scope")
    if scope == (old.get("spec") or {}).get("scope"):
        return []
    return [Cause("FieldValueInvalid", f'Invalid value: "{scope}": field is immutable',
                  "spec.scope")]
