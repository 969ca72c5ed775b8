"""Rules as lists of verbs, for proving each one is needed: which verbs a service
account is granted, the objects with one taken away, and whether a refusal happened."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import yaml

from kes_emulators.apiserver import ApiServer
from tests.support.cluster import Obj

Verb = tuple[str, int, str]
"""(role, as Kind/name; the index of a rule in it; one of the rule's verbs)."""


def rules_in(*files: Path) -> list[Verb]:
    found = []
    for path in files:
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and obj["kind"] in ("Role", "ClusterRole"):
                for index, rule in enumerate(obj["rules"]):
                    found += [(f"{obj['kind']}/{obj['metadata']['name']}", index, verb)
                              for verb in rule["verbs"]]
    return found


def granted(objects: Sequence[Obj], subject: str) -> list[Verb]:
    """Every verb of the roles bound to the service account `subject`."""
    namespace, name = subject.split(":")[2:]
    bound = {f"{b['roleRef']['kind']}/{b['roleRef']['name']}" for b in objects
             if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
             and any(s["kind"] == "ServiceAccount" and s["name"] == name
                     and s.get("namespace") == namespace for s in b["subjects"])}
    return [(role, index, verb) for obj in objects
            if (role := f"{obj['kind']}/{obj['metadata']['name']}") in bound
            for index, rule in enumerate(obj["rules"]) for verb in rule["verbs"]]


def without(objects: Sequence[Obj], role: str, index: int, verb: str) -> tuple[list[Obj], Obj]:
    """The objects with one verb taken from one rule of `role`, and that rule as it was."""
    changed = copy.deepcopy(list(objects))
    [target] = [o for o in changed if f"{o['kind']}/{o['metadata']['name']}" == role]
    rule = target["rules"][index]
    original = copy.deepcopy(rule)
    rule["verbs"].remove(verb)
    if not rule["verbs"]:
        del target["rules"][index]
    return changed, original


def refused(api: ApiServer, identity: str, verbs: Sequence[str], rule: Obj) -> bool:
    """Whether a request of `identity` with one of `verbs` on a resource of `rule` got 403."""
    return api.call(lambda: any(
        r.identity == identity and r.code == 403 and r.verb in verbs
        and r.resource in rule["resources"] for r in api.requests.all()))


def ids(verbs: Sequence[Verb]) -> list[str]:
    return [f"{role}[{index}]:{verb}" for role, index, verb in verbs]
