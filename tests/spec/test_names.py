"""Secret Manager names as values: parsing, canonical text, and project spellings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kes.names import BadName, SecretName, SecretVersionName

SEGMENT = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(SEGMENT, SEGMENT, SEGMENT, st.none() | SEGMENT)
def test_text_round_trips(project: str, secret: str, version: str, location: str | None) -> None:
    name = SecretVersionName(project, secret, version, location)
    assert SecretVersionName.parse(str(name)) == name
    assert SecretName.parse(str(name.secret_name)) == name.secret_name
    assert name.secret_name.version(version) == name


def test_canonical_text_and_parent() -> None:
    regional = SecretName("p", "db", "europe-west1")
    assert str(regional) == "projects/p/locations/europe-west1/secrets/db"
    assert regional.parent == "projects/p/locations/europe-west1"
    assert str(regional.version("3")) == "projects/p/locations/europe-west1/secrets/db/versions/3"


@pytest.mark.parametrize("text", [
    "", "db", "projects/p/secrets/", "projects//secrets/db", "projects/p/secrets/db/versions/1",
    "projects/p/locations/l/secrets/db/extra",
])
def test_what_is_not_a_secret_name(text: str) -> None:
    with pytest.raises(BadName, match="is not a secret name"):
        SecretName.parse(text)


def test_a_pinned_version_is_a_number() -> None:
    assert SecretVersionName("p", "s", "7").pinned
    assert not SecretVersionName("p", "s", "latest").pinned


def test_the_project_number_names_the_same_version() -> None:
    by_id = SecretVersionName("prow-project", "tokens", "2")
    assert by_id.same_version(SecretVersionName("123456789", "tokens", "2"))
    assert not by_id.same_version(SecretVersionName("prow-project", "tokens", "1"))
