"""Signed GitHub deliveries of the shared push, sent as a code host sends them, for the fault tests."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import aiohttp

from kiln.webhooks import SharedSecret, sign
from tests.integration.test_webhook_receiver import PAYLOAD
from tests.unit.webhooks.objects import SECRET, with_commit

BODY = PAYLOAD.read_bytes() if PAYLOAD.is_file() else b""
HOST_TIMEOUT = 10.0  # GitHub waits this long for an answer; the receiver's deadline is 8 s


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (connection error or client timeout)
    seconds: float
    retry_after: str | None


def push_of(delivery: str) -> bytes:
    """The shared push with a commit of the delivery's own: each delivery is another push (BuildRuns
    are named by commit), and a redelivery (same id) the same push."""
    return with_commit(BODY, hashlib.sha1(delivery.encode()).hexdigest())


async def post(session: aiohttp.ClientSession, url: str, delivery: str) -> Answer:
    started = time.monotonic()
    body = push_of(delivery)
    headers = sign("github", body, SharedSecret(SECRET), delivery_id=delivery)
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return Answer(response.status, time.monotonic() - started, response.headers.get("Retry-After"))
    except (aiohttp.ClientError, TimeoutError):
        return Answer(0, time.monotonic() - started, None)


async def redeliver(url: str, deliveries: list[str], attempts: int = 15) -> dict[str, int]:
    """What the host does after a 503: send again (every 2 s) until the delivery is taken."""
    final: dict[str, int] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for delivery in deliveries:
            for _ in range(attempts):
                final[delivery] = (await post(session, url, delivery)).status
                if final[delivery] in (200, 202):
                    break
                await asyncio.sleep(2)
    return final
