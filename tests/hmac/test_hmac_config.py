"""managed_webhooks parsing and Prow's config checks."""

import datetime as dt
from pathlib import Path

import pytest

from kes.errors import KesError
from kes.hmac.config import ConfigError, parse_managed_webhooks
from kes.hmac.prow_config import load_managed_webhooks
from kes.tokens import ZERO_TIME

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_prow_example_parses() -> None:
    section = {
        "respect_legacy_global_token": True,
        "auto_accept_invitation": True,
        "org_repo_config": {
            "qux": {"token_created_after": dt.datetime(2017, 10, 2, 15, tzinfo=dt.UTC)},
            "foo/bar": {"token_created_after": "2018-10-02T15:00:00Z"},
            "foo/baz": {"token_created_after": "2019-10-02T17:00:00+02:00"},
        },
    }
    config = parse_managed_webhooks(section, NOW)
    assert config.respect_legacy_global_token is True
    assert config.auto_accept_invitation is True
    assert config.org_repo_config == {
        "qux": dt.datetime(2017, 10, 2, 15, tzinfo=dt.UTC),
        "foo/bar": dt.datetime(2018, 10, 2, 15, tzinfo=dt.UTC),
        "foo/baz": dt.datetime(2019, 10, 2, 15, tzinfo=dt.UTC),
    }


def test_load_reads_the_section_from_a_prow_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "prowjob_namespace: test-pods\n"
        "managed_webhooks:\n"
        "  org_repo_config:\n"
        "    foo/bar:\n"
        "      token_created_after: 2018-10-02T15:00:00Z\n"
    )
    config = load_managed_webhooks(str(path), now=NOW).managed_webhooks
    assert config.present and config.respect_legacy_global_token is False
    assert list(config.org_repo_config) == ["foo/bar"]


def test_a_config_without_the_section_is_marked_so(tmp_path: Path) -> None:
    """The job refuses to act on it without --allow-mass-removal (test_hmac_removals)."""
    path = tmp_path / "config.yaml"
    path.write_text("plank: {}\n")
    config = load_managed_webhooks(str(path), now=NOW).managed_webhooks
    assert config.org_repo_config == {} and not config.present


def test_unreadable_config_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(KesError, match="missing.yaml"):
        load_managed_webhooks(str(tmp_path / "missing.yaml"), now=NOW)


@pytest.mark.parametrize(
    ("entries", "field", "message"),
    [
        ({"foo/bar": {"token_created_after": "2026-01-02T00:00:00Z"}},
         "org_repo_config['foo/bar'].token_created_after", "no later than the current time"),
        ({"foo": {"token_created_after": "2020-01-01T00:00:00Z"},
          "foo/bar": {"token_created_after": "2020-01-01T00:00:00Z"}},
         "org_repo_config['foo/bar']", "deliver every event twice"),
        ({"-foo": {"token_created_after": "2020-01-01T00:00:00Z"}},
         "org_repo_config['-foo']", "not a valid GitHub organization name"),
        ({"foo/bar/baz": {"token_created_after": "2020-01-01T00:00:00Z"}},
         "org_repo_config['foo/bar/baz']", "not a valid GitHub repository name"),
        ({"foo/..": {"token_created_after": "2020-01-01T00:00:00Z"}},
         "org_repo_config['foo/..']", "not a valid GitHub repository name"),
        ({"*": {"token_created_after": "2020-01-01T00:00:00Z"}},
         "org_repo_config['*']", "not a valid GitHub organization name"),
        ({"foo/bar": {"token_created_after": "yesterday"}},
         "org_repo_config['foo/bar'].token_created_after", "not an RFC 3339 time"),
        ({"foo/bar": {"token_created_after": "2020-01-01T00:00:00"}},
         "org_repo_config['foo/bar'].token_created_after", "time zone"),
        ({"foo/bar": {"token_created_after": "2020-01-01T00:00:00Z", "tokn": 1}},
         "org_repo_config['foo/bar'].tokn", "unknown field"),
        ({"foo/bar": "2020-01-01T00:00:00Z"}, "org_repo_config['foo/bar']", "must be a mapping"),
    ],
)
def test_invalid_entries_are_named(entries: dict, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_managed_webhooks({"org_repo_config": entries}, NOW)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_flags_must_be_booleans() -> None:
    with pytest.raises(ConfigError, match="respect_legacy_global_token: must be true or false"):
        parse_managed_webhooks({"respect_legacy_global_token": "yes"}, NOW)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ConfigError, match="auto_accept_invitations: unknown field"):
        parse_managed_webhooks({"auto_accept_invitations": True}, NOW)


def test_a_missing_token_created_after_is_go_zero_time_as_in_prow(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "managed_webhooks:\n"
        "  org_repo_config:\n"
        "    org1/repo1: {}\n"
        "    org2:\n"
        "    org3/repo3:\n"
        "      token_created_after: null\n"
    )
    config = load_managed_webhooks(str(path), now=NOW).managed_webhooks
    assert config.org_repo_config == {
        "org1/repo1": ZERO_TIME, "org2": ZERO_TIME, "org3/repo3": ZERO_TIME,
    }
