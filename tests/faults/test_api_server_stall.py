"""The API server hangs for 30 s (SIGSTOP, then SIGCONT: harsher than a clean outage) while pushes
keep arriving. Every delivery is answered within the code host's timeout, 202 or 503 with
Retry-After; once the API server is back, redelivering the 503s loses nothing and duplicates
nothing; and the tenant's children are not rewritten over and over (the write storm of issue 12).

Counts and bounds, not this machine's timing: the bound on an answer is the receiver's deadline
(8 s) plus a margin, under GitHub's 10 s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter

import aiohttp
from kubernetes import client

from kiln.platform.kube import load_api_client
from kiln.receiver.app import ServerThread, create_app
from tests.conftest import OperatorProcess
from tests.faults.control_plane import pid_of
from tests.faults.deliveries import HOST_TIMEOUT, Answer, post, redeliver
from tests.integration.test_webhook_receiver import Tenant, wait_ready
from tests.unit.webhooks.objects import (
    EXPECTED_TAGS,
)

RATE = 5  # pushes per second
SECONDS = 45
STALL_AT, STALL_SECONDS = 5, 30


def generations(env: Tenant) -> dict[str, int]:
    """How often each generation-counting child has been written with a changed spec."""
    networking = client.NetworkingV1Api(env.cluster.api_client)
    policies = networking.list_namespaced_network_policy(env.namespace).items
    return {p.metadata.name: p.metadata.generation for p in policies}


def versions(env: Tenant) -> dict[str, str]:
    """The resourceVersions of the children only the operator writes."""
    core, networking = (
        client.CoreV1Api(env.cluster.api_client),
        client.NetworkingV1Api(env.cluster.api_client),
    )
    objects = [
        *networking.list_namespaced_network_policy(env.namespace).items,
        *core.list_namespaced_limit_range(env.namespace).items,
    ]
    return {f"{o.kind or type(o).__name__}/{o.metadata.name}": o.metadata.resource_version for o in objects}


def test_api_server_stall_under_load_to_answers_in_time_and_nothing_lost(
    operator: OperatorProcess, quiet_tenant: Tenant
) -> None:
    before = generations(quiet_tenant)
    pid = pid_of("kube-apiserver")

    with ServerThread(create_app(load_api_client(str(quiet_tenant.cluster.kubeconfig)))) as server:
        wait_ready(server.url)
        url = server.url + quiet_tenant.hook()

        async def load() -> dict[str, Answer]:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                start = time.monotonic()
                stopped = resumed = False
                tasks: dict[str, asyncio.Task[Answer]] = {}
                for i in range(RATE * SECONDS):
                    await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
                    elapsed = time.monotonic() - start
                    if not stopped and elapsed >= STALL_AT:
                        os.kill(pid, signal.SIGSTOP)
                        stopped = True
                    if stopped and not resumed and elapsed >= STALL_AT + STALL_SECONDS:
                        os.kill(pid, signal.SIGCONT)
                        resumed = True
                    delivery = str(uuid.uuid4())
                    tasks[delivery] = asyncio.create_task(post(session, url, delivery))
                results = {d: await t for d, t in tasks.items()}
                return results

        try:
            answers = asyncio.run(load())
        finally:
            os.kill(pid, signal.SIGCONT)  # whatever happened, the API server runs again

        statuses = Counter(a.status for a in answers.values())
        slowest = max(a.seconds for a in answers.values())
        assert set(statuses) <= {202, 503}, statuses
        assert statuses[503] > 0, "the stall should have made some creates miss the deadline"
        assert slowest < HOST_TIMEOUT, f"an answer took {slowest:.1f} s"
        assert all(a.retry_after for a in answers.values() if a.status == 503)
        # the host's redelivery of what got a 503, once the API server is back
        later = asyncio.run(redeliver(url, [d for d, a in answers.items() if a.status == 503]))
        assert set(later.values()) <= {200, 202}, Counter(later.values())

    landed = Counter(r["spec"]["trigger"].get("deliveryId") for r in quiet_tenant.buildruns())
    assert set(landed) == set(answers)  # every push, once its redelivery went through
    assert set(landed.values()) == {len(EXPECTED_TAGS)}  # and none twice
    # no write storm: the tenant's children keep their generation, and once the operator has caught
    # up, the ones nobody else writes (no status) are not written at all for 20 s
    settled = versions(quiet_tenant)
    time.sleep(20)
    assert versions(quiet_tenant) == settled
    after = generations(quiet_tenant)
    assert after.keys() == before.keys()
    assert all(after[name] - before[name] <= 2 for name in before), (before, after)
