"""A tenant's unfinished BuildRuns and its cap -> which start, which wait where, which are superseded;
a rule's finished BuildRuns and its history -> which are deleted."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kiln.api.buildrule import History, RunPolicy
from kiln.builds.queue import (
    PLACES_SHOWN,
    FinishedRun,
    QueuedRun,
    beyond_history,
    history_of,
    line_time,
    plan_queue,
    run_policy,
)

PARALLEL, SERIAL, LATEST = RunPolicy.PARALLEL, RunPolicy.SERIAL, RunPolicy.SERIAL_LATEST_ONLY


def run(
    name: str, rule: str = "web", policy: RunPolicy | None = SERIAL, second: int = 0, active: bool = False
) -> QueuedRun:
    return QueuedRun(name, rule, policy, f"2026-12-01T10:00:{second:02d}Z", active)


def test_serial_rule_starts_the_oldest_and_queues_the_rest_in_order() -> None:
    plan = plan_queue([run("c", second=3), run("a", second=1), run("b", second=2)], cap=4)
    assert plan.start == ("a",)
    assert [name for name, _ in plan.waiting] == ["b", "c"]
    assert plan.waiting[0][1] == (
        "queued, 1st in line: BuildRule web builds one at a time (Serial) and BuildRun a is ahead"
    )
    assert plan.waiting[1][1].startswith("queued, 2nd in line: ")
    assert plan.superseded == ()


def test_serial_rule_waits_while_one_runs() -> None:
    plan = plan_queue([run("a", active=True), run("b", second=1)], cap=4)
    assert plan.start == ()
    assert plan.waiting == (
        ("b", "queued, 1st in line: BuildRule web builds one at a time (Serial) and BuildRun a is ahead"),
    )


def test_parallel_rule_starts_every_run_up_to_the_cap_in_creation_order() -> None:
    runs = [run(f"r{i}", policy=PARALLEL, second=i) for i in range(6)]
    plan = plan_queue([runs[5], *runs[:5]], cap=4)
    assert plan.start == ("r0", "r1", "r2", "r3")
    assert plan.waiting == (
        ("r4", "queued, 1st in line: the tenant runs its maximum of 4 builds at once"),
        ("r5", "queued, 2nd in line: the tenant runs its maximum of 4 builds at once"),
    )


def test_cap_counts_running_builds_of_every_rule() -> None:
    running = [run("x", rule="api", policy=PARALLEL, active=True), run("y", rule="docs", active=True)]
    plan = plan_queue(
        [*running, run("a", policy=PARALLEL, second=1), run("b", policy=PARALLEL, second=2)], cap=3
    )
    assert plan.start == ("a",)
    assert [name for name, _ in plan.waiting] == ["b"]


def test_a_run_held_by_its_rule_does_not_take_a_slot_from_a_later_run_of_another_rule() -> None:
    plan = plan_queue(
        [run("a", active=True), run("b", second=1), run("c", rule="api", policy=PARALLEL, second=2)], cap=2
    )
    assert plan.start == ("c",)
    assert [name for name, _ in plan.waiting] == ["b"]


def test_serial_latest_only_keeps_only_the_newest_waiting_run() -> None:
    plan = plan_queue(
        [
            run("a", policy=LATEST, active=True),
            *(run(n, policy=LATEST, second=s) for n, s in (("b", 1), ("d", 3), ("c", 2))),
        ],
        cap=4,
    )
    assert plan.superseded == (("b", "d"), ("c", "d"))
    assert plan.start == ()
    assert [name for name, _ in plan.waiting] == ["d"]
    assert "(SerialLatestOnly)" in plan.waiting[0][1]


def test_serial_latest_only_supersedes_only_within_its_rule() -> None:
    plan = plan_queue(
        [
            run("a", policy=LATEST, active=True),
            run("b", policy=LATEST, second=1),
            run("c", rule="api", policy=LATEST, second=2),
        ],
        cap=4,
    )
    assert plan.superseded == ()
    assert plan.start == ("c",)


def test_no_cap_when_the_tenant_is_unknown_and_an_unknown_rule_holds_nothing() -> None:
    plan = plan_queue([run(f"r{i}", policy=None, second=i) for i in range(10)], cap=None)
    assert len(plan.start) == 10


def test_creation_ties_are_broken_by_name() -> None:
    plan = plan_queue([run("b"), run("a")], cap=1)
    assert plan.start == ("a",)


@pytest.mark.parametrize(
    ("place", "words"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (PLACES_SHOWN, f"{PLACES_SHOWN}th"),
    ],
)
def test_places_are_ordinals(place: int, words: str) -> None:
    runs = [run(f"r{i:03d}", policy=PARALLEL, second=0) for i in range(place)]
    plan = plan_queue([run("first", policy=PARALLEL, active=True), *runs], cap=1)
    assert plan.waiting[place - 1][1].startswith(f"queued, {words} in line: ")


def test_places_beyond_those_shown_say_so_and_do_not_change_as_the_line_moves() -> None:
    runs = [run(f"r{i:03d}", policy=PARALLEL) for i in range(PLACES_SHOWN + 5)]
    plan = plan_queue([run("first", policy=PARALLEL, active=True), *runs], cap=1)
    later = plan_queue([run("first", policy=PARALLEL, active=True), *runs[1:]], cap=1)
    assert plan.waiting[-1][1] == later.waiting[-1][1]
    assert plan.waiting[-1][1].startswith(f"queued, more than {PLACES_SHOWN} in line: ")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (None, None),
        ({"spec": {}}, SERIAL),
        ({"spec": {"runPolicy": "Parallel"}}, PARALLEL),
        ({"spec": {"runPolicy": "SerialLatestOnly"}}, LATEST),
        ({"spec": {"runPolicy": "Sometimes"}}, None),
    ],
)
def test_run_policy_of_a_rule_body(rule: dict[str, object] | None, expected: RunPolicy | None) -> None:
    assert run_policy(rule) is expected


def test_history_keeps_the_newest_of_each_outcome() -> None:
    finished = [FinishedRun(f"ok{i}", True, f"2026-12-01T10:00:{i:02d}Z") for i in range(5)] + [
        FinishedRun(f"bad{i}", False, f"2026-12-01T10:01:{i:02d}Z") for i in range(3)
    ]
    assert beyond_history(finished, History(succeeded=2, failed=1)) == ("bad0", "bad1", "ok0", "ok1", "ok2")
    assert beyond_history(finished, History()) == ()
    assert beyond_history(finished, History(succeeded=0, failed=0)) == tuple(sorted(r.name for r in finished))


def test_history_of_a_rule_body() -> None:
    assert history_of(None) is None
    assert history_of({"spec": {}}) == History(succeeded=10, failed=10)
    assert history_of({"spec": {"history": {"failed": 3}}}) == History(succeeded=10, failed=3)
    assert history_of({"spec": {"history": {"failed": -1}}}) is None


def test_places_beyond_those_shown_do_not_name_the_run_ahead() -> None:
    runs = [run(f"r{i:03d}", second=1) for i in range(PLACES_SHOWN + 2)]
    before = plan_queue([run("a", active=True), *runs], cap=4)
    after = plan_queue([run("b", active=True), *runs], cap=4)
    assert before.waiting[-1] == after.waiting[-1]
    assert before.waiting[-1][1] == (
        f"queued, more than {PLACES_SHOWN} in line: BuildRule web builds one at a time (Serial)"
    )
    assert before.waiting[0][1] != after.waiting[0][1]


def test_line_time_orders_within_the_creation_second_only() -> None:
    assert line_time("2026-12-01T10:00:00Z", None) == "2026-12-01T10:00:00.000000Z"
    assert line_time("2026-12-01T10:00:00Z", "2026-12-01T10:00:00.250000Z") == "2026-12-01T10:00:00.250000Z"
    # a stamp outside the creation second is clamped into it: no run moves ahead of an older one
    assert line_time("2026-12-01T10:00:00Z", "2020-01-01T00:00:00Z") == "2026-12-01T10:00:00.000000Z"
    assert line_time("2026-12-01T10:00:00Z", "2030-01-01T00:00:00Z") == "2026-12-01T10:00:00.999999Z"
    assert line_time("2026-12-01T10:00:00Z", "not a time") == "2026-12-01T10:00:00.000000Z"
    assert (
        line_time("2026-12-01T10:00:00Z", "2026-12-01T10:00:00.5") == "2026-12-01T10:00:00.000000Z"
    )  # no zone
    early, late = (
        line_time("2026-12-01T10:00:00Z", f"2026-12-01T10:00:00.{f}Z") for f in ("100000", "900000")
    )
    # within a second the stamp decides, not the name
    plan = plan_queue([replace(run("z"), created=early), replace(run("a"), created=late)], cap=1)
    assert plan.start == ("z",)


def test_buildrun_bodies_to_queued_and_finished_runs() -> None:
    body = {
        "metadata": {
            "name": "web-1",
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "annotations": {"kiln.dev/created-at": "2026-12-01T10:00:00.5Z"},
        },
        "spec": {"buildRule": "web"},
        "status": {},
    }
    queued = QueuedRun.of(body, {"spec": {"runPolicy": "Parallel"}}, has_job=False)
    assert queued == QueuedRun("web-1", "web", PARALLEL, "2026-12-01T10:00:00.500000Z", False)
    assert QueuedRun.of({**body, "status": {"jobName": "web-1"}}, None, has_job=False).active
    assert (
        QueuedRun.of(body, None, has_job=True).active
        and QueuedRun.of(body, None, has_job=True).policy is None
    )
    done = {**body, "status": {"phase": "Succeeded", "completionTime": "2026-12-01T10:05:00Z"}}
    assert FinishedRun.of(done) == FinishedRun("web-1", True, "2026-12-01T10:05:00Z")
    assert FinishedRun.of({**body, "status": {"phase": "Cancelled"}}) == FinishedRun(
        "web-1", False, "2026-12-01T10:00:00Z"
    )
