"""Response shapes a client can ask for in `Accept`: plain objects, metadata only, Tables."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from jsonpath_ng.ext import parse as parse_jsonpath

from kes.testing.apiserver.errors import ApiError
from kes.testing.apiserver.resources import ResourceType
from kes.testing.apiserver.store import Obj

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
    if not timestamp:
        return "<unknown>"
    created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").timestamp()
    seconds = max(0, int(time.time() - created))
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


def _builtin_columns(rtype: ResourceType) -> list[tuple[str, str, Any]]:
    """(name, type, cell function) per column, for built-in kinds kubectl users know."""
    def count(field: str) -> Any:
        return lambda o: len(o.get(field) or {})

    extra: dict[str, list[tuple[str, str, Any]]] = {
        "secrets": [("Type", "string", lambda o: o.get("type", "")),
                    ("Data", "string", count("data"))],
        "configmaps": [("Data", "string", count("data"))],
        "namespaces": [("Status", "string", lambda o: (o.get("status") or {}).get("phase"))],
        "serviceaccounts": [("Secrets", "string", lambda o: len(o.get("secrets") or ()))],
        "clusterrolebindings": [("Role", "string", lambda o: "{kind}/{name}".format(
            **{"kind": "", "name": "", **(o.get("roleRef") or {})}))],
        "rolebindings": [("Role", "string", lambda o: "{kind}/{name}".format(
            **{"kind": "", "name": "", **(o.get("roleRef") or {})}))],
    }
    return extra.get(rtype.plural, []) + [
        ("Age", "date", lambda o: human_age(o["metadata"].get("creationTimestamp")))]


def _columns(rtype: ResourceType) -> list[tuple[dict[str, Any], Any]]:
    name_column = ({"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace."},
                   lambda o: o["metadata"]["name"])
    columns = [name_column]
    if rtype.builtin or not rtype.printer_columns:
        for title, kind, cell in _builtin_columns(rtype):
            columns.append(({"name": title, "type": kind, "format": "", "priority": 0,
                             "description": ""}, cell))
        return columns
    for spec in rtype.printer_columns:
        definition = {"name": spec["name"], "type": spec.get("type", "string"),
                      "format": spec.get("format", ""), "priority": spec.get("priority", 0),
                      "description": spec.get("description", "")}
        columns.append((definition, _printer_cell(spec["jsonPath"], spec.get("type", "string"))))
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
