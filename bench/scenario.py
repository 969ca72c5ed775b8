"""What a benchmark cluster holds: N ExternalSecrets over K Secret Manager versions.

Each ExternalSecret has D `data` entries reading properties of JSON secrets. Entry 0
reads a secret shared by about N/K ExternalSecrets of many namespaces; the last
entry reads a secret of its own when `unshared` is set (one version per object, the
case a per-object poller is built for), otherwise another shared one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

PROJECT = "bench-project"


@dataclass(frozen=True)
class Scenario:
    name: str
    externalsecrets: int
    entries: int = 3
    versions: int = 0
    """Distinct versions; 0 means N/10."""
    namespaces: int = 50
    interval: float = 10.0
    unshared: bool = False

    @property
    def distinct_versions(self) -> int:
        return self.versions or max(1, self.externalsecrets // 10)

    @property
    def shared_secrets(self) -> int:
        return self.distinct_versions - (self.externalsecrets if self.unshared else 0)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        return cls(**json.loads(text))

    def namespace_of(self, index: int) -> str:
        return f"team-{index % self.namespaces:02d}"

    def secrets_of(self, index: int) -> list[str]:
        """The secret ids entry 0..D-1 of ExternalSecret `index` reads."""
        shared = max(1, self.shared_secrets)
        ids = [f"shared-{(index * 7 + entry) % shared}" for entry in range(self.entries)]
        if self.unshared:
            ids[-1] = f"own-{index}"
        return ids

    def externalsecrets_manifests(self) -> Iterator[dict[str, Any]]:
        for index in range(self.externalsecrets):
            data = [
                {"key": secret, "name": f"value-{entry}", "property": f"field{entry}"}
                for entry, secret in enumerate(self.secrets_of(index))
            ]
            yield {
                "apiVersion": "kubernetes-client.io/v1",
                "kind": "ExternalSecret",
                "metadata": {"name": f"es-{index:06d}", "namespace": self.namespace_of(index)},
                "spec": {"backendType": "gcpSecretsManager", "projectId": PROJECT, "data": data},
            }

    def secret_ids(self) -> list[str]:
        ids = [f"shared-{i}" for i in range(max(1, self.shared_secrets))]
        if self.unshared:
            ids += [f"own-{i}" for i in range(self.externalsecrets)]
        return ids

    def readers_of(self, secret_id: str) -> list[tuple[str, str, int]]:
        """(namespace/name, Secret key, entry) of every data entry reading `secret_id`."""
        return [
            (f"{self.namespace_of(i)}/es-{i:06d}", f"value-{entry}", entry)
            for i in range(self.externalsecrets)
            for entry, read in enumerate(self.secrets_of(i))
            if read == secret_id
        ]


def field_value(secret_id: str, entry: int, generation: int) -> str:
    return f"{secret_id}-{entry}-g{generation}"


def payload(secret_id: str, generation: int) -> bytes:
    return json.dumps({
        f"field{entry}": field_value(secret_id, entry, generation) for entry in range(8)
    }).encode()


SCENARIOS = {
    "smoke": Scenario("smoke", 200, interval=5.0),
    "1k": Scenario("1k", 1_000),
    "10k": Scenario("10k", 10_000),
    "100k": Scenario("100k", 100_000),
    "10k-unshared": Scenario("10k-unshared", 10_000, unshared=True,
                             versions=10_000 + 1_000),
}
