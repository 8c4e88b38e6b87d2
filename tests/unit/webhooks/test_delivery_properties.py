"""A property of the receiver's pure decision, over headers and bodies: whatever arrives, `decide`
answers with one of the statuses docs/webhooks.md documents for a delivery (never 500: that is
left to the API server refusing a create, which `decide` does not do), never raises, and its
answer is JSON.

The cache is fed as the watches feed it (objects.fed_cache), with a Repository and rules for each
host, so that signed deliveries get through verification and parsing into planning and rendering.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.receiver.cache import ResourceCache
from kiln.webhooks.decisions import (
    CreateResult,
    CreateRuns,
    CreateStatus,
    Delivery,
    Reply,
    conclude,
    decide,
)
from kiln.webhooks.events import JSON
from tests.unit.webhooks.objects import (
    HOSTS,
    REPOSITORY,
    TENANT,
    build_rule,
    paths,
    signed,
    world,
)

# docs/webhooks.md, "Answers" (500 only for a create the API server refused, after `decide`)
DOCUMENTED = frozenset({200, 202, 400, 401, 404, 405, 413, 415, 503})
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RULES = (
    build_rule(
        "branches",
        pattern="(?<name>.*)",
        tags=[
            {"tag": "${name}", "buildTime": "yyyyMMddHHmmss"},
            {"tag": "c", "commitIdLength": 40},
        ],
    ),
    build_rule("tags", pattern=".*", ref_type="Tag", tags=[{"tag": "${ref}"}], paths=["src/**"]),
    build_rule("main", branch="master", ignorePaths=["**/*.md"]),
)

EDGE_STRINGS = [
    "0" * 40,
    "a" * 40,
    "ab" * 32,
    "refs/heads/x",
    "refs/tags/v1",
    "refs/heads/a..b",
    "refs/heads/\u202eevil",
    "refs/heads/" + "x" * 1100,
    "refs/heads/a b",
    "refs/heads/a\x00b",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T20:00:00Z",
    "2024-01-01T00:00:00Z",
    "[skip ci]",
    "branch",
    "tag",
    "ADD",
    "DELETE",
    "http",
]
json_values: st.SearchStrategy[JSON] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([253402350399, 253402350399000, -62135596800, 0, 10**30])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(EDGE_STRINGS),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
header_text = st.text(st.characters(codec="utf-8"), max_size=60) | st.text(
    st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), min_size=1, max_size=4
)  # aiohttp decodes header bytes that are not UTF-8 to lone surrogates (surrogateescape)
extra_headers = st.dictionaries(
    st.sampled_from(
        ["Content-Type", "X-GitHub-Delivery", "X-Request-UUID", "X-Request-Id", "Idempotency-Key"]
    )
    | st.text(min_size=1, max_size=16),
    header_text,
    max_size=4,
)
_CACHES: dict[str, ResourceCache] = {}


def cache_for(provider: str) -> ResourceCache:
    if provider not in _CACHES:
        host = HOSTS[provider]
        mode = "password" if provider == "gitee" else None
        _CACHES[provider] = world(*RULES, rules=(), provider=provider, url=host.url, gitee_mode=mode)
    return _CACHES[provider]


def mutated(document: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
        candidates = paths(document)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    return document


def body_for(provider: str, data: st.DataObject, shared_payload: Callable[[str], bytes]) -> bytes:
    kind = data.draw(st.sampled_from(["payload", "payload", "payload", "json", "bytes"]))
    if kind == "bytes":
        return data.draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(data.draw(json_values)).encode()
    return json.dumps(mutated(json.loads(shared_payload(HOSTS[provider].file)), data)).encode()


def headers_for(provider: str, body: bytes, now: datetime, data: st.DataObject) -> dict[str, str]:
    host = HOSTS[provider]
    kind = data.draw(st.sampled_from(["signed", "signed", "signed+extra", "random"]))
    if kind == "random":
        return data.draw(st.dictionaries(st.text(min_size=1, max_size=20), header_text, max_size=8))
    event = data.draw(st.sampled_from([host.event, host.event, "ping", "diagnostics:ping", "Tag Push Hook"]))
    delivery_id = data.draw(st.none() | header_text.filter(bool))
    headers = signed(provider, body, host.secret, event=event, delivery_id=delivery_id, now=now)
    if kind == "signed+extra":
        headers.update(data.draw(extra_headers))
    return headers


def status_of(decision: Reply | CreateRuns) -> tuple[int, dict[str, JSON]]:
    if isinstance(decision, CreateRuns):
        reply = conclude(decision, {run.name: CreateResult(CreateStatus.CREATED) for run in decision.runs})
        assert decision.runs
        return reply.status, reply.body
    return decision.status, decision.body


@pytest.mark.parametrize("provider", list(HOSTS))
@PROPERTY
@given(data=st.data())
def test_any_delivery_to_a_documented_status(
    shared_payload: Callable[[str], bytes], provider: str, data: st.DataObject
) -> None:
    now = data.draw(
        st.just(datetime(2024, 5, 1, 12, tzinfo=UTC))
        | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
    )
    body = body_for(provider, data, shared_payload)
    headers = headers_for(provider, body, now, data)
    url_provider = data.draw(st.sampled_from([provider, provider, provider, *HOSTS, "sourcehut"]))
    tenant = data.draw(st.sampled_from([TENANT, TENANT, "other"]))
    repository = data.draw(st.sampled_from([REPOSITORY, REPOSITORY, "nope"]))
    delivery = Delivery(url_provider, tenant, repository, headers, body)
    status, answer = status_of(decide(delivery, cache_for(provider), now))
    assert status in DOCUMENTED
    assert isinstance(answer["outcome"], str)
    assert isinstance(answer["reason"], str)
    json.dumps(answer)  # as the receiver sends it
