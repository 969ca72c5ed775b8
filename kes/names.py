"""Secret Manager resource names as values: parsed once where they enter kes, then
passed around as `SecretName` and `SecretVersionName`, never re-split from strings.

`str()` gives the canonical name Secret Manager uses:
`projects/P[/locations/L]/secrets/S[/versions/V]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = re.compile(
    r"projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?"
    r"/secrets/(?P<secret>[^/]+)(?:/versions/(?P<version>[^/]+))?"
)


class BadName(ValueError):
    """Text that is not a Secret Manager secret or version name."""


def _parse(text: str, what: str, want_version: bool) -> re.Match[str]:
    match = _NAME.fullmatch(text)
    if match is None or (match.group("version") is not None) != want_version:
        layout = "projects/P[/locations/L]/secrets/S" + ("/versions/V" if want_version else "")
        raise BadName(f"{text!r} is not a {what} name ({layout})")
    return match


@dataclass(frozen=True, order=True)
class SecretName:
    """A secret: `projects/P[/locations/L]/secrets/S`."""

    project: str
    secret: str
    location: str | None = None
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"projects/{self.project}"
        if self.location:
            where += f"/locations/{self.location}"
        object.__setattr__(self, "_text", f"{where}/secrets/{self.secret}")

    def __str__(self) -> str:
        return self._text

    @property
    def parent(self) -> str:
        """Where the secret is created: `projects/P[/locations/L]`."""
        return self._text.rpartition("/secrets/")[0]

    def version(self, version: str) -> SecretVersionName:
        return SecretVersionName(self.project, self.secret, version, self.location)

    @classmethod
    def parse(cls, text: str) -> SecretName:
        match = _parse(text, "secret", want_version=False)
        return cls(match["project"], match["secret"], match["location"])


@dataclass(frozen=True, order=True)
class SecretVersionName:
    """One version of a secret, the unit kes fetches and de-duplicates:
    `projects/P[/locations/L]/secrets/S/versions/V` (V a number, `latest` or an alias)."""

    project: str
    secret: str
    version: str
    location: str | None = None
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_text", f"{self.secret_name}/versions/{self.version}")

    def __str__(self) -> str:
        return self._text

    @property
    def secret_name(self) -> SecretName:
        return SecretName(self.project, self.secret, self.location)

    @property
    def pinned(self) -> bool:
        """A numbered version, whose data never changes (only its state can)."""
        return self.version.isdigit()

    def same_version(self, other: SecretVersionName) -> bool:
        """The same version however the project is spelled: Secret Manager answers with
        the project number where a request named the project id."""
        return (self.secret, self.location, self.version) == (
            other.secret, other.location, other.version)

    @classmethod
    def parse(cls, text: str) -> SecretVersionName:
        match = _parse(text, "secret version", want_version=True)
        return cls(match["project"], match["secret"], match["version"], match["location"])
