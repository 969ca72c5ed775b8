"""`kes emulate`: start the emulators, say where they are, serve until told to stop.

Each emulator is one entry in `EMULATORS`: the top-level key of its section in the
seed file, and a launch function that builds, seeds and starts it and returns how
to reach it (lines to print, environment to export) and how to stop it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kes_emulators.apiserver import ApiServer
from kes_emulators.github import GITHUB_FLAG_USER, GitHubEmulator
from kes_emulators.google_oidc import GoogleTokenIssuer
from kes_emulators.gsm import SecretManagerEmulator
from kes_emulators.gsm.events import PushAuth
from kes_emulators.seed import SeedError


@dataclass(frozen=True)
class LaunchOptions:
    """The `kes emulate` flags every launch function may read."""

    host: str = "127.0.0.1"
    gsm_port: int = 0
    gsm_notify_url: str | None = None
    github_port: int = 0
    github_tokens: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (token, scopes)
    apiserver_port: int = 0
    kubeconfig_out: str | None = None
    rbac: bool = False


@dataclass
class Running:
    """One started emulator, as the launcher shows and stops it."""

    stop: Callable[[], Awaitable[None]]
    endpoints: list[str]
    environment: dict[str, str] = field(default_factory=dict)


Launch = Callable[[LaunchOptions, Mapping[str, Any] | None], Awaitable[Running]]


PUSH_SERVICE_ACCOUNT = "secretmanager-push@kes-emulator.iam.gserviceaccount.com"
"""Whose OIDC tokens the emulated push subscription sends (audience: the push URL)."""


async def launch_secret_manager(
    options: LaunchOptions, seed: Mapping[str, Any] | None
) -> Running:
    issuer = GoogleTokenIssuer(host=options.host) if options.gsm_notify_url else None
    emulator = SecretManagerEmulator(
        host=options.host, port=options.gsm_port, notify_url=options.gsm_notify_url,
        push_auth=PushAuth(issuer, PUSH_SERVICE_ACCOUNT) if issuer else None,
    )
    if seed is not None:
        emulator.seed(seed)
    endpoints = []
    if issuer is not None:
        await issuer.start()
        endpoints += [
            f"Secret Manager events: Pub/Sub push to {options.gsm_notify_url}",
            f"  with OIDC tokens of {PUSH_SERVICE_ACCOUNT} (audience: the push URL),",
            f"  verifiable with the certificates at {issuer.certs_url}",
        ]
    try:
        await emulator.start()
    except BaseException:
        if issuer is not None:
            await issuer.stop()
        raise

    async def stop() -> None:
        await emulator.stop()
        if issuer is not None:
            await issuer.stop()

    return Running(
        stop=stop,
        endpoints=[f"Secret Manager  grpc://{emulator.address}  (plaintext gRPC)", *endpoints],
        environment={"SECRET_MANAGER_EMULATOR_HOST": emulator.address},
    )


async def launch_github(options: LaunchOptions, seed: Mapping[str, Any] | None) -> Running:
    emulator = GitHubEmulator(host=options.host, port=options.github_port, seed=seed)
    for token, scopes in options.github_tokens:
        emulator.add_token(token, GITHUB_FLAG_USER, scopes)
    await emulator.start()
    return Running(
        stop=emulator.stop,
        endpoints=[f"GitHub          {emulator.url}  (REST: kes hmac --github-endpoint)"],
    )


async def launch_kubernetes(options: LaunchOptions, seed: Any) -> Running:
    server = ApiServer(tls=True, rbac=options.rbac)
    if seed is not None:
        if not isinstance(seed, list):
            raise SeedError("the seed section must be a list of Kubernetes objects")
        server.load(seed)
    await server.start(options.host, options.apiserver_port)
    path = options.kubeconfig_out or str(Path(tempfile.mkdtemp(prefix="kes-")) / "kubeconfig")
    kubeconfig = server.write_kubeconfig(path)
    rbac = "RBAC on" if options.rbac else "RBAC off"
    return Running(
        stop=server.stop,
        endpoints=[f"Kubernetes API  {server.url}  (HTTPS, {rbac}; admin kubeconfig {kubeconfig})"],
        environment={"KUBECONFIG": str(kubeconfig)},
    )


# (seed section key, launch function), started in this order, stopped in reverse.
EMULATORS: list[tuple[str, Launch]] = [
    ("secretmanager", launch_secret_manager),
    ("github", launch_github),
    ("kubernetes", launch_kubernetes),
]


class LaunchError(Exception):
    """A seed file or port problem, reported to the user without a traceback."""


def load_seed(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            seed = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        raise LaunchError(f"seed file {path}: {error}") from None
    if not isinstance(seed, dict):
        raise LaunchError(f"seed file {path}: the top level must be a mapping")
    known = [key for key, _ in EMULATORS]
    unknown = sorted(set(seed) - set(known))
    if unknown:
        raise LaunchError(f"seed file {path}: unknown sections {unknown}; known: {known}")
    return seed


async def serve(
    options: LaunchOptions, seed: Mapping[str, Any], stop: asyncio.Event | None = None
) -> None:
    """Start every emulator, print how to reach them, serve until `stop` or a signal."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running: list[Running] = []
    try:
        for key, launch in EMULATORS:
            try:
                running.append(await launch(options, seed.get(key)))
            except (ValueError, RuntimeError, OSError) as error:
                raise LaunchError(f"{key}: {error}") from None
        print("kes emulators are serving:")
        for emulator in running:
            for line in emulator.endpoints:
                print(f"  {line}")
        print("Environment for kes and other clients:")
        for emulator in running:
            for name, value in emulator.environment.items():
                print(f"export {name}={value}")
        print("Press Ctrl-C (or send SIGTERM) to stop.", flush=True)
        await stop.wait()
    finally:
        for emulator in reversed(running):
            await emulator.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    print("kes emulators stopped.", flush=True)


def run(
    *,
    host: str = "127.0.0.1",
    gsm_port: int = 0,
    seed_path: str | None = None,
    gsm_notify_url: str | None = None,
    github_port: int = 0,
    github_tokens: tuple[tuple[str, tuple[str, ...]], ...] = (),
    apiserver_port: int = 0,
    kubeconfig_out: str | None = None,
    rbac: bool = False,
) -> int:
    options = LaunchOptions(
        host=host, gsm_port=gsm_port, gsm_notify_url=gsm_notify_url,
        github_port=github_port, github_tokens=github_tokens,
        apiserver_port=apiserver_port, kubeconfig_out=kubeconfig_out, rbac=rbac,
    )
    try:
        asyncio.run(serve(options, load_seed(seed_path)))
    except LaunchError as error:
        print(f"kes emulate: {error}", file=sys.stderr)
        return 2
    return 0
