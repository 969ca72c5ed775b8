"""Pure planning: Prow's classification plus the repairs for interrupted runs."""

import datetime as dt
import itertools

from kes.hmac.config import ManagedWebhooks
from kes.hmac.plan import Action, HookAction, Plan, format_plan, make_plan
from kes.tokens import ZERO_TIME, Token

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T2017 = dt.datetime(2017, 10, 2, 15, tzinfo=dt.UTC)
T2018 = dt.datetime(2018, 10, 2, 15, tzinfo=dt.UTC)
T2019 = dt.datetime(2019, 10, 2, 15, tzinfo=dt.UTC)
T2020 = dt.datetime(2020, 3, 2, 15, tzinfo=dt.UTC)


def config(respect: bool = False, **entries: dt.datetime) -> ManagedWebhooks:
    return ManagedWebhooks(
        respect_legacy_global_token=respect,
        auto_accept_invitation=False,
        org_repo_config={k.replace("__", "/"): v for k, v in entries.items()},
    )


def plan(cfg: ManagedWebhooks, stored: dict, hooked: set[str] | None = None, **kw) -> Plan:
    counter = itertools.count(1)
    hooked = set(stored) - {"*"} if hooked is None else hooked
    def generate(when: dt.datetime) -> Token:
        return Token(f"new{next(counter)}", when)

    return make_plan(cfg, stored, hooked, NOW, generate, **kw)


# The store of Prow's workflow example: qux, foo/bar, foo/baz each with one token.
STORED = {
    "qux": (Token("qux1", T2017 + dt.timedelta(days=1)),),
    "foo/bar": (Token("bar1", T2018 + dt.timedelta(days=1)),),
    "foo/baz": (Token("baz1", T2019 + dt.timedelta(days=1)),),
}


def actions(p: Plan) -> dict[str, tuple[str, str]]:
    return {k.key: (k.action.value, k.hook.value) for k in p.keys}


def test_nothing_to_do_when_config_and_store_agree() -> None:
    p = plan(config(qux=T2017, foo__bar=T2018, foo__baz=T2019), STORED)
    assert actions(p) == {
        "foo/bar": ("unchanged", "-"), "foo/baz": ("unchanged", "-"), "qux": ("unchanged", "-"),
    }
    assert not p.adds_tokens
    assert p.pruned() == STORED


def test_rotate_when_no_token_is_newer_than_token_created_after() -> None:
    p = plan(config(qux=T2017, foo__bar=T2018, foo__baz=T2020), STORED)
    assert actions(p)["foo/baz"] == ("rotate", "edit")
    assert [t.value for t in p.staged["foo/baz"]] == ["baz1", "new1"]
    assert p.keys[1].signing_token == Token("new1", NOW)
    assert p.pruned()["foo/baz"] == (Token("new1", NOW),)


def test_a_token_created_exactly_at_token_created_after_is_rotated() -> None:
    p = plan(config(foo=T2020), {"foo": (Token("old", T2020),)})
    assert actions(p) == {"foo": ("rotate", "edit")}


def test_onboard_creates_the_hook() -> None:
    p = plan(config(qux=T2017, foo__bar=T2018, foo__baz=T2019, foo__bax=T2020), STORED)
    assert actions(p)["foo/bax"] == ("onboard", "create")
    assert p.staged["foo/bax"] == (Token("new1", NOW),)


def test_onboarding_copies_the_global_token_just_before_token_created_after() -> None:
    stored = {"*": (Token("global", ZERO_TIME),)}
    p = plan(config(respect=True, foo__bar=T2020), stored, hooked={"foo/bar"})
    assert actions(p) == {"*": ("unchanged", "-"), "foo/bar": ("onboard", "edit")}
    assert p.staged["foo/bar"] == (
        Token("global", T2020 - dt.timedelta(seconds=1)), Token("new1", NOW),
    )
    assert p.pruned() == {"*": stored["*"], "foo/bar": (Token("new1", NOW),)}


def test_remove_deletes_the_hook_and_drops_the_key() -> None:
    p = plan(config(qux=T2017, foo__bar=T2018), STORED)
    assert actions(p)["foo/baz"] == ("remove", "delete")
    assert "foo/baz" not in p.pruned()


def test_remove_without_a_hook_only_drops_the_key() -> None:
    p = plan(config(), {"foo/baz": STORED["foo/baz"]}, hooked=set())
    assert actions(p) == {"foo/baz": ("remove", "-")}
    assert p.pruned() == {}


def test_all_three_in_one_run() -> None:
    p = plan(config(qux=T2017, foo__baz=T2020, foo__bax=T2020), STORED)
    assert actions(p) == {
        "foo/bar": ("remove", "delete"),
        "foo/bax": ("onboard", "create"),
        "foo/baz": ("rotate", "edit"),
        "qux": ("unchanged", "-"),
    }
    assert set(p.pruned()) == {"qux", "foo/baz", "foo/bax"}


def test_legacy_global_token_kept_while_respected_and_dropped_after() -> None:
    stored = {"*": (Token("global", ZERO_TIME),), **STORED}
    kept = plan(config(respect=True, qux=T2017, foo__bar=T2018, foo__baz=T2019), stored)
    assert actions(kept)["*"] == ("unchanged", "-")
    assert "*" in kept.pruned()
    dropped = plan(config(qux=T2017, foo__bar=T2018, foo__baz=T2019), stored)
    assert actions(dropped)["*"] == ("remove", "-")
    assert "*" not in dropped.pruned()


