"""The harness's control-plane processes, for the fault tests that stop or kill one."""

from __future__ import annotations

import re

import pytest

from tests.conftest import _hack


def pid_of(component: str) -> int:
    """The pid of a running control-plane component (`etcd`, `kube-apiserver`, ...)."""
    match = re.search(
        rf"^{re.escape(component)} running \(pid (\d+)\)", _hack("control-plane.sh", "status"), re.M
    )
    if match is None:
        pytest.fail(f"{component} is not running", pytrace=False)
    return int(match[1])


def start_missing() -> None:
    """Start what is not running (a killed etcd comes back on its data directory)."""
    _hack("control-plane.sh", "start")
