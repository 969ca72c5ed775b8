"""Pure planning: config + stored tokens + which hooks exist -> what to do per key.

Classification follows Prow's hmac tool: a key in config and store is rotated when
none of its tokens is newer than `token_created_after`; a key only in config is
onboarded; a key only in the store is removed (`*` is kept while the legacy global
token is respected). On top of that, a key holding several tokens is the trace of
an interrupted run, so its hook is re-pointed to the newest token before pruning,
and a configured key whose hook is missing gets it created.

The receiver checks an event for `O/R` against the tokens of `O/R` if stored, else
of `O`, else of `*`, whichever hook (repo or org) sent it. So while an org and its
repos' keys coexist, each repo key must also hold the token the org hook signs with.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from kes.hmac.config import ManagedWebhooks
from kes.tokens import GLOBAL_KEY, ZERO_TIME, Token, TokenMap, format_time, newest

# A copied global token sorts just before token_created_after, so pruning drops it.
_COPY_OFFSET = dt.timedelta(seconds=1)


class Action(enum.Enum):
    ROTATE = "rotate"
    ONBOARD = "onboard"
    REMOVE = "remove"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # its hook could not be looked up: left as it is


class HookAction(enum.Enum):
    CREATE = "create"
    EDIT = "edit"
    DELETE = "delete"
    NONE = "-"

    @property
    def past(self) -> str:
        return {"create": "created", "edit": "edited", "delete": "deleted"}.get(self.value, "-")


@dataclass(frozen=True)
class KeyPlan:
    key: str
    action: Action
    hook: HookAction
    reason: str
    # The token the hook must sign with after a create or edit.
    signing_token: Token | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Plan:
    keys: tuple[KeyPlan, ...]
    # Stored tokens plus the new ones: what the store holds while hooks change.
    staged: TokenMap = field(repr=False)
    adds_tokens: bool
    # Keys whose tokens pruning leaves as they are: skipped keys, and `*` while respected.
    kept_whole: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    @property
    def hook_changes(self) -> tuple[KeyPlan, ...]:
        return tuple(k for k in self.keys if k.hook is not HookAction.NONE)

    def pruned(self, held_back: Collection[str] = ()) -> dict[str, tuple[Token, ...]]:
        """Each key down to its newest token and removed keys dropped.

        Keys kept whole and keys in `held_back` (their hook change failed) keep every
        token, so whichever one their hook signs with stays valid until a later run; so
        do the kept repo keys of such an org, since the org's hook signs their events too.
        """
        whole = self.kept_whole | frozenset(held_back)
        result: dict[str, tuple[Token, ...]] = {}
        for key, tokens in self.staged.items():
            org, slash, _ = key.partition("/")
            if key in whole or (slash and org in whole and key not in self.removed):
                result[key] = tokens
            elif key not in self.removed:
                result[key] = (newest(tokens),)
        return result


def make_plan(
    config: ManagedWebhooks,
    stored: TokenMap,
    hooked_keys: Collection[str],
    now: dt.datetime,
    generate: Callable[[dt.datetime], Token],
    skipped: Mapping[str, str] | None = None,
) -> Plan:
    """`hooked_keys`: keys whose org or repo has a hook with the managed URL;
    `skipped`: keys whose hooks could not be looked up, with the reason."""
    skipped = skipped or {}
    staged: dict[str, tuple[Token, ...]] = dict(stored)
    keys: list[KeyPlan] = []
    adds_tokens = False

    def set_hook(key: str) -> HookAction:
        return HookAction.EDIT if key in hooked_keys else HookAction.CREATE

    for key in sorted(set(config.org_repo_config) | set(stored)):
        created_after = config.org_repo_config.get(key)
        tokens = stored.get(key)
        if key in skipped:
            keys.append(KeyPlan(key, Action.SKIPPED, HookAction.NONE, skipped[key]))
        elif created_after is not None and tokens is None:
            source, copied = _current_tokens(stored, key, created_after)
            staged[key] = (*copied, generate(now))
            adds_tokens = True
            reason = "new in config" + (f"; tokens of {source!r} copied" if copied else "")
            keys.append(KeyPlan(key, Action.ONBOARD, set_hook(key), reason, staged[key][-1]))
        elif created_after is not None and tokens is not None:
            if not any(t.created_at > created_after for t in tokens):
                staged[key] = (*tokens, generate(now))
                adds_tokens = True
                reason = f"no token created after {format_time(created_after)}"
                keys.append(KeyPlan(key, Action.ROTATE, set_hook(key), reason, staged[key][-1]))
            else:
                keys.append(_unchanged(key, tokens, key in hooked_keys))
        elif tokens is not None and key == GLOBAL_KEY and config.respect_legacy_global_token:
            keys.append(KeyPlan(key, Action.UNCHANGED, HookAction.NONE, "legacy global token"))
        else:
            hook = HookAction.DELETE if key in hooked_keys else HookAction.NONE
            keys.append(KeyPlan(key, Action.REMOVE, hook, "not in config"))
    if _stage_org_tokens_for_repos(keys, staged):
        adds_tokens = True
    kept_whole = frozenset(skipped)
    if config.respect_legacy_global_token and GLOBAL_KEY in stored:
        kept_whole |= {GLOBAL_KEY}
    return Plan(
        keys=tuple(keys),
        staged=staged,
        adds_tokens=adds_tokens,
        kept_whole=kept_whole,
        removed=frozenset(k.key for k in keys if k.action is Action.REMOVE),
    )


def _current_tokens(
    stored: TokenMap, key: str, created_after: dt.datetime
) -> tuple[str, tuple[Token, ...]]:
    """The key the receiver checks `key`'s events against now (its org's, else `*`) and
    its tokens, dated just before `created_after`: whichever hook sends those events
    keeps signing with one of them until it is changed, so the new key must hold them."""
    org, slash, _ = key.partition("/")
    source = org if slash and org in stored else GLOBAL_KEY
    # An empty entry means Go's zero time, the earliest time there is: Prow's Go dates
    # the copy a second before it, in year 0, which no datetime holds.
    when = created_after - _COPY_OFFSET if created_after - ZERO_TIME >= _COPY_OFFSET else ZERO_TIME
    return source, tuple(Token(t.value, when) for t in stored.get(source, ()))


def _stage_org_tokens_for_repos(
    keys: list[KeyPlan], staged: dict[str, tuple[Token, ...]]
) -> bool:
    """An org hook signs its repos' events too, and the receiver checks those against
    the repo's own key while it is stored: each such key gets the token the org hook
    will sign with, dated as old as can be so it is never the newest. Returns whether
    anything was added."""
    added = False
    for item in keys:
        if "/" in item.key or item.signing_token is None:
            continue
        value = item.signing_token.value
        for key, tokens in staged.items():
            if key.startswith(item.key + "/") and value not in {t.value for t in tokens}:
                staged[key] = (*tokens, Token(value, ZERO_TIME))
                added = True
    return added


def _unchanged(key: str, tokens: tuple[Token, ...], hooked: bool) -> KeyPlan:
    if len(tokens) > 1:
        reason = f"{len(tokens)} tokens left by an interrupted run: hook set to the newest"
        hook = HookAction.EDIT if hooked else HookAction.CREATE
        return KeyPlan(key, Action.UNCHANGED, hook, reason, newest(tokens))
    if not hooked:
        return KeyPlan(
            key, Action.UNCHANGED, HookAction.CREATE, "hook missing", newest(tokens)
        )
    return KeyPlan(key, Action.UNCHANGED, HookAction.NONE, "current token is recent enough")


def mass_removal(
    plan: Plan, config: ManagedWebhooks, hooks_found: int, threshold: float
) -> str | None:
    """Why applying `plan` needs --allow-mass-removal, or None. `hooks_found`: the
    managed hooks that exist; `threshold`: the share of them a plan may delete.

    A hook replaced at the other level (a repo's by its org's, an org's by some of its
    repos') is a move, not a removal, and does not count."""
    configured = config.org_repo_config
    deleted = [
        k.key for k in plan.keys
        if k.hook is HookAction.DELETE and not _moved(k.key, configured)
    ]
    consequence = (
        f"it would delete {len(deleted)} of the {hooks_found} managed hooks"
        + (f" ({_some(deleted)})" if deleted else "")
        + f" and drop the tokens of {len(plan.removed)} keys"
    )
    if not config.present:
        return (
            "the Prow config has no managed_webhooks section (a wrong --config-path, or an "
            f"empty file?): {consequence}"
        )
    if len(deleted) > threshold * hooks_found:
        return f"{consequence}, more than {threshold:.0%} of them"
    return None


def _moved(key: str, configured: Collection[str]) -> bool:
    org, slash, _ = key.partition("/")
    if slash:
        return org in configured
    return any(other.startswith(key + "/") for other in configured)


def _some(keys: list[str], shown: int = 5) -> str:
    more = len(keys) - shown
    return ", ".join(keys[:shown]) + (f" and {more} more" if more > 0 else "")


def format_plan(plan: Plan) -> str:
    """The plan as a table; never shows a token."""
    rows = [("KEY", "ACTION", "HOOK", "REASON")]
    rows += [(k.key, k.action.value, k.hook.value, k.reason) for k in plan.keys]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    return "\n".join(lines)
