"""Hostile or odd deliveries through the receiver's decision (and the same bytes through
`inspect_result`, which must say the same): commit dates at the ends of the calendar, ref names
git refuses, SHA-256 commit ids, changes listed twice, thousands of changes.

Each variant starts from a shared payload (the hosts' documentation examples) and is re-signed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from kiln.webhooks import inspect_result
from kiln.webhooks.decisions import (
    CreateResult,
    CreateStatus,
    DeliveryOutcome,
    Reply,
    conclude,
)
from tests.unit.webhooks.objects import (
    HOSTS,
    Host,
    build_rule,
    create_of,
    deliver,
    reply_of,
    signed,
    world,
)

Mutation = Callable[[dict[str, Any]], None]


ANY_BRANCH = build_rule(
    "any", pattern=".*", tags=[{"tag": "b-${ref}", "buildTime": "yyyyMMddHHmmss"}, {"tag": "latest"}]
)
ANY_TAG = build_rule("tags", pattern=".*", ref_type="Tag", tags=[{"tag": "t-${ref}"}])


def variant(shared_payload: Callable[[str], bytes], host: Host, mutate: Mutation) -> bytes:
    document = json.loads(shared_payload(host.file))
    mutate(document)
    return json.dumps(document).encode()


def decide_variant(
    shared_payload: Callable[[str], bytes],
    provider: str,
    mutate: Mutation,
    now: datetime,
    **kwargs: Any,
) -> tuple[Any, bytes, dict[str, str]]:
    host = HOSTS[provider]
    body = variant(shared_payload, host, mutate)
    headers = signed(provider, body, host.secret, event=host.event, delivery_id="d-1", now=now)
    mode = "password" if provider == "gitee" else None
    cache = world(ANY_BRANCH, ANY_TAG, rules=(), provider=provider, url=host.url, gitee_mode=mode)
    return deliver(cache, body, headers, now, provider=provider, **kwargs), body, headers


# -- commit dates at the ends of the calendar -------------------------------------------------------------

FUTURE = "9999-12-31T23:59:59-14:00"  # git accepts it; it is 10000-01-01 in UTC
PAST = "0001-01-01T00:00:00+14:00"  # 0000-12-31 in UTC
UTC8_OVERFLOW = "9999-12-31T20:00:00+00:00"  # a valid UTC time, but 10000-01-01 in UTC+8


def set_times(provider: str, value: Any) -> Mutation:
    """Every time the payload carries, set to `value` (so the arrival time is what is left)."""

    def mutate(d: dict[str, Any]) -> None:
        if provider in ("github", "gitee"):
            d["repository"]["pushed_at"] = value
            d["head_commit"]["timestamp"] = value
            for commit in d["commits"]:
                commit["timestamp"] = value
        elif provider == "gitlab":
            for commit in d["commits"]:
                commit["timestamp"] = value
        elif provider == "bitbucket":
            d["push"]["changes"][0]["new"]["target"]["date"] = value
        else:
            d["date"] = value

    return mutate


@pytest.mark.parametrize("provider", list(HOSTS))
@pytest.mark.parametrize("moment", [FUTURE, PAST, UTC8_OVERFLOW])
def test_commit_date_off_the_calendar_to_build_at_the_arrival_time(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str, moment: str
) -> None:
    if provider == "bitbucket-server":
        moment = moment[:-3] + moment[-2:]  # Bitbucket Server writes offsets as +1000
    decision, body, headers = decide_variant(shared_payload, provider, set_times(provider, moment), now)
    create = create_of(decision)
    for run in create.runs:
        assert run.manifest["spec"]["source"]["pushedAt"] == "2024-05-01T12:00:00Z"
    assert {tag for run in create.runs for tag in run.tags} >= {"latest"}
    assert any(tag.endswith("-20240501200000") for run in create.runs for tag in run.tags)  # UTC+8
    (event,) = inspect_result(provider, headers, body, HOSTS[provider].secret, now).events
    assert event.pushed_at == now


@pytest.mark.parametrize(
    ("pushed_at", "expected"),
    [
        (253402350399, "2015-05-05T23:40:15Z"),  # seconds past 9999 in UTC: the head commit's time
        (10**30, "2015-05-05T23:40:15Z"),
        (1430869217, "2015-05-05T23:40:17Z"),  # the payload's own: seconds, never read as ms
    ],
)
def test_github_epoch_push_time_off_the_calendar_to_head_commit_time(
    shared_payload: Callable[[str], bytes], now: datetime, pushed_at: int, expected: str
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["repository"]["pushed_at"] = pushed_at

    create = create_of(decide_variant(shared_payload, "github", mutate, now)[0])
    assert {run.manifest["spec"]["source"]["pushedAt"] for run in create.runs} == {expected}


def test_bitbucket_server_commit_millis_off_the_calendar_to_arrival_time(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["date"]
        commit = {"id": d["changes"][0]["toHash"], "message": "m", "committerTimestamp": 253402350399000}
        d["toCommit"] = commit

    create = create_of(decide_variant(shared_payload, "bitbucket-server", mutate, now)[0])
    assert {run.manifest["spec"]["source"]["pushedAt"] for run in create.runs} == {"2024-05-01T12:00:00Z"}


def test_time_that_is_not_a_time_to_400_naming_the_field(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    reply = reply_of(
        decide_variant(shared_payload, "gitlab", set_times("gitlab", "10000-01-01T00:00:00Z"), now)[0]
    )
    assert (reply.status, reply.outcome) == (400, DeliveryOutcome.BAD_REQUEST)
    assert "commits.0.timestamp" in str(reply.body["reason"])


# -- ref names a BuildRun cannot hold ---------------------------------------------------------------------

BAD_NAMES = [
    ("a..b", "'..'"),
    ("a\x00b", "control character"),
    ("a:b", "':'"),
    ("a@{1}", "'@{'"),
    ("a~1", "'~'"),
    ("a^b", "'^'"),
    ("a\\b", "'\\\\'"),
    ("x.lock", ".lock"),
    ("x/y.lock/z", ".lock"),
    ("a\x1b[31mred", "control character"),
    ("a\x85b", "control character"),  # C1 (NEL)
    ("a\u202eb", "bidirectional"),
    ("a\u2066b", "bidirectional"),
    ("a b", "' '"),
    ("a\tb", "control character"),
    ("a\u3000b", "whitespace"),
    ("a?b", "'?'"),
    ("a[b", "'['"),
    ("-x", "'-'"),
    ("x/.hidden", "'.'"),
    ("x.", "'.'"),
    ("a//b", "'//'"),
    ("@", "'@'"),
    ("x" * 1100, "at most 1024"),
]


def set_branch(provider: str, name: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        if provider in ("github", "gitlab", "gitee"):
            d["ref"] = f"refs/heads/{name}"
        elif provider == "bitbucket":
            d["push"]["changes"][0]["new"]["name"] = name
            d["push"]["changes"][0]["old"]["name"] = name
        else:
            d["changes"][0]["refId"] = f"refs/heads/{name}"
            d["changes"][0]["ref"] = {"id": f"refs/heads/{name}", "displayId": name, "type": "BRANCH"}

    return mutate


def assert_ignored_alike(
    reply: Reply, body: bytes, headers: dict[str, str], provider: str, now: datetime
) -> str:
    """The receiver ignores the push with a reason, and inspect shows no event and that reason."""
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.IGNORED)
    reason = str(reply.body["reason"])
    inspection = inspect_result(provider, headers, body, HOSTS[provider].secret, now)
    assert inspection.events == ()
    assert inspection.ignored_reason() == reason
    return reason


@pytest.mark.parametrize(("name", "complaint"), BAD_NAMES, ids=[repr(n[:20]) for n, _ in BAD_NAMES])
def test_ref_name_git_refuses_to_ignored_with_the_reason(
    shared_payload: Callable[[str], bytes], now: datetime, name: str, complaint: str
) -> None:
    decision, body, headers = decide_variant(shared_payload, "github", set_branch("github", name), now)
    reason = assert_ignored_alike(reply_of(decision), body, headers, "github", now)
    assert complaint in reason
    assert reason.isprintable()  # the name's control and bidi characters are escaped, never echoed


@pytest.mark.parametrize("provider", list(HOSTS))
@pytest.mark.parametrize("name", ["a..b", "a\u202eb", "a b", "x" * 1100])
def test_every_hosts_bad_ref_name_to_ignored(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str, name: str
) -> None:
    decision, body, headers = decide_variant(shared_payload, provider, set_branch(provider, name), now)
    assert_ignored_alike(reply_of(decision), body, headers, provider, now)


def test_inspect_promises_no_build_for_a_ref_the_receiver_ignores(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    from kiln.webhooks import planned_builds

    _, body, headers = decide_variant(shared_payload, "github", set_branch("github", "a b"), now)
    inspection = inspect_result("github", headers, body, None, now)
    assert planned_builds([ANY_BRANCH], inspection.events)["builds"] == []


SHA256 = "ab" * 32


@pytest.mark.parametrize(
    ("provider", "mutate"),
    [
        ("github", lambda d: d.update(after=SHA256)),
        ("gitlab", lambda d: d.update(after=SHA256, checkout_sha=SHA256)),
        ("bitbucket", lambda d: d["push"]["changes"][0]["new"]["target"].update(hash=SHA256)),
        ("bitbucket-server", lambda d: d["changes"][0].update(toHash=SHA256)),
    ],
)
def test_sha256_commit_to_ignored_saying_why(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str, mutate: Mutation
) -> None:
    decision, body, headers = decide_variant(shared_payload, provider, mutate, now)
    reason = assert_ignored_alike(reply_of(decision), body, headers, provider, now)
    assert "SHA-256" in reason
    assert "no BuildRule builds" not in reason


# -- changes listed twice, thousands of changes ------------------------------------------------------------


def bitbucket_changes(*names_and_hashes: tuple[str, str]) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        template = d["push"]["changes"][0]
        changes = []
        for name, commit in names_and_hashes:
            change = copy.deepcopy(template)
            change.pop("commits", None)
            change["new"]["name"] = change["old"]["name"] = name
            change["new"]["target"]["hash"] = commit
            changes.append(change)
        d["push"]["changes"] = changes

    return mutate


def server_changes(*names_and_hashes: tuple[str, str]) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        template = d["changes"][0]
        d["changes"] = [
            {**template, "refId": f"refs/heads/{name}", "ref": None, "toHash": commit}
            for name, commit in names_and_hashes
        ]

    return mutate


A, B = "a" * 40, "b" * 40
MUTATORS = {"bitbucket": bitbucket_changes, "bitbucket-server": server_changes}


@pytest.mark.parametrize("provider", list(MUTATORS))
def test_change_listed_twice_to_one_buildrun(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str
) -> None:
    mutate = MUTATORS[provider](("main", A), ("main", A), ("dev", A))
    create = create_of(decide_variant(shared_payload, provider, mutate, now)[0])
    assert sorted(run.ref for run in create.runs) == ["refs/heads/dev", "refs/heads/main"]
    assert len({run.name for run in create.runs}) == 2
    assert create.report["ignored"] == []


@pytest.mark.parametrize("provider", list(MUTATORS))
def test_ref_listed_twice_with_other_commits_to_the_first_and_a_reason(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str
) -> None:
    mutate = MUTATORS[provider](("main", A), ("main", B))
    create = create_of(decide_variant(shared_payload, provider, mutate, now)[0])
    (run,) = create.runs
    assert run.manifest["spec"]["source"]["commit"] == A
    ignored: Any = create.report["ignored"]
    assert [i["ref"] for i in ignored] == ["refs/heads/main"]
    assert "only the first is built" in ignored[0]["reason"]


@pytest.mark.parametrize("provider", list(MUTATORS))
def test_thousands_of_changes_to_the_first_hundred_refs_and_what_was_cut(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str
) -> None:
    names = [(f"feature/{i:04d}", A) for i in range(2500)]
    decision, _, _ = decide_variant(shared_payload, provider, MUTATORS[provider](*names), now)
    create = create_of(decision)
    assert [run.ref for run in create.runs] == [f"refs/heads/feature/{i:04d}" for i in range(100)]
    cut: Any = create.report["cut"]
    assert (cut["limit"], cut["count"]) == (100, 2400)
    assert cut["refs"] == [f"refs/heads/feature/{i:04d}" for i in range(100, 200)]  # the first 100 cut
    reply = conclude(create, {run.name: CreateResult(CreateStatus.CREATED) for run in create.runs})
    assert reply.status == 202
    assert "2400 more ref(s) not built" in str(reply.body["reason"])
    assert len(json.dumps(reply.body)) < 100_000


def test_the_ref_limit_is_a_parameter_of_decide(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    names = [(f"b{i}", A) for i in range(10)]
    decision, _, _ = decide_variant(shared_payload, "bitbucket", bitbucket_changes(*names), now, max_refs=3)
    create = create_of(decision)
    assert [run.ref for run in create.runs] == ["refs/heads/b0", "refs/heads/b1", "refs/heads/b2"]
    assert create.report["cut"] == {
        "limit": 3,
        "count": 7,
        "refs": [f"refs/heads/b{i}" for i in range(3, 10)],
    }


def test_thousands_of_deletions_to_a_short_answer(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        template = d["changes"][0]
        d["changes"] = [
            {**template, "refId": f"refs/heads/gone-{i}", "ref": None, "toHash": "0" * 40, "type": "DELETE"}
            for i in range(3000)
        ]

    reply = reply_of(decide_variant(shared_payload, "bitbucket-server", mutate, now)[0])
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.IGNORED)
    assert reply.body["reason"] == "ref deleted (3000 refs)"
    assert len(reply.body["ignored"]) == 100  # type: ignore[arg-type]
    assert reply.body["ignoredNotListed"] == 2900


def test_redelivery_at_a_later_time_keeps_its_names(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    mutate = bitbucket_changes(("main", A), ("main", A))
    first = create_of(decide_variant(shared_payload, "bitbucket", mutate, now)[0])
    later = create_of(decide_variant(shared_payload, "bitbucket", mutate, now + timedelta(hours=1))[0])
    assert [r.name for r in first.runs] == [r.name for r in later.runs]