def test_several_tokens_mean_an_interrupted_rotation() -> None:
    stored = {"foo/baz": (Token("baz1", T2019), Token("baz2", T2020 + dt.timedelta(days=1)))}
    p = plan(config(foo__baz=T2020), stored)
    item = p.keys[0]
    assert (item.action, item.hook) == (Action.UNCHANGED, HookAction.EDIT)
    assert item.signing_token is not None and item.signing_token.value == "baz2"
    assert not p.adds_tokens
    assert p.pruned() == {"foo/baz": (stored["foo/baz"][1],)}


def test_a_missing_hook_is_created_with_the_current_token() -> None:
    p = plan(config(foo__bar=T2018), {"foo/bar": STORED["foo/bar"]}, hooked=set())
    assert actions(p) == {"foo/bar": ("unchanged", "create")}
    assert p.keys[0].signing_token == STORED["foo/bar"][0]


def test_skipped_keys_keep_their_tokens() -> None:
    stored = {"foo/baz": (Token("baz1", T2019), Token("baz2", T2020 + dt.timedelta(days=1)))}
    p = plan(config(foo__baz=T2020), stored, skipped={"foo/baz": "404 Not Found"})
    assert actions(p) == {"foo/baz": ("skipped", "-")}
    assert p.pruned() == stored


def test_held_back_keys_keep_every_token() -> None:
    p = plan(config(foo__baz=T2020), {"foo/baz": STORED["foo/baz"]})
    assert p.pruned(held_back={"foo/baz"}) == {"foo/baz": p.staged["foo/baz"]}


def test_the_table_never_shows_a_token() -> None:
    p = plan(config(qux=T2017, foo__baz=T2020, foo__bax=T2020), STORED)
    table = format_plan(p)
    assert table.splitlines()[0].split() == ["KEY", "ACTION", "HOOK", "REASON"]
    assert "foo/bax  onboard    create  new in config" in table
    for tokens in p.staged.values():
        for token in tokens:
            assert token.value not in table
            assert token.value not in repr(p)


def test_a_respected_global_token_is_never_pruned() -> None:
    stored = {"*": (Token("g1", T2017), Token("g2", T2018)), "foo/bar": STORED["foo/bar"]}
    p = plan(config(respect=True, foo__bar=T2018), stored)
    assert actions(p)["*"] == ("unchanged", "-")
    assert p.pruned() == stored
    assert plan(config(foo__bar=T2018), stored).pruned() == {"foo/bar": STORED["foo/bar"]}


def test_onboarding_a_repo_copies_its_orgs_tokens_not_the_global_ones() -> None:
    """The org hook keeps signing the repo's events until it is deleted."""
    stored = {"*": (Token("global", ZERO_TIME),), "qux": (Token("qux1", T2017),)}
    p = plan(config(respect=True, qux__one=T2020), stored)
    assert actions(p) == {
        "*": ("unchanged", "-"), "qux": ("remove", "delete"), "qux/one": ("onboard", "create"),
    }
    assert p.staged["qux/one"] == (
        Token("qux1", T2020 - dt.timedelta(seconds=1)), Token("new1", NOW),
    )
    assert p.keys[2].reason == "new in config; tokens of 'qux' copied"
    assert p.pruned() == {"*": stored["*"], "qux/one": (Token("new1", NOW),)}


def test_onboarding_an_org_stages_its_token_into_its_remaining_repo_keys() -> None:
    """The new org hook signs those repos' events, checked against their own keys
    until the prune drops them."""
    stored = {"qux/one": (Token("one1", T2019),), "qux/two": (Token("two1", T2019),),
              "quxx/one": (Token("other", T2019),)}
    p = plan(config(qux=T2020, quxx__one=T2017), stored)
    assert actions(p)["qux"] == ("onboard", "create")
    assert p.staged["qux/one"] == (Token("one1", T2019), Token("new1", ZERO_TIME))
    assert p.staged["qux/two"] == (Token("two1", T2019), Token("new1", ZERO_TIME))
    assert p.staged["quxx/one"] == stored["quxx/one"]
    assert p.pruned() == {"qux": (Token("new1", NOW),), "quxx/one": stored["quxx/one"]}


def test_rotating_an_org_stages_its_token_into_a_skipped_repo_key() -> None:
    stored = {"qux": (Token("qux1", T2017),), "qux/one": (Token("one1", T2019),)}
    p = plan(config(qux=T2020), stored, skipped={"qux/one": "502 Server Error"})
    assert actions(p)["qux"] == ("rotate", "edit")
    assert p.adds_tokens
    assert p.staged["qux/one"] == (Token("one1", T2019), Token("new1", ZERO_TIME))
    assert p.pruned()["qux/one"] == p.staged["qux/one"]


def test_a_rerun_stages_the_org_token_only_where_it_is_missing() -> None:
    stored = {"qux": (Token("qux1", NOW),), "qux/one": (Token("one1", T2019),)}
    p = plan(config(qux=T2020), stored, hooked={"qux/one"})  # the org hook is missing
    assert actions(p)["qux"] == ("unchanged", "create")
    assert p.staged["qux/one"] == (Token("one1", T2019), Token("qux1", ZERO_TIME))
    again = plan(config(qux=T2020), dict(p.staged), hooked={"qux/one"})
    assert not again.adds_tokens and again.staged == p.staged


def test_the_repos_of_a_held_back_org_keep_every_token() -> None:
    """The org hook could not be deleted: it still signs its repos' events."""
    stored = {"qux": (Token("qux1", T2017),)}
    p = plan(config(qux__one=T2020), stored)
    assert p.pruned(held_back={"qux"}) == {"qux": stored["qux"], "qux/one": p.staged["qux/one"]}
    skipped = plan(config(qux__one=T2020), stored, skipped={"qux": "404 Not Found"})
    assert skipped.pruned()["qux/one"] == skipped.staged["qux/one"]
