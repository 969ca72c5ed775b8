import copy
from typing import Any

import pytest

from kes_emulators.apiserver.patch import (
    PatchError,
    PatchTestFailed,
    UnsupportedKind,
    json_patch,
    merge_lists,
    merge_patch,
    strategic_merge_patch,
)
from kes_emulators.apiserver.resources import BUILTIN_TYPES

# RFC 7386 appendix A, row by row.
MERGE_CASES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), MERGE_CASES)
def test_merge_patch_follows_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == expected
    assert target == before


# RFC 6902 appendix A (A.1-A.12, A.14-A.16).
JSON_CASES: list[tuple[Any, list[dict[str, Any]], Any]] = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
    ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}],
     {"a": {"b": 1}, "c": {"b": 1}}),
    ({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
    ({"metadata": {}}, [{"op": "test", "path": "/metadata/finalizers", "value": None}],
     {"metadata": {}}),
]


@pytest.mark.parametrize(("target", "ops", "expected"), JSON_CASES)
def test_json_patch_follows_rfc6902(target: Any, ops: list[dict[str, Any]],
                                    expected: Any) -> None:
    before = copy.deepcopy(target)
    assert json_patch(target, ops) == expected
    assert target == before


@pytest.mark.parametrize(("target", "ops", "message"), [
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}],
     "testing value /baz failed: test failed"),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}],
     "testing value /~01 failed: test failed"),
    ({"a": True}, [{"op": "test", "path": "/a", "value": 1}],
     "testing value /a failed: test failed"),
    ({"metadata": {"resourceVersion": "5"}},
     [{"op": "test", "path": "/metadata/resourceVersion", "value": "4"},
      {"op": "replace", "path": "/metadata/finalizers", "value": []}],
     "testing value /metadata/resourceVersion failed: test failed"),
])
def test_failed_test_operation(target: Any, ops: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchTestFailed) as info:
        json_patch(target, ops)
    assert str(info.value) == message
    assert info.value.code == 422


@pytest.mark.parametrize(("target", "ops", "message"), [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     'add operation does not apply: doc is missing path: "/baz/bat": missing value'),
    ({"a": 1}, [{"op": "remove", "path": "/b"}],
     "error in remove for path: '/b': Unable to remove nonexistent key: b: missing value"),
    ({"a": 1}, [{"op": "replace", "path": "/b", "value": 2}],
     "replace operation does not apply: doc is missing key: /b: missing value"),
    ({"a": [1]}, [{"op": "add", "path": "/a/5", "value": 2}],
     "error in add for path: '/a/5': Unable to access invalid index: 5: invalid index referenced"),
    ({"a": 1}, [{"op": "move", "from": "/x", "path": "/y"}],
     "move operation does not apply: doc is missing from path: /x: missing value"),
    ({"a": 1}, [{"op": "frob", "path": "/a"}], "Unexpected kind: frob"),
    ({"a": 1}, [{"op": "add", "value": 1}], "add operation failed to decode path: missing value"),
    ({"a": 1}, [{"op": "test", "path": "/b/c", "value": None}],
     "test operation does not apply: is missing path: /b/c: missing value"),
])
def test_json_patch_errors(target: Any, ops: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(target, ops)
    assert not isinstance(info.value, PatchTestFailed)
    assert str(info.value) == message
    assert info.value.code == 422


def _secret(**metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "s", "namespace": "default", **metadata},
            "data": {"a": "YQ==", "b": "Yg=="}}


def _owner(uid: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret", "name": uid,
            "uid": uid, **extra}


STRATEGIC_CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("maps merge and null deletes",
     _secret(labels={"a": "1", "b": "2"}),
     {"metadata": {"labels": {"a": None, "c": "3"}}, "data": {"b": None, "c": "Yw=="}},
     {"metadata": {"labels": {"b": "2", "c": "3"}}, "data": {"a": "YQ==", "c": "Yw=="}}),
    ("new finalizers come first, as new containers do in the kubectl patch task",
     _secret(finalizers=["a", "b"]), {"metadata": {"finalizers": ["c"]}},
     {"metadata": {"finalizers": ["c", "a", "b"]}}),
    ("finalizers are a set",
     _secret(finalizers=["a", "b"]), {"metadata": {"finalizers": ["b", "c"]}},
     {"metadata": {"finalizers": ["a", "b", "c"]}}),
    ("$setElementOrder orders the merged list",
     _secret(finalizers=["a", "b"]),
     {"metadata": {"$setElementOrder/finalizers": ["a", "b", "c"], "finalizers": ["c"]}},
     {"metadata": {"finalizers": ["a", "b", "c"]}}),
    ("$deleteFromPrimitiveList removes values",
     _secret(finalizers=["a", "b", "c"]),
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}},
     {"metadata": {"finalizers": ["a", "c"]}}),
    ("ownerReferences merge by uid",
     _secret(ownerReferences=[_owner("u1"), _owner("u2")]),
     {"metadata": {"ownerReferences": [_owner("u2", controller=True), _owner("u3")]}},
     {"metadata": {"ownerReferences": [_owner("u1"), _owner("u2", controller=True),
                                       _owner("u3")]}}),
    ("$patch: delete removes a list element by merge key",
     _secret(ownerReferences=[_owner("u1"), _owner("u2")]),
     {"metadata": {"ownerReferences": [{"uid": "u1", "$patch": "delete"}]}},
     {"metadata": {"ownerReferences": [_owner("u2")]}}),
    ("$patch: replace in a list replaces it",
     _secret(ownerReferences=[_owner("u1"), _owner("u2")]),
     {"metadata": {"ownerReferences": [_owner("u3"), {"$patch": "replace"}]}},
     {"metadata": {"ownerReferences": [_owner("u3")]}}),
    ("$patch: replace in a map replaces it",
     _secret(labels={"a": "1"}),
     {"metadata": {"labels": {"$patch": "replace", "b": "2"}}},
     {"metadata": {"labels": {"b": "2"}}}),
    ("$patch: delete in a map empties it",
     _secret(labels={"a": "1"}), {"metadata": {"labels": {"$patch": "delete"}}},
     {"metadata": {"labels": {}}}),
    ("$retainKeys drops keys not listed",
     _secret(), {"data": {"$retainKeys": ["a", "c"], "c": "Yw=="}},
     {"data": {"a": "YQ==", "c": "Yw=="}}),
    ("unmatched nulls in new values are dropped",
     _secret(), {"metadata": {"annotations": {"x": "1", "y": None}}},
     {"metadata": {"annotations": {"x": "1"}}}),
]


