"""How kes hmac reaches GitHub's API: every PyGithub object it uses is made here, with
the same endpoints, retries, pacing and throttle.

Endpoints are Prow's `--github-endpoint` list (typically ghproxy, then the API itself).
A call goes to the endpoint that last answered (the first one to begin with) and moves
on to the next when one cannot be reached; after a round in which none could, it waits
and tries again, up to `retries` more rounds. GitHub's own answers (4xx, 5xx, rate
limits) are not a reason to move: PyGithub's retry handles those on the same endpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from github import Auth, Github, GithubIntegration, GithubRetry
from urllib3.util.retry import Retry

from kes.errors import KesError
from kes.hmac.throttle import Throttle

# PyGithub logs request bodies at DEBUG, and hook bodies carry the secret.
_REQUEST_LOG = "github.Requester"
# Failures to reach an endpoint, as requests raises them from PyGithub's calls.
_UNREACHABLE = (requests.ConnectionError, requests.Timeout)

T = TypeVar("T")


class Unreachable(KesError):
    """No endpoint could be reached; the message names each and what went wrong."""


@dataclass(frozen=True)
class ApiSettings:
    """The pacing defaults are PyGithub's, which follow GitHub's advice against
    secondary rate limits; the emulator needs none. A zero `hourly_tokens` means no
    throttle, as in Prow."""

    endpoints: tuple[str, ...]
    retries: int = 5
    backoff: float = 1.0
    secondary_rate_wait: float = 60.0
    seconds_between_requests: float = 0.25
    seconds_between_writes: float = 1.0
    hourly_tokens: int = 0
    allowed_burst: int = 0


class Api:
    def __init__(
        self,
        settings: ApiSettings,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.endpoints:
            raise KesError("at least one GitHub endpoint is needed")
        logging.getLogger(_REQUEST_LOG).setLevel(logging.INFO)
        self.settings = settings
        self._sleep = sleep
        self._current = 0
        self._throttle = (
            Throttle(settings.hourly_tokens, settings.allowed_burst, clock, sleep)
            if settings.hourly_tokens
            else None
        )

    def call(self, action: Callable[[str], T]) -> T:
        """`action(endpoint)` on the first endpoint that can be reached."""
        endpoints = self.settings.endpoints
        failures: dict[str, str] = {}
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self._sleep(self.settings.backoff * 2 ** (attempt - 1))
            for step in range(len(endpoints)):
                index = (self._current + step) % len(endpoints)
                try:
                    result = action(endpoints[index])
                except _UNREACHABLE as err:
                    failures[endpoints[index]] = type(err).__name__
                    continue
                self._current = index
                return result
        raise Unreachable(
            "no GitHub endpoint could be reached: "
            + ", ".join(f"{endpoint} ({why})" for endpoint, why in failures.items())
        )

    def github(self, endpoint: str, token: Callable[[], str]) -> Github:
        """A client whose requests carry `token()`, asked for each request so that a
        token which expires can be replaced in time."""
        # Lazy: objects are not fetched before their hooks are, saving a call per key.
        return Github(
            auth=_ThrottledToken(token, self._throttle),
            base_url=endpoint,
            retry=self._retry(),
            lazy=True,
            seconds_between_requests=self.settings.seconds_between_requests,
            seconds_between_writes=self.settings.seconds_between_writes,
        )

    def integration(self, endpoint: str, app_id: str, private_key: str) -> GithubIntegration:
        """A client acting as the GitHub App itself (a JWT signed by PyGithub's AppAuth)."""
        return GithubIntegration(
            auth=_ThrottledAppAuth(app_id, private_key, self._throttle),
            base_url=endpoint,
            retry=self._retry(),
            lazy=True,
            seconds_between_requests=self.settings.seconds_between_requests,
            seconds_between_writes=self.settings.seconds_between_writes,
        )

    def _retry(self) -> GithubRetry:
        return GithubRetry(
            total=self.settings.retries,
            # An endpoint that cannot be reached is left to `call`, which moves on.
            connect=0,
            backoff_factor=self.settings.backoff,
            secondary_rate_wait=self.settings.secondary_rate_wait,
            # PATCH sends a hook's whole config, so repeating it is harmless. A POST
            # repeated after a lost answer cannot make a second hook: GitHub answers 422
            # "Hook already exists" for a hook with the same URL (so does the emulator),
            # the key is held back with all its tokens, and the next run edits the hook.
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"},
        )


class _ThrottledToken(Auth.Auth):
    """PyGithub asks its auth for every request's header: the one place where each
    request can wait for the throttle."""

    def __init__(self, token: Callable[[], str], throttle: Throttle | None) -> None:
        self._token = token
        self._throttle = throttle

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._token()

    def authentication(self, headers: dict[str, str]) -> None:
        if self._throttle is not None:
            self._throttle.take()
        super().authentication(headers)

    @property
    def _masked_token(self) -> str:
        return "token (removed)"


class _ThrottledAppAuth(Auth.AppAuth):
    """The App's own requests (installations, installation tokens) count too."""

    def __init__(self, app_id: str, private_key: str, throttle: Throttle | None) -> None:
        super().__init__(app_id, private_key)
        self._throttle = throttle

    def authentication(self, headers: dict[str, str]) -> None:
        if self._throttle is not None:
            self._throttle.take()
        super().authentication(headers)
