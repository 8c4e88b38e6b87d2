"""What the operator says about a BuildRule in its status: valid or not (and why), and whether it
can be built by hand. Pure: a BuildRule object in, the status fields out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kiln.api.buildrule import BuildRule
from kiln.api.conditions import ConditionDict, set_condition
from kiln.api.constants import ConditionType
from kiln.api.validation import format_problems, validated
from kiln.rules import manual_build, tag_summary


def buildrule_status(body: Mapping[str, Any], conditions: Sequence[ConditionDict] | None) -> dict[str, Any]:
    """Status of a BuildRule: `Valid` condition, `manualBuild` and its reason, the tags' summary,
    observedGeneration."""
    generation = (body.get("metadata") or {}).get("generation")
    rule = validated(BuildRule, body)
    if isinstance(rule, list):
        problems = rule
        return {
            "conditions": set_condition(
                conditions, ConditionType.VALID, "False", "InvalidRule", format_problems(problems), generation
            ),
            "manualBuild": None,
            "manualBuildReason": None,
            "tagSummary": None,
            "observedGeneration": generation,
        }
    engine_rule = rule.to_rule()
    decision = manual_build(engine_rule)
    return {
        "conditions": set_condition(conditions, ConditionType.VALID, "True", "Valid", "", generation),
        "manualBuild": decision.status,
        "manualBuildReason": decision.reason,
        "tagSummary": tag_summary(engine_rule.tags),
        "observedGeneration": generation,
    }
