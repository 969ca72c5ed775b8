"""List semantics: which resourceVersion a list serves, snapshots, selectors, pages.

The rules follow the real server's "Resource versions" table: no resourceVersion (or
`0`) is the current state; a non-zero one is NotOlderThan (served as the current state),
except with `limit` or `resourceVersionMatch=Exact`, where it is Exact and rebuilt from
the event history (410 once that is compacted).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kes_emulators.apiserver import errors
from kes_emulators.apiserver.errors import ApiError, Cause
from kes_emulators.apiserver.params import int_param, is_true, parse_rv
from kes_emulators.apiserver.resources import ResourceType
from kes_emulators.apiserver.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from kes_emulators.apiserver.store import Obj, Store

Matcher = Callable[[Obj], bool]
_MATCHES = ("Exact", "NotOlderThan")


@dataclass
class Listing:
    items: list[Obj]
    meta: dict[str, Any]


def matcher(rtype: ResourceType, query: Mapping[str, str], name: str = "") -> Matcher:
    """The label and field selectors of `query` (and a watch's object name) as a predicate."""
    label_text = query.get("labelSelector", "")
    field_text = query.get("fieldSelector", "")
    if name:
        field_text = ",".join(filter(None, [field_text, f"metadata.name={name}"]))
    try:
        labels = parse_label_selector(label_text)
        fields = parse_field_selector(field_text, rtype.supported_fields())
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from exc
    if not label_text and not field_text:
        return lambda obj: True
    if not field_text:
        return lambda obj: labels.matches(obj["metadata"].get("labels") or {})
    return lambda obj: labels.matches(obj["metadata"].get("labels") or {}) and (
        fields.matches(rtype.selectable_fields(obj)))


def validate_list_options(query: Mapping[str, str]) -> None:
    """The real server's ListOptions validation: 422 for a bad resourceVersionMatch,
    400 for a resourceVersion beside a continue token."""
    match = query.get("resourceVersionMatch", "")
    rv_text = query.get("resourceVersion", "")
    continue_token = query.get("continue", "")
    causes: list[Cause] = []
    if match:
        if not rv_text:
            causes.append(_forbidden("resourceVersionMatch is forbidden unless "
                                     "resourceVersion is provided"))
        if continue_token:
            causes.append(_forbidden("resourceVersionMatch is forbidden when continue is "
                                     "provided"))
        if match not in _MATCHES:
            causes.append(Cause("FieldValueNotSupported", f'Unsupported value: "{match}": '
                                'supported values: "Exact", "NotOlderThan", ""',
                                "resourceVersionMatch"))
        if match == "Exact" and rv_text == "0":
            causes.append(_forbidden('resourceVersionMatch "exact" is forbidden for '
                                     'resourceVersion "0"'))
    if "sendInitialEvents" in query:
        causes.append(Cause("FieldValueForbidden", "Forbidden: sendInitialEvents is "
                            "forbidden for list", "sendInitialEvents"))
    if causes:
        raise errors.invalid("ListOptions", "meta.k8s.io", "", causes)
    if continue_token and rv_text not in ("", "0"):
        raise errors.bad_request("specifying resource version is not allowed when using "
                                 "continue")


def validate_watch_options(query: Mapping[str, str]) -> None:
    """The real server's watch options validation (with the WatchList feature on)."""
    match = query.get("resourceVersionMatch", "")
    causes: list[Cause] = []
    if "sendInitialEvents" in query:
        if match != "NotOlderThan":
            causes.append(_forbidden("sendInitialEvents requires setting resourceVersionMatch "
                                     "to NotOlderThan"))
        if is_true(query["sendInitialEvents"]) and not is_true(
                query.get("allowWatchBookmarks")):
            causes.append(Cause("FieldValueForbidden", "Forbidden: sendInitialEvents requires "
                                "allowWatchBookmarks=true", "allowWatchBookmarks"))
    if match:
        if "sendInitialEvents" not in query:
            causes.append(_forbidden("resourceVersionMatch is forbidden for watch unless "
                                     "sendInitialEvents is provided"))
        if match != "NotOlderThan":
            causes.append(Cause("FieldValueNotSupported", f'Unsupported value: "{match}": '
                                'supported values: "NotOlderThan"', "resourceVersionMatch"))
    if causes:
        raise errors.invalid("ListOptions", "meta.k8s.io", "", causes)


def _forbidden(detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", "resourceVersionMatch")


def list_rv(store: Store, query: Mapping[str, str]) -> int:
    """The resourceVersion a list serves: the newest, or an exact older one; one newer
    than the store's cannot be served (yet)."""
    text = query.get("resourceVersion", "")
    if not text or text == "0":
        return store.rv
    rv = parse_rv(text)
    if rv > store.rv:
        raise ApiError(504, f"Too large resource version: {rv}, current: {store.rv}",
                       reason="Timeout")
    match = query.get("resourceVersionMatch", "")
    exact = match == "Exact" or (not match and int_param(query, "limit") > 0)
    return rv if exact else store.rv


def list_objects(store: Store, rtype: ResourceType, namespace: str | None,
                 query: Mapping[str, str]) -> Listing:
    """One page of a list, as the real server answers `GET` on a collection."""
    validate_list_options(query)
    matches = matcher(rtype, query)
    limit = max(int_param(query, "limit"), 0)
    rv = list_rv(store, query)
    start: tuple[str, str] | None = None
    token = query.get("continue")
    if token:
        rv, start = _decode_continue(token)
    source: Iterable[Obj] = store.items(rtype.storage_key, namespace)
    if rv != store.rv:
        snapshot = store.items_at(rtype.storage_key, namespace, rv)
        if snapshot is None:
            raise errors.expired(
                f"too old resource version: {rv} ({store.compacted_rv + 1})"
                if not token else
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter.")
        source = snapshot
    # With a selector the real server reports no remainingItemCount, so a page can
    # stop at the first match past the limit.
    selective = bool(query.get("labelSelector") or query.get("fieldSelector"))
    items: list[Obj] = []
    more = 0
    for obj in source:
        if start is not None and _list_key(obj) <= start:
            continue
        if not matches(obj):
            continue
        if limit and len(items) >= limit:
            more += 1
            if selective:
                break
            continue
        items.append(obj)
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if more:
        meta["continue"] = _encode_continue(rv, _list_key(items[-1]))
        if not selective:
            meta["remainingItemCount"] = more
    return Listing(items, meta)


def _list_key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def _encode_continue(rv: int, start: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(start)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, name = data["start"]
        return int(data["rv"]), (str(namespace), str(name))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from exc
