"""A flood of deliveries against the real API server: valid pushes, redeliveries, forged signatures
and truncated bodies, shuffled and sent 16 at a time. Exactly the valid pushes become BuildRuns,
each once; every other delivery gets its 4xx or `duplicate`; nothing gets a 5xx.

Counts and statuses only, no timing. The tenant builds one at a time, so these BuildRuns wait in
its queue instead of loading the node; deleting the tenant at the end takes them away.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import aiohttp

from kiln.platform.kube import load_api_client
from kiln.receiver.app import ServerThread, create_app
from kiln.webhooks import SharedSecret, sign
from tests.faults.deliveries import push_of
from tests.integration.test_webhook_receiver import PAYLOAD, Tenant, wait_ready
from tests.unit.webhooks.objects import (
    EXPECTED_TAGS,
    SECRET,
)

VALID, REDELIVERED, FORGED, TRUNCATED = 240, 30, 30, 30
CONCURRENCY = 16


def test_flood_to_exactly_one_set_of_buildruns_per_valid_push(quiet_tenant: Tenant) -> None:
    body = PAYLOAD.read_bytes()
    key = SharedSecret(SECRET)
    valid = [str(uuid.uuid4()) for _ in range(VALID)]
    pushes = {d: push_of(d) for d in valid}  # each valid delivery its own push (commit)
    first: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("valid", d, pushes[d], sign("github", pushes[d], key, delivery_id=d)) for d in valid
    ]
    for _ in range(FORGED):
        d = str(uuid.uuid4())
        first.append(("forged", d, body, sign("github", body, SharedSecret("not-the-secret"), delivery_id=d)))
    for _ in range(TRUNCATED):
        d, cut = str(uuid.uuid4()), body[: random.randrange(1, len(body) - 1)]
        first.append(("truncated", d, cut, sign("github", cut, key, delivery_id=d)))
    random.Random(12).shuffle(first)
    # redeliveries: the same delivery again, once its first answer is in
    again = [
        ("redelivered", d, pushes[d], sign("github", pushes[d], key, delivery_id=d))
        for d in valid[:REDELIVERED]
    ]

    with ServerThread(create_app(load_api_client(str(quiet_tenant.cluster.kubeconfig)))) as server:
        wait_ready(server.url)
        url = server.url + quiet_tenant.hook()

        async def send_all(
            deliveries: list[tuple[str, str, bytes, dict[str, str]]],
        ) -> list[tuple[str, str, int, str]]:
            gate = asyncio.Semaphore(CONCURRENCY)
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(timeout=timeout) as session:

                async def send(
                    kind: str, delivery: str, data: bytes, headers: dict[str, str]
                ) -> tuple[str, str, int, str]:
                    async with gate, session.post(url, data=data, headers=headers) as response:
                        answer = await response.json(content_type=None)
                        return kind, delivery, response.status, str(answer.get("outcome"))

                return await asyncio.gather(*(send(*d) for d in deliveries))

        answers = asyncio.run(send_all(first)) + asyncio.run(send_all(again))

    statuses = Counter((kind, status, outcome) for kind, _, status, outcome in answers)
    assert statuses == {
        ("valid", 202, "created"): VALID,
        ("forged", 401, "unauthorized"): FORGED,
        ("truncated", 400, "bad_request"): TRUNCATED,
        ("redelivered", 200, "duplicate"): REDELIVERED,
    }, statuses
    landed = Counter(r["spec"]["trigger"].get("deliveryId") for r in quiet_tenant.buildruns())
    assert set(landed) == set(valid)  # nothing from a forged or truncated delivery
    assert set(landed.values()) == {len(EXPECTED_TAGS)}  # each valid push once, redelivered or not
