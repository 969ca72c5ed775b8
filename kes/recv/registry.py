"""The webhook sources `kes recv` knows, by the name an endpoint's `source` gives,
and the endpoints a configuration builds from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kes.recv.config import EndpointConfig, RecvConfig, RecvConfigError
from kes.recv.source import Source
from kes.recv.sources import dockerhub, gcp_secret_manager_pubsub, github, github_prow_tokens

Build = Callable[[EndpointConfig], tuple[str, Source]]
"""Checks the endpoint's options, reads its key; returns its route (the part after
/hook/) and the source."""

SOURCES: dict[str, Build] = {
    "GitHub": github.build,
    "GitHubProwTokens": github_prow_tokens.build,
    "DockerHub": dockerhub.build,
    "GCPSecretManagerPubSub": gcp_secret_manager_pubsub.build,
}


@dataclass(frozen=True)
class Endpoint:
    config: EndpointConfig
    route: str
    source: Source

    @property
    def path(self) -> str:
        return f"/hook/{self.route}"

    @property
    def label(self) -> str:
        """How logs name it: never by its route, which is a secret for most sources."""
        return f"{self.config.where} ({self.config.source})"


def build_endpoints(config: RecvConfig) -> list[Endpoint]:
    """Every endpoint, or RecvConfigError for the first that cannot be served."""
    endpoints: list[Endpoint] = []
    for endpoint in config.endpoints:
        build = SOURCES.get(endpoint.source)
        if build is None:
            raise RecvConfigError(f"{config.path}: {endpoint.where}.source: "
                                  f"{endpoint.source!r} is not a source; known: "
                                  f"{', '.join(SOURCES)}")
        try:
            route, source = build(endpoint)
        except RecvConfigError as e:
            raise RecvConfigError(f"{config.path}: {e}") from None
        for other in endpoints:
            if other.route == route:
                raise RecvConfigError(
                    f"{config.path}: {endpoint.where}: the same route as {other.config.where} "
                    "(the same key file contents, or the same name): one would hide the other"
                )
        endpoints.append(Endpoint(endpoint, route, source))
    return endpoints
