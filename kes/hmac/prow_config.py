"""Prow's config files, read for `managed_webhooks`: the main file (`--config-path`)
plus every `*_prowconfig.yaml` under each `--supplemental-prow-config-dir`.

Files are found as Prow finds them: directories walked recursively in lexical order,
names starting with `..` skipped (a mounted ConfigMap's internal links). Sections merge
the way Prow merges its map-like sections (`slack_reporter_configs`,
`tide.merge_method`): each field and each `org_repo_config` key may be set in one file
only, and a second one is an error naming both files.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kes.errors import KesError
from kes.hmac.config import (
    ConfigError,
    ManagedWebhooks,
    check_org_and_repo_together,
    parse_managed_webhooks,
)

SECTION = "managed_webhooks"
DEFAULT_SUFFIX = "_prowconfig.yaml"
_FLAGS = ("respect_legacy_global_token", "auto_accept_invitation")


@dataclass(frozen=True)
class LoadedConfig:
    managed_webhooks: ManagedWebhooks
    files_read: tuple[str, ...]
    files_with_section: tuple[str, ...]

    def describe(self) -> str:
        """One line for the job's output: where managed_webhooks came from."""
        if not self.files_with_section:
            return f"config: no {SECTION} section in {', '.join(self.files_read)}"
        entries = len(self.managed_webhooks.org_repo_config)
        files = ", ".join(self.files_with_section)
        return f"config: {SECTION} ({entries} entries) from {files}"


def load_managed_webhooks(
    config_path: str,
    supplemental_dirs: Sequence[str] = (),
    suffix: str = DEFAULT_SUFFIX,
    *,
    now: dt.datetime,
) -> LoadedConfig:
    files = [config_path]
    if Path(config_path).is_dir():
        raise KesError(f"--config-path {config_path} is a directory; it names the main file")
    for directory in supplemental_dirs:
        files.extend(_supplemental_files(directory, suffix))
    sections = [(path, section) for path in files if (section := _section(path)) is not None]
    return LoadedConfig(
        managed_webhooks=_merge(sections, now),
        files_read=tuple(files),
        files_with_section=tuple(path for path, _ in sections),
    )


def _supplemental_files(directory: str, suffix: str) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as err:
        raise KesError(
            f"cannot read --supplemental-prow-config-dir {directory}: {err.strerror}"
        ) from err
    for entry in entries:
        if entry.name.startswith(".."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _supplemental_files(entry.path, suffix)
        elif entry.name.endswith(suffix):
            yield entry.path


def _section(path: str) -> Any:
    """The file's managed_webhooks section, or None when it has none."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise KesError(f"cannot read Prow config {path}: {err.strerror}") from err
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise KesError(f"Prow config {path} is not valid YAML: {err}") from err
    if document is None:
        return None
    if not isinstance(document, dict):
        raise KesError(f"Prow config {path} must be a mapping at the top level")
    return document.get(SECTION)


def _merge(sections: Sequence[tuple[str, Any]], now: dt.datetime) -> ManagedWebhooks:
    flags: dict[str, bool] = {}
    entries: dict[str, dt.datetime] = {}
    # The file that sets each flag, and each org_repo_config key.
    flag_origin: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path, section in sections:
        try:
            parsed = parse_managed_webhooks(section, now)
        except ConfigError as err:
            raise KesError(f"Prow config {path}: {err}") from None
        for name in _FLAGS:
            if name in section:
                _claim(flag_origin, name, name, path)
                flags[name] = getattr(parsed, name)
        for key, created_after in parsed.org_repo_config.items():
            _claim(origin, f"org_repo_config[{key!r}]", key, path)
            entries[key] = created_after
    try:
        check_org_and_repo_together(entries, origin)
    except ConfigError as err:
        raise KesError(f"Prow config: {err}") from None
    return ManagedWebhooks(
        respect_legacy_global_token=flags.get("respect_legacy_global_token", False),
        auto_accept_invitation=flags.get("auto_accept_invitation", False),
        org_repo_config=entries,
        present=bool(sections),
    )


def _claim(origin: dict[str, str], field: str, key: str, path: str) -> None:
    if key in origin:
        raise ConfigError(
            field, f"set in both {origin[key]} and {path}; each may be set in one file only"
        )
    origin[key] = path
