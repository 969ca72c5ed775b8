"""GitHub: deliveries signed with the endpoint's key (the key file's bytes as they are).

`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(key, raw body)>`, or from older senders
only `X-Hub-Signature: sha1=<hex>`; compared in constant time. A `ping` answers
pong, a `push` refreshes the endpoint's ExternalSecrets, any other event is
acknowledged and ignored. Payloads come as JSON or, for hooks configured with
content type `form`, as the form field `payload`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from kes.recv.config import EndpointConfig
from kes.recv.source import (
    Delivery,
    Options,
    Selected,
    Source,
    Verdict,
    accepted,
    ignored,
    malformed,
    read_key,
    route_digest,
    unauthorized,
)

EVENT_HEADER = "X-GitHub-Event"
_DIGESTS = (("X-Hub-Signature-256", "sha256", hashlib.sha256), ("X-Hub-Signature", "sha1",
                                                                   hashlib.sha1))


def signed_by_one_of(delivery: Delivery, keys: Iterable[bytes]) -> bool:
    """Whether the strongest signature header present is the HMAC of the body under
    one of `keys`; when a sha256 signature is sent, a sha1 one is never considered."""
    for header, prefix, digest in _DIGESTS:
        sent = delivery.headers.get(header)
        if sent is None:
            continue
        scheme, _, hex_signature = sent.partition("=")
        if scheme != prefix:
            return False
        found = False
        for key in keys:
            expected = hmac.new(key, delivery.body, digest).hexdigest()
            found |= hmac.compare_digest(expected.encode(), hex_signature.encode())
        return found
    return False


def payload_of(delivery: Delivery) -> Mapping[str, Any] | None:
    """The event payload, a JSON object, or None when the body is not one."""
    body = delivery.body
    content_type = delivery.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    try:
        if content_type == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
            body = fields["payload"][0].encode()
        elif content_type != "application/json":
            return None
        payload = json.loads(body)
    except (ValueError, KeyError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return payload if isinstance(payload, dict) else None


def event_verdict(event: str) -> Verdict:
    """What a verified event asks for."""
    if event == "ping":
        return ignored("ping", text="pong")
    if event == "push":
        return accepted("push", Selected())
    return ignored("event_ignored")


def check_event(delivery: Delivery, keys: Iterable[bytes]) -> Verdict:
    """Signature first, then the event and its payload."""
    if not signed_by_one_of(delivery, keys):
        return unauthorized("bad_signature")
    event = delivery.headers.get(EVENT_HEADER)
    if not event:
        return malformed("no_event")
    if payload_of(delivery) is None:
        return malformed("bad_payload")
    return event_verdict(event)


class GitHub:
    def __init__(self, key: bytes) -> None:
        self._key = key

    async def verify(self, delivery: Delivery) -> Verdict:
        return check_event(delivery, (self._key,))

    async def close(self) -> None:
        return None


def build(endpoint: EndpointConfig) -> tuple[str, Source]:
    Options(endpoint).done()
    key = read_key(endpoint)
    return route_digest(key), GitHub(key)
