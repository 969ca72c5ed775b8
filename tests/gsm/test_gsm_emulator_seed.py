"""Seed files: the `secretmanager:` section loaded into the emulator."""

from __future__ import annotations

import re

import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient

from kes.testing.gsm import SecretManagerEmulator, SeedError

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
