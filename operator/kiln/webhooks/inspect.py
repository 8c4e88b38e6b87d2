"""Offline inspection of a delivery, for `kiln webhook inspect` (and debugging endpoints).

`inspect_result` is the hook for callers that go further; `inspect_delivery` is its JSON-able
summary; `planned_builds` says which of some BuildRules the events would build. They parse with the
receiver's parsers (`ProviderSpec.parse_unverified`: the same refs ignored, merged or cut) and plan
with the receiver's own `decisions.plan_runs` (the same BuildRuns, validated by the same model), so
what inspect shows is what the receiver does. None of them raises for anything a delivery contains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiln.rules import DEFAULT_MATCH_TIMEOUT, BuildPlan, Push, RuleIndex
from kiln.webhooks.config import WebhookSecret
from kiln.webhooks.decisions import (
    DEFAULT_PLAN_BUDGET,
    MAX_LISTED,
    cut_note,
    delivery_report,
    ignored_reason,
    plan_runs,
)
from kiln.webhooks.dispatch import check_secret, provider_spec
from kiln.webhooks.entries import RuleEntry, parse_build_rule
from kiln.webhooks.errors import Unauthorized, WebhookError
from kiln.webhooks.events import DEFAULT_MAX_REFS, JSON, Ignored, ParsedDelivery, Ping, PushEvent
from kiln.webhooks.paths import NO_FILTER, PathFilter


@dataclass(frozen=True, slots=True)
class Inspection:
    """`verified`: None when no secret was given (or verification was not reached), else whether it passed."""

    provider: str
    verified: bool | None
    delivery: ParsedDelivery | None = None
    error: WebhookError | None = None

    @property
    def events(self) -> tuple[PushEvent, ...]:
        return self.delivery.events if self.delivery else ()

    @property
    def ignored(self) -> tuple[Ignored, ...]:
        return self.delivery.ignored if self.delivery else ()

    @property
    def ping(self) -> Ping | None:
        return self.delivery.ping if self.delivery else None

    def ignored_reason(self) -> str | None:
        """The receiver's wording of why refs are ignored (`decisions.ignored_reason`)."""
        return ignored_reason(self.delivery) if self.delivery else None

    def cut_note(self) -> str | None:
        return cut_note(self.delivery) if self.delivery else None

    def to_dict(self) -> dict[str, JSON]:
        events = [event.to_json() for event in self.events]
        listed = delivery_report(self.delivery) if self.delivery else {}
        return {
            "provider": self.provider,
            "verified": self.verified,
            "event": events[0] if events else None,
            "events": list[JSON](events),
            "ping": self.ping.to_json() if self.ping else None,
            "ignored": self.ignored_reason(),
            "ignoredRefs": listed.get("ignored", []),
            "cut": listed.get("cut"),
            "error": self.error.reason if self.error else None,
            "status": self.error.status if self.error else None,
        }


def inspect_result(
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: WebhookSecret | None,
    now: datetime,
    *,
    max_refs: int = DEFAULT_MAX_REFS,
) -> Inspection:
    """Verify (when `secret` is given) and parse, as the receiver would at `now` (the clock of the
    signatures' replay windows, and the arrival time); errors are returned, not raised."""
    verified: bool | None = None
    try:
        spec = provider_spec(provider)
        if secret is not None:
            check_secret(spec, secret)  # a TypeError here is the caller's bug: let it surface
            try:
                spec.check(headers, body, secret, now)
            except Unauthorized:
                verified = False
                raise
            verified = True
        delivery = spec.parse_unverified(headers, body, now, max_refs=max_refs)
    except WebhookError as error:
        return Inspection(provider, verified, error=error)
    return Inspection(provider, verified, delivery=delivery)


def inspect_delivery(
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: WebhookSecret | None,
    now: datetime,
    *,
    max_refs: int = DEFAULT_MAX_REFS,
) -> dict[str, JSON]:
    """`{"verified", "event", "events", "ping", "ignored", "ignoredRefs", "cut", "error", "status",
    "provider"}`, JSON-able."""
    return inspect_result(provider, headers, body, secret, now, max_refs=max_refs).to_dict()


class StaticRules:
    """A `RulesView` over a fixed set of BuildRules, all in one scope: the namespace is not looked at
    (rules saved with `kubectl get -o yaml` keep theirs, and their names are unique)."""

    def __init__(self, entries: Sequence[RuleEntry], *, match_timeout: float = DEFAULT_MATCH_TIMEOUT) -> None:
        self._index = RuleIndex((e.rule for e in entries), timeout=match_timeout)
        self._filters = {e.rule.name: e.filter for e in entries}
        self.repositories = sorted({e.rule.repository for e in entries})

    def plan(self, namespace: str, repository: str, push: Push) -> BuildPlan:
        return self._index.plan(repository, push, budget=DEFAULT_PLAN_BUDGET)

    def path_filter(self, namespace: str, rule: str) -> PathFilter:
        return self._filters.get(rule, NO_FILTER)


def planned_builds(
    rule_manifests: Sequence[Mapping[str, Any]], events: Sequence[PushEvent]
) -> dict[str, JSON]:
    """`{"builds", "failures", "skipped"}`: what the events would build with these BuildRules (a rule
    whose spec does not validate is reported as a failure of every event), planned by the
    receiver's `plan_runs`."""
    entries: list[RuleEntry] = []
    failures: list[JSON] = []
    for manifest in rule_manifests:
        entry = parse_build_rule(manifest)
        if isinstance(entry, str):
            name = str((manifest.get("metadata") or {}).get("name", ""))
            failures.extend({"rule": name, "ref": e.ref, "error": entry} for e in events)
        else:
            entries.append(entry)
    rules = StaticRules(entries)
    builds: list[JSON] = []
    skipped: list[JSON] = []
    for repository in rules.repositories:
        # No tenant or namespace offline: they name the BuildRun's place, not what it builds.
        plan = plan_runs(rules, "", "", repository, events)
        builds.extend(
            {"rule": run.rule, "repository": repository, "ref": run.ref, "tags": list[JSON](run.tags)}
            for run in plan.runs
        )
        failures.extend(plan.failures)
        skipped.extend(plan.skipped)
    return {"builds": builds, "failures": failures[:MAX_LISTED], "skipped": skipped[:MAX_LISTED]}
