"""The `managed_webhooks` section of a Prow config, checked as Prow's config check does."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kes.errors import KesError
from kes.tokens import ZERO_TIME, format_time, rfc3339

# GitHub logins: letters, digits and single inner hyphens, at most 39 characters.
_ORG = re.compile(r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*$")
_ORG_MAX = 39
# GitHub repository names: letters, digits, '.', '-', '_', at most 100 characters.
_REPO = re.compile(r"^[A-Za-z0-9._-]+$")
_REPO_MAX = 100
_FIELDS = {"respect_legacy_global_token", "auto_accept_invitation", "org_repo_config"}
_ENTRY_FIELDS = {"token_created_after"}


class ConfigError(KesError):
    """The managed_webhooks config is invalid; `field` is the path of the offending entry."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"managed_webhooks: {field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ManagedWebhooks:
    respect_legacy_global_token: bool
    auto_accept_invitation: bool
    # "org" or "org/repo" -> token_created_after (aware, UTC)
    org_repo_config: Mapping[str, dt.datetime]
    # False when no config file has the section at all: a wrong path or an empty file,
    # not a wish to remove every hook.
    present: bool = True


def parse_managed_webhooks(section: Any, now: dt.datetime) -> ManagedWebhooks:
    if not isinstance(section, dict):
        raise ConfigError("managed_webhooks", "must be a mapping")
    unknown = sorted(set(section) - _FIELDS)
    if unknown:
        raise ConfigError(str(unknown[0]), "unknown field")
    entries = section.get("org_repo_config") or {}
    if not isinstance(entries, dict):
        raise ConfigError("org_repo_config", "must be a mapping of org or org/repo to settings")
    org_repo_config = {
        str(name): _parse_entry(str(name), value, now) for name, value in entries.items()
    }
    check_org_and_repo_together(org_repo_config)
    return ManagedWebhooks(
        respect_legacy_global_token=_flag(section, "respect_legacy_global_token"),
        auto_accept_invitation=_flag(section, "auto_accept_invitation"),
        org_repo_config=org_repo_config,
    )


def _flag(section: Mapping[str, Any], field: str) -> bool:
    value = section.get(field, False)
    if not isinstance(value, bool):
        raise ConfigError(field, "must be true or false")
    return value


def _parse_entry(name: str, value: Any, now: dt.datetime) -> dt.datetime:
    """An entry's token_created_after; as in Prow, an empty entry or a missing time is
    Go's zero time (any stored token is recent enough)."""
    field = f"org_repo_config[{name!r}]"
    check_name(name, field)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(field, "must be a mapping with token_created_after")
    unknown = sorted(set(value) - _ENTRY_FIELDS)
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}", "unknown field")
    if value.get("token_created_after") is None:
        return ZERO_TIME
    created_after = parse_time(value["token_created_after"], f"{field}.token_created_after")
    if created_after > now:
        raise ConfigError(
            f"{field}.token_created_after",
            f"{format_time(created_after)} can be no later than the current time",
        )
    return created_after


def check_name(name: str, field: str) -> None:
    """Accept `org` or `org/repo` spelled as GitHub allows."""
    org, slash, repo = name.partition("/")
    if not _ORG.match(org) or len(org) > _ORG_MAX:
        raise ConfigError(field, f"{org!r} is not a valid GitHub organization name")
    if slash and (
        not _REPO.match(repo) or len(repo) > _REPO_MAX or repo in (".", "..")
    ):
        raise ConfigError(field, f"{repo!r} is not a valid GitHub repository name")


def check_org_and_repo_together(
    entries: Mapping[str, dt.datetime], origin: Mapping[str, str] | None = None
) -> None:
    """`origin`: the file each entry comes from, when they come from several."""
    orgs = {name for name in entries if "/" not in name}
    for name in sorted(entries):
        org, slash, _ = name.partition("/")
        if slash and org in orgs:
            where = f" (in {origin[name]} and {origin[org]})" if origin else ""
            raise ConfigError(
                f"org_repo_config[{name!r}]",
                f"org {org!r} is configured too{where}; org-level and repo-level webhooks "
                "together would deliver every event twice",
            )


def parse_time(value: Any, field: str) -> dt.datetime:
    """An RFC 3339 time with a zone, in UTC; ConfigError names `field`."""
    try:
        return rfc3339(value)
    except ValueError as err:
        raise ConfigError(field, str(err)) from err
