"""Fixtures of the client tests: a module provides `adapter` (one of hosts.ADAPTERS, or each of
them), and gets the host's stand-in state and base URL, and the waits between attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kiln.codehosts import http as codehost_http
from tests.standins import HostState, serve
from tests.unit.codehosts.hosts import Adapter


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait between attempts, recorded instead of slept: kiln.codehosts.http's, and
    time.sleep's (urllib3's and python-gitlab's waits, PyGithub's spacing of requests)."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    monkeypatch.setattr(codehost_http, "sleep", recorded.append)
    return recorded


@pytest.fixture
def state(adapter: Adapter) -> HostState:
    """The repository on the host: three branches (two pages), a lightweight and an annotated tag."""
    return adapter.new_state()


@pytest.fixture
def base(adapter: Adapter, state: HostState) -> Iterator[str]:
    """The API's base URL: the host's stand-in, serving `state`."""
    with serve(adapter.standin, state) as url:
        yield url
