"""What only BitbucketClient (Cloud) does, against the Bitbucket Cloud stand-in: its hooks' ids are
braced UUIDs, which go quoted as one path segment. The CodeHost contract is test_client_contract.py."""

from __future__ import annotations

import pytest

from tests.standins import HostState
from tests.unit.codehosts.hosts import BITBUCKET, RECEIVER, SECRET, Adapter


@pytest.fixture
def adapter() -> Adapter:
    return BITBUCKET


def test_hook_id_to_a_braced_uuid_quoted_in_its_path(base: str, state: HostState) -> None:
    client = BITBUCKET.client(base)
    hook = client.create_hook(RECEIVER, SECRET)
    assert hook.id.startswith("{") and hook.id.endswith("}")

    client.update_hook(hook.id, f"{RECEIVER}/new", "rotated")
    client.delete_hook(hook.id)

    [(_, put), (_, delete)] = state.requests[1:]
    assert put == delete == f"/2.0/repositories/acme/app/hooks/%7B{hook.id[1:-1]}%7D"
