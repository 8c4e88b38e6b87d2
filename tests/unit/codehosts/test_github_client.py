"""GitHubClient (PyGithub) against the GitHub stand-in, asserting on the host's side; the hooks it
registers make deliveries Kiln's receiver accepts. Waits between attempts are recorded, not slept."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from kiln.api.constants import Provider
from kiln.codehosts import (
    CodeHost,
    CodeHostError,
    CommitState,
    CommitStatus,
    Hook,
    NotFound,
    Unauthorized,
    Unreachable,
    client_for,
)
from kiln.codehosts.base import ATTEMPTS, MAX_WAIT_SECONDS
from kiln.webhooks import github as github_receiver
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.headers import Headers
from tests.standins import github as standin
from tests.standins import serve
from tests.standins.github import GitHubState, add_hook

TOKEN = "ghp_kilnTestToken0123456789abcdefABCDEF"
SECRET = "hook-secret-5d1e"
CLONE_URL = "https://github.com/acme/app.git"
RECEIVER = "https://kiln.example.com/hooks/github/acme/app"
REPO = "/api/v3/repos/acme/app"
SHA = "3" * 40


@pytest.fixture
def state() -> GitHubState:
    return GitHubState(
        token=TOKEN,
        repository="acme/app",
        branches={"main": "a" * 40, "dev": "b" * 40, "feature/x": "c" * 40},
        tags={"v1": ("d" * 40, None), "v2": ("e" * 40, "f" * 40)},
    )


@pytest.fixture
def base(state: GitHubState) -> Iterator[str]:
    with serve(standin, state) as url:
        yield url


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every time.sleep (urllib3's waits between attempts, PyGithub's spacing of requests), recorded."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def github(base: str, token: str = TOKEN) -> CodeHost:
    return client_for(Provider.GITHUB, CLONE_URL, token, api_urls={"github.com": base})


def gets(state: GitHubState) -> list[tuple[str, dict[str, str]]]:
    """The GET requests' paths and query parameters."""
    split = [urlsplit(target) for method, target in state.requests if method == "GET"]
    return [(parts.path, dict(parse_qsl(parts.query))) for parts in split]


def assert_token_free(error: CodeHostError, token: str = TOKEN) -> None:
    assert token not in str(error) and token not in repr(error) and token not in error.message
    assert error.__cause__ is None and error.__suppress_context__


def test_check_access_gets_the_repository_and_passes_for_an_admin(base: str, state: GitHubState) -> None:
    github(base).check_access()
    assert state.requests == [("GET", REPO)]


