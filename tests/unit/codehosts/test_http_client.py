"""What the CodeHost contract (test_client_contract.py) does not reach of kiln.codehosts.http, the
client layer under Gitee and both Bitbucket products, driven through GiteeClient: a host that never
answers times out, and waits follow a Retry-After given as an HTTP date and a 403's rate-limit
reset."""

from __future__ import annotations

import email.utils
import socket
import time

import pytest
from aiohttp import web

from kiln.codehosts import Unreachable
from kiln.codehosts import http as codehost_http
from kiln.receiver.app import ServerThread
from tests.unit.codehosts.hosts import GITEE, TOKEN


def test_host_that_never_answers_to_unreachable_timed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codehost_http, "TIMEOUT_SECONDS", 0.05)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (the backlog) but never answers
        port = silent.getsockname()[1]

        with pytest.raises(Unreachable, match="timed out") as caught:
            GITEE.client(f"http://127.0.0.1:{port}/api/v5").check_access()

    GITEE.assert_secret_free(caught.value, TOKEN)


def test_http_date_retry_after_and_rate_limit_reset_to_waits_until_then(waits: list[float]) -> None:
    """A Retry-After given as an HTTP date, then a 403 whose rate-limit headers say the limit is
    used up (a limit, not a refusal): both waited out until the time they name."""
    answers = [
        web.json_response(
            {"message": "slow down"},
            status=429,
            headers={"Retry-After": email.utils.formatdate(time.time() + 3, usegmt=True)},
        ),
        web.json_response(
            {"message": "API rate limit exceeded"},
            status=403,
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 5)},
        ),
        web.json_response({"permission": {"admin": True}}),
    ]

    async def answer(request: web.Request) -> web.Response:
        return answers.pop(0)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    with ServerThread(app) as scripted:
        GITEE.client(f"{scripted.url}/api/v5").check_access()

    assert answers == []
    assert 1 < waits[0] <= 3 and 3 < waits[1] <= 5
