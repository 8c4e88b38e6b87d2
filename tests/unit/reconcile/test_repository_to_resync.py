"""A Repository's heads on the code host -> its resync (kiln.reconcile.resync): the baseline at the
binding builds nothing, a head that moved without a delivery gets its Resync BuildRun, one already
built (or being built) gets nothing, a host that fails is reported. The host is the GitHub stand-in
over real HTTP, spoken to by PyGithub; the Kubernetes API is the reconcile layer's FakeKube."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from prometheus_client import REGISTRY

from kiln.platform.settings import Settings
from kiln.reconcile.resync import HEADS_KEY, baseline_name, resync_repository
from kiln.webhooks.decisions import push_buildrun_name
from tests.standins import HostState, github, serve
from tests.unit.reconcile.fake_kube import FakeKube
from tests.unit.reconcile.test_repository_to_hook_and_status import (
    NAMESPACE,
    TENANT,
    TOKEN,
    factory,
    repository,
    secret,
)
from tests.unit.webhooks.objects import build_rule

SETTINGS = Settings.from_env({"KILN_RECEIVER_URL": "https://kiln.example.com", "KILN_RESYNC_INTERVAL": "600"})
BOUND = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
A, B, C = "a" * 40, "b" * 40, "c" * 40


@pytest.fixture
def host() -> Iterator[tuple[HostState, str]]:
    state = HostState(token=TOKEN, repository="acme/app", branches={"main": A}, tags={"v1": (A, None)})
    with serve(github, state) as base:
        yield state, base


class Resync:
    """One Repository resynced again and again, its status carried over as the controller writes it."""

    def __init__(self, kube: FakeKube, base: str) -> None:
        self.kube, self.base = kube, base
        self.body: dict[str, Any] = repository()
        self.events: list[tuple[str, str, str]] = []

    def at(self, now: datetime) -> dict[str, Any] | None:
        result = resync_repository(self.kube, SETTINGS, self.body, TENANT, now, factory(self.base))
        if result is None:
            return None
        self.body = {**self.body, "status": {"resync": result.status}}
        self.events.extend(result.events)
        return result.status

    def next_time(self) -> datetime:
        return datetime.fromisoformat(self.body["status"]["resync"]["nextTime"].replace("Z", "+00:00"))

    def runs(self) -> list[dict[str, Any]]:
        return self.kube.list("kiln.dev/v1alpha1", "BuildRun", NAMESPACE)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"provider": "github", **labels}) or 0.0


def resync_env(host: tuple[HostState, str]) -> tuple[HostState, Resync]:
    state, base = host
    kube = FakeKube(secret("gh-token", token=TOKEN))
    kube.put(build_rule("main", branch="main"))
    kube.put(build_rule("releases", pattern=r"v(?<n>\d+)", ref_type="Tag", tags=[{"tag": "${n}"}]))
    return state, Resync(kube, base)


def test_the_first_resync_is_the_baseline_and_builds_nothing_old(host: tuple[HostState, str]) -> None:
    _, resync = resync_env(host)
    status = resync.at(BOUND)
    assert status is not None and status["baselineTime"] == "2026-12-01T08:00:00Z"
    assert (status["heads"], status["created"]) == (2, 0)
    stored = resync.kube.get("v1", "ConfigMap", baseline_name("app"), NAMESPACE)
    assert stored is not None and json.loads(stored["data"][HEADS_KEY]) == {
        "refs/heads/main": A,
        "refs/tags/v1": A,
    }
    assert stored["metadata"]["ownerReferences"][0]["uid"] == "repo-uid"
    assert resync.runs() == []
    # spread: the next one falls within the interval, and nothing runs before it
    assert BOUND <= resync.next_time() < BOUND + timedelta(minutes=10)
    assert resync.at(resync.next_time() - timedelta(seconds=1)) is None


def test_pushes_no_webhook_delivered_get_resync_buildruns_once(host: tuple[HostState, str]) -> None:
    state, resync = resync_env(host)
    resync.at(BOUND)
    state.branches["main"], state.tags["v2"] = B, (C, "d" * 40)  # an annotated tag: its commit counts
    before = [
        metric("kiln_resync_runs_total", result="ok"),
        metric("kiln_resync_heads_checked_total"),
        metric("kiln_resync_buildruns_created_total"),
    ]
    status = resync.at(resync.next_time())
    assert status is not None and (status["heads"], status["created"], status["error"]) == (3, 2, None)
    after = [
        metric("kiln_resync_runs_total", result="ok"),
        metric("kiln_resync_heads_checked_total"),
        metric("kiln_resync_buildruns_created_total"),
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 3, 2]
    runs = {r["spec"]["buildRule"]: r["spec"] for r in resync.runs()}
    assert {rule: (s["source"]["ref"], s["source"]["commit"], s["tags"]) for rule, s in runs.items()} == {
        "main": ("refs/heads/main", B, ["latest"]),
        "releases": ("refs/tags/v2", C, ["2"]),
    }
    assert {s["trigger"]["type"] for s in runs.values()} == {"Resync"}
    assert [e[:2] for e in resync.events] == [("Normal", "Resync")]
    assert "refs/heads/main (bbbbbbb)" in resync.events[0][2]
    # nothing moved since: the next resync creates nothing
    assert resync.at(resync.next_time())["created"] == 0  # type: ignore[index]
    assert len(resync.runs()) == 2


def test_a_head_whose_push_was_delivered_gets_no_second_buildrun(host: tuple[HostState, str]) -> None:
    state, resync = resync_env(host)
    resync.at(BOUND)
    state.branches["main"] = B
    # the receiver built that push (its delivery came after all): the same name, so resync's create is a 409
    delivered = {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "BuildRun",
        "metadata": {"name": push_buildrun_name("main", "app", "refs/heads/main", B), "namespace": NAMESPACE},
        "spec": {"trigger": {"type": "Push"}},
    }
    resync.kube.put(delivered)
    status = resync.at(resync.next_time())
    assert status is not None and (status["created"], status["error"]) == (0, None)
    assert [r["spec"]["trigger"]["type"] for r in resync.runs()] == ["Push"]
    assert resync.events == []
    stored = resync.kube.get("v1", "ConfigMap", baseline_name("app"), NAMESPACE)
    assert stored is not None and json.loads(stored["data"][HEADS_KEY])["refs/heads/main"] == B


def test_a_host_that_fails_is_reported_once_and_tried_at_the_next_time(host: tuple[HostState, str]) -> None:
    state, resync = resync_env(host)
    resync.at(BOUND)
    state.fail_next = [500, 500, 500, 500, 500, 500]
    errors = metric("kiln_codehost_errors_total", call="refs", error="Unreachable")
    failed_runs = metric("kiln_resync_runs_total", result="error")
    status = resync.at(resync.next_time())
    assert status is not None and status["error"].startswith("listing the heads failed")
    assert metric("kiln_codehost_errors_total", call="refs", error="Unreachable") == errors + 1
    assert metric("kiln_resync_runs_total", result="error") == failed_runs + 1
    assert [e[:2] for e in resync.events] == [("Warning", "ResyncFailed")]
    state.fail_next.clear()
    state.branches["main"] = B
    status = resync.at(resync.next_time())
    assert status is not None and (status["created"], status["error"]) == (1, None)


def test_a_buildrun_the_api_refuses_is_tried_again_at_the_next_resync(
    host: tuple[HostState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, resync = resync_env(host)
    resync.at(BOUND)
    state.branches["main"] = B
    create = resync.kube.create

    def unavailable(manifest: dict[str, Any]) -> dict[str, Any] | None:
        if manifest["kind"] == "BuildRun":
            raise ApiException(status=503)
        return create(manifest)

    monkeypatch.setattr(resync.kube, "create", unavailable)
    status = resync.at(resync.next_time())
    assert status is not None and status["created"] == 0 and "retried at the next resync" in status["error"]
    monkeypatch.setattr(resync.kube, "create", create)
    status = resync.at(resync.next_time())
    assert status is not None and (status["created"], status["error"]) == (1, None)


def test_without_credentials_resync_says_why_and_lists_nothing(host: tuple[HostState, str]) -> None:
    state, resync = resync_env(host)
    resync.body = repository(credentialsSecretRef=None)
    status = resync.at(BOUND)
    assert status is not None and "credentialsSecretRef" in status["error"]
    assert resync.at(BOUND + timedelta(minutes=1)) is None  # said once
    assert state.requests == []


def test_resync_off_when_the_interval_is_zero(host: tuple[HostState, str]) -> None:
    state, resync = resync_env(host)
    off = Settings.from_env({"KILN_RESYNC_INTERVAL": "0"})
    assert resync_repository(resync.kube, off, resync.body, TENANT, BOUND, factory(resync.base)) is None
    assert state.requests == []
