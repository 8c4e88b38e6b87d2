"""A code host's heads + the baseline + the BuildRules -> the Resync BuildRuns (kiln.webhooks.resync):
only moved heads build, named as the delivery of the same push would name them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from kiln.api.buildrun import BuildRun
from kiln.api.constants import Provider
from kiln.webhooks.resync import (
    ListedRules,
    first_offset,
    moved_heads,
    next_baseline,
    plan_resync,
    resync_due,
)
from tests.unit.webhooks.objects import (
    CHANGES_RULE,
    GITHUB_URL,
    NAMESPACE,
    PATTERN_RULE,
    REPOSITORY,
    TENANT,
    build_rule,
    create_of,
    deliver,
    signed,
    with_commit,
    world,
)

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_moved_heads_are_the_new_and_the_changed_refs_not_the_deleted() -> None:
    baseline = {"refs/heads/main": A, "refs/heads/old": A, "refs/tags/v1": A}
    current = {"refs/heads/main": B, "refs/tags/v1": A, "refs/tags/v2": C}
    assert moved_heads(current, baseline) == {"refs/heads/main": B, "refs/tags/v2": C}
    assert moved_heads(current, current) == {}


def test_the_next_baseline_keeps_a_head_whose_buildrun_was_not_created_for_the_next_try() -> None:
    baseline = {"refs/heads/main": A, "refs/heads/dev": A}
    current = {"refs/heads/main": B, "refs/heads/dev": B, "refs/tags/v2": C}
    assert next_baseline(baseline, current, unfinished={"refs/heads/main", "refs/tags/v2"}) == {
        "refs/heads/main": A,  # moved again next time: tried again
        "refs/heads/dev": B,
    }
    assert next_baseline(baseline, current, unfinished=set()) == current


def test_resyncs_of_many_repositories_spread_over_the_interval() -> None:
    interval = timedelta(minutes=10)
    offsets = [first_offset(f"uid-{i}", interval) for i in range(1000)]
    assert all(timedelta(0) <= o < interval for o in offsets)
    assert first_offset("uid-1", interval) == offsets[1]  # stable for one Repository
    # no minute of the ten holds more than twice its share
    per_minute = [sum(1 for o in offsets if o // timedelta(minutes=1) == m) for m in range(10)]
    assert max(per_minute) < 200, per_minute


@pytest.mark.parametrize(
    ("next_at", "last", "due"),
    [
        (NOW - timedelta(seconds=1), NOW - timedelta(minutes=2), True),
        (NOW + timedelta(minutes=5), NOW - timedelta(minutes=2), False),
        (NOW + timedelta(hours=5), NOW - timedelta(minutes=11), True),  # the interval was shortened
        (None, None, False),
    ],
)
def test_a_resync_is_due_at_its_time_or_an_interval_after_the_last(
    next_at: datetime | None, last: datetime | None, due: bool
) -> None:
    assert resync_due(NOW, next_at, last, timedelta(minutes=10)) is due


def test_moved_heads_to_resync_buildruns_of_the_rules_that_match_them() -> None:
    rules = ListedRules([CHANGES_RULE, PATTERN_RULE, build_rule("tags", pattern=r"v\d+", ref_type="Tag")])
    current = {"refs/heads/changes": B, "refs/heads/main": B, "refs/tags/v2": C, "refs/pull/1/head": C}
    baseline = {"refs/heads/changes": A, "refs/heads/main": B}
    planned = plan_resync(
        rules, NAMESPACE, TENANT, REPOSITORY, Provider.GITHUB, GITHUB_URL, current, baseline, NOW
    )
    assert planned.moved == {"refs/heads/changes": B, "refs/pull/1/head": C, "refs/tags/v2": C}
    assert planned.left == {"refs/pull/1/head": "neither a branch nor a tag"}
    assert sorted((r.rule, r.ref) for r in planned.plan.runs) == [
        ("changes", "refs/heads/changes"),
        ("pattern", "refs/heads/changes"),
        ("tags", "refs/tags/v2"),
    ]
    for run in planned.plan.runs:
        spec = BuildRun.model_validate(run.manifest).spec
        assert (spec.trigger.type, spec.trigger.provider, spec.trigger.delivery_id) == (
            "Resync",
            "github",
            None,
        )
        assert spec.source.changed_files is None  # unknown: path filters build it
        assert spec.source.pushed_at == NOW  # the build time of the tags
    changes = next(r for r in planned.plan.runs if r.rule == "changes")
    assert list(changes.tags) == ["latest", f"changes-{B[:7]}"]


def test_a_resync_buildrun_has_the_name_the_delivery_of_that_push_gets(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = with_commit(shared_payload("github-push-branch.json"), B)
    delivered = create_of(deliver(world(), body, signed("github", body, delivery_id="d-9"), now))
    planned = plan_resync(
        ListedRules([CHANGES_RULE, PATTERN_RULE]),
        NAMESPACE,
        TENANT,
        REPOSITORY,
        Provider.GITHUB,
        GITHUB_URL,
        {"refs/heads/changes": B},
        {},
        NOW,
    )
    assert sorted(r.name for r in planned.plan.runs) == sorted(r.name for r in delivered.runs)


def test_an_invalid_buildrule_is_named_and_matches_nothing() -> None:
    broken = build_rule("broken", branch="main")
    broken["spec"]["tags"] = []
    rules = ListedRules([broken])
    assert list(rules.invalid) == ["broken"]
    planned = plan_resync(
        rules, NAMESPACE, TENANT, REPOSITORY, Provider.GITHUB, GITHUB_URL, {"refs/heads/main": B}, {}, NOW
    )
    assert planned.plan.runs == ()
