"""manual_build: only rules that need no push can be built by hand."""

from __future__ import annotations

from kiln.rules import TagTemplate, manual_build

from ._helpers import EXAMPLE_1, EXAMPLE_2, EXAMPLE_2_REASON, branch, rule


def test_example_1_can_be_built_by_hand() -> None:
    allowed, reason = manual_build(EXAMPLE_1)
    assert (allowed, reason) == (True, None)
    assert manual_build(EXAMPLE_1).status == "Allowed"


def test_example_2_is_refused_and_says_why() -> None:
    decision = manual_build(EXAMPLE_2)
    assert decision.status == "Refused"
    assert decision.reason == EXAMPLE_2_REASON


def test_pattern_alone_refuses() -> None:
    decision = manual_build(rule(branch(pattern="release-.*"), "latest"))
    assert decision == (False, "the rule selects refs by pattern; only pushes can build it")


def test_build_time_refuses_naming_the_tag() -> None:
    decision = manual_build(rule(branch(name="main"), "latest", TagTemplate("n", build_time="yyyyMMdd")))
    assert decision == (False, "spec.tags[1] uses a build time; only pushes can build it")


def test_commit_id_refuses_naming_the_tag() -> None:
    decision = manual_build(rule(branch(name="main"), TagTemplate(commit_id_length=6)))
    assert decision == (False, "spec.tags[0] uses a commit id; only pushes can build it")


def test_ref_placeholder_on_a_name_rule_is_still_manual() -> None:
    assert manual_build(rule(branch(name="main"), "${ref}")).allowed
