"""Secrets and versions as Secret Manager keeps them, with its rules and its errors.

Pure and synchronous: the gRPC service in front of it adds IAM, quotas, faults
and notifications. Every rule that fails raises `RpcError` with the status code
and message shape GCP uses.

Longer than most modules: secrets, versions, aliases, states and their listing rules
share one lock-free data model, and splitting it would spread one resource's rules
over several files.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import google_crc32c
import grpc
from google.cloud.secretmanager_v1.types import resources
from google.protobuf import timestamp_pb2  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]

from kes_emulators.gsm.listing import Term, check_fields, paginate, parse_filter
from kes_emulators.gsm.rpc import RpcError, invalid, unimplemented

# The raw protobuf classes behind the proto-plus wrappers; protobuf ships no type stubs.
SecretPb: Any = resources.Secret.pb()
SecretVersionPb: Any = resources.SecretVersion.pb()
State: Any = SecretVersionPb.State

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_TOPICS = 10

_PARENT = re.compile(r"^projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?$")
_SECRET = re.compile(
    r"^projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?/secrets/(?P<secret>[^/]+)$"
)
_VERSION = re.compile(
    r"^(?P<secret>projects/[^/]+(?:/locations/[^/]+)?/secrets/[^/]+)/versions/(?P<version>[^/]+)$"
)
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")

# Secret fields the emulator stores as given, and the ones it would have to act on.
_UPDATABLE = ("labels", "annotations", "topics", "version_aliases")
_NOT_EMULATED = (
    "expire_time", "ttl", "rotation", "version_destroy_ttl", "customer_managed_encryption",
)


@dataclass(frozen=True)
class SecretName:
    project: str
    location: str | None
    secret: str

    @property
    def parent(self) -> str:
        if self.location is None:
            return f"projects/{self.project}"
        return f"projects/{self.project}/locations/{self.location}"

    def __str__(self) -> str:
        return f"{self.parent}/secrets/{self.secret}"


def parse_parent(parent: str) -> tuple[str, str | None]:
    match = _PARENT.match(parent)
    if match is None:
        raise invalid(f"Invalid resource field value in the request: parent {parent!r}")
    return match["project"], match["location"]


def parse_secret_name(name: str) -> SecretName:
    match = _SECRET.match(name)
    if match is None or _SECRET_ID.match(match["secret"]) is None:
        raise invalid(f"Invalid resource field value in the request: secret name {name!r}")
    return SecretName(match["project"], match["location"], match["secret"])


def parse_version_name(name: str) -> tuple[SecretName, str]:
    match = _VERSION.match(name)
    if match is None:
        raise invalid(f"Invalid resource field value in the request: version name {name!r}")
    return parse_secret_name(match["secret"]), match["version"]


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


@dataclass
class StoredVersion:
    number: int
    create_time: float
    data: bytes | None = field(repr=False)  # None once destroyed
    checksum: int
    client_checksum: bool
    etag: str
    state: int = State.ENABLED
    destroy_time: float | None = None


@dataclass
class StoredSecret:
    name: SecretName
    meta: Message  # the caller's fields (labels, topics, aliases, ...)
    create_time: float
    etag: str
    versions: dict[int, StoredVersion] = field(default_factory=dict)

    def to_pb(self) -> Message:
        secret = SecretPb()
        secret.CopyFrom(self.meta)
        secret.name = str(self.name)
        secret.create_time.CopyFrom(_timestamp(self.create_time))
        secret.etag = self.etag
        return secret

    def version_pb(self, version: StoredVersion) -> Message:
        pb = SecretVersionPb(
            name=f"{self.name}/versions/{version.number}",
            state=version.state,
            etag=version.etag,
            client_specified_payload_checksum=version.client_checksum,
        )
        pb.create_time.CopyFrom(_timestamp(version.create_time))
        if version.destroy_time is not None:
            pb.destroy_time.CopyFrom(_timestamp(version.destroy_time))
        if self.name.location is None:
            pb.replication_status.automatic.SetInParent()
        return pb


@dataclass(frozen=True)
class Accessed:
    name: str
    data: bytes = field(repr=False)
    checksum: int


class SecretStore:
    """All secrets of all projects, keyed by their canonical name."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._secrets: dict[SecretName, StoredSecret] = {}
        self._etags = itertools.count(1)

    def _next_etag(self) -> str:
        return f'"{next(self._etags):016x}"'

    def secret(self, name: str | SecretName) -> StoredSecret:
        key = name if isinstance(name, SecretName) else parse_secret_name(name)
        stored = self._secrets.get(key)
        if stored is None:
            raise RpcError(grpc.StatusCode.NOT_FOUND, f"Secret [{key}] not found.")
        return stored

    def create_secret(self, parent: str, secret_id: str, secret: Message) -> Message:
        project, location = parse_parent(parent)
        if _SECRET_ID.match(secret_id) is None:
            raise invalid(
                f"secret_id {secret_id!r} must be 1-255 characters of letters, digits, '-' or '_'"
            )
        name = SecretName(project, location, secret_id)
        if location is None and not secret.HasField("replication"):
            raise invalid(f"Secret [{name}]: replication must be specified")
        _reject_not_emulated(_set_fields(secret))
        _validate_meta(secret)
        if name in self._secrets:
            raise RpcError(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
        if secret.version_aliases:
            raise invalid(f"Secret [{name}]: version_aliases name versions it does not have yet")
        meta = SecretPb()
        meta.CopyFrom(secret)
        for output_only in ("name", "create_time", "etag"):
            meta.ClearField(output_only)
        stored = StoredSecret(name, meta, self._clock(), self._next_etag())
        self._secrets[name] = stored
        return stored.to_pb()

    def get_secret(self, name: str) -> Message:
        return self.secret(name).to_pb()

    def list_secrets(
        self, parent: str, page_size: int, page_token: str, filter_text: str
    ) -> tuple[list[Message], str, int]:
        project, location = parse_parent(parent)
        terms = parse_filter(filter_text)
        check_fields(terms, SecretPb, ("name", "labels."))
        matching = [
            stored.to_pb()
            for key, stored in sorted(self._secrets.items(), key=lambda item: str(item[0]))
            if key.project == project and key.location == location
            and all(_secret_matches(stored, term) for term in terms)
        ]
        page, token = paginate(matching, page_size, page_token)
        return page, token, len(matching)

    def update_secret(self, secret: Message, paths: Sequence[str]) -> Message:
        stored = self.secret(secret.name)
        if not paths:
            raise invalid(f"Secret [{stored.name}]: update_mask must name at least one field")
        _check_etag(secret.etag, stored.etag, f"Secret [{stored.name}]")
        _reject_not_emulated(paths)
        for path in paths:
            if path not in _UPDATABLE:
                raise invalid(f"Secret [{stored.name}]: field {path!r} cannot be updated")
        _validate_meta(secret)
        if "version_aliases" in paths:
            for alias, number in secret.version_aliases.items():
                if number not in stored.versions:
                    raise invalid(
                        f"Secret [{stored.name}]: alias {alias!r} names version {number}, "
                        "which does not exist"
                    )
        for path in paths:
            stored.meta.ClearField(path)
            source = getattr(secret, path)
            target = getattr(stored.meta, path)
            if path == "topics":
                target.extend(source)
            else:
                target.update(source)
        stored.etag = self._next_etag()
        return stored.to_pb()

    def delete_secret(self, name: str, etag: str) -> Message:
        stored = self.secret(name)
        _check_etag(etag, stored.etag, f"Secret [{stored.name}]")
        del self._secrets[stored.name]
        return stored.to_pb()

    def add_version(self, parent: str, data: bytes, checksum: int | None) -> Message:
        stored = self.secret(parent)
        if len(data) > MAX_PAYLOAD_BYTES:
            raise invalid(
                f"Secret [{stored.name}]: payload is {len(data)} bytes; "
                f"at most {MAX_PAYLOAD_BYTES} (64 KiB) are allowed"
            )
        actual = crc32c(data)
        if checksum is not None and checksum != actual:
            raise invalid(
                f"Secret [{stored.name}]: payload.data_crc32c does not match the payload data"
            )
        number = max(stored.versions, default=0) + 1
        version = StoredVersion(
            number=number,
            create_time=self._clock(),
            data=data,
            checksum=actual,
            client_checksum=checksum is not None,
            etag=self._next_etag(),
        )
        stored.versions[number] = version
        return stored.version_pb(version)

    def _resolve(
        self, name: str, *, aliases: bool
    ) -> tuple[StoredSecret, StoredVersion]:
        secret_name, version_id = parse_version_name(name)
        stored = self._secrets.get(secret_name)
        if stored is None:
            raise RpcError(
                grpc.StatusCode.NOT_FOUND,
                f"Secret [{secret_name}] not found or has no versions.",
            )
        if version_id.isdigit() and int(version_id) > 0:
            number = int(version_id)
        elif version_id == "latest" and aliases:
            if not stored.versions:
                raise RpcError(
                    grpc.StatusCode.NOT_FOUND,
                    f"Secret [{secret_name}] not found or has no versions.",
                )
            number = max(stored.versions)
        elif aliases and version_id in stored.meta.version_aliases:
            number = stored.meta.version_aliases[version_id]
        elif aliases:
            raise RpcError(
                grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found."
            )
        else:
            raise invalid(f"version {version_id!r} in {name!r}: this call takes a version number")
        version = stored.versions.get(number)
        if version is None:
            raise RpcError(
                grpc.StatusCode.NOT_FOUND,
                f"Secret Version [{secret_name}/versions/{number}] not found.",
            )
        return stored, version

    def get_version(self, name: str) -> Message:
        stored, version = self._resolve(name, aliases=True)
        return stored.version_pb(version)

    def access_version(self, name: str) -> Accessed:
        stored, version = self._resolve(name, aliases=True)
        full_name = f"{stored.name}/versions/{version.number}"
        if version.state != State.ENABLED or version.data is None:
            raise RpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{full_name}] is in {State.Name(version.state)} state.",
            )
        return Accessed(full_name, version.data, version.checksum)

    def list_versions(
        self, parent: str, page_size: int, page_token: str, filter_text: str
    ) -> tuple[list[Message], str, int]:
        stored = self.secret(parent)
        terms = parse_filter(filter_text)
        check_fields(terms, SecretVersionPb, ("name", "state"))
        matching = [
            stored.version_pb(version)
            for number, version in sorted(stored.versions.items(), reverse=True)
            if all(_version_matches(stored, version, term) for term in terms)
        ]
        page, token = paginate(matching, page_size, page_token)
        return page, token, len(matching)

    def set_state(self, name: str, state: int, etag: str) -> Message:
        """Enable, disable or destroy a version; a destroyed one stays destroyed."""
        stored, version = self._resolve(name, aliases=False)
        full_name = f"{stored.name}/versions/{version.number}"
        _check_etag(etag, version.etag, f"Secret Version [{full_name}]")
        if version.state == State.DESTROYED:
            raise RpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{full_name}] is in DESTROYED state.",
            )
        version.state = state
        if state == State.DESTROYED:
            version.data = None
            version.destroy_time = self._clock()
        version.etag = self._next_etag()
        return stored.version_pb(version)


