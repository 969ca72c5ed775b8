"""`kes render`: the Secrets a manifest would produce, without a cluster.

Uses the same parse, fetch and render as the controller, so a manifest that
renders here syncs there; for checking ExternalSecrets in CI before applying them.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from kes.api import API_VERSION, DATA_HASH_ANNOTATION, KIND
from kes.controller.fetch import Fetcher
from kes.controller.manifest import Owner, build_secret
from kes.errors import KesError, bounded
from kes.gsm import GsmError, SecretManager
from kes.render import Payload, render_secret
from kes.spec import ExternalSecretSpec, parse_external_secret

OWNER_PLACEHOLDER = "<the ExternalSecret's uid, set in the cluster>"


def _externalsecrets(documents: list[Any], source: str) -> Iterator[Mapping[str, Any]]:
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            raise KesError(f"{source}: document {index + 1} is not a mapping")
        if doc.get("kind") == "List":
            yield from _externalsecrets(list(doc.get("items") or []), source)
        elif doc.get("kind") == KIND:
            yield doc


def redact(secret: dict[str, Any], spec: ExternalSecretSpec) -> dict[str, Any]:
    """Replace every value by its size: enough to review, nothing to leak. Template
    labels and annotations may hold values too (unless their text is static), and the
    data's hash could confirm a guessed value, so it is left out."""
    data = secret.get("data") or {}
    secret["data"] = {
        key: f"<redacted, {len(base64.b64decode(value))} bytes>" for key, value in data.items()
    }
    metadata = secret["metadata"]
    for field, texts in (("labels", spec.template.labels),
                         ("annotations", spec.template.annotations)):
        for key, text in texts.items():
            if not text.static:
                metadata[field][key] = f"<redacted, {len(metadata[field][key].encode())} bytes>"
    metadata["annotations"].pop(DATA_HASH_ANNOTATION, None)
    return secret


async def render_documents(
    documents: list[Any],
    source: str,
    gsm: SecretManager,
    default_project: str | None,
    show_values: bool,
) -> list[dict[str, Any]]:
    """Every ExternalSecret in `documents` as the Secret it would write; KesError if any fails."""
    specs = []
    for obj in _externalsecrets(documents, source):
        meta = obj.get("metadata") or {}
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "default")
        specs.append((name, namespace, parse_external_secret(obj, default_project)))
    if not specs:
        raise KesError(f"{source}: no ExternalSecret found")
    names = {ref for _, _, spec in specs for ref in spec.refs}
    results = await Fetcher(gsm, max_concurrent=8, rate_per_project=100.0).fetch_all(names)
    payloads = {}  # one per version, so its JSON is parsed once for every ExternalSecret
    for ref, result in results.items():
        if isinstance(result, GsmError):
            raise result
        payloads[ref] = Payload(result.data)
    secrets = []
    for name, namespace, spec in specs:
        desired = render_secret(name, namespace, spec, payloads)
        secret = build_secret(desired, Owner(API_VERSION, KIND, name, OWNER_PLACEHOLDER))
        secrets.append(secret if show_values else redact(secret, spec))
    return secrets


def run_render(
    path: str, default_project: str | None, show_values: bool, out: TextIO | None = None
) -> int:
    source = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        documents = list(yaml.safe_load_all(text))
    except (OSError, yaml.YAMLError) as e:
        print(f"kes render: {source}: {bounded(str(e))}", file=sys.stderr)
        return 1
    except (ValueError, RecursionError):  # an integer too long to read; deep nesting
        print(f"kes render: {source}: not YAML kes can read", file=sys.stderr)
        return 1

    async def main() -> list[dict[str, Any]]:
        gsm = SecretManager()
        try:
            return await render_documents(documents, source, gsm, default_project, show_values)
        finally:
            await gsm.close()

    try:
        secrets = asyncio.run(main())
    except KesError as e:
        print(f"kes render: {e}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(secrets, out or sys.stdout, sort_keys=False)
    return 0
