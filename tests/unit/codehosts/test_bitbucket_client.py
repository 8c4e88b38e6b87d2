"""BitbucketClient (Cloud) against the Bitbucket Cloud 2.0 stand-in, asserting on the host's side;
the hooks it registers produce deliveries Kiln's receiver accepts."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kiln.api.constants import Provider
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
from kiln.webhooks import bitbucket as bitbucket_receiver
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.headers import Headers
from tests.standins import HostState, serve
from tests.standins import bitbucket as standin

TOKEN = "bitbucket-token-09ad4e"
SECRET = "hook-secret-c3d4"
CLONE_URL = "https://bitbucket.org/acme/app.git"
RECEIVER = "https://kiln.example.com/webhooks/acme/app"
SHA = "7" * 40
LOG = "https://kiln.example.com/logs/1"


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


def bitbucket(base: str, token: str = TOKEN, clone_url: str = CLONE_URL) -> CodeHost:
    return client_for(Provider.BITBUCKET, clone_url, token, api_urls={"bitbucket.org": base})


def assert_secret_free(error: CodeHostError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(error) and secret not in repr(error)
    assert error.__cause__ is None and error.__context__ is None


def test_check_access_reads_the_repository_and_the_callers_permission(base: str, state: HostState) -> None:
    bitbucket(base).check_access()

    assert state.requests[0] == ("GET", "/2.0/repositories/acme/app")
    method, path = state.requests[1]
    assert method == "GET" and path.startswith("/2.0/user/permissions/repositories?q=repository.full_name")


def test_check_access_refuses_a_wrong_token_in_bitbuckets_words_without_the_token(base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        bitbucket(base, token="wrong-token-33").check_access()
    assert caught.value.status == 401
    assert "Token is invalid" in caught.value.message
    assert_secret_free(caught.value, "wrong-token-33")


def test_check_access_reports_a_missing_repository(base: str) -> None:
    with pytest.raises(NotFound, match="Repository acme/missing not found") as caught:
        bitbucket(base, clone_url="https://bitbucket.org/acme/missing.git").check_access()
    assert_secret_free(caught.value, TOKEN)


def test_check_access_refuses_a_token_without_admin_permission(base: str, state: HostState) -> None:
    with pytest.raises(Unauthorized, match="no admin permission"):
        bitbucket(base, token=standin.reader_token(state)).check_access()


def test_create_hook_registers_a_signed_push_hook_the_receiver_accepts(base: str, state: HostState) -> None:
    hook = bitbucket(base).create_hook(RECEIVER, SECRET)

    assert hook.url == RECEIVER and hook.id.startswith("{")
    stored = state.hooks[hook.id]
    assert (stored["url"], stored["events"], stored["active"]) == (RECEIVER, ["repo:push"], True)
    assert stored["description"] == "kiln"
    # a delivery signed as Bitbucket signs it with the hook's secret verifies
    body = b'{"push": {"changes": []}}'
    digest = hmac.new(stored["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = Headers({"X-Hub-Signature": f"sha256={digest}"})
    bitbucket_receiver.verify(headers, body, SharedSecret(SECRET), datetime(2024, 5, 1, tzinfo=UTC))


def test_hooks_follows_the_next_links(base: str, state: HostState) -> None:
    client = bitbucket(base)
    created = {client.create_hook(f"{RECEIVER}/{n}", SECRET).id for n in range(5)}

    assert {h.id for h in client.hooks()} == created
    pages = [path for method, path in state.requests if method == "GET" and "/hooks" in path]
    assert len(pages) == 3 and "page=3" in pages[-1]


def test_update_hook_sets_url_secret_and_events(base: str, state: HostState) -> None:
    client = bitbucket(base)
    hook = client.create_hook(RECEIVER, SECRET)

    updated = client.update_hook(hook.id, f"{RECEIVER}/new", "rotated")

    assert updated == type(hook)(hook.id, f"{RECEIVER}/new")
    stored = state.hooks[hook.id]
    assert (stored["url"], stored["secret"], stored["events"]) == (
        f"{RECEIVER}/new",
        "rotated",
        ["repo:push"],
    )
    assert any(m == "PUT" and "/hooks/%7B" in p for m, p in state.requests)  # the braced uuid, quoted


def test_delete_hook_removes_it_and_a_missing_one_is_fine(base: str, state: HostState) -> None:
    client = bitbucket(base)
    hook = client.create_hook(RECEIVER, SECRET)

    client.delete_hook(hook.id)
    client.delete_hook(hook.id)

    assert state.hooks == {}


@pytest.mark.parametrize(
    ("commit_state", "word"),
    [
        (CommitState.QUEUED, "INPROGRESS"),
        (CommitState.RUNNING, "INPROGRESS"),
        (CommitState.SUCCEEDED, "SUCCESSFUL"),
        (CommitState.FAILED, "FAILED"),
        (CommitState.CANCELLED, "STOPPED"),
    ],
)
def test_set_commit_status_posts_a_build_status_in_bitbuckets_words(
    base: str, state: HostState, commit_state: CommitState, word: str
) -> None:
    bitbucket(base).set_commit_status(CommitStatus(SHA, commit_state, "kiln/app", "Kiln app-1", LOG))

    assert state.statuses == [
        {
            "key": "kiln/app",
            "state": word,
            "name": "kiln/app",
            "url": LOG,
            "description": "Kiln app-1",
            "sha": SHA,
        }
    ]


def test_set_commit_status_without_a_log_url_links_the_repository_page(base: str, state: HostState) -> None:
    bitbucket(base).set_commit_status(CommitStatus(SHA, CommitState.RUNNING, "kiln/app", "Kiln app-1"))

    assert state.statuses[0]["url"] == "https://bitbucket.org/acme/app"


def test_refs_lists_every_branch_and_tag_by_full_name_with_the_tags_commit(base: str) -> None:
    assert bitbucket(base).refs() == {
        "refs/heads/main": "a" * 40,
        "refs/heads/dev": "b" * 40,
        "refs/heads/feature/x": "c" * 40,
        "refs/tags/v1": "d" * 40,
        "refs/tags/v2": "e" * 40,  # annotated: the commit, not the tag object
    }


def test_503_then_429_are_retried_after_retry_after(base: str, state: HostState, waits: list[float]) -> None:
    state.fail_next = [503, 429]

    assert len(bitbucket(base).hooks()) == 0

    assert waits == [1.0, 1.0]
    assert len(state.requests) == 3


def test_persistent_5xx_is_unreachable_after_every_attempt(base: str, state: HostState) -> None:
    state.fail_next = [500] * ATTEMPTS

    with pytest.raises(Unreachable) as caught:
        bitbucket(base).refs()

    assert caught.value.status == 500 and len(state.requests) == ATTEMPTS
    assert_secret_free(caught.value, TOKEN)


def test_nothing_listening_is_unreachable_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()

    with pytest.raises(Unreachable) as caught:
        bitbucket(f"http://127.0.0.1:{port}/2.0").create_hook(RECEIVER, SECRET)

    assert time.monotonic() - started < 5
    assert_secret_free(caught.value, TOKEN, SECRET)
