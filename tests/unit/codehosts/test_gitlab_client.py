"""What only GitLabClient (python-gitlab) does, against the GitLab stand-in: access GitLab does not
show is proven by listing the hooks, and a running status reported again (GitLab's 400 "Cannot
transition status") is not an error. The CodeHost contract is test_client_contract.py."""

from __future__ import annotations

import pytest

from kiln.codehosts import CommitState, CommitStatus
from tests.standins import serve
from tests.standins.gitlab import GitLabState
from tests.unit.codehosts.hosts import GITLAB, GITLAB_HOOKS_PROBE, SHA, Adapter


@pytest.fixture
def adapter() -> Adapter:
    return GITLAB


def test_access_gitlab_does_not_show_to_a_hooks_probe_that_passes(state: GitLabState) -> None:
    state.access_level, state.show_permissions = 50, False  # an Owner of the parent group
    with serve(GITLAB.standin, state) as base:
        GITLAB.client(base).check_access()
    assert GITLAB.sent(state) == [*GITLAB.access, GITLAB_HOOKS_PROBE]


def test_running_reported_twice_to_one_running_status(base: str, state: GitLabState) -> None:
    client = GITLAB.client(base)
    running = CommitStatus(SHA, CommitState.RUNNING, "kiln/app", "Building")
    client.set_commit_status(running)
    client.set_commit_status(running)  # GitLab: 400 "Cannot transition status via :run from :running"

    assert [status["state"] for status in state.statuses] == ["running"]
    assert "target_url" not in state.statuses[0]  # no log URL, no link
