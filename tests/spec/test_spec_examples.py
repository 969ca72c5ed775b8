"""examples/: every file is one ExternalSecret that kes parses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kes.spec import parse_external_secret

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    documents = list(yaml.safe_load_all(path.read_text()))
    assert len(documents) == 1, f"{path.name}: one manifest per file"
    document: dict[str, Any] = documents[0]
    return document


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_parses(path: Path) -> None:
    manifest = load(path)
    assert (manifest["apiVersion"], manifest["kind"]) == ("kubernetes-client.io/v1",
                                                          "ExternalSecret")
    assert parse_external_secret(manifest, "demo-project").refs()
