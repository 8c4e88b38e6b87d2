"""Pushes to builds under the rules' policies, on the real node (buildah strategy, slow RUN steps):
Serial orders builds, SerialLatestOnly supersedes, the tenant's cap holds under simultaneous pushes
and across a SIGKILL of the operator, the timeout fires, history trims finished BuildRuns."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client

from kiln.builds.logs import archive_name
from tests.conftest import GitServer, OperatorProcess, Registry
from tests.integration.conftest import Tenants, eventually
from tests.integration.test_builds import BuildEnv, Manifest, base_image, succeeded

CAP = 2
FINISHED = ("Succeeded", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def env(operator: OperatorProcess, gitserver: GitServer, registry: Registry) -> Iterator[BuildEnv]:
    tenants = Tenants(operator.cluster)
    try:
        name = tenants.create(
            {
                "registry": {"server": registry.pod_address},
                "quota": {"maxConcurrentBuilds": CAP, "cpu": "500m", "memory": "1Gi"},
            }
        )
        ready = eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
        assert ready["status"] == "True", ready
        namespace = tenants.get(name)["status"]["kubernetesNamespace"]
        yield BuildEnv(operator.cluster, operator, gitserver, registry, name, namespace)
    finally:
        tenants.cleanup()


def dockerfile(env: BuildEnv, seconds: int, tail: str = "") -> dict[str, str]:
    # a fresh line per push, so no build is a cache hit of the one before
    return {
        "Dockerfile": f"FROM {base_image(env)}\nRUN sleep {seconds} && echo {uuid.uuid4().hex} >/id\n{tail}"
    }


def fresh_repository(env: BuildEnv, prefix: str, **rule: Any) -> str:
    repo = f"{prefix}-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule(repo, repo, **rule)
    return repo


def reason(run: Manifest) -> str:
    return str(succeeded(run)["reason"])


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def most_at_once(runs: list[Manifest]) -> int:
    """The most builds whose [startTime, completionTime) overlap."""
    edges = sorted(
        (when(r["status"][key]), step)
        for r in runs
        for key, step in (("startTime", 1), ("completionTime", -1))
    )
    most = current = 0
    for _, step in edges:  # at equal times an end (-1) sorts before a start
        current += step
        most = max(most, current)
    return most


def test_serial_rule_to_one_build_at_a_time_in_push_order(env: BuildEnv) -> None:
    repo = fresh_repository(env, "serial", runPolicy="Serial")
    names = [env.push(repo, dockerfile(env, 6))[1] for _ in range(3)]
    env.wait(names[0], ("Running",))
    # the operator writes a run's first phase a moment after its create: wait for one, whichever
    second, third = (env.wait(n, ("Pending", "Running", *FINISHED)) for n in names[1:])
    for run in (second, third):
        assert run["status"]["phase"] == "Pending" and reason(run) == "Queued", run["status"]
        assert not env.jobs(run["metadata"]["name"])
    assert succeeded(second)["message"] == (
        f"queued, 1st in line: BuildRule {repo} builds one at a time (Serial) and BuildRun {names[0]} is ahead"
    )
    assert succeeded(third)["message"].startswith("queued, 2nd in line: ")
    runs = [env.wait(n, FINISHED) for n in names]
    assert [r["status"]["phase"] for r in runs] == ["Succeeded"] * 3, [r["status"] for r in runs]
    for earlier, later in itertools.pairwise(runs):
        assert when(earlier["status"]["completionTime"]) <= when(later["status"]["startTime"])


def test_serial_latest_only_to_the_newest_push_built_and_older_queued_ones_superseded(env: BuildEnv) -> None:
    repo = fresh_repository(env, "latest", runPolicy="SerialLatestOnly")
    first = env.push(repo, dockerfile(env, 8))[1]
    env.wait(first, ("Running",))
    queued = [env.push(repo, dockerfile(env, 1))[1] for _ in range(3)]
    runs = [env.wait(n, FINISHED) for n in (first, *queued)]
    assert [r["status"]["phase"] for r in runs] == ["Succeeded", "Cancelled", "Cancelled", "Succeeded"]
    for i, old in enumerate(runs[1:3]):
        assert reason(old) == "Superseded"
        newer = succeeded(old)["message"].split()[3].rstrip(",")
        assert newer in queued[i + 1 :], succeeded(old)["message"]  # the push that came after it
        assert not env.jobs(old["metadata"]["name"])
    assert ("Normal", "Superseded") in env.events(queued[0])


def test_ten_simultaneous_pushes_to_at_most_the_tenant_cap_across_an_operator_kill(env: BuildEnv) -> None:
    repo = fresh_repository(env, "cap", runPolicy="Parallel")
    files = [dockerfile(env, 4) for _ in range(10)]
    commits = [env.gitserver.create(repo, f) for f in files]  # one after the other: git orders them
    with ThreadPoolExecutor(10) as pool:  # the pushes' deliveries all at once
        names = list(pool.map(lambda c: env.deliver(repo, c[0], c[1]), zip(commits, files, strict=True)))
    assert len(set(names)) == 10
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        # started and unfinished builds in one consistent list: a run's end is written before the
        # Job of the run that takes its slot is created, so a snapshot never shows both running
        while not stop.is_set():
            started = [
                r
                for r in env.build_runs()
                if r["metadata"]["name"] in names
                and (r.get("status") or {}).get("jobName")
                and r["status"].get("phase") not in FINISHED
            ]
            seen.append(len(started))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        eventually(
            lambda: sum(bool(env.jobs(n)) for n in names) >= CAP + 1 or None,
            timeout=180,
            what="a build past the first slots started",
        )
        env.operator.kill()
        time.sleep(3)
        env.operator.ensure_running()
        runs = [env.wait(n, FINISHED, seconds=400) for n in names]
    finally:
        stop.set()
        sampler.join()
    assert [r["status"]["phase"] for r in runs] == ["Succeeded"] * 10, [r["status"] for r in runs]
    assert max(seen) <= CAP, seen
    assert most_at_once(runs) <= CAP
    assert all(len(env.jobs(n)) == 1 for n in names)


def test_rule_timeout_to_a_timed_out_build_without_its_pod(env: BuildEnv) -> None:
    repo = fresh_repository(env, "timeout", timeout="15s", runPolicy="Parallel")
    _, name = env.push(repo, dockerfile(env, 600))
    run = env.wait(name, FINISHED, seconds=180)
    assert (run["status"]["phase"], reason(run)) == ("Failed", "Timeout"), run["status"]
    assert "timeout of 15s" in succeeded(run)["message"]
    eventually(lambda: not env.pods(name) or None, timeout=90, what="the build pod gone")


def test_history_to_the_newest_finished_runs_kept_per_outcome(env: BuildEnv) -> None:
    repo = fresh_repository(env, "history", runPolicy="Serial", history={"succeeded": 2, "failed": 1})
    ok = [env.push(repo, dockerfile(env, 0))[1] for _ in range(3)]
    bad = [env.push(repo, dockerfile(env, 0, "RUN false\n"))[1] for _ in range(2)]
    last = env.wait(bad[-1], FINISHED)
    assert last["status"]["phase"] == "Failed"

    def kept() -> list[str] | None:
        names = sorted(r["metadata"]["name"] for r in env.build_runs() if r["spec"]["buildRule"] == repo)
        return names if len(names) == 3 else None

    remaining = eventually(kept, timeout=60, what="history trimmed to 2 succeeded and 1 failed")
    assert remaining == sorted([*ok[1:], bad[1]])
    core = client.CoreV1Api(env.cluster.api_client)

    def archives(name: str) -> list[Any]:
        selector = f"metadata.name={archive_name(name)}"
        return list(core.list_namespaced_config_map(env.namespace, field_selector=selector).items)

    eventually(
        lambda: not any(env.jobs(n) or archives(n) for n in (ok[0], bad[0])) or None,
        timeout=60,
        what="the deleted runs' Jobs and log archives gone with them",
    )
    assert all(archives(n) for n in remaining)
