"""What only GitHubClient (PyGithub) does, against the GitHub stand-in: hook ids are numbers, a
reader's status is refused with 403 (not hidden), descriptions are cut to GitHub's 140 characters,
and a 403 that is a rate limit waits for its reset. The CodeHost contract is test_client_contract.py."""

from __future__ import annotations

import pytest

from kiln.codehosts import CommitState, CommitStatus, NotFound, Unauthorized
from tests.standins import serve
from tests.standins.github import GitHubState
from tests.unit.codehosts.hosts import GITHUB, RECEIVER, SECRET, SHA, Adapter


@pytest.fixture
def adapter() -> Adapter:
    return GITHUB


def test_hook_id_that_is_no_number_to_not_found_without_a_request(base: str, state: GitHubState) -> None:
    client = GITHUB.client(base)
    with pytest.raises(NotFound):
        client.update_hook("not-a-number", RECEIVER, SECRET)
    client.delete_hook("not-a-number")  # no such hook can exist: already gone
    assert state.requests == []


def test_status_of_a_reader_to_unauthorized_and_not_retried(state: GitHubState) -> None:
    state.role = "read"
    with serve(GITHUB.standin, state) as base, pytest.raises(Unauthorized) as caught:
        GITHUB.client(base).set_commit_status(CommitStatus(SHA, CommitState.RUNNING, "kiln/app", "Building"))
    assert (caught.value.status, caught.value.message) == (
        403,
        "Resource not accessible by personal access token",
    )
    assert len(state.requests) == 1 and state.statuses == []


def test_long_description_to_githubs_140_characters(base: str, state: GitHubState) -> None:
    GITHUB.client(base).set_commit_status(CommitStatus(SHA, CommitState.FAILED, "kiln/app", "x" * 300))

    [posted] = state.statuses
    assert len(posted["description"]) == 140 and posted["description"].endswith("…")
    assert "target_url" not in posted  # no log URL, no link


def test_403_rate_limit_to_a_wait_for_its_reset(base: str, state: GitHubState, waits: list[float]) -> None:
    state.fail_next = [403]  # x-ratelimit-remaining: 0, x-ratelimit-reset in a second
    GITHUB.client(base).check_access()
    assert len(state.requests) == 2
    [wait] = waits
    assert 1 <= wait <= 2
