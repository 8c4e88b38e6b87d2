"""The CodeHost contract, for each of the five clients against its host's stand-in over real HTTP,
asserting on the host's side: access checked with the host's own refusals, push hooks registered,
listed over every page, updated and removed, build states reported in the host's words, refs read,
429s and 5xx retried as the host asks, and no token in any error. Waits between attempts are
recorded, not slept. What only one host does is in its test_<host>_client.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from kiln.codehosts import CodeHostError, CommitState, CommitStatus, Hook, NotFound, Unauthorized, Unreachable
from kiln.codehosts.base import ATTEMPTS, CodeHost
from tests.standins import HostState, serve
from tests.unit.codehosts.hosts import (
    ADAPTERS,
    LOG,
    LONG_WAIT,
    OLD_URL,
    RECEIVER,
    REFS,
    SECRET,
    SHA,
    TOKEN,
    Adapter,
)

Call = Callable[[CodeHost], object]
CALLS: dict[str, Call] = {
    "check_access": lambda client: client.check_access(),
    "hooks": lambda client: client.hooks(),
    "create_hook": lambda client: client.create_hook(RECEIVER, SECRET),
    "delete_missing_hook": lambda client: client.delete_hook("41"),
    "refs": lambda client: client.refs(),
    "set_commit_status": lambda client: client.set_commit_status(
        CommitStatus(SHA, CommitState.FAILED, "kiln/app", "Kiln app-1", LOG)
    ),
}


@pytest.fixture(params=ADAPTERS, ids=[a.id for a in ADAPTERS])
def adapter(request: pytest.FixtureRequest) -> Adapter:
    found: Adapter = request.param
    return found


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_admin_token_to_access_granted(adapter: Adapter, base: str, state: HostState) -> None:
    adapter.client(base).check_access()
    assert adapter.sent(state) == adapter.access


def test_wrong_token_to_unauthorized_in_the_hosts_words(adapter: Adapter, base: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        adapter.client(base, token="wrong-token-33").check_access()
    assert caught.value.status == 401
    assert adapter.words_of(caught.value) == adapter.unauthorized
    adapter.assert_secret_free(caught.value, "wrong-token-33")


def test_missing_repository_to_not_found(adapter: Adapter, base: str) -> None:
    with pytest.raises(NotFound) as caught:
        adapter.client(base, clone_url=adapter.missing_clone_url).check_access()
    assert caught.value.status == 404
    assert adapter.words_of(caught.value) == adapter.missing
    adapter.assert_secret_free(caught.value, TOKEN)


@pytest.mark.parametrize(
    ("adapter", "demotion"),
    [pytest.param(a, d, id=f"{a.id}-{d}") for a in ADAPTERS for d in a.demotions],
    indirect=["adapter"],
)
def test_token_that_may_not_manage_hooks_to_unauthorized(
    adapter: Adapter, state: HostState, demotion: str
) -> None:
    token = adapter.demotions[demotion](state)
    with serve(adapter.standin, state) as base, pytest.raises(Unauthorized) as caught:
        adapter.client(base, token=token).check_access()
    assert caught.value.status == adapter.not_admin_status
    assert all(words in caught.value.message for words in adapter.not_admin), caught.value.message
    assert adapter.sent(state, token) == adapter.refused_access


def test_create_hook_to_one_stored_push_hook_with_the_secret(
    adapter: Adapter, base: str, state: HostState
) -> None:
    hook = adapter.client(base).create_hook(RECEIVER, SECRET)

    assert adapter.sent(state) == [("POST", adapter.hooks, {})]
    [(hook_id, stored)] = state.hooks.items()
    assert hook == Hook(id=hook_id, url=RECEIVER)
    expected = adapter.stored_hook(RECEIVER, SECRET)
    assert {name: stored.get(name) for name in expected} == expected


def test_registered_hook_to_deliveries_the_receiver_accepts(
    adapter: Adapter, base: str, state: HostState
) -> None:
    adapter.client(base).create_hook(RECEIVER, SECRET)
    [stored] = state.hooks.values()

    adapter.deliver(stored)  # signed (or carrying its token) as the host would, from what it stored


def test_hooks_over_three_pages_to_every_hook(adapter: Adapter, base: str, state: HostState) -> None:
    client = adapter.client(base)
    created = [client.create_hook(f"{RECEIVER}/{n}", SECRET) for n in range(5)]  # page_size is 2
    state.requests.clear()

    assert client.hooks() == created
    assert adapter.sent(state) == [("GET", adapter.hooks, adapter.page(n)) for n in (1, 2, 3)]


def test_update_hook_to_the_url_secret_and_events_of_create(
    adapter: Adapter, base: str, state: HostState
) -> None:
    hook_id = adapter.seed_hook(state, base)  # at OLD_URL, listening to other events

    hook = adapter.client(base).update_hook(hook_id, RECEIVER, SECRET)

    assert hook == Hook(id=hook_id, url=RECEIVER)
    assert adapter.sent(state) == [(adapter.update, adapter.hook(hook_id), {})]
    expected = adapter.stored_hook(RECEIVER, SECRET)
    assert {name: state.hooks[hook_id].get(name) for name in expected} == expected


def test_update_of_a_missing_hook_to_not_found(adapter: Adapter, base: str) -> None:
    with pytest.raises(NotFound):
        adapter.client(base).update_hook("41", RECEIVER, SECRET)


def test_delete_hook_to_that_hook_gone_and_again_to_no_error(
    adapter: Adapter, base: str, state: HostState
) -> None:
    kept = adapter.seed_hook(state, base)
    gone = adapter.seed_hook(state, base)
    client = adapter.client(base)

    client.delete_hook(gone)
    assert list(state.hooks) == [kept]
    assert adapter.sent(state) == [("DELETE", adapter.hook(gone), {})]

    client.delete_hook(gone)  # already gone: not an error
    assert list(state.hooks) == [kept]


@pytest.mark.parametrize("commit_state", list(CommitState))
def test_commit_state_to_the_hosts_word_on_the_commit(
    adapter: Adapter, base: str, state: HostState, commit_state: CommitState
) -> None:
    status = CommitStatus(SHA, commit_state, "kiln/app-image", "Build app-image-7", LOG)

    adapter.client(base).set_commit_status(status)

    assert adapter.sent(state) == [("POST", adapter.status_path(SHA), {})]
    assert state.statuses == [adapter.stored_status(status, adapter.words[commit_state], base)]


def test_status_without_a_log_url_to_no_link_or_the_repository_page(
    adapter: Adapter, base: str, state: HostState
) -> None:
    status = CommitStatus(SHA, CommitState.RUNNING, "kiln/app", "Kiln app-1")

    adapter.client(base).set_commit_status(status)

    assert adapter.sent(state)[-1] == ("POST", adapter.status_path(SHA), {})
    assert state.statuses == [adapter.stored_status(status, adapter.words[CommitState.RUNNING], base)]


def test_branches_and_tags_over_pages_to_refs_with_tag_commits(
    adapter: Adapter, base: str, state: HostState
) -> None:
    assert adapter.client(base).refs() == REFS
    assert adapter.sent(state) == [
        ("GET", adapter.branches, adapter.page(1)),
        ("GET", adapter.branches, adapter.page(2)),  # three branches, two a page
        ("GET", adapter.tags, adapter.page(1)),
    ]


@pytest.mark.parametrize("call", ["check_access", "hooks", "delete_missing_hook"])
def test_503_then_429_to_retries_after_retry_after(
    adapter: Adapter, base: str, state: HostState, waits: list[float], call: str
) -> None:
    answered = CALLS[call](adapter.client(base))
    [first, *rest] = adapter.sent(state)  # what the call asks of a host that answers at once
    state.requests.clear()
    waits.clear()
    state.fail_next = [503, 429]

    assert CALLS[call](adapter.client(base)) == answered

    assert adapter.sent(state) == [first] * 3 + rest
    assert waits == [1, 1]


def test_rate_limit_past_the_longest_wait_to_an_error_at_once(
    adapter: Adapter, base: str, state: HostState, waits: list[float]
) -> None:
    state.retry_after = LONG_WAIT
    state.fail_next = [429]

    with pytest.raises(CodeHostError) as caught:
        adapter.client(base).check_access()

    assert type(caught.value) is CodeHostError  # rate limited: neither refused nor unreachable
    assert caught.value.status == 429
    assert adapter.words_of(caught.value) == adapter.rate_limited
    assert len(state.requests) == 1 and waits == []


@pytest.mark.parametrize(
    ("call", "status"),
    [("check_access", 502), ("hooks", 502), ("refs", 500), ("set_commit_status", 503)],
)
def test_5xx_on_every_attempt_to_unreachable_in_the_hosts_words(
    adapter: Adapter, base: str, state: HostState, waits: list[float], call: str, status: int
) -> None:
    state.fail_next = [status] * (ATTEMPTS + 1)

    with pytest.raises(Unreachable) as caught:
        CALLS[call](adapter.client(base))

    assert caught.value.status == status
    assert adapter.words_of(caught.value) == adapter.failed(status)
    assert len(state.requests) == ATTEMPTS and state.fail_next == [status]
    # a 503 asks for Retry-After: 1; otherwise a short backoff, the host having named no wait
    assert waits == ([1] * (ATTEMPTS - 1) if status == 503 else list(adapter.backoff))
    adapter.assert_secret_free(caught.value, TOKEN)


@pytest.mark.parametrize("call", ["check_access", "hooks", "create_hook"])
def test_nothing_listening_to_unreachable_quickly(adapter: Adapter, waits: list[float], call: str) -> None:
    port = closed_port()
    started = time.monotonic()

    with pytest.raises(Unreachable) as caught:
        CALLS[call](adapter.client(f"http://127.0.0.1:{port}{adapter.standin.BASE_PATH}"))

    assert time.monotonic() - started < 5
    assert caught.value.status is None and f"127.0.0.1:{port}" in caught.value.message
    assert waits == list(adapter.backoff)
    adapter.assert_secret_free(caught.value, TOKEN, SECRET)


def test_message_echoing_the_token_to_the_token_redacted(adapter: Adapter, base: str) -> None:
    token, redacted = adapter.echoed  # the token is one of the words of the host's refusal
    with pytest.raises(Unauthorized) as caught:
        adapter.client(base, token=token).check_access()
    assert adapter.words_of(caught.value) == redacted
    adapter.assert_secret_free(caught.value, token)


def test_seeded_hooks_to_other_urls_and_events(adapter: Adapter, base: str, state: HostState) -> None:
    """The seeds the update and delete tests start from are not already what create_hook makes."""
    hook_id = adapter.seed_hook(state, base)
    expected = adapter.stored_hook(RECEIVER, SECRET)
    assert {name: state.hooks[hook_id].get(name) for name in expected} != expected
    assert OLD_URL in str(state.hooks[hook_id])