def _check_etag(given: str, current: str, what: str) -> None:
    if given and given != current:
        raise RpcError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"{what}: etag {given} does not match the current etag",
        )


def _set_fields(secret: Message) -> list[str]:
    """The secret's set fields, and the replication fields that carry encryption keys."""
    paths = [f.name for f, _ in secret.ListFields()]
    replication = secret.replication
    if replication.automatic.HasField("customer_managed_encryption"):
        paths.append("replication.automatic.customer_managed_encryption")
    for index, replica in enumerate(replication.user_managed.replicas):
        if replica.HasField("customer_managed_encryption"):
            paths.append(f"replication.user_managed.replicas[{index}].customer_managed_encryption")
    return paths


def _reject_not_emulated(paths: Iterable[str]) -> None:
    for path in paths:
        if path.split(".")[0] in _NOT_EMULATED or path.endswith("customer_managed_encryption"):
            raise unimplemented(
                f"Secret field {path!r} is not implemented by the Secret Manager emulator"
            )


def _validate_meta(secret: Message) -> None:
    for key, value in secret.labels.items():
        if _LABEL_KEY.match(key) is None:
            raise invalid(f"label key {key!r} must match [a-z][a-z0-9_-]{{0,62}}")
        if _LABEL_VALUE.match(value) is None:
            raise invalid(f"label {key!r}: value must match [a-z0-9_-]{{0,63}}")
    if len(secret.topics) > MAX_TOPICS:
        raise invalid(f"topics: at most {MAX_TOPICS} are allowed, got {len(secret.topics)}")
    for topic in secret.topics:
        if _TOPIC.match(topic.name) is None:
            raise invalid(f"topics: {topic.name!r} is not projects/PROJECT/topics/TOPIC")
    for alias in secret.version_aliases:
        if _ALIAS.match(alias) is None or alias == "latest":
            raise invalid(f"version alias {alias!r} must be 1-63 letters, digits, '-' or '_'")


def _secret_matches(stored: StoredSecret, term: Term) -> bool:
    if term.field == "name":
        return term.matches(str(stored.name))
    label = stored.meta.labels.get(term.field.removeprefix("labels."))
    return label is not None and term.matches(label)


def _version_matches(stored: StoredSecret, version: StoredVersion, term: Term) -> bool:
    if term.field == "state":
        return State.Name(version.state) == term.value.upper()
    return term.matches(f"{stored.name}/versions/{version.number}")
