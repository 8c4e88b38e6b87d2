"""RepositoryRules: the immutable per-repository snapshot RuleIndex matches with, and its budget."""

from __future__ import annotations

import time

from kiln.rules import (
    InvalidRule,
    MatchTimeout,
    PlanBudgetExceeded,
    RepositoryRules,
    Rule,
    RuleIndex,
)

from ._helpers import EXAMPLE_1, EXAMPLE_2, branch, push, rule

# Backtracks catastrophically on a short name of many a's and a final b.
SLOW_PATTERN = "(a|aa)+"
SLOW_REF = "refs/heads/" + "a" * 40 + "b"
EXACT_SLOW = rule(branch(name=SLOW_REF.removeprefix("refs/heads/")), "latest", name="exact")


def slow(name: str) -> Rule:
    return rule(branch(pattern=SLOW_PATTERN), "x", name=name)


def test_snapshot_is_kept_until_its_repository_changes() -> None:
    other = rule(branch(name="main"), "latest", name="main", repository="other")
    index = RuleIndex([EXAMPLE_1, other])
    before = index.snapshot("app")
    assert index.snapshot("app") is before
    index.add(rule(branch(name="dev"), "dev", name="dev", repository="other"))
    assert index.snapshot("app") is before  # another repository's change
    index.add(EXAMPLE_2)
    after = index.snapshot("app")
    assert after is not before
    # the old snapshot still answers with the rules as they were
    assert before.plan(push("refs/heads/release-v1"), timeout=0.05).builds == ()
    assert [b.rule.name for b in after.plan(push("refs/heads/release-v1"), timeout=0.05).builds] == [
        "example-2"
    ]
    index.remove("app", "example-2")
    assert index.snapshot("app") is not after
    assert index.snapshot("nowhere") == RepositoryRules()


def test_snapshot_of_rules_matches_as_the_index_does() -> None:
    catch_all = rule(branch(pattern=".*"), "${ref}", name="0-any")
    broken = rule(branch(pattern="release-("), "x", name="broken")
    rules = [EXAMPLE_2, EXAMPLE_1, broken, catch_all]
    index = RuleIndex(rules)
    for ref in ("refs/heads/main", "refs/heads/release-v1", "refs/tags/v1", "refs/pull/1/head"):
        mine, its = RepositoryRules.of(rules).plan(push(ref), timeout=0.05), index.plan("app", push(ref))
        assert mine.builds == its.builds
        # (exceptions compare by identity)
        assert [(f.rule, str(f.error)) for f in mine.failures] == [
            (f.rule, str(f.error)) for f in its.failures
        ]


def test_pattern_rules_are_tried_by_name_whatever_the_order_they_came_in() -> None:
    rules = [slow("c-slow"), slow("b-slow"), slow("a-slow")]
    for ordered in (rules, rules[::-1]):
        result = RuleIndex(ordered, timeout=0.05).match("app", push(SLOW_REF), budget=0.09)
        assert [(f.rule.name, type(f.error)) for f in result.failures] == [
            ("a-slow", MatchTimeout),
            ("b-slow", PlanBudgetExceeded),
            ("c-slow", PlanBudgetExceeded),
        ]


def test_a_spent_budget_fails_pattern_rules_but_never_exact_ones() -> None:
    broken = rule(branch(pattern="release-("), "x", name="broken")
    fast = rule(branch(pattern="a+b"), "x", name="fast")
    snapshot = RepositoryRules.of([EXACT_SLOW, broken, fast])
    plan = snapshot.plan(push(SLOW_REF), timeout=0.05, budget=0.0)
    assert [b.rule.name for b in plan.builds] == ["exact"]
    assert [(f.rule.name, type(f.error)) for f in plan.failures] == [
        ("broken", InvalidRule),  # a rule that cannot match says so, budget or not
        ("fast", PlanBudgetExceeded),
    ]
    error = plan.failures[1].error
    assert isinstance(error, PlanBudgetExceeded) and error.budget == 0.0
    assert "budget ran out" in str(error)
    # without a budget there is no overall limit
    unlimited = snapshot.plan(push(SLOW_REF), timeout=0.05)
    assert [b.rule.name for b in unlimited.builds] == ["exact", "fast"]


def test_a_match_cut_short_by_the_budget_is_not_blamed_on_its_pattern() -> None:
    snapshot = RepositoryRules.of([slow("slow")])
    started = time.monotonic()
    result = snapshot.match(push(SLOW_REF), timeout=5.0, budget=0.03)
    assert time.monotonic() - started < 1.0
    (failure,) = result.failures
    assert isinstance(failure.error, PlanBudgetExceeded)
