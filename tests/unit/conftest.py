"""Shared fixtures: the real provider payloads, read as raw bytes (signatures are over bytes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

# /work/shared/webhooks beside the repository checkout.
SHARED_WEBHOOKS = Path(__file__).resolve().parents[2].parent / "shared" / "webhooks"


@pytest.fixture(scope="session")
def shared_payload() -> Callable[[str], bytes]:
    """Read a shared payload exactly as it is on disk; fail (never skip) when it is missing."""
    if not SHARED_WEBHOOKS.is_dir():
        pytest.fail(f"shared webhook payloads not found: expected the directory {SHARED_WEBHOOKS}")

    def read(name: str) -> bytes:
        path = SHARED_WEBHOOKS / name
        if not path.is_file():
            pytest.fail(f"shared webhook payload missing: {path}")
        return path.read_bytes()

    return read


@pytest.fixture
def now() -> datetime:
    return datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
