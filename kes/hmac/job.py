"""`kes hmac`: apply a token plan in an order that is safe to interrupt anywhere.

A plan that would delete most managed hooks, or that comes from a config without a
managed_webhooks section, stops the run before the token store or a hook is written unless
--allow-mass-removal is given. Then:

1. stage: write a version holding every old token plus the new ones;
2. propagate: wait until the cluster serves that version (and a grace for the kubelet);
3. hooks: create, edit or delete hooks; each then signs with a token the receiver holds;
4. prune: write each key down to its newest token (keys whose hook change failed keep
   all of theirs), wait for that version, then destroy the versions it supersedes.

The store only loses a token in step 4, once no hook signs with it. A run killed
anywhere else leaves the previous map or a superset of it, and the next run treats a
key with several tokens as an unfinished rotation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from kes.errors import KesError
from kes.gsm import SecretManager
from kes.hmac.config import ManagedWebhooks
from kes.hmac.github import FoundHook, GitHubCallError, HookClient
from kes.hmac.github_api import Api, ApiSettings
from kes.hmac.github_auth import AppCredentials, Credentials, TokenCredentials
from kes.hmac.options import DEFAULT_MASS_REMOVAL_THRESHOLD, HmacOptions
from kes.hmac.plan import HookAction, KeyPlan, Plan, format_plan, make_plan, mass_removal
from kes.hmac.propagation import ExternalSecretPropagation, Propagation, PropagationTimeout
from kes.hmac.prow_config import load_managed_webhooks
from kes.hmac.store import Stored, TokenStore
from kes.kube import Kube, load_cluster
from kes.names import SecretVersionName
from kes.tokens import (
    GLOBAL_KEY,
    Token,
    TokenMap,
    dump_token_map,
    new_token,
    parse_token_map,
    token_values,
)

# Names passed to the checkpoint after each step (and "hook:<key>" after each hook change).
STEPS = ("invitations", "stage", "propagate", "hooks", "prune", "destroy")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _no_checkpoint(step: str) -> None:
    """The default: runs straight through."""


class MassRemovalRefused(KesError):
    """The plan removes too much to be applied without --allow-mass-removal."""


@dataclass
class Report:
    plan: Plan | None = None
    # Key -> why it was skipped or why its hook change failed (it keeps its tokens).
    failures: dict[str, str] = field(default_factory=dict)
    versions_written: list[SecretVersionName] = field(default_factory=list)
    versions_destroyed: list[SecretVersionName] = field(default_factory=list)
    invitations_accepted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class HmacJob:
    """One run. `checkpoint(name)` is called after each step in STEPS and after each
    hook change ("hook:<key>"); an exception raised there stops the run the way a kill
    would, which is how the tests check that every stopping point is safe."""

    config: ManagedWebhooks
    store: TokenStore
    github: HookClient
    propagation: Propagation | None  # None: not checked, which only a dry run allows
    hook_url: str
    dry_run: bool = True
    allow_mass_removal: bool = False
    mass_removal_threshold: float = DEFAULT_MASS_REMOVAL_THRESHOLD
    config_source: str | None = None  # printed first: where managed_webhooks came from
    out: TextIO | None = None  # None: sys.stdout as it is when printing
    checkpoint: Callable[[str], None] = _no_checkpoint
    now: Callable[[], dt.datetime] = _utcnow
    generate: Callable[[dt.datetime], Token] = new_token
    report: Report = field(default_factory=Report)

    async def run(self) -> Report:
        if self.propagation is None and not self.dry_run:
            raise KesError(
                "--wait-for-externalsecret NAMESPACE/NAME is required with --dry-run=false: "
                "no hook may change before the cluster serves the new tokens"
            )
        if self.config_source:
            self.say(self.config_source)
        stored = await self.store.read()
        tokens = parse_token_map(
            stored.data,
            respect_legacy_global_token=self.config.respect_legacy_global_token,
            source=str(stored.version or self.store.secret_name),
        )
        await self.accept_invitations()
        self.checkpoint("invitations")
        hooks, skipped = await self.find_hooks(set(self.config.org_repo_config) | set(tokens))
        plan = make_plan(self.config, tokens, hooks.keys(), self.now(), self.generate, skipped)
        self.report.plan = plan
        self.report.failures.update(skipped)
        if not stored.secret_exists:
            self.say(f"secret {self.store.secret_name} does not exist yet: it will be created")
        self.say(format_plan(plan))
        if self.propagation is None:
            self.say("propagation: not checked (no --wait-for-externalsecret)")
        else:
            self.say(f"propagation: {self.propagation.describe()}")
        self.check_removals(plan, len(hooks))
        if self.dry_run or self.propagation is None:
            self.say("dry run: nothing was written (pass --dry-run=false to apply)")
            return self.report
        staged_version = await self.stage(plan, stored)
        self.checkpoint("stage")
        await self.propagate(self.propagation, plan, staged_version)
        self.checkpoint("propagate")
        held_back = await self.change_hooks(plan, hooks)
        self.checkpoint("hooks")
        latest, final = await self.prune(plan, held_back, staged_version, tokens)
        self.checkpoint("prune")
        if latest is not None:
            await self.destroy_superseded(self.propagation, latest, final)
        self.checkpoint("destroy")
        return self.report

    def say(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)

    def check_removals(self, plan: Plan, hooks_found: int) -> None:
        """A plan removing most hooks, or made without a managed_webhooks section, is
        far more often a broken config than an intent: it needs --allow-mass-removal."""
        refusal = mass_removal(plan, self.config, hooks_found, self.mass_removal_threshold)
        if refusal is None:
            return
        if not self.allow_mass_removal:
            raise MassRemovalRefused(f"refused: {refusal}; pass --allow-mass-removal to apply it")
        self.say(f"--allow-mass-removal: {refusal}")

    async def accept_invitations(self) -> None:
        """Admin invitations to configured repos and orgs only; the rest stay pending."""
        if not self.config.auto_accept_invitation:
            return
        if not self.github.credentials.is_user:
            self.say("invitations: none to accept: a GitHub App is installed, never invited")
            return
        configured = self.config.org_repo_config
        for repo_invitation in await asyncio.to_thread(self.github.repo_invitations):
            if repo_invitation.permissions != "admin" or repo_invitation.repo not in configured:
                self.say(f"invitation to {repo_invitation.repo} "
                         f"({repo_invitation.permissions}): left pending")
                continue
            await self._accept(
                repo_invitation.repo,
                functools.partial(self.github.accept_repo_invitation, repo_invitation),
            )
        for org_invitation in await asyncio.to_thread(self.github.pending_org_invitations):
            org = org_invitation.org
            wanted = any(k == org or k.startswith(org + "/") for k in configured)
            if org_invitation.role != "admin" or not wanted:
                self.say(f"invitation to org {org} ({org_invitation.role}): left pending")
                continue
            await self._accept(
                org, functools.partial(self.github.accept_org_invitation, org_invitation)
            )

    async def _accept(self, target: str, accept: Callable[[], None]) -> None:
        if self.dry_run:
            self.say(f"invitation to {target}: would accept")
            return
        await asyncio.to_thread(accept)
        self.report.invitations_accepted.append(target)
        self.say(f"invitation to {target}: accepted")

    async def find_hooks(self, keys: set[str]) -> tuple[dict[str, FoundHook], dict[str, str]]:
        """Each key's hook with the managed URL; keys that could not be read, with why."""
        hooks: dict[str, FoundHook] = {}
        skipped: dict[str, str] = {}
        for key in sorted(keys - {GLOBAL_KEY}):
            try:
                hook = await asyncio.to_thread(self.github.find_hook, key, self.hook_url)
            except GitHubCallError as err:
                skipped[key] = str(err)
                continue
            if hook is not None:
                hooks[key] = hook
        return hooks, skipped

    async def stage(self, plan: Plan, stored: Stored) -> SecretVersionName | None:
        """Step 1: the store gains the new tokens and loses none."""
        if not stored.secret_exists:
            await self.store.create()
            self.say(f"created secret {self.store.secret_name}")
        if not plan.adds_tokens:
            return stored.version
        version = await self.store.write(dump_token_map(plan.staged))
        self.report.versions_written.append(version)
        self.say(f"wrote {version}: stored tokens plus the new ones")
        return version

    async def propagate(
        self, propagation: Propagation, plan: Plan, version: SecretVersionName | None
    ) -> None:
        """Step 2: no hook signs with a token before the receiver holds it."""
        if version is None or not any(
            k.hook in (HookAction.CREATE, HookAction.EDIT) for k in plan.keys
        ):
            return
        try:
            await propagation.wait(version, token_values(plan.staged))
        except PropagationTimeout as err:
            raise PropagationTimeout(f"{err}; no webhook was changed") from None
        self.say(f"{version} has reached the cluster")

    async def change_hooks(self, plan: Plan, hooks: Mapping[str, FoundHook]) -> set[str]:
        """Step 3; returns the keys whose change failed (they keep all their tokens)."""
        failed: set[str] = set()
        for item in plan.hook_changes:
            try:
                await asyncio.to_thread(self._change_hook, item, hooks.get(item.key))
            except GitHubCallError as err:
                failed.add(item.key)
                self.report.failures[item.key] = str(err)
                self.say(f"hook {item.key}: {item.hook.value} failed; its tokens are kept: {err}")
                continue
            self.say(f"hook {item.key}: {item.hook.past}")
            self.checkpoint(f"hook:{item.key}")
        return failed

    def _change_hook(self, item: KeyPlan, hook: FoundHook | None) -> None:
        if item.hook is HookAction.DELETE:
            assert hook is not None, "a delete is planned only for a hook that was found"
            self.github.delete_hook(item.key, hook)
            return
        assert item.signing_token is not None, "a create or edit always names its token"
        secret = item.signing_token.value
        if hook is None:
            self.github.create_hook(item.key, self.hook_url, secret)
        else:
            self.github.edit_hook(item.key, hook, self.hook_url, secret)

    async def prune(
        self, plan: Plan, held_back: set[str], version: SecretVersionName | None, stored: TokenMap
    ) -> tuple[SecretVersionName | None, dict[str, tuple[Token, ...]]]:
        """Step 4a: each key down to its newest token; returns the latest version.

        Maps are compared, not bytes: a map Prow wrote, or a legacy single token, is
        rewritten only when a token actually changes."""
        final = plan.pruned(held_back)
        current = plan.staged if plan.adds_tokens else stored
        if final == dict(current):
            return version, final
        latest = await self.store.write(dump_token_map(final))
        self.report.versions_written.append(latest)
        self.say(f"wrote {latest}: newest token per key")
        return latest, final

    async def destroy_superseded(
        self,
        propagation: Propagation,
        latest: SecretVersionName,
        final: Mapping[str, tuple[Token, ...]],
    ) -> None:
        """Step 4b: once `latest` is served, no older version may still give out a token."""
        superseded = await self.store.superseded(latest)
        if not superseded:
            return
        try:
            await propagation.wait(latest, token_values(final))
        except PropagationTimeout as err:
            raise PropagationTimeout(
                f"{err}; the hooks are done, and a later run destroys the superseded versions"
            ) from None
        for version in superseded:
            await self.store.destroy(version)
            self.report.versions_destroyed.append(version)
            self.say(f"destroyed {version}")


