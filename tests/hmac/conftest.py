"""Emulated GitHub and Secret Manager, a webhook receiver, and a harness to run the job."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kes.gsm import RetryPolicy, SecretManager
from kes.hmac.config import ManagedWebhooks, parse_managed_webhooks
from kes.hmac.github import HookClient
from kes.hmac.github_api import Api, ApiSettings
from kes.hmac.github_auth import Credentials, TokenCredentials
from kes.hmac.job import HmacJob
from kes.hmac.propagation import Propagation
from kes.hmac.store import TokenStore
from kes.names import SecretName, SecretVersionName
from kes.tokens import GLOBAL_KEY, Token, TokenMap, dump_token_map, parse_token_map
from kes_emulators.github import GitHubEmulator
from kes_emulators.gsm import SecretManagerEmulator

PROJECT = "prow-project"
SECRET = "hmac-tokens"
SECRET_NAME = SecretName(PROJECT, SECRET)
BOT_TOKEN = "ghp_bot"
BOT = "prow-bot"
APP_ID = 4242
REPOS = ("foo/bar", "foo/baz", "foo/bax", "qux/one")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
OLD = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
WRITE_METHODS = (
    "CreateSecret", "AddSecretVersion", "DestroySecretVersion",
    "DisableSecretVersion", "EnableSecretVersion",
)


class FakeTime:
    """A clock that only the sleeps it is given move, so waits are exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class KeyPair:
    private_pem: str = field(repr=False)
    public_pem: str


def make_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private.decode(), public.decode())


@pytest.fixture(scope="session")
def app_key() -> KeyPair:
    """A GitHub App's key pair, made once per test process (RSA keys take a while)."""
    return make_key_pair()


@pytest.fixture(scope="session")
def other_key() -> KeyPair:
    """A key that belongs to no App."""
    return make_key_pair()


@dataclass
class Receiver:
    """A webhook endpoint that checks signatures the way Prow's hook does."""

    tokens: TokenMap = field(default_factory=dict)
    received: list[tuple[str, int]] = field(default_factory=list)  # (event, status)
    url: str = ""

    def tokens_for(self, payload: Mapping[str, Any]) -> tuple[Token, ...]:
        repo = (payload.get("repository") or {}).get("full_name")
        org = (payload.get("organization") or {}).get("login") or (repo or "").partition("/")[0]
        for key in (repo, org, GLOBAL_KEY):
            if key in self.tokens:
                return self.tokens[key]
        return ()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event = request.headers["X-GitHub-Event"]
        assert request.headers["X-GitHub-Delivery"]
        assert request.content_type == "application/json"
        signature = request.headers.get("X-Hub-Signature-256", "")
        valid = any(
            hmac.compare_digest(
                signature, "sha256=" + hmac.new(t.value.encode(), body, hashlib.sha256).hexdigest()
            )
            for t in self.tokens_for(json.loads(body))
        )
        status = 200 if valid else 401
        self.received.append((event, status))
        return web.Response(status=status)


@dataclass
class ReceiverPropagation:
    """Stands for the cluster: each awaited version is what the receiver checks against."""

    gsm: SecretManager
    receiver: Receiver
    waited: list[SecretVersionName] = field(default_factory=list)

    def describe(self) -> str:
        return "the test receiver loads each version"

    async def wait(self, version: SecretVersionName, tokens: Collection[str]) -> None:
        value = await self.gsm.access(version)
        self.receiver.tokens = parse_token_map(value.data, respect_legacy_global_token=True)
        held = {t.value for key_tokens in self.receiver.tokens.values() for t in key_tokens}
        assert set(tokens) <= held
        self.waited.append(version)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield found
    await runner.cleanup()


@pytest.fixture
async def gsm(gsm_emulator: SecretManagerEmulator) -> AsyncIterator[SecretManager]:
    client = SecretManager(
        emulator_host=gsm_emulator.address,
        retry=RetryPolicy(initial=0.0, maximum=0.0, deadline=5.0, jitter=0.0),
    )
    yield client
    await client.close()


@pytest.fixture
async def github() -> AsyncIterator[GitHubEmulator]:
    emulator = GitHubEmulator()
    emulator.add_token(
        BOT_TOKEN, BOT, ["admin:repo_hook", "admin:org_hook", "repo:invite", "write:org"]
    )
    for repo in REPOS:
        emulator.add_repo(repo, admins=[BOT])
    emulator.add_org("qux", admins=[BOT])
    await emulator.start()
    yield emulator
    await emulator.stop()


