"""GitLabClient (python-gitlab) against the GitLab stand-in, asserting on the host's side; the hooks
it registers make deliveries Kiln's receiver accepts. Waits between attempts are recorded, not slept."""

from __future__ import annotations

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
from kiln.webhooks import gitlab as gitlab_receiver
from kiln.webhooks.config import GitLabSecret
from kiln.webhooks.headers import Headers
from tests.standins import gitlab as standin
from tests.standins import serve
from tests.standins.gitlab import GitLabState, add_hook

TOKEN = "glpat-kilnTestToken0123456789"
SECRET = "hook-token-9c2a"
CLONE_URL = "https://gitlab.example.com/group/sub/app.git"
RECEIVER = "https://kiln.example.com/hooks/gitlab/group/sub/app"
PROJECT = "/api/v4/projects/group%2Fsub%2Fapp"  # the full path, URL-encoded
SHA = "3" * 40


@pytest.fixture
def state() -> GitLabState:
    return GitLabState(
        token=TOKEN,
        repository="group/sub/app",
        branches={"main": "a" * 40, "dev": "b" * 40, "feature/x": "c" * 40},
        tags={"v1": ("d" * 40, None), "v2": ("e" * 40, "f" * 40)},
    )


@pytest.fixture
def base(state: GitLabState) -> Iterator[str]:
    with serve(standin, state) as url:
        yield url


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every time.sleep (python-gitlab's waits between attempts), recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def gitlab(base: str, token: str = TOKEN) -> CodeHost:
    return client_for(Provider.GITLAB, CLONE_URL, token, api_urls={"gitlab.example.com": base})


def gets(state: GitLabState) -> list[tuple[str, dict[str, str]]]:
    """The GET requests' paths (still URL-encoded) and query parameters."""
    split = [urlsplit(target) for method, target in state.requests if method == "GET"]
    return [(parts.path, dict(parse_qsl(parts.query))) for parts in split]


def assert_token_free(error: CodeHostError, token: str = TOKEN) -> None:
    assert token not in str(error) and token not in repr(error) and token not in error.message
    assert error.__cause__ is None and error.__suppress_context__


def test_check_access_gets_the_project_by_its_encoded_path_and_passes_for_a_maintainer(
    base: str, state: GitLabState
) -> None:
    gitlab(base).check_access()
    assert state.requests == [("GET", PROJECT)]


def test_a_wrong_token_is_unauthorized_with_gitlabs_message(base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        gitlab(base, token="glpat-wrong").check_access()
    assert (caught.value.status, caught.value.message) == (401, "401 Unauthorized")
    assert_token_free(caught.value, "glpat-wrong")


def test_a_missing_project_is_not_found(state: GitLabState) -> None:
    state.repository = "group/sub/other"
    with serve(standin, state) as base, pytest.raises(NotFound) as caught:
        gitlab(base).check_access()
    assert (caught.value.status, caught.value.message) == (404, "404 Project Not Found")
    assert_token_free(caught.value)


@pytest.mark.parametrize("level", [20, 30])  # Reporter, Developer
def test_a_token_below_maintainer_is_unauthorized(state: GitLabState, level: int) -> None:
    state.access_level = level
    with serve(standin, state) as base, pytest.raises(Unauthorized, match="Maintainer") as caught:
        gitlab(base).check_access()
    assert caught.value.status == 403
    assert [path for path, _ in gets(state)] == [PROJECT, "/api/v4/projects/7/hooks"]  # asked, refused


def test_access_gitlab_does_not_show_is_proven_by_listing_the_hooks(state: GitLabState) -> None:
    state.access_level, state.show_permissions = 50, False  # an Owner of the parent group
    with serve(standin, state) as base:
        gitlab(base).check_access()
    assert gets(state)[1] == ("/api/v4/projects/7/hooks", {"page": "1", "per_page": "1"})


def test_create_hook_registers_a_push_and_tag_push_hook_with_the_token(base: str, state: GitLabState) -> None:
    hook = gitlab(base).create_hook(RECEIVER, SECRET)

    assert state.requests == [("POST", f"{PROJECT}/hooks")]
    [(hook_id, stored)] = state.hooks.items()
    assert hook == Hook(id=hook_id, url=RECEIVER)
    assert stored["url"] == RECEIVER and stored["token"] == SECRET
    assert stored["push_events"] is True and stored["tag_push_events"] is True
    assert stored["enable_ssl_verification"] is True
    assert stored["merge_requests_events"] is False


def test_a_delivery_carrying_the_registered_token_passes_the_receiver(base: str, state: GitLabState) -> None:
    gitlab(base).create_hook(RECEIVER, SECRET)
    [stored] = state.hooks.values()
    headers = Headers({"X-Gitlab-Token": stored["token"], "X-Gitlab-Event": "Push Hook"})

    gitlab_receiver.verify(headers, b"{}", GitLabSecret(token=SECRET), datetime.now(UTC))


def test_hooks_follows_every_page(base: str, state: GitLabState) -> None:
    client = gitlab(base)
    created = [client.create_hook(f"{RECEIVER}/{n}", SECRET) for n in range(5)]  # page_size is 2

    assert client.hooks() == created
    assert [query.get("page", "1") for path, query in gets(state)] == ["1", "2", "3"]  # Link rel="next"


def test_update_hook_sets_url_token_and_events(base: str, state: GitLabState) -> None:
    old = add_hook(state, "https://old.example.com/", token="old", tag_push_events=False)

    hook = gitlab(base).update_hook(str(old["id"]), RECEIVER, SECRET)

    assert hook == Hook(id=str(old["id"]), url=RECEIVER)
    assert state.requests == [("PUT", f"{PROJECT}/hooks/{old['id']}")]
    stored = state.hooks[str(old["id"])]
    assert (stored["url"], stored["token"]) == (RECEIVER, SECRET)
    assert stored["push_events"] is True and stored["tag_push_events"] is True


def test_updating_a_missing_hook_is_not_found(base: str) -> None:
    with pytest.raises(NotFound):
        gitlab(base).update_hook("41", RECEIVER, SECRET)


def test_delete_hook_removes_it(base: str, state: GitLabState) -> None:
    kept = add_hook(state, "https://other.example.com/")
    gone = add_hook(state, RECEIVER, token=SECRET, tag_push_events=True)

    gitlab(base).delete_hook(str(gone["id"]))

    assert list(state.hooks) == [str(kept["id"])]
    assert state.requests == [("DELETE", f"{PROJECT}/hooks/{gone['id']}")]


def test_deleting_a_hook_that_is_gone_is_not_an_error(base: str) -> None:
    gitlab(base).delete_hook("41")


@pytest.mark.parametrize(
    ("state_", "word"),
    [
        (CommitState.QUEUED, "pending"),
        (CommitState.RUNNING, "running"),
        (CommitState.SUCCEEDED, "success"),
        (CommitState.FAILED, "failed"),
        (CommitState.CANCELLED, "canceled"),
    ],
)
def test_set_commit_status_posts_gitlabs_state_word(
    base: str, state: GitLabState, state_: CommitState, word: str
) -> None:
    status = CommitStatus(SHA, state_, "kiln/app-image", "Build app-image-7", "https://kiln.example.com/b/7")
    gitlab(base).set_commit_status(status)

    assert state.requests == [("POST", f"{PROJECT}/statuses/{SHA}")]
    assert state.statuses == [
        {
            "sha": SHA,
            "state": word,
            "name": "kiln/app-image",
            "description": "Build app-image-7",
            "target_url": "https://kiln.example.com/b/7",
        }
    ]


def test_reporting_a_running_build_again_is_not_an_error(base: str, state: GitLabState) -> None:
    client = gitlab(base)
    running = CommitStatus(SHA, CommitState.RUNNING, "kiln/app", "Building")
    client.set_commit_status(running)
    client.set_commit_status(running)  # GitLab: 400 "Cannot transition status via :run from :running"

    assert [status["state"] for status in state.statuses] == ["running"]
    assert "target_url" not in state.statuses[0]  # no log URL, no link


def test_refs_lists_branch_heads_and_tag_commits_on_every_page(base: str, state: GitLabState) -> None:
    assert gitlab(base).refs() == {
        "refs/heads/dev": "b" * 40,
        "refs/heads/feature/x": "c" * 40,
        "refs/heads/main": "a" * 40,
        "refs/tags/v1": "d" * 40,
        "refs/tags/v2": "e" * 40,  # the annotated tag's commit, not its target tag object ("f" * 40)
    }
    assert [path for path, query in gets(state) if query.get("page") == "2"] == [
        f"{PROJECT}/repository/branches"
    ]


def test_a_503_then_a_429_are_retried_after_their_retry_after(
    base: str, state: GitLabState, waits: list[float]
) -> None:
    state.fail_next = [503, 429]
    gitlab(base).check_access()
    assert state.requests == [("GET", PROJECT)] * 3
    assert waits == [1, 1]


def test_a_retry_after_past_the_longest_wait_is_not_waited_for(
    base: str, state: GitLabState, waits: list[float]
) -> None:
    state.retry_after = int(MAX_WAIT_SECONDS) + 1
    state.fail_next = [429]
    with pytest.raises(CodeHostError) as caught:
        gitlab(base).check_access()
    assert (caught.value.status, caught.value.message) == (429, "Retry later")
    assert type(caught.value) is CodeHostError  # rate limited: neither refused nor unreachable
    assert len(state.requests) == 1 and waits == []


def test_a_host_failing_every_attempt_is_unreachable_with_its_message(
    base: str, state: GitLabState, waits: list[float]
) -> None:
    state.fail_next = [502] * (ATTEMPTS + 1)
    with pytest.raises(Unreachable) as caught:
        gitlab(base).check_access()
    assert (caught.value.status, caught.value.message) == (502, "502 Bad Gateway")
    assert len(state.requests) == ATTEMPTS
    assert len(waits) == ATTEMPTS - 1 and sum(waits) < MAX_WAIT_SECONDS  # a backoff: no Retry-After
    assert_token_free(caught.value)


def test_nothing_listening_is_unreachable_quickly(waits: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        gitlab(f"http://127.0.0.1:{port}").check_access()
    assert time.monotonic() - started < 5
    assert caught.value.status is None and f"127.0.0.1:{port}" in caught.value.message
    assert len(waits) == ATTEMPTS - 1
    assert_token_free(caught.value)


def test_a_message_that_echoes_the_token_is_redacted(base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        gitlab(base, token="401").check_access()  # GitLab answers "401 Unauthorized"
    assert caught.value.message == "*** Unauthorized"
    assert_token_free(caught.value, "401")
