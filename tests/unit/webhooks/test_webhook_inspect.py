"""Deliveries through `inspect_delivery` / `inspect_result`: a JSON-able verdict, never an exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kiln.webhooks import (
    GiteeSecret,
    GitLabSecret,
    PushEvent,
    SharedSecret,
    inspect_delivery,
    inspect_result,
    sign,
)


def test_unsigned_delivery_without_secret_to_unverified_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("github-push-branch.json")
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-7"}
    result = inspect_delivery("github", headers, body, None, now)
    assert json.loads(json.dumps(result)) == result  # JSON-able as it is
    assert result["verified"] is None
    assert result["error"] is None
    assert result["ignored"] is None
    event: Any = result["event"]
    assert event["commit"] == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    assert event["delivery_id"] == "d-7"
    assert result["events"] == [event]


def test_signed_delivery_with_secret_to_verified_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    secret = GitLabSecret(token="t")
    result = inspect_delivery("gitlab", sign("gitlab", body, secret), body, secret, now)
    assert result["verified"] is True
    event: Any = result["event"]
    assert event["ref"] == "refs/heads/master"


def test_wrong_secret_to_unverified_error(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    body = shared_payload("bitbucket-cloud-repo-push.json")
    headers = sign("bitbucket", body, SharedSecret("other"))
    result = inspect_delivery("bitbucket", headers, body, SharedSecret("mine"), now)
    assert result["verified"] is False
    assert result["event"] is None
    assert result["status"] == 401
    assert isinstance(result["error"], str)
    assert "X-Hub-Signature" in result["error"]


def test_verified_but_malformed_to_error_400(now: datetime) -> None:
    secret = SharedSecret("s")
    result = inspect_delivery("github", sign("github", b"{}", secret), b"{}", secret, now)
    assert result["verified"] is True
    assert result["status"] == 400
    assert result["event"] is None


def test_unknown_provider_to_error_404(now: datetime) -> None:
    result = inspect_delivery("sourcehut", {}, b"{}", None, now)
    assert (result["verified"], result["status"]) == (None, 404)


def test_ignored_delivery_to_reason(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    document = json.loads(shared_payload("github-push-branch.json"))
    document["head_commit"]["message"] = "docs [ci skip]"
    body = json.dumps(document).encode()
    result = inspect_delivery("github", {"X-GitHub-Event": "push"}, body, None, now)
    assert result["event"] is None
    assert result["ignored"] == "[ci skip] in the head commit message"


def test_several_bitbucket_changes_to_events_and_reasons(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    document = json.loads(shared_payload("bitbucket-cloud-repo-push.json"))
    change = document["push"]["changes"][0]
    document["push"]["changes"] = [change, {**change, "new": None, "closed": True}]
    body = json.dumps(document).encode()
    inspection = inspect_result("bitbucket", {"X-Event-Key": "repo:push"}, body, None, now)
    assert [type(e) for e in inspection.events] == [PushEvent]  # what the rules engine gets
    assert inspection.to_dict()["ignored"] == "refs/heads/master: ref deleted"


def test_ping_to_ping_entry(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    body = shared_payload("github-ping.json")
    result = inspect_delivery("github", {"X-GitHub-Event": "ping"}, body, None, now)
    ping: Any = result["ping"]
    assert ping["hook_id"] == "109948940"
    assert result["event"] is None


def test_gitee_inspection_to_output_without_body_secrets(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")
    secret = GiteeSecret("pw")
    result = inspect_delivery("gitee", sign("gitee", body, secret), body, secret, now)
    assert result["verified"] is True
    text = json.dumps(result)
    assert "OyjGt7PDU9xXl5khawx5APOUmODD" not in text
    assert '"pw"' not in text
