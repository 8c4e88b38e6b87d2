"""RuleIndex: per-repository matching, incremental updates, failures reported per rule."""

from __future__ import annotations

from kiln.rules import InvalidRule, MatchTimeout, RefMatch, Rule, RuleIndex, TagError

from ._helpers import EXAMPLE_2, EXAMPLE_PATTERN, branch, push, rule, tag_ref

MAIN = rule(branch(name="main"), "latest", name="main")
MAIN_TOO = rule(branch(name="main"), "edge", name="also-main")
RELEASE = rule(branch(pattern=EXAMPLE_PATTERN), "${imageTag}", name="release")
TAGS = rule(tag_ref(pattern=r"v(?<version>.+)"), "${version}", name="versions")
OTHER_REPO_MAIN = rule(branch(name="main"), "latest", name="main", repository="other")


def matched_names(index: RuleIndex, repository: str, ref: str) -> list[str]:
    return [r.name for r, _ in index.match(repository, push(ref)).matches]


def test_exact_and_pattern_rules_of_the_pushed_repository_only() -> None:
    index = RuleIndex([MAIN, RELEASE, TAGS, OTHER_REPO_MAIN])
    assert matched_names(index, "app", "refs/heads/main") == ["main"]
    assert index.match("app", push("refs/heads/release-v2")).matches == (
        (RELEASE, RefMatch("release-v2", {"imageTag": "v2"})),
    )
    assert matched_names(index, "app", "refs/tags/v2") == ["versions"]
    assert matched_names(index, "app", "refs/tags/main") == []
    assert matched_names(index, "unknown", "refs/heads/main") == []
    assert matched_names(index, "app", "refs/pull/1/head") == []


def test_several_rules_on_one_ref_come_back_sorted_by_name() -> None:
    catch_all = rule(branch(pattern=".*"), "${ref}", name="0-any")
    index = RuleIndex([MAIN, catch_all, MAIN_TOO])
    assert matched_names(index, "app", "refs/heads/main") == ["0-any", "also-main", "main"]


def test_add_replaces_a_rule_of_the_same_repository_and_name() -> None:
    index = RuleIndex([MAIN])
    now_a_pattern = rule(branch(pattern="dev-.*"), "dev", name="main")
    index.add(now_a_pattern)
    assert len(index) == 1
    assert index.get("app", "main") is now_a_pattern
    assert matched_names(index, "app", "refs/heads/main") == []
    assert matched_names(index, "app", "refs/heads/dev-1") == ["main"]


def test_remove_forgets_the_rule() -> None:
    index = RuleIndex([MAIN, MAIN_TOO, RELEASE, OTHER_REPO_MAIN])
    assert index.remove("app", "main") is MAIN
    assert index.remove("app", "release") is RELEASE
    assert index.remove("app", "main") is None
    assert index.remove("nowhere", "main") is None
    assert len(index) == 2
    assert matched_names(index, "app", "refs/heads/main") == ["also-main"]
    assert matched_names(index, "app", "refs/heads/release-v1") == []
    assert matched_names(index, "other", "refs/heads/main") == ["main"]


def test_removing_every_rule_of_a_repository_leaves_nothing_behind() -> None:
    index = RuleIndex([MAIN, RELEASE])
    index.remove("app", "main")
    index.remove("app", "release")
    assert len(index) == 0
    assert index.get("app", "main") is None
    assert index._repositories == {}


def test_a_timing_out_rule_is_reported_and_the_others_still_match() -> None:
    evil = rule(branch(pattern="(a|aa)+$"), "x", name="evil")
    everything = rule(branch(pattern=".*"), "${ref}", name="everything")
    index = RuleIndex([evil, everything], timeout=0.02)
    result = index.match("app", push("refs/heads/" + "a" * 40 + "!"))
    assert [r.name for r, _ in result.matches] == ["everything"]
    assert [(f.rule.name, type(f.error)) for f in result.failures] == [("evil", MatchTimeout)]


def test_an_uncompilable_rule_is_reported_on_pushes_of_its_type() -> None:
    broken = rule(branch(pattern="release-("), "x", name="broken")
    index = RuleIndex([broken, MAIN])
    result = index.match("app", push("refs/heads/main"))
    assert [r.name for r, _ in result.matches] == ["main"]
    assert [(f.rule, type(f.error)) for f in result.failures] == [(broken, InvalidRule)]
    assert index.match("app", push("refs/tags/v1")).failures == ()


def test_plan_renders_tags_and_turns_tag_errors_into_failures() -> None:
    empty_tag = rule(branch(pattern=r"release-(?<imageTag>\w*)"), "${imageTag}", name="empty")
    index = RuleIndex([EXAMPLE_2, empty_tag])
    plan = index.plan("app", push("refs/heads/release-v1"))
    assert [(b.rule.name, b.tags) for b in plan.builds] == [
        ("empty", ("v1",)),
        ("example-2", ("v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45",)),
    ]
    plan = index.plan("app", push("refs/heads/release-"))
    assert [b.rule.name for b in plan.builds] == ["example-2"]
    assert [(f.rule.name, type(f.error), f.error.message) for f in plan.failures] == [
        ("empty", TagError, "spec.tags[0]: rendered tag '' is not a valid image tag: it is empty")
    ]


def test_index_holds_thousands_of_rules() -> None:
    rules: list[Rule] = [
        rule(branch(name=f"b{i}"), "latest", name=f"r{i}", repository=f"repo{i % 100}") for i in range(5000)
    ]
    index = RuleIndex(rules)
    assert len(index) == 5000
    assert matched_names(index, "repo7", "refs/heads/b107") == ["r107"]
    assert matched_names(index, "repo8", "refs/heads/b107") == []
