"""Seed files: the `secretmanager:` section loaded into the emulator."""

from __future__ import annotations

import re

import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient

from kes_emulators.gsm import SecretManagerEmulator, SeedError

SECRET = "projects/p/secrets/s"


def test_seed_loads_states_binary_data_labels_and_aliases() -> None:
    emulator = SecretManagerEmulator()
    emulator.seed(
        {
            "secrets": [
                {
                    "name": "projects/p/locations/eu/secrets/s",
                    "labels": {"team": "a"},
                    "aliases": {"stable": 1},
                    "versions": [{"base64": "AAH/"}, {"data": "x", "state": "destroyed"}],
                }
            ]
        }
    )
    store = emulator.store
    assert store.access_version("projects/p/locations/eu/secrets/s/versions/stable").data == (
        b"\x00\x01\xff"
    )
    assert store.get_version("projects/p/locations/eu/secrets/s/versions/2").state == 3
    assert dict(store.get_secret("projects/p/locations/eu/secrets/s").labels) == {"team": "a"}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"secret": []}, "secretmanager: unknown keys ['secret']"),
        ({"secrets": [{"name": "nope"}]}, "secretmanager.secrets[0]: Invalid resource"),
        (
            {"secrets": [{"name": SECRET, "versions": [{"base64": "!"}]}]},
            "secretmanager.secrets[0].versions[0].base64: not valid base64",
        ),
        (
            {"secrets": [{"name": SECRET, "versions": [{"data": "x", "state": "OFF"}]}]},
            "secretmanager.secrets[0].versions[0].state: 'OFF'",
        ),
        (
            {"secrets": [{"name": SECRET, "aliases": {"a": 3}}]},
            "secretmanager.secrets[0]: Secret [projects/p/secrets/s]: alias 'a' names version 3",
        ),
        (["secrets"], "secretmanager: must be a mapping, not list"),
        ({"secrets": {"name": SECRET}}, "secretmanager.secrets: must be a list, not dict"),
        ({"secrets": ["s"]}, "secretmanager.secrets[0]: must be a mapping, not str"),
        ({"secrets": [{"labels": {}}]}, "secretmanager.secrets[0]: needs a 'name'"),
        ({"secrets": [{"name": 7}]}, "secretmanager.secrets[0].name: must be a string, not int"),
        (
            {"secrets": [{"name": SECRET, "labels": ["team"]}]},
            "secretmanager.secrets[0].labels: must be a mapping, not list",
        ),
        (
            {"secrets": [{"name": SECRET, "labels": {"tier": 1}}]},
            "secretmanager.secrets[0].labels.tier: must be a string, not int",
        ),
        (
            {"secrets": [{"name": SECRET, "topics": "projects/p/topics/t"}]},
            "secretmanager.secrets[0].topics: must be a list, not str",
        ),
        (
            {"secrets": [{"name": SECRET, "topics": [{"name": "t"}]}]},
            "secretmanager.secrets[0].topics[0]: must be a string, not dict",
        ),
        (
            {"secrets": [{"name": SECRET, "aliases": {"stable": "one"}}]},
            "secretmanager.secrets[0].aliases.stable: must be a version number, not str",
        ),
        (
            {"secrets": [{"name": SECRET, "aliases": {"stable": True}}]},
            "secretmanager.secrets[0].aliases.stable: must be a version number, not bool",
        ),
        (
            {"secrets": [{"name": SECRET, "aliases": [1]}]},
            "secretmanager.secrets[0].aliases: must be a mapping, not list",
        ),
        (
            {"secrets": [{"name": SECRET, "versions": {"data": "x"}}]},
            "secretmanager.secrets[0].versions: must be a list, not dict",
        ),
        (
            {"secrets": [{"name": SECRET, "versions": [{"data": 12345}]}]},
            "secretmanager.secrets[0].versions[0].data: must be a string, not int",
        ),
        (
            {"secrets": [{"name": SECRET, "versions": [{"base64": ["AA=="]}]}]},
            "secretmanager.secrets[0].versions[0].base64: must be a string, not list",
        ),
        (
            {"secrets": [{"name": SECRET, "versions": [{"data": "x", "state": 2}]}]},
            "secretmanager.secrets[0].versions[0].state: must be a string, not int",
        ),
        (
            {"secrets": [{"name": SECRET, "versions": [{"data": "x", "stat": "DISABLED"}]}]},
            "secretmanager.secrets[0].versions[0]: unknown keys ['stat']",
        ),
        ({"iam": ["tokens"]}, "secretmanager.iam: must be a mapping, not list"),
        ({"iam": {"tokens": ["t"]}}, "secretmanager.iam.tokens: must be a mapping, not list"),
        ({"iam": {"tokens": {"t": ["a"]}}}, "secretmanager.iam.tokens: must be a string, not list"),
        ({"iam": {"anonymous": ["user:a"]}}, "secretmanager.iam.anonymous: must be a string"),
        ({"iam": {"bindings": {"role": "x"}}}, "secretmanager.iam.bindings: must be a list"),
        (
            {"iam": {"bindings": [{"resource": "projects/p", "role": "roles/secretmanager.admin",
                                   "members": "serviceAccount:x"}]}},
            "secretmanager.iam.bindings[0].members: must be a list, not str",
        ),
        (
            {"iam": {"bindings": [{"resource": ["projects/p"], "role": "roles/secretmanager.admin",
                                   "members": []}]}},
            "secretmanager.iam.bindings[0].resource: must be a string, not list",
        ),
        (
            {"iam": {"bindings": [{"resource": "projects/p", "role": "roles/secretmanager.admin",
                                   "members": [{"user": "a"}]}]}},
            "secretmanager.iam.bindings[0].members[0]: must be a string, not dict",
        ),
    ],
)
def test_seed_errors_name_the_entry(section: dict[str, object], message: str) -> None:
    with pytest.raises(SeedError, match=re.escape(message)):
        SecretManagerEmulator().seed(section)


