"""Response shapes a client can ask for in `Accept`: plain objects, metadata only, Tables."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jsonpath_ng.ext import parse as parse_jsonpath

from kes_emulators.apiserver.errors import ApiError
from kes_emulators.apiserver.resources import ResourceType
from kes_emulators.apiserver.store import Obj

PLAIN = "Plain"
METADATA = "PartialObjectMetadata"
METADATA_LIST = "PartialObjectMetadataList"
TABLE = "Table"
_META_GROUP = "meta.k8s.io"


def negotiate(accept: str) -> str:
    """The first acceptable shape in `Accept`; 406 when none is one this server produces."""
    if not accept:
        return PLAIN
    for media_range in accept.split(","):
        media_type, *raw_params = (part.strip() for part in media_range.split(";"))
        if media_type not in ("application/json", "application/*", "*/*"):
            continue
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        shape = params.get("as")
        if shape is None:
            return PLAIN
        if (shape in (TABLE, METADATA, METADATA_LIST) and params.get("g") == _META_GROUP
                and params.get("v") == "v1"):
            return shape
    raise ApiError(406, f"only the following media types are accepted: application/json, "
                        f"application/json;as=Table;v=v1;g=meta.k8s.io, application/json;"
                        f"as=PartialObjectMetadata(List);v=v1;g=meta.k8s.io (asked: {accept})")


def partial_metadata(obj: Mapping[str, Any]) -> Obj:
    return {"kind": METADATA, "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def as_version(rtype: ResourceType, obj: Obj) -> Obj:
    """A stored object as `rtype`'s API shows it: converted if stored as another kind, or
    read at another version of a custom resource (schemas are compatible)."""
    if rtype.converter is not None:
        return rtype.converter.from_storage(obj)
    if obj.get("apiVersion") == rtype.api_version:
        return obj
    return dict(obj, apiVersion=rtype.api_version)


def list_body(rtype: ResourceType, shape: str, items: list[Obj], list_meta: dict[str, Any],
              include_object: str) -> Obj:
    if shape == TABLE:
        return table(rtype, items, list_meta, include_object)
    if shape in (METADATA, METADATA_LIST):
        return {"kind": METADATA_LIST, "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
                "items": [partial_metadata(i) for i in items]}
    return {"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": list_meta,
            "items": [as_version(rtype, i) for i in items]}


def object_body(rtype: ResourceType, shape: str, obj: Obj, include_object: str) -> Obj:
    if shape == TABLE:
        return table(rtype, [obj], {"resourceVersion": obj["metadata"].get(
            "resourceVersion", "")}, include_object)
    if shape in (METADATA, METADATA_LIST):
        return partial_metadata(obj)
    return as_version(rtype, obj)


# Tables, as `kubectl get` prints them

def human_age(timestamp: str | None) -> str:
    """A timestamp's age as kubectl shows it (`45s`, `3m20s`, `5h`, `2d`)."""
    if not timestamp:
        return "<unknown>"
    when = datetime.fromisoformat(timestamp)
    if when.tzinfo is None:  # API timestamps are UTC, never the local time
        when = when.replace(tzinfo=UTC)
    seconds = max(0, int(time.time() - when.timestamp()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


@lru_cache(maxsize=256)
def compile_jsonpath(path: str) -> Any:
    """A printer column's JSONPath (`.spec.x`, filters allowed); ValueError when invalid."""
    if not path.startswith((".", "[")):
        raise ValueError("must be a simple json path starting with .")
    try:
        return parse_jsonpath("$" + path)
    except Exception as exc:  # jsonpath-ng raises plain Exceptions for syntax errors
        raise ValueError(f"must be a valid JSONPath: {exc}") from exc


def jsonpath_cell(path: str, obj: Obj, column_type: str) -> Any:
    matches = compile_jsonpath(path).find(obj)
    if not matches:
        return None
    value = matches[0].value
    if column_type == "date" and isinstance(value, str):
        return human_age(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


Cell = Callable[[Obj], Any]
Column = tuple[dict[str, Any], Cell]


def _column(name: str, cell: Cell, *, kind: str = "string", priority: int = 0,
            form: str = "", description: str = "") -> Column:
    return ({"name": name, "type": kind, "format": form, "priority": priority,
             "description": description}, cell)


def _count(field: str) -> Cell:
    return lambda o: len(o.get(field) or {})


def _role_ref(o: Obj) -> str:
    ref = o.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _event_first_seen(o: Obj) -> str:
    return human_age(o.get("firstTimestamp") or o.get("eventTime"))


def _event_last_seen(o: Obj) -> str:
    series = o.get("series")
    if series:
        return human_age(series.get("lastObservedTime"))
    last = human_age(o["lastTimestamp"]) if o.get("lastTimestamp") else _event_first_seen(o)
    count = o.get("count") or 0
    return f"{last} (x{count} over {_event_first_seen(o)})" if count > 1 else last


def _event_object(o: Obj) -> str:
    involved = o.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(o: Obj) -> str:
    source = o.get("source") or {}
    component = source.get("component") or o.get("reportingComponent") or ""
    host = source.get("host") or o.get("reportingInstance") or ""
    return f"{component}, {host}" if component and host else component


_NAME = _column("Name", lambda o: o["metadata"]["name"], form="name",
                description="Name must be unique within a namespace.")
_AGE = _column("Age", lambda o: human_age(o["metadata"].get("creationTimestamp")))

# The columns of the real server's printers for the built-in kinds kubectl users know.
_BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "secrets": [_NAME, _column("Type", lambda o: o.get("type", "")),
                _column("Data", _count("data")), _AGE],
    "configmaps": [_NAME, _column("Data", _count("data")), _AGE],
    "namespaces": [_NAME, _column("Status", lambda o: (o.get("status") or {}).get("phase")),
                   _AGE],
    "serviceaccounts": [_NAME, _column("Secrets", _count("secrets")), _AGE],
    "clusterrolebindings": [_NAME, _column("Role", _role_ref), _AGE],
    "rolebindings": [_NAME, _column("Role", _role_ref), _AGE],
    "leases": [_NAME, _column("Holder", lambda o: (o.get("spec") or {}).get(
        "holderIdentity", "")), _AGE],
    "customresourcedefinitions": [_NAME, _column(
        "Created At", lambda o: o["metadata"].get("creationTimestamp"), kind="date")],
    "events": [
        _column("Last Seen", _event_last_seen),
        _column("Type", lambda o: o.get("type", "")),
        _column("Reason", lambda o: o.get("reason", "")),
        _column("Object", _event_object),
        _column("Subobject", lambda o: (o.get("involvedObject") or {}).get("fieldPath", ""),
                priority=1),
        _column("Source", _event_source, priority=1),
        _column("Message", lambda o: str(o.get("message", "")).strip()),
        _column("First Seen", _event_first_seen, priority=1),
        _column("Count", lambda o: (o.get("series") or {}).get("count", o.get("count", 0)),
                kind="integer", priority=1),
        _column("Name", lambda o: o["metadata"]["name"], form="name", priority=1),
    ],
}


def _columns(rtype: ResourceType) -> list[Column]:
    if rtype.builtin:
        return _BUILTIN_COLUMNS.get(rtype.plural, [_NAME, _AGE])
    if not rtype.printer_columns:  # a CRD's default printer column
        return [_NAME, _column("Age", _AGE[1], kind="date")]
    columns = [_NAME]
    for spec in rtype.printer_columns:
        columns.append(_column(spec["name"], _printer_cell(spec["jsonPath"], spec.get(
            "type", "string")), kind=spec.get("type", "string"), priority=spec.get(
            "priority", 0), form=spec.get("format", ""), description=spec.get(
            "description", "")))
    return columns


def _printer_cell(path: str, column_type: str) -> Callable[[Obj], Any]:
    return lambda obj: jsonpath_cell(path, obj, column_type)


def table(rtype: ResourceType, items: Iterable[Obj], list_meta: dict[str, Any],
          include_object: str) -> Obj:
    columns = _columns(rtype)
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": [cell(obj) for _, cell in columns]}
        if include_object == "Object":
            row["object"] = as_version(rtype, obj)
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": [definition for definition, _ in columns], "rows": rows}
