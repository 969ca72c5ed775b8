"""examples/: every file is one ExternalSecret that kes parses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kes.spec import parse_external_secret


def load(path: Path) -> dict[str, Any]:
    documents = list(yaml.safe_load_all(path.read_text()))
    assert len(documents) == 1, f"{path.name}: one manifest per file"
    document: dict[str, Any] = documents[0]
    return document


def test_there_are_examples(examples: list[Path]) -> None:
    assert len(examples) >= 10


def test_example_parses(example: Path) -> None:
    manifest = load(example)
    assert (manifest["apiVersion"], manifest["kind"]) == ("kubernetes-client.io/v1",
                                                          "ExternalSecret")
    assert parse_external_secret(manifest, "demo-project").refs
