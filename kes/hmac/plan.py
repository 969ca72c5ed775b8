"""Pure planning: config + stored tokens + which hooks exist -> what to do per key.

Classification follows Prow's hmac tool: a key in config and store is rotated when
none of its tokens is newer than `token_created_after`; a key only in config is
onboarded; a key only in the store is removed (`*` is kept while the legacy global
token is respected). On top of that, a key holding several tokens is the trace of
an interrupted run, so its hook is re-pointed to the newest token before pruning,
and a configured key whose hook is missing gets it created.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from kes.hmac.config import ManagedWebhooks, format_time
from kes.hmac.tokens import GLOBAL_KEY, ZERO_TIME, Token, TokenMap, newest

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

    @property
    def skipped(self) -> frozenset[str]:
        return frozenset(k.key for k in self.keys if k.action is Action.SKIPPED)

    @property
    def removed(self) -> frozenset[str]:
        return frozenset(k.key for k in self.keys if k.action is Action.REMOVE)

    @property
    def hook_changes(self) -> tuple[KeyPlan, ...]:
        return tuple(k for k in self.keys if k.hook is not HookAction.NONE)

    def pruned(self, held_back: Collection[str] = ()) -> dict[str, tuple[Token, ...]]:
        """Each key down to its newest token and removed keys dropped.

        Skipped keys and keys in `held_back` (their hook change failed) keep every token
        they have, so whichever one their hook signs with stays valid until a later run.
        """
        result: dict[str, tuple[Token, ...]] = {}
        for key, tokens in self.staged.items():
            if key in held_back or key in self.skipped:
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
            copied = _copy_global(stored, created_after)
            staged[key] = (*copied, generate(now))
            adds_tokens = True
            reason = "new in config" + ("; global token copied" if copied else "")
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
    return Plan(keys=tuple(keys), staged=staged, adds_tokens=adds_tokens)


def _copy_global(stored: TokenMap, created_after: dt.datetime) -> tuple[Token, ...]:
    """The receiver only checks the most specific key, and the hook keeps signing with
    the global token until it is edited: the new key must hold it meanwhile."""
    when = max(created_after - _COPY_OFFSET, ZERO_TIME)
    return tuple(Token(t.value, when) for t in stored.get(GLOBAL_KEY, ()))


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