async def test_seeded_iam_is_enforced(
    emulator: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    kes_sa = "serviceAccount:kes@demo.iam.gserviceaccount.com"
    emulator.seed(
        {
            "secrets": [{"name": "projects/demo/secrets/a", "versions": [{"data": "x"}]}],
            "iam": {
                "tokens": {"other-token": "user:other@example.com"},
                "anonymous": kes_sa,
                "bindings": [
                    {
                        "resource": "projects/demo/secrets/a",
                        "role": "roles/secretmanager.secretAccessor",
                        "members": [kes_sa],
                    }
                ],
            },
        }
    )
    version = "projects/demo/secrets/a/versions/1"
    assert (await client.access_secret_version(name=version)).payload.data == b"x"
    with pytest.raises(exceptions.PermissionDenied):
        await client.access_secret_version(
            name=version, metadata=[("authorization", "Bearer other-token")]
        )


def test_seeded_iam_roles_are_checked() -> None:
    bindings = [{"resource": "projects/p", "role": "roles/editor", "members": ["user:a"]}]
    with pytest.raises(SeedError, match=re.escape("secretmanager.iam.bindings[0].role: unknown")):
        SecretManagerEmulator().seed({"iam": {"bindings": bindings}})


def test_a_binding_with_a_bad_member_grants_nothing() -> None:
    emulator = SecretManagerEmulator()
    bindings = [
        {"resource": "projects/p", "role": "roles/secretmanager.admin", "members": ["user:a"]},
        {"resource": "projects/p", "role": "roles/secretmanager.admin", "members": "user:b"},
    ]
    with pytest.raises(SeedError, match=re.escape("bindings[1].members: must be a list")):
        emulator.seed({"iam": {"bindings": bindings}})
    assert (emulator.iam.enabled, emulator.iam.bindings) == (False, {})


def test_type_errors_never_show_the_value() -> None:
    with pytest.raises(SeedError) as raised:
        SecretManagerEmulator().seed(
            {"secrets": [{"name": SECRET, "versions": [{"data": 98765}]}]}
        )
    assert "98765" not in str(raised.value)
