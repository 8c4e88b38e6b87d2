"""BitbucketServerClient against the Bitbucket Server / Data Center stand-in, asserting on the
host's side; the hooks it registers produce deliveries Kiln's receiver accepts."""

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
from kiln.webhooks import bitbucket_server as server_receiver
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.headers import Headers
from tests.standins import HostState, serve
from tests.standins import bitbucket_server as standin
from tests.standins.bitbucket import reader_token

TOKEN = "bbs-http-token-1e2f"
SECRET = "hook-secret-e5f6"
CLONE_URL = "https://bitbucket.example.com/scm/PROJ/app.git"
RECEIVER = "https://kiln.example.com/webhooks/proj/app"
SHA = "9" * 40
LOG = "https://kiln.example.com/logs/1"
REPO = "/rest/api/1.0/projects/PROJ/repos/app"


@pytest.fixture
def state() -> HostState:
    return HostState(
        token=TOKEN,
        repository="PROJ/app",
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


def server(base: str, token: str = TOKEN, clone_url: str = CLONE_URL) -> CodeHost:
    return client_for(Provider.BITBUCKET_SERVER, clone_url, token, api_urls={"bitbucket.example.com": base})


def assert_secret_free(error: CodeHostError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(error) and secret not in repr(error)
    assert error.__cause__ is None and error.__context__ is None


def test_check_access_reads_the_repository_and_its_webhooks(base: str, state: HostState) -> None:
    server(base).check_access()

    assert state.requests == [("GET", REPO), ("GET", f"{REPO}/webhooks?limit=1")]


def test_check_access_refuses_a_wrong_token_in_bitbuckets_words_without_the_token(base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        server(base, token="wrong-token-55").check_access()
    assert caught.value.status == 401
    assert "Authentication failed" in caught.value.message
    assert_secret_free(caught.value, "wrong-token-55")


def test_check_access_reports_a_missing_repository(base: str) -> None:
    with pytest.raises(NotFound, match="PROJ/missing does not exist") as caught:
        server(base, clone_url="https://bitbucket.example.com/scm/PROJ/missing.git").check_access()
    assert_secret_free(caught.value, TOKEN)


def test_check_access_refuses_a_token_without_repo_admin(base: str, state: HostState) -> None:
    with pytest.raises(Unauthorized, match="needs REPO_ADMIN") as caught:
        server(base, token=reader_token(state)).check_access()
    assert "not permitted" in caught.value.message


def test_create_hook_registers_a_signed_push_hook_the_receiver_accepts(base: str, state: HostState) -> None:
    hook = server(base).create_hook(RECEIVER, SECRET)

    assert hook.url == RECEIVER
    stored = state.hooks[hook.id]
    assert (stored["name"], stored["url"], stored["active"]) == ("kiln", RECEIVER, True)
    assert stored["events"] == ["repo:refs_changed"]
    # a delivery signed as the server signs it with the hook's secret verifies
    body = b'{"changes": []}'
    digest = hmac.new(stored["configuration"]["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = Headers({"X-Hub-Signature": f"sha256={digest}"})
    server_receiver.verify(headers, body, SharedSecret(SECRET), datetime(2024, 5, 1, tzinfo=UTC))


def test_hooks_follows_every_page(base: str, state: HostState) -> None:
    client = server(base)
    created = {client.create_hook(f"{RECEIVER}/{n}", SECRET).id for n in range(5)}

    assert {h.id for h in client.hooks()} == created
    pages = [path for method, path in state.requests if method == "GET" and "/webhooks?" in path]
    assert len(pages) == 3 and "start=4" in pages[-1]


def test_update_hook_sets_url_secret_and_events(base: str, state: HostState) -> None:
    client = server(base)
    hook = client.create_hook(RECEIVER, SECRET)

    updated = client.update_hook(hook.id, f"{RECEIVER}/new", "rotated")

    assert updated.url == f"{RECEIVER}/new"
    stored = state.hooks[hook.id]
    assert (stored["url"], stored["configuration"], stored["events"]) == (
        f"{RECEIVER}/new",
        {"secret": "rotated"},
        ["repo:refs_changed"],
    )
    assert ("PUT", f"{REPO}/webhooks/{hook.id}") in state.requests


def test_delete_hook_removes_it_and_a_missing_one_is_fine(base: str, state: HostState) -> None:
    client = server(base)
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
        (CommitState.CANCELLED, "FAILED"),  # build-status 1.0 has no cancelled state
    ],
)
def test_set_commit_status_posts_a_build_status_in_bitbuckets_words(
    base: str, state: HostState, commit_state: CommitState, word: str
) -> None:
    server(base).set_commit_status(CommitStatus(SHA, commit_state, "kiln/app", "Kiln app-1", LOG))

    assert state.statuses == [
        {
            "state": word,
            "key": "kiln/app",
            "name": "kiln/app",
            "url": LOG,
            "description": "Kiln app-1",
            "sha": SHA,
        }
    ]
    assert state.requests == [("POST", f"/rest/build-status/1.0/commits/{SHA}")]


def test_set_commit_status_without_a_log_url_links_the_repository_page(base: str, state: HostState) -> None:
    server(base).set_commit_status(CommitStatus(SHA, CommitState.QUEUED, "kiln/app", "Kiln app-1"))

    assert state.statuses[0]["url"] == base.removesuffix("/rest") + "/projects/PROJ/repos/app/browse"


def test_refs_lists_every_branch_and_tag_by_full_name_with_the_tags_commit(base: str) -> None:
    assert server(base).refs() == {
        "refs/heads/main": "a" * 40,
        "refs/heads/dev": "b" * 40,
        "refs/heads/feature/x": "c" * 40,
        "refs/tags/v1": "d" * 40,
        "refs/tags/v2": "e" * 40,  # annotated: latestCommit, not the tag object in `hash`
    }


def test_503_then_429_are_retried_after_retry_after(base: str, state: HostState, waits: list[float]) -> None:
    state.fail_next = [503, 429]

    server(base).delete_hook("404")

    assert waits == [1.0, 1.0]
    assert len(state.requests) == 3


def test_persistent_5xx_is_unreachable_after_every_attempt(base: str, state: HostState) -> None:
    state.fail_next = [503] * ATTEMPTS

    with pytest.raises(Unreachable) as caught:
        server(base).set_commit_status(CommitStatus(SHA, CommitState.FAILED, "kiln/app", "x", LOG))

    assert caught.value.status == 503 and len(state.requests) == ATTEMPTS
    assert_secret_free(caught.value, TOKEN)


def test_nothing_listening_is_unreachable_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()

    with pytest.raises(Unreachable) as caught:
        server(f"http://127.0.0.1:{port}/rest").hooks()

    assert time.monotonic() - started < 5
    assert_secret_free(caught.value, TOKEN)
