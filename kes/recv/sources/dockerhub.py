"""DockerHub: image pushes. Docker Hub signs nothing: the secret route is the only
protection, so the key file should hold enough randomness (20 bytes or more)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from kes.recv.config import EndpointConfig
from kes.recv.source import (
    Delivery,
    Options,
    Selected,
    Source,
    Verdict,
    accepted,
    malformed,
    read_key,
    route_digest,
)


class DockerHub:
    async def verify(self, delivery: Delivery) -> Verdict:
        try:
            payload = json.loads(delivery.body)
        except ValueError:
            return malformed("bad_payload")
        if not (
            isinstance(payload, Mapping)
            and isinstance(payload.get("push_data"), Mapping)
            and isinstance(payload.get("repository"), Mapping)
        ):
            return malformed("bad_payload")
        return accepted("push", Selected())

    async def close(self) -> None:
        return None


def build(endpoint: EndpointConfig) -> tuple[str, Source]:
    Options(endpoint).done()
    return route_digest(read_key(endpoint)), DockerHub()
