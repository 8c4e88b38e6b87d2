"""Resync: the branch heads and tags a code host lists -> the BuildRuns of pushes no delivery brought.

Pure. The operator lists a Repository's heads (`kiln.codehosts.CodeHost.refs`) every resync
interval and compares them with the heads it saw last (its baseline, taken when the Repository was
first reconciled, i.e. bound): a head that moved or appeared since is a push, planned with the
Repository's BuildRules exactly as a delivery of it would be (`kiln.webhooks.decisions.plan_runs`),
named alike (`buildrun_name`: rule, Repository, ref, commit), so a push that was delivered after
all, or is redelivered later, meets the BuildRun resync made, and the reverse. Heads that were
there at binding are the baseline, never built: resync does not rebuild history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from kiln.api.buildrun import TriggerType
from kiln.api.constants import Provider
from kiln.rules import DEFAULT_MATCH_TIMEOUT, BuildPlan, Push, RefType, RuleIndex
from kiln.webhooks.decisions import DEFAULT_PLAN_BUDGET, RunPlan, plan_runs
from kiln.webhooks.entries import RuleEntry, parse_build_rule
from kiln.webhooks.events import PushEvent
from kiln.webhooks.paths import NO_FILTER, PathFilter

_REF_TYPES = {"refs/heads/": RefType.BRANCH, "refs/tags/": RefType.TAG}


def moved_heads(current: Mapping[str, str], baseline: Mapping[str, str]) -> dict[str, str]:
    """The refs whose commit is not the baseline's (new refs included); deleted refs build nothing."""
    return {ref: commit for ref, commit in sorted(current.items()) if baseline.get(ref) != commit}


def next_baseline(
    baseline: Mapping[str, str], current: Mapping[str, str], unfinished: Iterable[str]
) -> dict[str, str]:
    """The heads to compare with next time: the current ones, except that a ref whose BuildRun could
    not be created keeps its old commit (so the next resync tries it again)."""
    kept = {ref: baseline[ref] for ref in unfinished if ref in baseline}
    retried = set(unfinished) - set(kept)
    return {ref: commit for ref, commit in {**current, **kept}.items() if ref not in retried}


def first_offset(uid: str, interval: timedelta) -> timedelta:
    """Where in the interval a Repository's resyncs fall (from its uid): Repositories bound together
    (a GitOps sync of a thousand) list their heads spread over the interval, not all at once."""
    fraction = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return interval * fraction


def resync_due(now: datetime, next_at: datetime | None, last: datetime | None, interval: timedelta) -> bool:
    """Whether a resync is due: at its scheduled time, or an interval after the last one (the
    interval may have been shortened since)."""
    return (next_at is not None and now >= next_at) or (last is not None and now >= last + interval)


class ListedRules:
    """A `RulesView` of the BuildRules listed for one resync (the receiver's cache watches them)."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], timeout: float = DEFAULT_MATCH_TIMEOUT) -> None:
        self._timeout = timeout
        self._entries: dict[str, RuleEntry] = {}
        self.invalid: dict[str, str] = {}  # rule name -> why its spec is refused (it matches nothing)
        self._index = RuleIndex(timeout=timeout)
        for obj in objects:
            name = str((obj.get("metadata") or {}).get("name", ""))
            entry = parse_build_rule(obj)
            if isinstance(entry, str):
                self.invalid[name] = entry
                continue
            self._entries[name] = entry
            self._index.add(entry.rule)

    def plan(self, namespace: str, repository: str, push: Push) -> BuildPlan:
        return self._index.snapshot(repository).plan(push, timeout=self._timeout, budget=DEFAULT_PLAN_BUDGET)

    def path_filter(self, namespace: str, rule: str) -> PathFilter:
        entry = self._entries.get(rule)
        return entry.filter if entry is not None else NO_FILTER


def head_events(
    provider: Provider, url: str, heads: Mapping[str, str], now: datetime
) -> tuple[list[PushEvent], dict[str, str]]:
    """Each head as the push that brought it: pushed now as far as Kiln knows (its build time), its
    changed files unknown (so path filters build it), no delivery, no sender. Also the refs that
    are neither branches nor tags (refs/pull/..., which some hosts list), each with why it is left."""
    path = urlsplit(url).path.strip("/").removesuffix(".git")
    events: list[PushEvent] = []
    left: dict[str, str] = {}
    for ref, commit in heads.items():
        ref_type = next((t for prefix, t in _REF_TYPES.items() if ref.startswith(prefix)), None)
        if ref_type is None:
            left[ref] = "neither a branch nor a tag"
            continue
        events.append(
            PushEvent(
                provider=provider,
                delivery_id=None,
                clone_url=url,
                repository=path,
                ref=ref,
                ref_type=ref_type,
                commit=commit,
                before=None,
                pushed_at=now,
                message=None,
                author=None,
                changed_files=None,
                created=False,
                deleted=False,
                sender=None,
            )
        )
    return events, left


@dataclass(frozen=True, slots=True)
class ResyncPlan:
    """What one resync creates: the BuildRuns of the moved heads, and what it could not plan."""

    moved: dict[str, str]
    plan: RunPlan
    left: dict[str, str]

    @property
    def refs_built(self) -> list[str]:
        return sorted({run.ref for run in self.plan.runs})


def plan_resync(
    rules: ListedRules,
    namespace: str,
    tenant: str,
    repository: str,
    provider: Provider,
    url: str,
    current: Mapping[str, str],
    baseline: Mapping[str, str],
    now: datetime,
) -> ResyncPlan:
    """The Resync BuildRuns of the heads that moved since the baseline."""
    moved = moved_heads(current, baseline)
    events, left = head_events(provider, url, moved, now)
    plan = plan_runs(rules, namespace, tenant, repository, events, trigger=TriggerType.RESYNC)
    return ResyncPlan(moved, plan, left)


def summary(refs: Sequence[str], commits: Mapping[str, str], limit: int = 5) -> str:
    """`refs/heads/main (3f2a9c1), ...`, at most `limit`, then how many more."""
    shown = ", ".join(f"{ref} ({commits[ref][:7]})" for ref in refs[:limit])
    return f"{shown} and {len(refs) - limit} more" if len(refs) > limit else shown
