"""Who may create which BuildRun (admission, on CREATE). Pure.

The seed's rule: a rule with a pattern, a build time or a commit id is built by the system only.
So a `Push` or `Resync` BuildRun comes only from the identities the operator trusts (the webhook
receiver's and its own); a `Manual` one only for a rule whose manual builds are allowed, for the
rule's own ref, with exactly the tags the rule renders.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import UTC, datetime

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import BuildRun, TriggerType
from kiln.rules import manual_build, rule_test_report
from kiln.rules.types import Problem


def manual_refusal(name: str, rule: BuildRule) -> Problem | None:
    """Why BuildRule `name` may not be built by hand, or None: what admission refuses a Manual
    BuildRun of it for, and what `kiln build` says before it resolves any commit."""
    decision = manual_build(rule.to_rule())
    if decision.allowed:
        return None
    return Problem("spec.trigger.type", f"BuildRule {name!r} cannot be built by hand: {decision.reason}")


def trigger_problems(
    run: BuildRun, rule: BuildRule | None, username: str | None, trusted: Set[str]
) -> list[Problem]:
    """Why `username` may not create `run` (`rule`: the BuildRule it names, None when there is none)."""
    trigger = run.spec.trigger.type
    if trigger is not TriggerType.MANUAL:
        if username in trusted:
            return []
        return [
            Problem(
                "spec.trigger.type",
                f"{trigger} BuildRuns are created by Kiln itself (the webhook receiver or the operator), "
                f"not by {username or 'an anonymous user'}; create a Manual BuildRun (`kiln build`) instead",
            )
        ]
    if rule is None:
        return [Problem("spec.buildRule", f"BuildRule {run.spec.build_rule!r} not found")]
    refused = manual_refusal(run.spec.build_rule, rule)
    if refused is not None:
        return [refused]
    source = run.spec.source
    report = rule_test_report(
        rule.to_rule(), source.ref, source.commit, source.pushed_at or datetime.now(UTC)
    )
    if not report["matched"]:
        return [
            Problem(
                "spec.source.ref", f"{source.ref} is not the ref BuildRule {run.spec.build_rule!r} builds"
            )
        ]
    if list(run.spec.tags) != list(dict.fromkeys(report["tags"])):
        return [Problem("spec.tags", f"must be what the rule renders: {report['tags']}")]
    return []
