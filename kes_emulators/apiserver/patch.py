"""The three PATCH bodies the API server applies: JSON merge, JSON patch, strategic merge.

Each function returns a new document and never mutates its inputs. Error messages
follow the libraries the real server uses (evanphx/json-patch, apimachinery's
strategicpatch), because clients show them to people.

Longer than most modules: strategic merge alone has list-merge directives, patch
strategies and retainKeys; the three formats share their document helpers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from kes_emulators.apiserver import models

INVALID = 422
BAD_REQUEST = 400


class PatchError(ValueError):
    """A patch that cannot be applied; `code` is the HTTP status the real server answers.

    For JSON patch the server answers 422 with the Status message "the server rejected
    our request due to an error in our request" and this message as the cause; for a
    malformed strategic merge patch it answers 400 with this message.
    """

    def __init__(self, message: str, code: int = INVALID) -> None:
        super().__init__(message)
        self.code = code


class PatchTestFailed(PatchError):
    """A JSON patch `test` operation did not hold (422, e.g. a stale resourceVersion)."""


class UnsupportedKind(PatchError):
    """No strategic-merge metadata for this kind: the server only has it for built-in kinds."""

    def __init__(self, kind: str) -> None:
        super().__init__(
            f"strategic merge patch is not supported for {kind!r}; "
            "use a JSON merge patch (application/merge-patch+json)",
            code=415,
        )


# --- RFC 7386 JSON merge patch ---


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 JSON patch ---


def json_equal(a: Any, b: Any) -> bool:
    """JSON value equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer must be empty or start with a \"/\": {path}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _array_index(token: str, length: int, allow_end: bool) -> int:
    if allow_end and token == "-":
        return length
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"Unable to access invalid index: {token}: invalid index referenced")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchError(f"Unable to access invalid index: {index}: invalid index referenced")
    return index


def _container(doc: Any, tokens: list[str]) -> Any | None:
    """The object or array holding the last token's target, or None when missing."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                return None
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return None
            node = node[int(token)]
        else:
            return None
    return node if isinstance(node, dict | list) else None


_MISSING = object()


def _get(container: Any, token: str) -> Any:
    if isinstance(container, dict):
        return container.get(token, _MISSING)
    if token.isdigit() and int(token) < len(container):
        return container[int(token)]
    return _MISSING


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    con = _container(doc, tokens)
    if con is None:
        raise PatchError(f'add operation does not apply: doc is missing path: "{path}": '
                         "missing value")
    key = tokens[-1]
    if isinstance(con, dict):
        con[key] = value
    else:
        try:
            con.insert(_array_index(key, len(con), allow_end=True), value)
        except PatchError as exc:
            raise PatchError(f"error in add for path: '{path}': {exc}") from None
    return doc


def _remove(doc: Any, path: str, op: str = "remove") -> Any:
    """Remove the member at `path` and return its value."""
    tokens = _pointer(path)
    con = _container(doc, tokens) if tokens else None
    if con is None:
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": '
                         "missing value")
    key = tokens[-1]
    if isinstance(con, dict):
        if key not in con:
            raise PatchError(f"error in {op} for path: '{path}': "
                             f"Unable to remove nonexistent key: {key}: missing value")
        return con.pop(key)
    try:
        index = _array_index(key, len(con), allow_end=False)
    except PatchError as exc:
        raise PatchError(f"error in {op} for path: '{path}': {exc}") from None
    return con.pop(index)


def _lookup(doc: Any, path: str, what: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    con = _container(doc, tokens)
    value = _MISSING if con is None else _get(con, tokens[-1])
    if value is _MISSING:
        raise PatchError(f"{what}: {path}: missing value")
    return value


def _replace(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    con = _container(doc, tokens)
    if con is None:
        raise PatchError(f"replace operation does not apply: doc is missing path: {path}: "
                         "missing value")
    if _get(con, tokens[-1]) is _MISSING:
        raise PatchError(f"replace operation does not apply: doc is missing key: {path}: "
                         "missing value")
    con[tokens[-1] if isinstance(con, dict) else int(tokens[-1])] = value
    return doc


def _test(doc: Any, path: str, want: Any) -> Any:
    tokens = _pointer(path)
    con = _container(doc, tokens) if tokens else None
    if tokens and con is None:
        raise PatchError(f"test operation does not apply: is missing path: {path}: "
                         "missing value")
    have = _get(con, tokens[-1]) if tokens else doc
    # As evanphx/json-patch: a null test value also holds for a missing member.
    if have is _MISSING or have is None:
        if want is None:
            return doc
    elif json_equal(have, want):
        return doc
    raise PatchTestFailed(f"testing value {path} failed: test failed")


def _apply_one(doc: Any, op: Mapping[str, Any]) -> Any:
    kind = op.get("op")
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        raise PatchError(f"Unexpected kind: {kind}")
    path = _checked(op.get("path"), kind)
    value = copy.deepcopy(op.get("value"))
    if kind == "add":
        return _add(doc, path, value)
    if kind == "remove":
        _remove(doc, path)
        return doc
    if kind == "replace":
        return _replace(doc, path, value)
    if kind == "test":
        return _test(doc, path, value)
    source = _checked(op.get("from"), kind, "from")
    moved = _lookup(doc, source, f"{kind} operation does not apply: doc is missing from path")
    if kind == "move":
        _remove(doc, source, "move")
    return _add(doc, path, copy.deepcopy(moved))


def _checked(path: Any, kind: str, field: str = "path") -> str:
    if not isinstance(path, str):
        raise PatchError(f"{kind} operation failed to decode {field}: missing value")
    return path


def json_patch(target: Any, ops: list[Any]) -> Any:
    """Apply an RFC 6902 JSON patch: all operations or none."""
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(f"invalid JSON patch operation: {op!r}", code=BAD_REQUEST)
        doc = _apply_one(doc, op)
    return doc


# --- strategic merge patch ---


@dataclass(frozen=True)
class ListStrategy:
    """A list with `patchStrategy: merge`; `merge_key` is None for lists of primitives."""

    merge_key: str | None


@cache
def merge_lists(model: str) -> dict[str, ListStrategy]:
    """Field paths (list items add no segment) of the lists that merge instead of being
    replaced, for the built-in kind whose `kubernetes` client model is `model`, from the
    Go types' patchStrategy/patchMergeKey tags (see models.py). Every other list (Role
    rules, CRD versions, ...) is replaced; maps (data, labels) always merge."""
    try:
        strategies = models.walk_strategies(model)
    except KeyError:
        raise UnsupportedKind(model) from None
    return {path: ListStrategy(patch.merge_key) for path, patch in strategies.items()
            if "merge" in patch.strategy.split(",")}


_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def _go(value: Any) -> str:
    """Go's %v rendering of a decoded JSON scalar."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _go_map(value: Mapping[str, Any], *shown: str) -> str:
    """Go's %v of a map as the real messages print it, with every value but the `shown`
    keys' elided: the map may be a Secret's data."""
    return "map[" + " ".join(
        f"{k}:{_go(value[k]) if k in shown else '…'}" for k in sorted(value)) + "]"


