"""The HTTP face: authenticate, route, authorize, dispatch, answer JSON or a watch stream."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kes_emulators.apiserver import (
    bodies,
    errors,
    listing,
    protobuf,
    rbac,
    response_warnings,
    views,
    watch,
)
from kes_emulators.apiserver.auth import Authorization, Identities
from kes_emulators.apiserver.decoding import UnknownFields
from kes_emulators.apiserver.errors import ApiError
from kes_emulators.apiserver.instruments import Faults, Request, RequestLog
from kes_emulators.apiserver.objects import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Objects,
)
from kes_emulators.apiserver.openapi import OpenApi
from kes_emulators.apiserver.params import float_param, is_true, parse_rv
from kes_emulators.apiserver.rbac import UserInfo
from kes_emulators.apiserver.resources import Registry, ResourceType
from kes_emulators.apiserver.routing import Route, route
from kes_emulators.apiserver.store import Obj, Store

log = logging.getLogger(__name__)
VERSION = {
    "major": "1", "minor": "37", "gitVersion": "v1.37.0+kes", "gitCommit": "emulated",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "n/a",
    "compiler": "n/a", "platform": "linux/amd64",
}
DEFAULT_WATCH_TIMEOUT = 1800.0
_REVIEWS = {"selfsubjectaccessreviews", "subjectaccessreviews"}


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json")


@dataclass
class Settings:
    bookmark_interval: float = 60.0
    host_port: str = ""
    open_watches: set[watch.WatchStream] = field(default_factory=set)


class HttpApi:
    def __init__(self, store: Store, registry: Registry, objects: Objects,
                 identities: Identities, authorization: Authorization, requests: RequestLog,
                 faults: Faults, settings: Settings) -> None:
        self.store = store
        self.registry = registry
        self.objects = objects
        self.identities = identities
        self.authorization = authorization
        self.requests = requests
        self.faults = faults
        self.settings = settings
        self.openapi = OpenApi(registry)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        where = route(request.method, request.path, request.query,
                      request.headers.get("Accept", ""))
        with response_warnings.collecting() as warnings:
            response, identity = await self._answer(request, where)
        if not response.prepared:  # a watch stream is already under way
            for text in warnings:
                response.headers.add("Warning", response_warnings.header(text))
            self._record(where, identity, response.status)
        return response

    async def _answer(self, request: web.Request,
                      where: Route) -> tuple[web.StreamResponse, str]:
        """The response and the identity it was answered for."""
        identity = "<unauthenticated>"
        try:
            user = self.identities.authenticate(request.headers.get("Authorization"))
            groups = request.headers.getall("Impersonate-Group", [])
            if "Impersonate-User" in request.headers or groups:
                user = self.authorization.impersonate(
                    user, request.headers.get("Impersonate-User", ""), groups)
            identity = user.name
            if self.faults.latency:
                await self.faults.sleep(self.faults.latency)
            injected = self.faults.take_failure(where.verb, where.counted_resource)
            if injected is not None:
                raise ApiError(injected, f"injected fault: {where.verb} "
                                         f"{where.counted_resource} answers {injected}")
            self.authorization.check(user, where.attributes())
            response: web.StreamResponse
            if not where.resource_request:
                response = self._non_resource(where)
            else:
                response = await self._resource(request, where, user)
        except Exception as exc:  # every failure answers a Status, a bug one a loud 500
            if not isinstance(exc, ApiError):
                log.exception("internal error serving %s %s", request.method, request.path)
                exc = ApiError(500, f"internal error in the emulated API server: {exc!r}")
            response = json_response(exc.status(), exc.code)
            if exc.code == 429:
                response.headers["Retry-After"] = "1"
        return response, identity

    def _record(self, where: Route, identity: str, code: int) -> None:
        self.requests.record(Request(where.verb, where.counted_resource, identity, code,
                                     where.namespace or ""))

    # non-resource URLs: discovery, version, health

    def _non_resource(self, where: Route) -> web.Response:
        path = where.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if where.verb not in ("get", "head"):
            raise errors.method_not_allowed()
        body: Any = None
        if path == "/version":
            body = VERSION
        elif path == "/api":
            body = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.settings.host_port}]}
        elif path == "/apis":
            body = self.registry.api_group_list()
        elif parts[:1] == ["api"] and len(parts) == 2:
            body = self.registry.resource_list("", parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 2:
            body = self.registry.api_group(parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 3:
            body = self.registry.resource_list(parts[1], parts[2])
        elif path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        elif parts[:1] == ["openapi"]:
            return self._openapi(parts[1:], where.accept)
        if body is None:
            raise errors.resource_not_found()
        return json_response(body)

    def _openapi(self, parts: list[str], accept: str) -> web.Response:
        if accept and not any(media.split(";")[0].strip() in (
                "application/json", "application/*", "*/*") for media in accept.split(",")):
            raise ApiError(406, f"the OpenAPI documents are served as application/json only; "
                                f"the kes API server does not emulate other renderings "
                                f"(asked: {accept})")
        body: bytes | None = None
        if parts == ["v2"]:
            body = self.openapi.v2()
        elif parts == ["v3"]:
            body = self.openapi.v3_index()
        elif parts[:1] == ["v3"]:
            body = self.openapi.v3("/".join(parts[1:]))
        if body is None:
            raise errors.resource_not_found()
        return web.Response(body=body, content_type="application/json")

    # resource URLs

    def _resource_type(self, where: Route) -> ResourceType:
        rtype = self.registry.lookup(where.group, where.version, where.resource)
        if (rtype is None or where.too_deep
                or (where.subresource and where.subresource not in rtype.subresources())
                or (rtype.namespaced and where.name and where.namespace is None)
                or (not rtype.namespaced and where.namespace is not None
                    and where.resource != "namespaces")):
            raise errors.resource_not_found()
        if where.verb not in rtype.verbs or (
                where.verb == "create" and rtype.namespaced and where.namespace is None):
            raise errors.method_not_allowed()
        return rtype

    async def _resource(self, request: web.Request, where: Route,
                        user: UserInfo) -> web.StreamResponse:
        rtype = self._resource_type(where)
        query = request.query
        namespace = where.namespace if rtype.namespaced else ""
        dry_run = _dry_run(query)
        verb = where.verb
        if verb == "get":
            shape = views.negotiate(request.headers.get("Accept", ""))
            obj = self.objects.get(rtype, namespace or "", where.name)
            return json_response(views.object_body(rtype, shape, obj,
                                                   query.get("includeObject", "")))
        if verb == "list":
            shape = views.negotiate(request.headers.get("Accept", ""))
            page = listing.list_objects(self.store, rtype, namespace, query)
            return json_response(views.list_body(rtype, shape, page.items, page.meta,
                                                 query.get("includeObject", "")))
        if verb == "watch":
            return await self._watch(request, where, rtype, namespace, user)
        if verb == "create":
            body = await _json_body(request)
            if where.resource in _REVIEWS:
                return json_response(self._review(rtype, body, user), 201)
            unknown = UnknownFields(query.get("fieldValidation") or "Warn")
            obj = self.objects.create(rtype, namespace or "", body, dry_run, unknown)
            return json_response(views.as_version(rtype, obj), 201)
        if verb == "update":
            body = await _json_body(request)
            unknown = UnknownFields(query.get("fieldValidation") or "Warn")
            obj = self.objects.update(rtype, namespace or "", where.name, body,
                                      where.subresource, dry_run, unknown)
            return json_response(views.as_version(rtype, obj))
        if verb == "patch":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            body = None if content_type == APPLY_PATCH else await _json_body(request)
            unknown = UnknownFields(query.get("fieldValidation") or "Warn")
            obj = self.objects.patch(rtype, namespace or "", where.name, content_type, body,
                                     where.subresource, dry_run, unknown)
            return json_response(views.as_version(rtype, obj))
        if verb == "delete":
            options = await _delete_options(request)
            obj, gone = self.objects.delete(rtype, namespace or "", where.name, options,
                                            dry_run)
            if gone and not self.objects.returns_deleted_object(rtype):
                return json_response(_success(rtype, obj))
            return json_response(views.as_version(rtype, obj))
        if verb == "deletecollection":
            options = await _delete_options(request)
            page = listing.list_objects(self.store, rtype, namespace, query)
            deleted = [self.objects.delete(rtype, obj["metadata"].get("namespace", ""),
                                           obj["metadata"]["name"], options, dry_run)[0]
                       for obj in page.items]
            return json_response(views.list_body(rtype, views.PLAIN, deleted, page.meta, ""))
        raise errors.method_not_allowed()

    # watch

    async def _watch(self, request: web.Request, where: Route, rtype: ResourceType,
                     namespace: str | None, user: UserInfo) -> web.StreamResponse:
        query = request.query
        shape = views.negotiate(request.headers.get("Accept", ""))
        matches = listing.matcher(rtype, query, where.name)
        timeout = float_param(query, "timeoutSeconds") or DEFAULT_WATCH_TIMEOUT
        bookmarks = is_true(query.get("allowWatchBookmarks"))
        rv_text = query.get("resourceVersion", "")
        initial_events = is_true(query.get("sendInitialEvents"))
        listing.validate_watch_options(query)
        since: int | None = None
        initial: list[Obj] | None = None
        if initial_events or rv_text in ("", "0"):
            initial = [obj for obj in self.objects.items(rtype, namespace) if matches(obj)]
        else:
            since = parse_rv(rv_text)
            if since > self.store.rv:
                raise ApiError(504, f"Too large resource version: {since}, current: "
                                    f"{self.store.rv}", reason="Timeout")
        stream = watch.WatchStream(
            rtype, shape, query.get("includeObject", ""),
            matches if namespace is None else (
                lambda obj: obj["metadata"].get("namespace", "") == namespace and matches(obj)))
        self._record(where, user.name, 200)
        return await watch.serve(
            request, self.store, stream, since=since, initial=initial,
            initial_events_end=initial_events, bookmarks=bookmarks, timeout=timeout,
            bookmark_interval=self.settings.bookmark_interval,
            expire_now=self.faults.take_expiry(where.counted_resource),
            on_open=self.settings.open_watches.add,
            on_close=self.settings.open_watches.discard,
        )

    # access reviews

    def _review(self, rtype: ResourceType, body: Any, user: UserInfo) -> Obj:
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise errors.invalid(rtype.kind, rtype.group, "", [errors.Cause(
                "FieldValueRequired", "Required value", "spec")])
        subject = user if rtype.plural == "selfsubjectaccessreviews" else None
        try:
            status = rbac.subject_access_review(self.authorization.authorizer(), body["spec"],
                                                subject)
        except rbac.ReviewError as exc:
            raise errors.invalid(rtype.kind, rtype.group, "", [errors.Cause(
                "FieldValueInvalid", exc.message, exc.field)]) from exc
        metadata = dict(body.get("metadata") or {}, creationTimestamp=None)
        return {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": metadata,
                "spec": body["spec"], "status": status}


def _success(rtype: ResourceType, obj: Obj) -> Obj:
    details: dict[str, Any] = {"name": obj["metadata"]["name"], "kind": rtype.plural,
                               "uid": obj["metadata"]["uid"]}
    if rtype.group:
        details["group"] = rtype.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


_BODY_TYPES = ("application/json", "application/yaml", protobuf.MEDIA_TYPE, MERGE_PATCH,
               JSON_PATCH, STRATEGIC_PATCH)


async def _json_body(request: web.Request) -> Any:
    """The request body as data; JSON or YAML only (protobuf clients fall back on 415)."""
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
    content_type = content_type or "application/json"  # as the real server assumes
    if content_type not in _BODY_TYPES:
        raise errors.unsupported_media_type(content_type, ["application/json",
                                                           "application/yaml"])
    return bodies.decode(await bodies.read(request), content_type)


async def _delete_options(request: web.Request) -> dict[str, Any]:
    raw = await bodies.read(request)
    options: dict[str, Any] = {}
    if raw.strip():
        options = bodies.decode(raw, "application/json")
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
    if "propagationPolicy" in request.query:
        options["propagationPolicy"] = request.query["propagationPolicy"]
    if "orphanDependents" in request.query:
        options["orphanDependents"] = is_true(request.query["orphanDependents"])
    return options


def _dry_run(query: Any) -> bool:
    values = query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f"Invalid dryRun value: {value}; only All is supported")
    return bool(values)