@dataclass
class Harness:
    gsm: SecretManager
    gsm_emulator: SecretManagerEmulator
    github: GitHubEmulator
    receiver: Receiver
    output: io.StringIO = field(default_factory=io.StringIO)
    propagation: ReceiverPropagation = field(init=False)

    def __post_init__(self) -> None:
        self.propagation = ReceiverPropagation(self.gsm, self.receiver)

    @property
    def hook_url(self) -> str:
        return self.receiver.url

    def job(
        self,
        org_repo_config: Mapping[str, str | None],
        *,
        respect_legacy_global_token: bool = False,
        auto_accept_invitation: bool = False,
        dry_run: bool = False,
        checkpoint: Callable[[str], None] | None = None,
        propagation: Propagation | None = None,
        unchecked: bool = False,
        token: str = BOT_TOKEN,
        credentials: Credentials | None = None,
        allow_mass_removal: bool = False,
    ) -> HmacJob:
        """`unchecked`: no propagation check at all, as without --wait-for-externalsecret.
        `credentials`: how the job authenticates (default: `token`)."""
        config = self.config(org_repo_config, respect_legacy_global_token, auto_accept_invitation)
        self.output = io.StringIO()
        extra: dict[str, Any] = {"checkpoint": checkpoint} if checkpoint else {}
        return HmacJob(
            config=config,
            store=TokenStore(self.gsm, PROJECT, SECRET),
            github=HookClient(credentials or TokenCredentials(token), self.api()),
            allow_mass_removal=allow_mass_removal,
            propagation=None if unchecked else propagation or self.propagation,
            hook_url=self.hook_url,
            dry_run=dry_run,
            out=self.output,
            now=lambda: NOW,
            **extra,
        )

    def api(self, *endpoints: str) -> Api:
        """Fast settings: no pacing, no backoff; the emulator unless `endpoints` are given."""
        return Api(ApiSettings(
            endpoints=endpoints or (self.github.url,), retries=2, backoff=0.0,
            seconds_between_requests=0.0, seconds_between_writes=0.0,
        ))

    @staticmethod
    def config(
        entries: Mapping[str, str | None], respect: bool = False, accept: bool = False
    ) -> ManagedWebhooks:
        """An entry of None is written empty (`foo/bar: {}`)."""
        return parse_managed_webhooks(
            {
                "respect_legacy_global_token": respect,
                "auto_accept_invitation": accept,
                "org_repo_config": {
                    k: {} if v is None else {"token_created_after": v} for k, v in entries.items()
                },
            },
            NOW,
        )

    async def seed(self, data: bytes) -> SecretVersionName:
        await self.gsm.create_secret(SECRET_NAME)
        return await self.gsm.add_version(SECRET_NAME, data)

    async def setup(self, secrets: Mapping[str, str]) -> None:
        """A store holding one old token per key, hooks signing with them, and the
        receiver already holding them."""
        tokens = {key: (Token(v, OLD),) for key, v in secrets.items()}
        await self.seed(dump_token_map(tokens))
        self.receiver.tokens = tokens
        for key, secret in secrets.items():
            if key != GLOBAL_KEY:
                self.github.add_hook(key, self.hook_url, secret)
        self.reset_counters()

    def reset_counters(self) -> None:
        self.github.calls.clear()
        self.gsm_emulator.counters.clear()

    async def stored(self) -> dict[str, tuple[Token, ...]]:
        value = await self.gsm.access(SECRET_NAME.version("latest"))
        self.receiver.tokens = parse_token_map(value.data, respect_legacy_global_token=True)
        return dict(self.receiver.tokens)

    async def readable_versions(self) -> list[SecretVersionName]:
        return [v.name for v in await self.gsm.list_versions(SECRET_NAME) if v.state != "DESTROYED"]

    def hook_secrets(self) -> dict[str, str | None]:
        """Managed hooks by key, with the secret each signs with."""
        found: dict[str, str | None] = {}
        for hook in self.github.hooks():
            if hook.url == self.hook_url:
                assert hook.owner not in found, f"two managed hooks on {hook.owner}"
                found[hook.owner] = hook.secret
        return found

    def gsm_writes(self) -> int:
        return sum(self.gsm_emulator.counters.calls[m] for m in WRITE_METHODS)

    async def assert_every_hook_verifies(self) -> None:
        """The crash-safety invariant: each managed hook signs with a token the receiver
        accepts, both with the tokens it holds now and once the latest stored map has
        reached it; checked by real signed deliveries."""
        await self.github.settle()
        await self._deliver_to_every_hook()
        await self.stored()
        await self._deliver_to_every_hook()

    async def _deliver_to_every_hook(self) -> None:
        """An event of each hooked repo (every repo of a hooked org), sent by every hook
        that covers it: the repo's and its org's."""
        hooks = self.hook_secrets()
        for owner, secret in hooks.items():
            assert secret is not None
            repos = [owner] if "/" in owner else [r for r in REPOS if r.startswith(owner + "/")]
            for repo in repos:
                covering = {repo, repo.partition("/")[0]} & set(hooks)
                deliveries = await self.github.deliver(repo, "push", {"ref": "refs/heads/main"})
                statuses = [d.status for d in deliveries]
                assert statuses == [200] * len(covering), f"a hook sending {repo} events fails"

    async def assert_converged(self, config: Mapping[str, str]) -> None:
        stored = await self.stored()
        hooks = self.hook_secrets()
        assert set(hooks) == set(config)
        for key in config:
            assert len(stored[key]) == 1, f"{key} still holds {len(stored[key])} tokens"
            assert hooks[key] == stored[key][0].value
        assert set(stored) - {GLOBAL_KEY} == set(config)
        assert len(await self.readable_versions()) == 1
        await self.assert_every_hook_verifies()


@pytest.fixture
def harness(
    gsm: SecretManager, gsm_emulator: SecretManagerEmulator, github: GitHubEmulator,
    receiver: Receiver,
) -> Harness:
    return Harness(gsm, gsm_emulator, github, receiver)

