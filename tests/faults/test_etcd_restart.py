"""etcd is killed (SIGKILL) and started again on its data while pushes arrive. Deliveries get 202 or
503 with Retry-After in time; after redelivery every push has its BuildRuns once, and the operator,
which lived through it, has taken up every BuildRun: started with exactly one Job, or queued with
none, and never more started than the tenant's one slot."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
from kubernetes import client

from kiln.api.constants import LABEL_BUILD_RUN
from kiln.platform.kube import load_api_client
from kiln.receiver.app import ServerThread, create_app
from tests.conftest import OperatorProcess
from tests.faults.control_plane import pid_of, start_missing
from tests.faults.deliveries import HOST_TIMEOUT, Answer, post, redeliver
from tests.integration.conftest import eventually
from tests.integration.test_webhook_receiver import Tenant, wait_ready
from tests.unit.webhooks.objects import EXPECTED_TAGS

RATE = 2  # pushes per second
SECONDS = 30
KILL_AT, DOWN_SECONDS = 5, 8


def test_etcd_killed_and_restarted_to_every_push_built_once(
    operator: OperatorProcess, quiet_tenant: Tenant
) -> None:
    with ServerThread(create_app(load_api_client(str(quiet_tenant.cluster.kubeconfig)))) as server:
        wait_ready(server.url)
        url = server.url + quiet_tenant.hook()

        async def load() -> dict[str, Answer]:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                start, killed, restart = time.monotonic(), False, None
                tasks: dict[str, asyncio.Task[Answer]] = {}
                for i in range(RATE * SECONDS):
                    await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
                    elapsed = time.monotonic() - start
                    if not killed and elapsed >= KILL_AT:
                        os.kill(pid_of("etcd"), signal.SIGKILL)
                        killed = True
                    if killed and restart is None and elapsed >= KILL_AT + DOWN_SECONDS:
                        # `start` launches what is not running: etcd, on its data directory
                        restart = asyncio.create_task(asyncio.to_thread(start_missing))
                    delivery = str(uuid.uuid4())
                    tasks[delivery] = asyncio.create_task(post(session, url, delivery))
                if restart is not None:
                    await restart
                return {d: await t for d, t in tasks.items()}

        try:
            answers = asyncio.run(load())
        finally:
            start_missing()  # whatever happened, etcd runs again

        statuses = Counter(a.status for a in answers.values())
        assert set(statuses) <= {202, 503}, statuses
        assert statuses[503] > 0, "with etcd gone, some creates should have failed"
        assert max(a.seconds for a in answers.values()) < HOST_TIMEOUT
        assert all(a.retry_after for a in answers.values() if a.status == 503)
        later = asyncio.run(redeliver(url, [d for d, a in answers.items() if a.status == 503]))
        assert set(later.values()) <= {200, 202}, Counter(later.values())

    runs = quiet_tenant.buildruns()
    landed = Counter(r["spec"]["trigger"].get("deliveryId") for r in runs)
    assert set(landed) == set(answers) and set(landed.values()) == {len(EXPECTED_TAGS)}
    batch = client.BatchV1Api(quiet_tenant.cluster.api_client)

    seen: list[list[dict[str, Any]]] = [[]]

    def taken_up() -> list[dict[str, Any]] | None:
        found = seen[0] = quiet_tenant.buildruns()
        phases = [(r.get("status") or {}).get("phase") for r in found]
        return found if len(found) == len(runs) and all(phases) else None

    try:
        runs = eventually(taken_up, timeout=180, what="a status on every BuildRun")
    except AssertionError:
        untaken = [r["metadata"]["name"] for r in seen[0] if not (r.get("status") or {}).get("phase")]
        phases = Counter((r.get("status") or {}).get("phase") for r in seen[0])
        raise AssertionError(
            f"{len(untaken)} BuildRuns without a status ({untaken[:5]}...); phases {phases}; "
            f"operator log:\n{operator.log_tail(60)}"
        ) from None
    jobs = Counter(
        j.metadata.labels[LABEL_BUILD_RUN]
        for j in batch.list_namespaced_job(quiet_tenant.namespace, label_selector=LABEL_BUILD_RUN).items
    )
    started = [r for r in runs if r["status"].get("jobName")]
    queued = [r for r in runs if not r["status"].get("jobName")]
    assert started, "the first push should have started"
    assert {r["metadata"]["name"] for r in started} == set(jobs) and set(jobs.values()) == {1}
    assert all(r["status"]["phase"] == "Pending" for r in queued), [r["status"] for r in queued]
    unfinished = [r for r in started if r["status"]["phase"] in ("Pending", "Running")]
    assert len(unfinished) <= 1, [r["metadata"]["name"] for r in unfinished]