def main(options: HmacOptions, out: TextIO | None = None) -> int:
    """Run the job once; 0 when every key is in line, 1 otherwise (a re-run continues)."""
    for notice in options.notices:
        print(f"kes hmac: notice: {notice}", file=sys.stderr)
    try:
        options.check()
        report = asyncio.run(_run(options, out))
    except KesError as err:
        print(f"kes hmac: {err}", file=sys.stderr)
        return 1
    for target, error in sorted(report.failures.items()):
        print(f"kes hmac: {target}: {error}", file=sys.stderr)
    return 0 if report.ok else 1


async def _run(options: HmacOptions, out: TextIO | None) -> Report:
    loaded = load_managed_webhooks(
        options.config_path,
        options.supplemental_config_dirs,
        options.supplemental_config_suffix,
        now=_utcnow(),
    )
    api = Api(ApiSettings(
        endpoints=options.github_endpoints,
        hourly_tokens=options.github_hourly_tokens,
        allowed_burst=options.github_allowed_burst,
    ))
    github = HookClient(_credentials(options, api), api)
    gsm = SecretManager()
    target = _wait_target(options)
    kube = Kube(load_cluster(options.kubeconfig, options.context)) if target else None
    try:
        job = HmacJob(
            config=loaded.managed_webhooks,
            store=TokenStore(gsm, options.gsm_project, options.gsm_secret),
            github=github,
            propagation=_propagation(options, target, kube),
            hook_url=options.hook_url,
            dry_run=options.dry_run,
            allow_mass_removal=options.allow_mass_removal,
            mass_removal_threshold=options.mass_removal_threshold,
            config_source=loaded.describe(),
            out=out,
        )
        return await job.run()
    finally:
        github.close()
        await gsm.close()
        if kube is not None:
            await kube.close()


def _credentials(options: HmacOptions, api: Api) -> Credentials:
    if options.github_token_path:
        return TokenCredentials.from_file(options.github_token_path)
    assert options.github_app_id and options.github_app_private_key_path, "checked first"
    return AppCredentials.from_file(
        options.github_app_id, options.github_app_private_key_path, api
    )


def _wait_target(options: HmacOptions) -> tuple[str, str] | None:
    """The ExternalSecret to wait for, as (namespace, name)."""
    if options.wait_for_externalsecret is None:
        return None
    namespace, slash, name = options.wait_for_externalsecret.partition("/")
    if not slash or not namespace or not name or "/" in name:
        raise KesError(
            f"--wait-for-externalsecret {options.wait_for_externalsecret!r}: "
            "expected NAMESPACE/NAME"
        )
    return namespace, name


def _propagation(
    options: HmacOptions, target: tuple[str, str] | None, kube: Kube | None
) -> Propagation | None:
    if target is None or kube is None:
        return None
    return ExternalSecretPropagation(
        kube,
        *target,
        grace=options.propagation_grace,
        timeout=options.propagation_timeout,
        poll_interval=options.propagation_poll_interval,
    )
