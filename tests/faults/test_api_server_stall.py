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
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest
from kubernetes import client

from kiln.platform.kube import load_api_client
from kiln.receiver.app import ServerThread, create_app
from kiln.webhooks import SharedSecret, sign
from tests.conftest import OperatorProcess, _hack
from tests.integration.conftest import Tenants, eventually, tenant_spec
from tests.integration.test_webhook_receiver import PAYLOAD, Tenant, wait_ready
from tests.unit.webhooks.objects import (
    CHANGES_RULE,
    EXPECTED_TAGS,
    MAIN_RULE,
    PATTERN_RULE,
    SECRET,
    repository,
    secret,
)

RATE = 5  # pushes per second
SECONDS = 45
STALL_AT, STALL_SECONDS = 5, 30
HOST_TIMEOUT = 10.0  # GitHub's; the receiver's deadline is 8 s


def api_server_pid() -> int:
    match = re.search(r"kube-apiserver running \(pid (\d+)\)", _hack("control-plane.sh", "status"))
    if match is None:
        pytest.fail("kube-apiserver is not running", pytrace=False)
    return int(match[1])


@pytest.fixture(scope="module")
def stall_tenant(operator: OperatorProcess) -> Iterator[Tenant]:
    tenants = Tenants(operator.cluster)
    try:
        name = tenants.create(tenant_spec(quota={"maxConcurrentBuilds": 1}))
        eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
        t = Tenant(name, tenants.get(name)["status"]["kubernetesNamespace"], operator.cluster)
        t.apply(secret(), repository(), CHANGES_RULE, PATTERN_RULE, MAIN_RULE)
        yield t
    finally:
        tenants.cleanup()


def generations(env: Tenant) -> dict[str, int]:
    """How often each generation-counting child has been written with a changed spec."""
    networking = client.NetworkingV1Api(env.cluster.api_client)
    policies = networking.list_namespaced_network_policy(env.namespace).items
    return {p.metadata.name: p.metadata.generation for p in policies}


def test_api_server_stall_under_load_to_answers_in_time_and_nothing_lost(
    operator: OperatorProcess, stall_tenant: Tenant
) -> None:
    body = PAYLOAD.read_bytes()
    key = SharedSecret(SECRET)
    before = generations(stall_tenant)
    pid = api_server_pid()

    with ServerThread(create_app(load_api_client(str(stall_tenant.cluster.kubeconfig)))) as server:
        wait_ready(server.url)
        url = server.url + stall_tenant.hook()

        async def post(session: aiohttp.ClientSession, delivery: str) -> tuple[int, float, str | None]:
            started = time.monotonic()
            headers = sign("github", body, key, delivery_id=delivery)
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status, time.monotonic() - started, response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError):
                return 0, time.monotonic() - started, None

        async def load() -> dict[str, tuple[int, float, str | None]]:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                start = time.monotonic()
                stopped = resumed = False
                tasks: dict[str, asyncio.Task[tuple[int, float, str | None]]] = {}
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
                    tasks[delivery] = asyncio.create_task(post(session, delivery))
                results = {d: await t for d, t in tasks.items()}
                return results

        try:
            answers = asyncio.run(load())
        finally:
            os.kill(pid, signal.SIGCONT)  # whatever happened, the API server runs again

        statuses = Counter(status for status, _, _ in answers.values())
        slowest = max(seconds for _, seconds, _ in answers.values())
        assert set(statuses) <= {202, 503}, statuses
        assert statuses[503] > 0, "the stall should have made some creates miss the deadline"
        assert slowest < HOST_TIMEOUT, f"an answer took {slowest:.1f} s"
        assert all(retry for status, _, retry in answers.values() if status == 503)

        # the host's redelivery of what got a 503, once the API server is back
        later: dict[str, int] = {}

        async def redeliver() -> None:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                for delivery, (status, _, _) in answers.items():
                    if status == 503:
                        for _ in range(10):
                            later[delivery], _, _ = await post(session, delivery)
                            if later[delivery] in (200, 202):
                                break
                            await asyncio.sleep(2)

        asyncio.run(redeliver())
        assert set(later.values()) <= {200, 202}, Counter(later.values())

    landed = Counter(r["spec"]["trigger"].get("deliveryId") for r in stall_tenant.buildruns())
    assert set(landed) == set(answers)  # every push, once its redelivery went through
    assert set(landed.values()) == {len(EXPECTED_TAGS)}  # and none twice
    # no write storm: the operator settles, and the tenant's children keep their generation
    time.sleep(20)
    after = generations(stall_tenant)
    assert after.keys() == before.keys()
    assert all(after[name] - before[name] <= 2 for name in before), (before, after)
