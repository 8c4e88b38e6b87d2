"""The build rules engine: pure functions from a rule and a push to image tags.

No I/O; the only clocks read are for the time limit on pattern matching (per pattern, and per push,
and the thread's CPU time to tell a busy machine from a backtracking pattern).
"""

from kiln.rules.errors import InvalidRule, MatchTimeout, PlanBudgetExceeded, RuleError, TagError
from kiln.rules.index import (
    BuildPlan,
    IndexMatch,
    PlannedBuild,
    RepositoryRules,
    RuleFailure,
    RuleIndex,
)
from kiln.rules.manual import ManualBuildDecision, manual_build
from kiln.rules.matching import DEFAULT_MATCH_TIMEOUT, match_ref
from kiln.rules.refs import MAX_TAG_LENGTH, full_ref, image_tag_problem, ref_type_named, sanitize, split_ref
from kiln.rules.report import RuleTestReport, rule_test_report
from kiln.rules.tags import render_tags, tag_summary
from kiln.rules.templates import MAX_COMMIT_ID_LENGTH, MIN_COMMIT_ID_LENGTH, UTC_PLUS_8
from kiln.rules.types import Problem, Push, RefMatch, RefSelector, RefType, Rule, TagTemplate
from kiln.rules.validation import MAX_TAGS, MIN_TAGS, validate_rule

__all__ = [
    "DEFAULT_MATCH_TIMEOUT",
    "MAX_COMMIT_ID_LENGTH",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "MIN_COMMIT_ID_LENGTH",
    "MIN_TAGS",
    "UTC_PLUS_8",
    "BuildPlan",
    "IndexMatch",
    "InvalidRule",
    "ManualBuildDecision",
    "MatchTimeout",
    "PlanBudgetExceeded",
    "PlannedBuild",
    "Problem",
    "Push",
    "RefMatch",
    "RefSelector",
    "RefType",
    "RepositoryRules",
    "Rule",
    "RuleError",
    "RuleFailure",
    "RuleIndex",
    "RuleTestReport",
    "TagError",
    "TagTemplate",
    "full_ref",
    "image_tag_problem",
    "manual_build",
    "match_ref",
    "ref_type_named",
    "render_tags",
    "rule_test_report",
    "sanitize",
    "split_ref",
    "tag_summary",
    "validate_rule",
]
