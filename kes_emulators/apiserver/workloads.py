"""The rules kube-apiserver's validation adds to the workload kinds' schemas, for the
mistakes a deployment manifest can make: a selector that does not select the pod
template, a container without an image, a Job that would restart forever.

Nothing runs these objects: no controller creates pods, schedules, or fills status.
"""

from __future__ import annotations

from typing import Any

from kes_emulators.apiserver.errors import Cause
from kes_emulators.apiserver.resources import ResourceType
from kes_emulators.apiserver.selectors import SelectorError, go_quote, label_selector_from_match
from kes_emulators.apiserver.store import Obj

_SELECTING = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
_RUN_TO_COMPLETION = ("Never", "OnFailure")


def _go_string_map(labels: dict[str, Any]) -> str:
    inner = ", ".join(f"{go_quote(k)}:{go_quote(str(labels[k]))}" for k in sorted(labels))
    return "map[string]string{" + inner + "}"


def _template(rtype: ResourceType, obj: Obj) -> tuple[str, dict[str, Any]]:
    spec = obj.get("spec") or {}
    if rtype.kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return "spec.jobTemplate.spec.template", job.get("template") or {}
    return "spec.template", spec.get("template") or {}


def _selector_causes(obj: Obj, template: dict[str, Any], where: str) -> list[Cause]:
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return [Cause("FieldValueInvalid", "Invalid value: \"{}\": empty selector is invalid "
                      f"for {obj['kind'].lower()}", "spec.selector")]
    try:
        selects = label_selector_from_match(selector.get("matchLabels"),
                                            selector.get("matchExpressions")).matches(labels)
    except SelectorError as exc:
        return [Cause("FieldValueInvalid", f"Invalid value: {exc}", "spec.selector")]
    if selects:
        return []
    return [Cause("FieldValueInvalid", f"Invalid value: {_go_string_map(labels)}: `selector` "
                  "does not match template `labels`", f"{where}.metadata.labels")]


def admit_workload(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    where, template = _template(rtype, obj)
    causes: list[Cause] = []
    if rtype.kind in _SELECTING:
        causes += _selector_causes(obj, template, where)
    pod = template.get("spec") or {}
    for list_name in ("initContainers", "containers"):
        for i, container in enumerate(pod.get(list_name) or ()):
            if isinstance(container, dict) and not container.get("image"):
                causes.append(Cause("FieldValueRequired", "Required value",
                                    f"{where}.spec.{list_name}[{i}].image"))
    if rtype.kind in ("Job", "CronJob") and pod.get("restartPolicy") not in _RUN_TO_COMPLETION:
        causes.append(Cause("FieldValueNotSupported", f"Unsupported value: "
                            f"{go_quote(str(pod.get('restartPolicy', 'Always')))}: supported "
                            'values: "OnFailure", "Never"', f"{where}.spec.restartPolicy"))
    return causes
