"""Which waiting BuildRuns of a tenant start now, which wait (and where in line), which are superseded.

Pure: the BuildRun controller hands in every unfinished BuildRun of one Kubernetes namespace as
`QueuedRun`s (read from the cluster's state, so the queue survives a restart of the operator) and
the tenant's cap, and carries out the `QueuePlan`. The line is oldest first (creation time, then
name); a run waits when its rule allows one build at a time and one runs or starts ahead of it, or
when the tenant runs its maximum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from pydantic import ValidationError

from kiln.api.buildrule import History, RunPolicy
from kiln.api.buildrun import Phase
from kiln.api.common import parse_time
from kiln.api.constants import ANNOTATION_CREATED_AT

# Waiting runs told their exact place in line: each start moves every place, so a place is written
# for the first few only (later ones say they are further back).
PLACES_SHOWN = 20
_SERIAL = frozenset({RunPolicy.SERIAL, RunPolicy.SERIAL_LATEST_ONLY})


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """An unfinished BuildRun as the queue sees it."""

    name: str
    rule: str
    # the rule's runPolicy; None when the rule is missing or invalid (its start refuses the run)
    policy: RunPolicy | None
    created: str
    # it has a Job (it started, or started and was not yet recorded as such)
    active: bool

    @property
    def order(self) -> tuple[str, str]:
        return (self.created, self.name)

    @classmethod
    def of(cls, body: Mapping[str, Any], rule: Mapping[str, Any] | None, has_job: bool) -> QueuedRun:
        """A BuildRun body as the queue sees it: `rule` is its BuildRule's body (None: not found),
        `has_job` whether a Job of it is known besides its status.jobName."""
        meta, status = body["metadata"], body.get("status") or {}
        return cls(
            name=str(meta["name"]),
            rule=str((body.get("spec") or {}).get("buildRule", "")),
            policy=run_policy(rule),
            created=line_time(
                str(meta.get("creationTimestamp", "")),
                (meta.get("annotations") or {}).get(ANNOTATION_CREATED_AT),
            ),
            active=bool(status.get("jobName")) or has_job,
        )


@dataclass(frozen=True, slots=True)
class QueuePlan:
    """What to do with a tenant's waiting runs."""

    start: tuple[str, ...] = ()
    # (name, Queued message)
    waiting: tuple[tuple[str, str], ...] = ()
    # (name, the newer run that supersedes it)
    superseded: tuple[tuple[str, str], ...] = ()


def line_time(creation_timestamp: str, created_at: str | None) -> str:
    """Where a run stands in line: its creationTimestamp, refined to the microsecond by its
    `kiln.dev/created-at` annotation. The annotation only orders runs within their creation second
    (it is clamped into it), so no creator can move a run ahead of an older one."""
    created = parse_time(creation_timestamp)
    if created is None:
        return creation_timestamp
    stamp = parse_time(created_at)
    if stamp is not None:
        created = min(max(stamp, created), created + timedelta(microseconds=999_999))
    return created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _queued_message(place: int, why: str, ahead: str) -> str:
    """The message of a waiting run. Beyond the places shown it says nothing that changes while the
    line moves, so a long line is not rewritten at every start."""
    if place > PLACES_SHOWN:
        return f"queued, more than {PLACES_SHOWN} in line: {why}"
    return f"queued, {_ordinal(place)} in line: {why}" + (f" and {ahead}" if ahead else "")


def plan_queue(runs: Iterable[QueuedRun], cap: int | None) -> QueuePlan:
    """The plan for one tenant's unfinished runs; `cap` is its maxConcurrentBuilds (None: no cap)."""
    ordered = sorted(runs, key=lambda r: r.order)
    running = [r for r in ordered if r.active]
    waiting = [r for r in ordered if not r.active]
    # SerialLatestOnly: of a rule's waiting runs only the newest stays
    newest: dict[str, QueuedRun] = {}
    for run in waiting:
        if run.policy is RunPolicy.SERIAL_LATEST_ONLY:
            newest[run.rule] = run
    superseded = tuple(
        (r.name, newest[r.rule].name) for r in waiting if r.rule in newest and newest[r.rule] is not r
    )
    gone = {name for name, _ in superseded}
    waiting = [r for r in waiting if r.name not in gone]
    busy: dict[str, str] = {r.rule: r.name for r in running if r.policy in _SERIAL}
    free = None if cap is None else max(cap - len(running), 0)
    start: list[str] = []
    # (name, why it waits, who it waits for): the last is told only to the places shown
    held: list[tuple[str, str, str]] = []
    for run in waiting:
        if run.policy in _SERIAL and run.rule in busy:
            held.append(
                (
                    run.name,
                    f"BuildRule {run.rule} builds one at a time ({run.policy})",
                    f"BuildRun {busy[run.rule]} is ahead",
                )
            )
        elif free is not None and free <= 0:
            held.append((run.name, f"the tenant runs its maximum of {cap} builds at once", ""))
        else:
            start.append(run.name)
            if free is not None:
                free -= 1
            if run.policy in _SERIAL:
                busy[run.rule] = run.name
    waiting_messages = tuple(
        (name, _queued_message(place, why, ahead)) for place, (name, why, ahead) in enumerate(held, 1)
    )
    return QueuePlan(start=tuple(start), waiting=waiting_messages, superseded=superseded)


def run_policy(rule: Mapping[str, Any] | None) -> RunPolicy | None:
    """A BuildRule body's runPolicy (the API's default when unset), or None for no rule or a bad value."""
    if rule is None:
        return None
    value = (rule.get("spec") or {}).get("runPolicy", RunPolicy.SERIAL.value)
    try:
        return RunPolicy(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A finished BuildRun as retention sees it."""

    name: str
    succeeded: bool
    # completion time (creation time when it has none): the newest are kept
    finished: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> FinishedRun:
        meta, status = body["metadata"], body.get("status") or {}
        return cls(
            name=str(meta["name"]),
            succeeded=status.get("phase") == Phase.SUCCEEDED,
            finished=str(status.get("completionTime") or meta.get("creationTimestamp") or ""),
        )


def history_of(rule: Mapping[str, Any] | None) -> History | None:
    """A BuildRule body's spec.history (the API's defaults filled in); None when there is no rule or
    its history is invalid: nothing is deleted then."""
    if rule is None:
        return None
    try:
        return History.model_validate((rule.get("spec") or {}).get("history") or {})
    except ValidationError:
        return None


def beyond_history(runs: Iterable[FinishedRun], history: History) -> tuple[str, ...]:
    """The finished runs of one rule to delete: all but the newest `history.succeeded` succeeded ones
    and the newest `history.failed` failed or cancelled ones."""
    finished = list(runs)
    delete: list[str] = []
    for succeeded, keep in ((True, history.succeeded), (False, history.failed)):
        same = sorted(
            (r for r in finished if r.succeeded is succeeded),
            key=lambda r: (r.finished, r.name),
            reverse=True,
        )
        delete += [r.name for r in same[keep:]]
    return tuple(sorted(delete))
