"""Load secrets and versions from the `secretmanager:` section of a seed file.

```yaml
secretmanager:
  secrets:
    - name: projects/demo/secrets/db        # or projects/P/locations/L/secrets/S
      labels: {team: payments}
      topics: [projects/demo/topics/secret-events]
      aliases: {current: 2}
      versions:                              # numbered 1, 2, ... in this order
        - data: "text payload"
        - base64: "AAECAw=="                 # binary payload
          state: DISABLED                    # ENABLED (default), DISABLED, DESTROYED
  iam:                                       # optional; present = IAM enforced
    tokens: {reader-token: "serviceAccount:reader@demo.iam.gserviceaccount.com"}
    anonymous: "serviceAccount:kes@demo.iam.gserviceaccount.com"  # requests without a token
    bindings:
      - resource: projects/demo              # or one secret's name
        role: roles/secretmanager.secretAccessor
        members: ["serviceAccount:kes@demo.iam.gserviceaccount.com"]
```
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from kes.testing.gsm.iam import Iam
from kes.testing.gsm.store import RpcError, SecretPb, SecretStore, State, parse_secret_name


class SeedError(ValueError):
    """A seed file entry that cannot be loaded; names the entry and the field."""


_SECRET_KEYS = {"name", "labels", "topics", "aliases", "versions"}
_VERSION_KEYS = {"data", "base64", "state"}
_IAM_KEYS = {"tokens", "anonymous", "bindings"}


def apply_seed(store: SecretStore, iam: Iam, section: Mapping[str, Any]) -> int:
    """Create every secret of the section in `store`, set up `iam`; returns the secret count."""
    unknown = set(section) - {"secrets", "iam"}
    if unknown:
        raise SeedError(
            f"secretmanager: unknown keys {sorted(unknown)}; expected 'secrets' and 'iam'"
        )
    if "iam" in section:
        _seed_iam(iam, section["iam"])
    secrets = section.get("secrets") or []
    if not isinstance(secrets, list):
        raise SeedError("secretmanager.secrets: must be a list")
    for index, entry in enumerate(secrets):
        where = f"secretmanager.secrets[{index}]"
        try:
            _seed_secret(store, entry, where)
        except RpcError as error:
            raise SeedError(f"{where}: {error.message}") from None
    return len(secrets)


def _seed_secret(store: SecretStore, entry: Any, where: str) -> None:
    if not isinstance(entry, Mapping) or "name" not in entry:
        raise SeedError(f"{where}: must be a mapping with a 'name'")
    unknown = set(entry) - _SECRET_KEYS
    if unknown:
        raise SeedError(f"{where}: unknown keys {sorted(unknown)}")
    name = parse_secret_name(str(entry["name"]))
    secret = SecretPb(labels={str(k): str(v) for k, v in (entry.get("labels") or {}).items()})
    if name.location is None:
        secret.replication.automatic.SetInParent()
    for topic in entry.get("topics") or []:
        secret.topics.add(name=str(topic))
    store.create_secret(name.parent, name.secret, secret)
    for number, version in enumerate(entry.get("versions") or [], start=1):
        _seed_version(store, str(name), version, f"{where}.versions[{number - 1}]")
    aliases = entry.get("aliases") or {}
    if aliases:
        update = SecretPb(name=str(name))
        for alias, number in aliases.items():
            update.version_aliases[str(alias)] = int(number)
        store.update_secret(update, ["version_aliases"])


def _seed_version(store: SecretStore, secret: str, entry: Any, where: str) -> None:
    if not isinstance(entry, Mapping) or set(entry) - _VERSION_KEYS:
        raise SeedError(f"{where}: must be a mapping of {sorted(_VERSION_KEYS)}")
    if ("data" in entry) == ("base64" in entry):
        raise SeedError(f"{where}: give exactly one of 'data' (text) or 'base64'")
    if "data" in entry:
        data = str(entry["data"]).encode()
    else:
        try:
            data = base64.b64decode(str(entry["base64"]), validate=True)
        except binascii.Error:
            raise SeedError(f"{where}.base64: not valid base64") from None
    state_name = str(entry.get("state", "ENABLED")).upper()
    if state_name not in ("ENABLED", "DISABLED", "DESTROYED"):
        raise SeedError(f"{where}.state: {state_name!r} is not ENABLED, DISABLED or DESTROYED")
    version = store.add_version(secret, data, None)
    if state_name != "ENABLED":
        store.set_state(version.name, State.Value(state_name), "")


def _seed_iam(iam: Iam, entry: Any) -> None:
    if not isinstance(entry, Mapping) or set(entry) - _IAM_KEYS:
        raise SeedError(f"secretmanager.iam: must be a mapping of {sorted(_IAM_KEYS)}")
    iam.enabled = True
    iam.tokens.update({str(k): str(v) for k, v in (entry.get("tokens") or {}).items()})
    if entry.get("anonymous") is not None:
        iam.anonymous_principal = str(entry["anonymous"])
    for index, binding in enumerate(entry.get("bindings") or []):
        where = f"secretmanager.iam.bindings[{index}]"
        if not isinstance(binding, Mapping) or {"resource", "role", "members"} - set(binding):
            raise SeedError(f"{where}: needs 'resource', 'role' and 'members'")
        for member in binding["members"]:
            try:
                iam.grant(str(binding["resource"]), str(binding["role"]), str(member))
            except ValueError as error:
                raise SeedError(f"{where}.role: {error}") from None
