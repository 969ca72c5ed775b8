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

from kes_emulators.gsm.iam import Iam, check_role
from kes_emulators.gsm.rpc import RpcError
from kes_emulators.gsm.store import SecretPb, SecretStore, State, parse_secret_name
from kes_emulators.seed import SeedError

_SECTION = "secretmanager"
_SECRET_KEYS = {"name", "labels", "topics", "aliases", "versions"}
_VERSION_KEYS = {"data", "base64", "state"}
_IAM_KEYS = {"tokens", "anonymous", "bindings"}
_BINDING_KEYS = {"resource", "role", "members"}


def _kind(value: Any) -> str:
    """The YAML type of a value, never the value: it may be a secret."""
    return "nothing" if value is None else type(value).__name__


def _mapping(value: Any, where: str, keys: set[str] | None = None) -> Mapping[str, Any]:
    """`value` as a mapping (an absent one is empty) with only the `keys` given."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SeedError(f"{where}: must be a mapping, not {_kind(value)}")
    if keys is not None and set(value) - keys:
        unknown = sorted(map(str, set(value) - keys))
        raise SeedError(f"{where}: unknown keys {unknown}; expected {sorted(keys)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeedError(f"{where}: must be a list, not {_kind(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SeedError(f"{where}: must be a string, not {_kind(value)}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    return [_string(item, f"{where}[{index}]") for index, item in enumerate(_list(value, where))]


def _string_map(value: Any, where: str, *, name_keys: bool = True) -> dict[str, str]:
    """A mapping of strings; `name_keys=False` keeps keys (bearer tokens) out of errors."""
    return {
        _string(key, f"{where} key"): _string(item, f"{where}.{key}" if name_keys else where)
        for key, item in _mapping(value, where).items()
    }


def apply_seed(store: SecretStore, iam: Iam, section: Any) -> int:
    """Create every secret of the section in `store`, set up `iam`; returns the secret count."""
    section = _mapping(section, _SECTION, {"secrets", "iam"})
    if "iam" in section:
        _seed_iam(iam, section["iam"])
    secrets = _list(section.get("secrets"), f"{_SECTION}.secrets")
    for index, entry in enumerate(secrets):
        where = f"{_SECTION}.secrets[{index}]"
        try:
            _seed_secret(store, entry, where)
        except RpcError as error:
            raise SeedError(f"{where}: {error.message}") from None
    return len(secrets)


def _seed_secret(store: SecretStore, entry: Any, where: str) -> None:
    entry = _mapping(entry, where, _SECRET_KEYS)
    if "name" not in entry:
        raise SeedError(f"{where}: needs a 'name'")
    name = parse_secret_name(_string(entry["name"], f"{where}.name"))
    secret = SecretPb(labels=_string_map(entry.get("labels"), f"{where}.labels"))
    if name.location is None:
        secret.replication.automatic.SetInParent()
    for topic in _strings(entry.get("topics"), f"{where}.topics"):
        secret.topics.add(name=topic)
    aliases: dict[str, int] = {}
    for alias, number in _mapping(entry.get("aliases"), f"{where}.aliases").items():
        if not isinstance(number, int) or isinstance(number, bool):
            raise SeedError(
                f"{where}.aliases.{alias}: must be a version number, not {_kind(number)}"
            )
        aliases[_string(alias, f"{where}.aliases key")] = number
    versions = _list(entry.get("versions"), f"{where}.versions")
    store.create_secret(name.parent, name.secret, secret)
    for index, version in enumerate(versions):
        _seed_version(store, str(name), version, f"{where}.versions[{index}]")
    if aliases:
        update = SecretPb(name=str(name), version_aliases=aliases)
        store.update_secret(update, ["version_aliases"])


def _seed_version(store: SecretStore, secret: str, entry: Any, where: str) -> None:
    entry = _mapping(entry, where, _VERSION_KEYS)
    if ("data" in entry) == ("base64" in entry):
        raise SeedError(f"{where}: give exactly one of 'data' (text) or 'base64'")
    if "data" in entry:
        data = _string(entry["data"], f"{where}.data").encode()
    else:
        try:
            data = base64.b64decode(_string(entry["base64"], f"{where}.base64"), validate=True)
        except binascii.Error:
            raise SeedError(f"{where}.base64: not valid base64") from None
    state_name = _string(entry.get("state", "ENABLED"), f"{where}.state").upper()
    if state_name not in ("ENABLED", "DISABLED", "DESTROYED"):
        raise SeedError(f"{where}.state: {state_name!r} is not ENABLED, DISABLED or DESTROYED")
    version = store.add_version(secret, data, None)
    if state_name != "ENABLED":
        store.set_state(version.name, State.Value(state_name), "")


def _seed_iam(iam: Iam, entry: Any) -> None:
    where = f"{_SECTION}.iam"
    entry = _mapping(entry, where, _IAM_KEYS)
    tokens = _string_map(entry.get("tokens"), f"{where}.tokens", name_keys=False)
    anonymous = entry.get("anonymous")
    if anonymous is not None:
        anonymous = _string(anonymous, f"{where}.anonymous")
    grants: list[tuple[str, str, str]] = []
    for index, binding in enumerate(_list(entry.get("bindings"), f"{where}.bindings")):
        at = f"{where}.bindings[{index}]"
        binding = _mapping(binding, at, _BINDING_KEYS)
        if _BINDING_KEYS - set(binding):
            raise SeedError(f"{at}: needs 'resource', 'role' and 'members'")
        resource = _string(binding["resource"], f"{at}.resource")
        role = _string(binding["role"], f"{at}.role")
        try:
            check_role(role)
        except ValueError as error:
            raise SeedError(f"{at}.role: {error}") from None
        members = _strings(binding["members"], f"{at}.members")
        grants += [(resource, role, member) for member in members]
    iam.enabled = True
    iam.tokens.update(tokens)
    if anonymous is not None:
        iam.anonymous_principal = anonymous
    for resource, role, member in grants:
        iam.grant(resource, role, member)
