"""Request bodies as the real server reads them: a size limit, then JSON or YAML decoding
with bounds on nesting and on YAML alias expansion.

kube-apiserver refuses bodies over 3 MiB with 413 before decoding; its JSON decoder
stops at 10,000 levels of nesting and its YAML decoder (sigs.k8s.io/yaml on go-yaml)
refuses "excessive aliasing". This emulator decodes with Python's recursive decoders,
so it bounds nesting lower (`MAX_DEPTH`), with a 400 that says so.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from kes_emulators.apiserver import errors, protobuf
from kes_emulators.apiserver.errors import ApiError

MAX_REQUEST_BYTES = 3 * 1024 * 1024
# Python's decoders recurse; deeper documents would exhaust its stack before 10,000.
MAX_DEPTH = 250
YAML = "application/yaml"


async def read(request: web.Request) -> bytes:
    """The raw body, or 413 as the real server answers a body over 3 MiB."""
    declared = request.content_length
    if declared is not None and declared > MAX_REQUEST_BYTES:
        raise too_large()
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise too_large() from exc


def too_large() -> ApiError:
    return ApiError(413, f"Request entity too large: limit is {MAX_REQUEST_BYTES}",
                    reason="RequestEntityTooLarge")


def decode(raw: bytes, content_type: str) -> Any:
    """JSON, YAML or Kubernetes protobuf into plain data; 400 for what cannot be decoded."""
    if content_type == protobuf.MEDIA_TYPE:
        return protobuf.decode(raw)
    try:
        data = decode_yaml(raw) if content_type == YAML else json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the body of the request could not be decoded as "
                                 f"{'YAML' if content_type == YAML else 'JSON'}: {exc}") from exc
    if depth(data) > MAX_DEPTH:
        raise _too_deep()
    return data


def _too_deep() -> ApiError:
    return errors.bad_request(f"the body of the request could not be decoded: exceeded max "
                              f"depth of {MAX_DEPTH} (the real server allows 10000; this "
                              f"emulator's decoders stop at {MAX_DEPTH})")


def depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


# --- YAML ---


class _JsonCompatibleLoader(yaml.SafeLoader):
    """YAML 1.1 as sigs.k8s.io/yaml turns it into JSON: timestamps stay strings."""


_JsonCompatibleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# go-yaml's bounds: up to 400,000 decode steps 99 % may come from aliases, falling to
# 10 % at 4,000,000; beyond them a document "contains excessive aliasing".
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decodes: int) -> float:
    if decodes <= _RATIO_LOW:
        return 0.99
    if decodes >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def check_aliasing(root: yaml.Node) -> None:
    """Count the nodes decoding would visit, aliases expanded, as go-yaml does, and stop
    at the first point where aliases make up too much of the work."""
    decodes = aliased = 0
    defined: set[int] = set()  # nodes met once already: meeting one again is an alias
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, in_alias = stack.pop()
        in_alias = in_alias or id(node) in defined
        defined.add(id(node))
        decodes += 1
        aliased += in_alias
        if aliased > 100 and decodes > 1000 and aliased / decodes > _allowed_alias_ratio(
                decodes):
            raise errors.bad_request("the body of the request could not be decoded as YAML: "
                                     "yaml: document contains excessive aliasing")
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            continue
        stack.extend((child, in_alias) for child in reversed(children))


def decode_yaml(raw: bytes) -> Any:
    loader = _JsonCompatibleLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_aliasing(node)
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    try:  # as JSON: shared (aliased) parts become copies, other YAML types refused
        return json.loads(json.dumps(data))
    except TypeError as exc:
        raise ValueError(f"not representable as JSON: {exc}") from exc