def strategic_merge_patch(target: Mapping[str, Any], patch: Any, model: str) -> dict[str, Any]:
    """Apply a strategic merge patch to an object of the built-in kind whose `kubernetes`
    client model is `model` (e.g. `V1Secret`)."""
    lists = merge_lists(model)
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", code=BAD_REQUEST)
    merger = _StrategicMerger(lists)
    return merger.merge_map(copy.deepcopy(dict(target)), copy.deepcopy(patch), "")


def _discard_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _discard_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_discard_nulls(v) for v in value]
    return value


def _remove_directives(value: Any) -> tuple[Any, bool]:
    """Drop maps carrying `$patch` from a value new to the object; False: drop it all."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        kept: dict[str, Any] = {}
        for k, v in value.items():
            new, keep = _remove_directives(v)
            if keep:
                kept[k] = new
        return kept, True
    if isinstance(value, list):
        items = [_remove_directives(v) for v in value]
        return [new for new, keep in items if keep], True
    return value, True


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _StrategicMerger:
    """apimachinery's mergeMap/mergeSlice with MergeParallelList and IgnoreUnmatchedNulls."""

    def __init__(self, lists: Mapping[str, ListStrategy]) -> None:
        self.lists = lists

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any],
                  path: str) -> dict[str, Any]:
        if _DIRECTIVE in patch:
            directive = patch[_DIRECTIVE]
            if directive == "replace":
                return {k: v for k, v in patch.items() if k != _DIRECTIVE}
            if directive == "delete":
                return {}
            raise PatchError(f"unknown patch type: {_go(directive)} in map: "
                             f"{_go_map(patch, _DIRECTIVE)}",
                             code=BAD_REQUEST)
        self._retain_keys(original, patch)
        self._set_element_order(original, patch, path)
        for key, value in patch.items():
            delete_list = key.startswith(_DELETE_FROM)
            if delete_list:
                key = key[len(_DELETE_FROM):]
            if value is None:
                original.pop(key, None)
                continue
            if key not in original or type(original[key]) is not type(value):
                if not delete_list:
                    kept, keep = _remove_directives(_discard_nulls(value))
                    if keep:
                        original[key] = kept
                    else:
                        original.pop(key, None)
                continue
            child = _child(path, key)
            if isinstance(value, dict):
                original[key] = self.merge_map(original[key], value, child)
            elif isinstance(value, list):
                strategy = self.lists.get(child)
                if strategy is None and not delete_list:
                    original[key] = value
                else:
                    # A delete list applies whatever the field's strategy.
                    original[key] = self.merge_list(original[key], value, child,
                                                    strategy or ListStrategy(None), delete_list)
            else:
                original[key] = value
        return original

    def _retain_keys(self, original: dict[str, Any], patch: dict[str, Any]) -> None:
        if _RETAIN_KEYS not in patch:
            return
        keep = patch.pop(_RETAIN_KEYS)
        if not isinstance(keep, list):
            raise PatchError("invalid patch format of retainKeys", code=BAD_REQUEST)
        for key, value in patch.items():
            if value is None or key.startswith((_DELETE_FROM, _SET_ORDER)):
                continue
            if key not in keep:
                raise PatchError("invalid patch format of retainKeys", code=BAD_REQUEST)
        for key in list(original):
            if key not in keep:
                del original[key]

    def _set_element_order(self, original: dict[str, Any], patch: dict[str, Any],
                           path: str) -> None:
        for directive in [k for k in patch if k.startswith(_SET_ORDER)]:
            order = patch.pop(directive)
            key = directive[len(_SET_ORDER):]
            current = original.get(key)
            patch_list = patch.pop(key, None)
            if not isinstance(order, list) or not isinstance(current, list | None) \
                    or not isinstance(patch_list, list | None):
                raise PatchError("invalid patch format of setElementOrder list",
                                 code=BAD_REQUEST)
            child = _child(path, key)
            strategy = self.lists.get(child)
            merge_key = strategy.merge_key if strategy else None
            if current is None and patch_list is None:
                continue
            if patch_list is None:
                merged = current or []
            elif current is None:
                merged = _remove_directives(patch_list)[0]
            elif strategy is None:
                merged = patch_list
            else:
                merged = self.merge_list(current, patch_list, child, strategy, False)
            in_order = [v for v in merged if _index(order, v, merge_key) >= 0]
            server_only = [v for v in merged if _index(order, v, merge_key) < 0]
            original[key] = _normalize_order(in_order, server_only, order, current or [],
                                             merge_key)

    def merge_list(self, original: list[Any], patch: list[Any], path: str,
                   strategy: ListStrategy, delete_list: bool) -> list[Any]:
        if not original and not patch:
            return original
        element_is_map = _element_kind(original, patch)
        merge_key = strategy.merge_key
        if not element_is_map:
            if delete_list:
                return [v for v in original if not any(json_equal(v, p) for p in patch)]
            merged: list[Any] = []
            for value in original + patch:
                if not any(json_equal(value, m) for m in merged):
                    merged.append(value)
            merge_key = None
        else:
            if merge_key is None:
                raise PatchError(f"cannot merge lists without merge key for {path}")
            original, patch = _special_elements(original, patch, merge_key)
            merged = list(original)
            for item in patch:
                if merge_key not in item:
                    raise _no_merge_key(item, merge_key)
                for i, existing in enumerate(merged):
                    if isinstance(existing, dict) and json_equal(existing.get(merge_key),
                                                                 item[merge_key]):
                        merged[i] = self.merge_map(existing, item, path)
                        break
                else:
                    merged.append(_discard_nulls(item))
        in_patch = [v for v in merged if _index(patch, v, merge_key) >= 0]
        server_only = [v for v in merged if _index(patch, v, merge_key) < 0]
        return _normalize_order(in_patch, server_only, patch, original, merge_key)


