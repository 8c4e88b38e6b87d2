"""Shared helpers of the kiln.api unit tests: the repository root and the docs/examples objects."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "docs" / "examples"
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def load_example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return body


@pytest.fixture
def example() -> Any:
    """`example(name)`: a fresh (mutable) copy of a docs/examples object."""
    return lambda name: copy.deepcopy(load_example(name))
