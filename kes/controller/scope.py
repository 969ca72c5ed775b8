"""What a namespace permits its ExternalSecrets to read.

The namespace annotations `permitted-key-name` (KES) and `permitted-projects` are
regexes that every secret id and project an ExternalSecret names must match. They
are searched, not anchored, as KES did: anchor them with ^...$.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kes.api import PROJECTS_PERMITTED_ANNOTATION
from kes.spec import ExternalSecretSpec


def permission_error(
    spec: ExternalSecretSpec, namespace: str, annotations: Mapping[str, str], key_annotation: str
) -> str | None:
    """Why the namespace's annotations forbid this spec, or None."""
    rules = (
        (key_annotation, "key", lambda ref: ref.secret),
        (PROJECTS_PERMITTED_ANNOTATION, "project", lambda ref: ref.project),
    )
    for annotation, what, pick in rules:
        pattern = annotations.get(annotation)
        if pattern is None:
            continue
        try:
            regex = re.compile(pattern)
        except re.error as e:
            return f"namespace {namespace}: annotation {annotation} is not a valid regex: {e}"
        for ref in sorted(spec.refs):
            value = pick(ref)
            if not regex.search(value):
                return (
                    f"{what} {value} is not permitted in namespace {namespace} "
                    f"(annotation {annotation}: {pattern})"
                )
    return None
