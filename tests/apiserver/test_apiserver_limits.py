"""The real server's limits on what a request may carry and what may be stored."""

from __future__ import annotations

import json
from typing import Any

from kes_emulators.apiserver import ApiServer
from kes_emulators.apiserver.bodies import MAX_REQUEST_BYTES

SECRETS = "/api/v1/namespaces/default/secrets"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
MIB = 1024 * 1024


async def test_a_body_over_3_mib_is_413(http: Any) -> None:
    body = json.dumps({"metadata": {"name": "big"}, "stringData": {"k": "x" * MAX_REQUEST_BYTES}})
    status, answer = await http.post(SECRETS, body)
    assert status == 413, answer
    assert answer["reason"] == "RequestEntityTooLarge"
    assert answer["message"] == "Request entity too large: limit is 3145728"


async def test_undecodable_and_too_deep_bodies_are_400(http: Any) -> None:
    status, answer = await http.post(SECRETS, '{"metadata": {"name": ')
    assert status == 400 and answer["reason"] == "BadRequest"
    deep = '{"metadata": {"name": "deep"}, "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    status, answer = await http.post(SECRETS, deep)
    assert status == 400 and "exceeded max depth" in answer["message"]
    deep = '{"metadata": {"name": "deep"}, "data": ' + "[" * 300 + "]" * 300 + "}"
    status, answer = await http.post(SECRETS, deep)
    assert status == 400 and "exceeded max depth" in answer["message"]
    status, answer = await http.delete(f"{SECRETS}/x", "[" * 100_000)
    assert status == 400 and "exceeded max depth" in answer["message"]


LAUGHS = """\
metadata: {name: laughs}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


async def test_yaml_alias_expansion_is_refused_past_go_yamls_bound(http: Any) -> None:
    status, answer = await http.post("/api/v1/namespaces/default/configmaps", LAUGHS,
                                     content_type="application/yaml")
    assert status == 400, answer
    assert answer["message"].endswith("yaml: document contains excessive aliasing")


async def test_yaml_with_ordinary_aliases_and_timestamps_is_accepted(http: Any) -> None:
    body = ("metadata: {name: shared, labels: &l {app: web}, annotations: *l}\n"
            "data: {when: 2024-01-02, also: 2024-01-02T03:04:05Z}\n")
    status, answer = await http.post("/api/v1/namespaces/default/configmaps", body,
                                     content_type="application/yaml")
    assert status == 201, answer
    assert answer["metadata"]["annotations"] == {"app": "web"}
    assert answer["data"] == {"when": "2024-01-02", "also": "2024-01-02T03:04:05Z"}


async def test_secret_data_over_1_mib_is_refused_with_the_real_message(http: Any) -> None:
    status, answer = await http.post(SECRETS, {"metadata": {"name": "big"},
                                               "stringData": {"k": "x" * (MIB + 1)}})
    assert status == 422
    assert answer["message"] == (
        'Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes')
    status, answer = await http.post(SECRETS, {"metadata": {"name": "max"},
                                               "stringData": {"k": "x" * MIB}})
    assert status == 201  # exactly 1 MiB is allowed, and fits in storage


async def test_an_object_over_etcds_limit_is_not_stored(http: Any, server: ApiServer,
                                                       widget_crd: dict[str, Any],
                                                       make_widget: Any) -> None:
    status, _ = await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                widget_crd)
    assert status == 201
    huge = make_widget("huge", extra={"blob": "x" * (MIB + MIB // 2)})
    status, answer = await http.post(WIDGETS, huge)
    assert status == 500 and answer["message"] == "etcdserver: request is too large"
    assert server.store.get(("example.com", "widgets"), "default", "huge") is None
    status, answer = await http.post(f"{WIDGETS}?dryRun=All", huge)
    assert status == 201  # a dry run never reaches etcd
    status, _ = await http.post(WIDGETS, make_widget("grows"))
    assert status == 201
    status, answer = await http.patch(f"{WIDGETS}/grows", huge | {"metadata": {}})
    assert status == 500 and answer["message"] == "etcdserver: request is too large"


async def test_bearer_tokens_are_parsed_exactly(server: ApiServer, http: Any) -> None:
    server.rbac = True
    token = server.admin_token
    for header in (f"Bearer {token}", f"bearer {token}", f"  Bearer {token}  ",
                   f"Bearer {token} trailing-words"):
        status, _ = await http.get(SECRETS, headers={"Authorization": header})
        assert status == 200, header
    # Not taken as a bearer token at all: the request is anonymous, and RBAC denies it.
    for header in (f"Bearer  {token}", f"Basic {token}", f"Bearer\t{token}", "Bearer"):
        status, answer = await http.get(SECRETS, headers={"Authorization": header})
        assert status == 403, header
        assert 'User "system:anonymous"' in answer["message"]
    async with http.session.get(http.url + SECRETS,
                                headers={"Authorization": f"Bearer  {token}"}) as response:
        assert response.headers.getall("Warning") == [
            '299 - "the provided Authorization header contains extra space before the '
            'bearer token, and is ignored"']
    status, answer = await http.get(SECRETS, headers={"Authorization": "Bearer wrong"})
    assert status == 401