def test_a_wrong_token_is_unauthorized_with_githubs_message(base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        github(base, token="ghp_wrong").check_access()
    assert (caught.value.status, caught.value.message) == (401, "Bad credentials")
    assert_token_free(caught.value, "ghp_wrong")


def test_a_missing_repository_is_not_found(state: GitHubState) -> None:
    state.repository = "acme/other"
    with serve(standin, state) as base, pytest.raises(NotFound) as caught:
        github(base).check_access()
    assert (caught.value.status, caught.value.message) == (404, "Not Found")
    assert_token_free(caught.value)


@pytest.mark.parametrize("role", ["read", "write", "maintain"])
def test_a_token_without_the_admin_role_is_unauthorized(state: GitHubState, role: str) -> None:
    state.role = role
    with serve(standin, state) as base, pytest.raises(Unauthorized, match="admin") as caught:
        github(base).check_access()
    assert caught.value.status == 403


def test_create_hook_registers_a_json_push_hook_with_the_secret(base: str, state: GitHubState) -> None:
    hook = github(base).create_hook(RECEIVER, SECRET)

    assert state.requests == [("POST", f"{REPO}/hooks")]
    [(hook_id, stored)] = state.hooks.items()
    assert hook == Hook(id=hook_id, url=RECEIVER)
    assert stored["name"] == "web" and stored["active"] is True
    assert stored["events"] == ["push"]  # pushes of branches and of tags
    assert stored["config"] == {
        "url": RECEIVER,
        "content_type": "json",
        "secret": SECRET,
        "insecure_ssl": "0",
    }


def test_a_delivery_signed_with_the_registered_secret_passes_the_receiver(
    base: str, state: GitHubState
) -> None:
    github(base).create_hook(RECEIVER, SECRET)
    [stored] = state.hooks.values()
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": stored["id"]}).encode()
    # GitHub signs the body with the hook's secret, as its "Validating webhook deliveries" describes
    digest = hmac.new(stored["config"]["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = Headers({"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"})

    github_receiver.verify(headers, body, SharedSecret(SECRET), datetime.now(UTC))


def test_hooks_follows_every_page(base: str, state: GitHubState) -> None:
    client = github(base)
    created = [client.create_hook(f"{RECEIVER}/{n}", SECRET) for n in range(5)]  # page_size is 2

    assert client.hooks() == created
    assert gets(state) == [
        (f"{REPO}/hooks", {"per_page": "100"}),
        (f"{REPO}/hooks", {"per_page": "100", "page": "2"}),  # Link rel="next"
        (f"{REPO}/hooks", {"per_page": "100", "page": "3"}),
    ]


def test_update_hook_sets_url_secret_and_events(base: str, state: GitHubState) -> None:
    old = add_hook(state, base, {"url": "https://old.example.com/", "secret": "old"}, events=["issues"])

    hook = github(base).update_hook(str(old["id"]), RECEIVER, SECRET)

    assert hook == Hook(id=str(old["id"]), url=RECEIVER)
    assert state.requests == [("PATCH", f"{REPO}/hooks/{old['id']}")]
    stored = state.hooks[str(old["id"])]
    assert stored["config"]["url"] == RECEIVER and stored["config"]["secret"] == SECRET
    assert stored["events"] == ["push"] and stored["active"] is True


@pytest.mark.parametrize("hook_id", ["41", "not-a-number"])
def test_updating_a_missing_hook_is_not_found(base: str, hook_id: str) -> None:
    with pytest.raises(NotFound):
        github(base).update_hook(hook_id, RECEIVER, SECRET)


def test_delete_hook_removes_it(base: str, state: GitHubState) -> None:
    kept = add_hook(state, base, {"url": "https://other.example.com/"})
    gone = add_hook(state, base, {"url": RECEIVER, "secret": SECRET})

    github(base).delete_hook(str(gone["id"]))

    assert list(state.hooks) == [str(kept["id"])]
    assert state.requests == [("DELETE", f"{REPO}/hooks/{gone['id']}")]


@pytest.mark.parametrize("hook_id", ["41", "not-a-number"])
def test_deleting_a_hook_that_is_gone_is_not_an_error(base: str, hook_id: str) -> None:
    github(base).delete_hook(hook_id)


@pytest.mark.parametrize(
    ("state_", "word"),
    [
        (CommitState.QUEUED, "pending"),
        (CommitState.RUNNING, "pending"),
        (CommitState.SUCCEEDED, "success"),
        (CommitState.FAILED, "failure"),
        (CommitState.CANCELLED, "error"),
    ],
)
def test_set_commit_status_posts_githubs_state_word(
    base: str, state: GitHubState, state_: CommitState, word: str
) -> None:
    status = CommitStatus(SHA, state_, "kiln/app-image", "Build app-image-7", "https://kiln.example.com/b/7")
    github(base).set_commit_status(status)

    assert state.requests == [("POST", f"{REPO}/statuses/{SHA}")]
    assert state.statuses == [
        {
            "sha": SHA,
            "state": word,
            "context": "kiln/app-image",
            "description": "Build app-image-7",
            "target_url": "https://kiln.example.com/b/7",
        }
    ]


def test_a_refusal_to_write_statuses_is_unauthorized_and_not_retried(state: GitHubState) -> None:
    state.role = "read"
    with serve(standin, state) as base, pytest.raises(Unauthorized) as caught:
        github(base).set_commit_status(CommitStatus(SHA, CommitState.RUNNING, "kiln/app", "Building"))
    assert (caught.value.status, caught.value.message) == (
        403,
        "Resource not accessible by personal access token",
    )
    assert len(state.requests) == 1 and state.statuses == []


def test_a_long_description_is_cut_to_githubs_140_characters(base: str, state: GitHubState) -> None:
    github(base).set_commit_status(CommitStatus(SHA, CommitState.FAILED, "kiln/app", "x" * 300))

    [posted] = state.statuses
    assert len(posted["description"]) == 140 and posted["description"].endswith("…")
    assert "target_url" not in posted  # no log URL, no link


def test_refs_lists_branch_heads_and_tag_commits_on_every_page(base: str, state: GitHubState) -> None:
    assert github(base).refs() == {
        "refs/heads/dev": "b" * 40,
        "refs/heads/feature/x": "c" * 40,
        "refs/heads/main": "a" * 40,
        "refs/tags/v1": "d" * 40,
        "refs/tags/v2": "e" * 40,  # the annotated tag's commit, not its tag object ("f" * 40)
    }
    assert (f"{REPO}/branches", {"per_page": "100", "page": "2"}) in gets(state)


def test_a_503_then_a_429_are_retried_after_their_retry_after(
    base: str, state: GitHubState, waits: list[float]
) -> None:
    state.fail_next = [503, 429]
    github(base).check_access()
    assert state.requests == [("GET", REPO)] * 3
    assert waits == [1, 1]


def test_a_403_rate_limit_waits_for_the_reset(base: str, state: GitHubState, waits: list[float]) -> None:
    state.fail_next = [403]  # x-ratelimit-remaining: 0, x-ratelimit-reset in a second
    github(base).check_access()
    assert len(state.requests) == 2
    [wait] = waits
    assert 1 <= wait <= 2


def test_a_retry_after_past_the_longest_wait_is_not_waited_for(
    base: str, state: GitHubState, waits: list[float]
) -> None:
    state.retry_after = int(MAX_WAIT_SECONDS) + 1
    state.fail_next = [429]
    with pytest.raises(CodeHostError) as caught:
        github(base).check_access()
    assert caught.value.status == 429 and "secondary rate limit" in caught.value.message
    assert type(caught.value) is CodeHostError  # rate limited: neither refused nor unreachable
    assert len(state.requests) == 1 and waits == []


def test_a_host_failing_every_attempt_is_unreachable_with_its_message(
    base: str, state: GitHubState, waits: list[float]
) -> None:
    state.fail_next = [502] * (ATTEMPTS + 1)
    with pytest.raises(Unreachable) as caught:
        github(base).check_access()
    assert (caught.value.status, caught.value.message) == (502, "Bad Gateway")
    assert len(state.requests) == ATTEMPTS
    assert 0 < sum(waits) < MAX_WAIT_SECONDS  # a short backoff: the host named no wait
    assert_token_free(caught.value)


def test_nothing_listening_is_unreachable_quickly(waits: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        github(f"http://127.0.0.1:{port}/api/v3").check_access()
    assert time.monotonic() - started < 5
    assert caught.value.status is None and f"127.0.0.1:{port}" in caught.value.message
    assert_token_free(caught.value)


def test_a_message_that_echoes_the_token_is_redacted(base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        github(base, token="credentials").check_access()  # GitHub answers "Bad credentials"
    assert caught.value.message == "Bad ***"
    assert_token_free(caught.value, "credentials")