def _element_kind(original: list[Any], patch: list[Any]) -> bool:
    """True for a list of maps; primitives otherwise. Lists of lists are refused."""
    kinds = {type(v) for v in original + patch}
    if list in kinds:
        raise PatchError("lists of lists are not supported", code=INVALID)
    if dict in kinds and len(kinds) > 1:
        raise PatchError("mismatched element types in list", code=BAD_REQUEST)
    return dict in kinds


def _no_merge_key(item: Mapping[str, Any], merge_key: str) -> PatchError:
    return PatchError(f"map: {_go_map(item, _DIRECTIVE)} does not contain declared merge key: "
                      f"{merge_key}", code=BAD_REQUEST)


def _special_elements(original: list[Any], patch: list[Any],
                      merge_key: str) -> tuple[list[Any], list[Any]]:
    """Apply `$patch: delete|replace` list elements; return the rest of the patch."""
    rest: list[Any] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            rest.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            original = [v for v in original
                        if not json_equal(v.get(merge_key), item[merge_key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch",
                             code=BAD_REQUEST)
        else:
            raise PatchError(f"unknown patch type: {_go(directive)} in map: "
                             f"{_go_map(item, _DIRECTIVE, merge_key)}",
                             code=BAD_REQUEST)
    if replace:
        return rest, []
    return original, rest


def _index(items: list[Any], value: Any, merge_key: str | None) -> int:
    for i, item in enumerate(items):
        if merge_key is None:
            if json_equal(item, value):
                return i
        elif isinstance(item, dict) and isinstance(value, dict) and merge_key in item \
                and json_equal(item[merge_key], value.get(merge_key)):
            return i
    return -1


def _normalize_order(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
                     server_order: list[Any], merge_key: str | None) -> list[Any]:
    """Patch items in patch order, server-only items in server order, interleaved by the
    server order where both are known (apimachinery's normalizeElementOrder)."""
    def by_patch_order(item: Any) -> int:
        index = _index(patch_order, item, merge_key)
        return index if index >= 0 else len(patch_order)

    right = sorted(patch_items, key=by_patch_order)
    left = server_only
    merged: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            merged.append(right[j])
            j += 1
        elif j >= len(right):
            merged.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key)
            ri = _index(server_order, right[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                merged.append(left[i])
                i += 1
            else:
                merged.append(right[j])
                j += 1
    return merged
