"""Whether a rule can be built by hand (`kiln build`, the console's Build button)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from kiln.rules.types import Rule


class ManualBuildDecision(NamedTuple):
    """`allowed` and, when refused, the reason (unpacks as `allowed, reason = manual_build(rule)`)."""

    allowed: bool
    reason: str | None

    @property
    def status(self) -> Literal["Allowed", "Refused"]:
        """The BuildRule status value."""
        return "Allowed" if self.allowed else "Refused"


def manual_build(rule: Rule) -> ManualBuildDecision:
    """Refuse rules that need a push to resolve: a manual build has no pushed ref to match a pattern
    against, no push time for a build time and no pushed commit for a commit id.
    """
    clauses: list[str] = []
    if rule.source.pattern is not None:
        clauses.append("the rule selects refs by pattern")
    for index, template in enumerate(rule.tags):
        uses = [
            what
            for what, used in (
                ("a build time", template.build_time is not None),
                ("a commit id", template.commit_id_length is not None),
            )
            if used
        ]
        if uses:
            clauses.append(f"spec.tags[{index}] uses {' and '.join(uses)}")
    if not clauses:
        return ManualBuildDecision(True, None)
    return ManualBuildDecision(False, f"{', '.join(clauses)}; only pushes can build it")
