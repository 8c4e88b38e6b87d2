"""Fuzzed bodies and headers through every parser: a result or a WebhookError, never anything else."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.webhooks import (
    GiteeMode,
    GiteeSecret,
    GitLabSecret,
    ParsedDelivery,
    PushEvent,
    SharedSecret,
    WebhookError,
    WebhookSecret,
    dispatch,
    inspect_delivery,
    sign,
)
from kiln.webhooks.events import JSON
from tests.unit.webhooks.objects import paths

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECRETS: list[tuple[str, WebhookSecret, str, list[str]]] = [
    ("github", SharedSecret("s"), "github-push-branch.json", ["push", "ping", "issues"]),
    ("github", SharedSecret("s"), "github-push-tag.json", ["push"]),
    (
        "gitlab",
        GitLabSecret(token="t", signing_token="whsec_" + base64.b64encode(b"k" * 32).decode()),
        "gitlab-push-hook.json",
        ["Push Hook", "Tag Push Hook", "Note Hook"],
    ),
    ("gitee", GiteeSecret("s", GiteeMode.SIGNATURE), "gitee-push.json", ["Push Hook", "Tag Push Hook"]),
    ("gitee", GiteeSecret("s"), "gitee-push.json", ["Push Hook"]),
    ("bitbucket", SharedSecret("s"), "bitbucket-cloud-repo-push.json", ["repo:push", "repo:fork"]),
    (
        "bitbucket-server",
        SharedSecret("s"),
        "bitbucket-server-repo-refs-changed.json",
        ["repo:refs_changed", "diagnostics:ping", "pr:opened"],
    ),
]
IDS = [f"{p}-{type(s).__name__}-{f}" for p, s, f, _ in SECRETS]
COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values: st.SearchStrategy[JSON] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50)
    | st.sampled_from(["0" * 40, "a" * 40, "refs/heads/x", "refs/tags/v1", "2024-01-01T00:00:00Z", "branch"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
header_names = st.sampled_from(
    [
        "X-Hub-Signature-256",
        "x-hub-signature",
        "X-GITLAB-TOKEN",
        "webhook-signature",
        "webhook-timestamp",
        "webhook-id",
        "X-Gitee-Token",
        "x-gitee-timestamp",
        "X-GitHub-Event",
        "X-Gitlab-Event",
        "X-Gitee-Event",
        "X-Event-Key",
        "Content-Type",
        "Idempotency-Key",
    ]
) | st.text(min_size=1, max_size=20)
header_values = st.text(max_size=80) | st.sampled_from(
    [
        "sha256=",
        "v1,",
        "application/x-www-form-urlencoded",
        "application/json",
        "push",
        "Push Hook",
        "repo:push",
    ]
)
headers_strategy = st.dictionaries(header_names, header_values, max_size=8)


def outcome_is_sane(result: ParsedDelivery) -> None:
    for event in result.events:
        assert isinstance(event, PushEvent)
        assert COMMIT.match(event.commit)
        assert event.ref.startswith(("refs/heads/", "refs/tags/"))
        assert event.pushed_at.tzinfo is not None
    json.dumps([o.to_json() for o in result.outcomes])


def run(provider: str, headers: dict[str, str], body: bytes, secret: WebhookSecret) -> None:
    """The property: a sane result or a WebhookError with a 4xx status; inspection never raises."""
    try:
        outcome_is_sane(dispatch(provider, headers, body, secret, NOW))
    except WebhookError as error:
        assert 400 <= error.status < 500
        assert error.reason
    for maybe_secret in (secret, None):
        json.dumps(inspect_delivery(provider, headers, body, maybe_secret, NOW))


@pytest.mark.parametrize(("provider", "secret", "filename", "events"), SECRETS, ids=IDS)
@FUZZ
@given(body=st.binary(max_size=300), headers=headers_strategy)
def test_random_bytes_and_headers_to_result_or_webhook_error(
    provider: str,
    secret: WebhookSecret,
    filename: str,
    events: list[str],
    body: bytes,
    headers: dict[str, str],
) -> None:
    run(provider, headers, body, secret)


@pytest.mark.parametrize(("provider", "secret", "filename", "events"), SECRETS, ids=IDS)
@FUZZ
@given(data=st.data())
def test_signed_random_json_to_result_or_webhook_error(
    provider: str, secret: WebhookSecret, filename: str, events: list[str], data: st.DataObject
) -> None:
    document = data.draw(json_values | st.dictionaries(st.text(max_size=12), json_values, max_size=6))
    body = json.dumps(document).encode() if data.draw(st.booleans()) else data.draw(st.binary(max_size=200))
    content_type = data.draw(
        st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"])
    )
    headers = sign(
        provider, body, secret, event=data.draw(st.sampled_from(events)), now=NOW, content_type=content_type
    )
    run(provider, headers, body, secret)


@pytest.mark.parametrize(("provider", "secret", "filename", "events"), SECRETS, ids=IDS)
@FUZZ
@given(data=st.data())
def test_signed_shared_payload_with_fields_replaced_to_result_or_webhook_error(
    shared_payload: Callable[[str], bytes],
    provider: str,
    secret: WebhookSecret,
    filename: str,
    events: list[str],
    data: st.DataObject,
) -> None:
    document = json.loads(shared_payload(filename))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(paths(document)))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
        if not paths(document):
            break
    body = json.dumps(document).encode()
    headers = sign(provider, body, secret, event=events[0], now=NOW)
    run(provider, headers, body, secret)


@pytest.mark.parametrize(("provider", "secret", "filename", "events"), SECRETS, ids=IDS)
@FUZZ
@given(extra=headers_strategy, cut=st.integers(min_value=0, max_value=50))
def test_signed_shared_payload_with_extra_headers_to_result_or_webhook_error(
    shared_payload: Callable[[str], bytes],
    provider: str,
    secret: WebhookSecret,
    filename: str,
    events: list[str],
    extra: dict[str, str],
    cut: int,
) -> None:
    body = shared_payload(filename)
    body = body[: len(body) - cut]
    headers = {**sign(provider, body, secret, event=events[0], now=NOW), **extra}
    run(provider, headers, body, secret)
