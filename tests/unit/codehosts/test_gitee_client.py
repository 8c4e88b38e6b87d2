"""GiteeClient against the Gitee v5 stand-in, asserting on the host's side; the hooks it registers
produce deliveries Kiln's receiver accepts. Also the shared HTTP layer's limits (timeouts, waits
longer than MAX_WAIT_SECONDS)."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from kiln.api.constants import GiteeMode, Provider
from kiln.codehosts import (
    CodeHost,
    CodeHostError,
    CommitState,
    CommitStatus,
    NotFound,
    Unauthorized,
    Unreachable,
    client_for,
)
from kiln.codehosts import http as codehost_http
from kiln.codehosts.base import ATTEMPTS
from kiln.receiver.app import ServerThread
from kiln.webhooks import gitee as gitee_receiver
from kiln.webhooks.config import GiteeSecret
from kiln.webhooks.headers import Headers
from tests.standins import HostState, serve
from tests.standins import gitee as standin
from tests.standins.bitbucket import reader_token

TOKEN = "gitee-token-5f1c9e"
SECRET = "hook-secret-81b2"
CLONE_URL = "https://gitee.com/acme/app.git"
RECEIVER = "https://kiln.example.com/webhooks/acme/app"
SHA = "3" * 40


@pytest.fixture
def state() -> HostState:
    return HostState(
        token=TOKEN,
        repository="acme/app",
        branches={"main": "a" * 40, "dev": "b" * 40, "feature/x": "c" * 40},
        tags={"v1": ("d" * 40, None), "v2": ("e" * 40, "f" * 40)},
    )


@pytest.fixture
def base(state: HostState) -> Iterator[str]:
    with serve(standin, state) as url:
        yield url


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between attempts, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(codehost_http, "sleep", recorded.append)
    return recorded


def gitee(base: str, token: str = TOKEN, clone_url: str = CLONE_URL) -> CodeHost:
    return client_for(Provider.GITEE, clone_url, token, api_urls={"gitee.com": base})


def assert_secret_free(error: CodeHostError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(error) and secret not in repr(error)
    assert error.__cause__ is None and error.__context__ is None


def test_check_access_passes_for_an_admin_with_the_token_as_access_token(base: str, state: HostState) -> None:
    gitee(base).check_access()
    assert state.requests == [("GET", f"/api/v5/repos/acme/app?access_token={TOKEN}")]


def test_check_access_refuses_a_wrong_token_in_gitees_words_without_the_token(base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        gitee(base, token="wrong-token-77").check_access()
    assert caught.value.status == 401
    assert "Access token does not exist" in caught.value.message
    assert_secret_free(caught.value, "wrong-token-77")


def test_check_access_reports_a_missing_repository(base: str) -> None:
    with pytest.raises(NotFound) as caught:
        gitee(base, clone_url="https://gitee.com/acme/missing.git").check_access()
    assert "Not Found Project" in caught.value.message
    assert_secret_free(caught.value, TOKEN)


def test_check_access_refuses_a_token_without_admin_permission(base: str, state: HostState) -> None:
    with pytest.raises(Unauthorized, match="no admin permission"):
        gitee(base, token=reader_token(state)).check_access()


def test_create_hook_registers_a_signed_push_hook_the_receiver_accepts(base: str, state: HostState) -> None:
    hook = gitee(base).create_hook(RECEIVER, SECRET)

    assert hook.url == RECEIVER
    stored = state.hooks[hook.id]
    assert stored["url"] == RECEIVER
    assert stored["encryption_type"] == 1  # signature mode
    assert stored["push_events"] and stored["tag_push_events"]
    assert not (stored["issues_events"] or stored["note_events"] or stored["merge_requests_events"])
    # a delivery as Gitee signs it with the hook's password verifies in signature mode
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    timestamp = str(int(now.timestamp() * 1000))
    headers = Headers(
        {
            "X-Gitee-Token": gitee_receiver.signature(stored["password"], timestamp),
            "X-Gitee-Timestamp": timestamp,
        }
    )
    gitee_receiver.verify(headers, b"{}", GiteeSecret(SECRET, GiteeMode.SIGNATURE), now)


def test_hooks_follows_every_page(base: str, state: HostState) -> None:
    client = gitee(base)
    created = {client.create_hook(f"{RECEIVER}/{n}", SECRET).id for n in range(5)}

    assert {h.id for h in client.hooks()} == created
    pages = [path for method, path in state.requests if method == "GET" and "/hooks?" in path]
    assert len(pages) == 3  # five hooks, two a page


def test_update_hook_sets_url_secret_and_events(base: str, state: HostState) -> None:
    client = gitee(base)
    hook = client.create_hook(RECEIVER, SECRET)

    updated = client.update_hook(hook.id, f"{RECEIVER}/new", "rotated")

    assert updated.url == f"{RECEIVER}/new"
    stored = state.hooks[hook.id]
    assert (stored["url"], stored["password"], stored["encryption_type"]) == (f"{RECEIVER}/new", "rotated", 1)
    assert ("PATCH", f"/api/v5/repos/acme/app/hooks/{hook.id}?access_token={TOKEN}") in state.requests


def test_delete_hook_removes_it_and_a_missing_one_is_fine(base: str, state: HostState) -> None:
    client = gitee(base)
    hook = client.create_hook(RECEIVER, SECRET)

    client.delete_hook(hook.id)
    client.delete_hook(hook.id)

    assert state.hooks == {}


@pytest.mark.parametrize(
    ("commit_state", "status", "conclusion"),
    [
        (CommitState.QUEUED, "queued", None),
        (CommitState.RUNNING, "in_progress", None),
        (CommitState.SUCCEEDED, "completed", "success"),
        (CommitState.FAILED, "completed", "failure"),
        (CommitState.CANCELLED, "completed", "cancelled"),
    ],
)
def test_set_commit_status_creates_a_check_run_on_the_commit(
    base: str, state: HostState, commit_state: CommitState, status: str, conclusion: str | None
) -> None:
    report = CommitStatus(
        SHA, commit_state, "kiln/app", "Kiln app-1: Running", "https://kiln.example.com/logs/1"
    )

    gitee(base).set_commit_status(report)

    (sent,) = state.statuses
    assert sent["sha"] == SHA and sent["head_sha"] == SHA and sent["name"] == "kiln/app"
    assert (sent["status"], sent.get("conclusion")) == (status, conclusion)
    assert sent["details_url"] == "https://kiln.example.com/logs/1"
    assert sent["output"] == {"title": "kiln/app", "summary": "Kiln app-1: Running"}


def test_set_commit_status_without_a_log_url_sends_no_details_url(base: str, state: HostState) -> None:
    gitee(base).set_commit_status(CommitStatus(SHA, CommitState.SUCCEEDED, "kiln/app", "done"))
    assert "details_url" not in state.statuses[0]


def test_refs_lists_every_branch_and_tag_by_full_name_with_the_tags_commit(base: str) -> None:
    assert gitee(base).refs() == {
        "refs/heads/main": "a" * 40,
        "refs/heads/dev": "b" * 40,
        "refs/heads/feature/x": "c" * 40,
        "refs/tags/v1": "d" * 40,
        "refs/tags/v2": "e" * 40,  # annotated: the commit, not the tag object
    }


def test_503_then_429_are_retried_after_retry_after(base: str, state: HostState, waits: list[float]) -> None:
    state.fail_next = [503, 429]

    gitee(base).check_access()

    assert waits == [1.0, 1.0]
    assert len(state.requests) == 3


def test_persistent_5xx_is_unreachable_after_every_attempt(
    base: str, state: HostState, waits: list[float]
) -> None:
    state.fail_next = [502] * ATTEMPTS

    with pytest.raises(Unreachable) as caught:
        gitee(base).hooks()

    assert caught.value.status == 502
    assert len(state.requests) == ATTEMPTS
    assert waits == [codehost_http.BACKOFF_SECONDS * 2**n for n in range(ATTEMPTS - 1)]
    assert_secret_free(caught.value, TOKEN)


def test_a_wait_longer_than_max_wait_fails_at_once(
    base: str, state: HostState, monkeypatch: pytest.MonkeyPatch, waits: list[float]
) -> None:
    monkeypatch.setattr(codehost_http, "MAX_WAIT_SECONDS", 0.5)
    state.fail_next = [429]

    with pytest.raises(CodeHostError, match="wait 1s") as caught:
        gitee(base).check_access()

    assert caught.value.status == 429 and not isinstance(caught.value, Unauthorized)
    assert waits == [] and len(state.requests) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_is_unreachable_quickly(waits: list[float]) -> None:
    started = time.monotonic()

    with pytest.raises(Unreachable) as caught:
        gitee(f"http://127.0.0.1:{closed_port()}/api/v5").check_access()

    assert time.monotonic() - started < 5
    assert caught.value.status is None
    assert len(waits) == ATTEMPTS - 1
    assert_secret_free(caught.value, TOKEN)


def test_a_host_that_never_answers_times_out_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codehost_http, "TIMEOUT_SECONDS", 0.05)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (the backlog) but never answers
        port = silent.getsockname()[1]

        with pytest.raises(Unreachable, match="timed out") as caught:
            gitee(f"http://127.0.0.1:{port}/api/v5").check_access()

    assert_secret_free(caught.value, TOKEN)


def test_waits_follow_an_http_date_retry_after_and_a_rate_limit_reset(waits: list[float]) -> None:
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
        gitee(f"{scripted.url}/api/v5").check_access()

    assert answers == []
    assert 1 < waits[0] <= 3 and 3 < waits[1] <= 5