@pytest.mark.parametrize(("name", "target", "patch", "expected_part"), STRATEGIC_CASES,
                         ids=[c[0] for c in STRATEGIC_CASES])
def test_strategic_merge_patch(name: str, target: dict[str, Any], patch: dict[str, Any],
                               expected_part: dict[str, Any]) -> None:
    before = copy.deepcopy(target)
    patch_before = copy.deepcopy(patch)
    result = strategic_merge_patch(target, patch, "V1Secret")
    # expected_part gives whole top-level fields, and whole fields of metadata.
    expected = {**target, **expected_part,
                "metadata": {**target["metadata"], **expected_part.get("metadata", {})}}
    assert result == expected
    assert target == before
    assert patch == patch_before


def test_role_rules_are_replaced_not_merged() -> None:
    role = {"kind": "Role", "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    patch = {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}
    assert strategic_merge_patch(role, patch, "V1Role")["rules"] == patch["rules"]


def test_service_account_secrets_merge_by_name() -> None:
    sa = {"kind": "ServiceAccount", "metadata": {"name": "sa"}, "secrets": [{"name": "a"}]}
    result = strategic_merge_patch(sa, {"secrets": [{"name": "b"}]}, "V1ServiceAccount")
    assert result["secrets"] == [{"name": "b"}, {"name": "a"}]


def test_every_kind_keeps_object_metadata_strategies() -> None:
    for rtype in BUILTIN_TYPES:
        lists = merge_lists(rtype.model)
        assert lists["metadata.ownerReferences"].merge_key == "uid", rtype.kind
        assert lists["metadata.finalizers"].merge_key is None, rtype.kind


def test_pod_templates_merge_containers_by_name_and_their_lists_by_their_keys() -> None:
    deployment = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
        {"name": "b", "image": "b:1"}]}}}}
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "Y", "value": "2"}]}]}}}}
    result = strategic_merge_patch(deployment, patch, "V1Deployment")
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a", "b"]
    assert containers[0]["env"] == [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]


@pytest.mark.parametrize(("patch", "message", "code"), [
    ({"metadata": {"ownerReferences": [{"name": "x"}]}},
     "map: map[name:…] does not contain declared merge key: uid", 400),
    ({"metadata": {"labels": {"$patch": "frob"}}},
     "unknown patch type: frob in map: map[$patch:frob]", 400),
    ({"data": {"$patch": "merge", "b": "c2VjcmV0"}},
     "unknown patch type: merge in map: map[$patch:merge b:…]", 400),
    ({"metadata": {"ownerReferences": [{"$patch": "merge"}]}},
     "merging lists cannot yet be specified in the patch", 400),
    ({"data": {"$retainKeys": ["a"], "c": "Yw=="}}, "invalid patch format of retainKeys", 400),
])
def test_strategic_merge_patch_errors(patch: dict[str, Any], message: str, code: int) -> None:
    target = _secret(labels={"a": "1"}, ownerReferences=[_owner("u1")])
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(target, patch, "V1Secret")
    assert (str(info.value), info.value.code) == (message, code)


def test_strategic_merge_patch_refuses_kinds_without_metadata() -> None:
    with pytest.raises(UnsupportedKind) as info:
        strategic_merge_patch({}, {}, "ExternalSecret")
    assert info.value.code == 415
    assert "'ExternalSecret'" in str(info.value)


def test_delete_list_applies_to_lists_without_merge_strategy() -> None:
    ns = {"kind": "Namespace", "metadata": {"name": "n"},
          "spec": {"finalizers": ["kubernetes", "x"]}}
    result = strategic_merge_patch(
        ns, {"spec": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, "V1Namespace")
    assert result["spec"] == {"finalizers": ["kubernetes"]}


def test_directives_are_dropped_from_values_new_to_the_object() -> None:
    result = strategic_merge_patch(
        _secret(), {"metadata": {"labels": {"$patch": "replace", "a": "1"},
                                 "annotations": {"x": "1"}}}, "V1Secret")
    assert "labels" not in result["metadata"]
    assert result["metadata"]["annotations"] == {"x": "1"}


def test_set_element_order_creates_a_new_list_in_that_order() -> None:
    result = strategic_merge_patch(
        _secret(), {"metadata": {"$setElementOrder/finalizers": ["b", "a"],
                                 "finalizers": ["a", "b"]}}, "V1Secret")
    assert result["metadata"]["finalizers"] == ["b", "a"]
