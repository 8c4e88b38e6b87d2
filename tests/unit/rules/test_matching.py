"""match_ref: ref type filtering, exact names, full-match patterns, timeouts."""

from __future__ import annotations

import time

import pytest

from kiln.rules import InvalidRule, MatchTimeout, RefMatch, RefSelector, RefType, match_ref
from kiln.rules.matching import PREEMPTION_RETRIES, compile_pattern, fullmatch_short_name

from ._helpers import EXAMPLE_1, EXAMPLE_2, branch, rule, tag_ref


def test_example_1_matches_main_exactly() -> None:
    assert match_ref(EXAMPLE_1, "refs/heads/main") == RefMatch("main", {})
    assert match_ref(EXAMPLE_1, "refs/heads/main2") is None
    assert match_ref(EXAMPLE_1, "refs/heads/feature/main") is None


def test_example_2_captures_image_tag() -> None:
    assert match_ref(EXAMPLE_2, "refs/heads/release-v1") == RefMatch("release-v1", {"imageTag": "v1"})


@pytest.mark.parametrize("short_name", ["release-v1-hotfix", "xrelease-v1", "release-v1/x", "release"])
def test_pattern_must_match_the_whole_short_name(short_name: str) -> None:
    assert match_ref(EXAMPLE_2, f"refs/heads/{short_name}") is None


def test_branch_rule_ignores_tags_and_tag_rule_ignores_branches() -> None:
    assert match_ref(EXAMPLE_1, "refs/tags/main") is None
    tag_rule = rule(tag_ref(name="main"), "latest")
    assert match_ref(tag_rule, "refs/heads/main") is None
    assert match_ref(tag_rule, "refs/tags/main") == RefMatch("main", {})


@pytest.mark.parametrize("ref", ["main", "refs/pull/1/head", "refs/heads/", "refs/remotes/origin/main", ""])
def test_refs_outside_heads_and_tags_never_match(ref: str) -> None:
    assert match_ref(rule(branch(pattern=".*"), "x"), ref) is None


@pytest.mark.parametrize("pattern", [r"v(?<major>\d+)\.(?<minor>\d+)", r"v(?P<major>\d+)\.(?P<minor>\d+)"])
def test_both_named_group_syntaxes(pattern: str) -> None:
    found = match_ref(rule(tag_ref(pattern=pattern), "${major}"), "refs/tags/v1.22")
    assert found == RefMatch("v1.22", {"major": "1", "minor": "22"})


def test_alternation_is_full_matched_as_a_whole() -> None:
    # Naive "^a|b$" anchoring would accept "ab..." through the first branch.
    assert match_ref(rule(branch(pattern="main|dev"), "x"), "refs/heads/maintenance") is None
    assert match_ref(rule(branch(pattern="main|dev"), "x"), "refs/heads/dev") is not None


def test_group_that_did_not_take_part_captures_empty_text() -> None:
    found = match_ref(rule(branch(pattern=r"rc(?<n>\d+)?"), "x"), "refs/heads/rc")
    assert found == RefMatch("rc", {"n": ""})


def test_catastrophic_pattern_times_out_instead_of_hanging() -> None:
    evil = rule(branch(pattern="(a|aa)+$"), "x", name="evil")
    started = time.perf_counter()
    with pytest.raises(MatchTimeout) as caught:
        match_ref(evil, "refs/heads/" + "a" * 40 + "!", timeout=0.05)
    assert time.perf_counter() - started < 2
    assert caught.value.rule_name == "evil"
    assert caught.value.timeout == 0.05
    assert "evil" in str(caught.value) and "50 ms" in str(caught.value)


def test_nested_plus_does_not_hang() -> None:
    # The `regex` library's repeat guards defuse (a+)+$, so it fails fast rather than timing out.
    started = time.perf_counter()
    assert match_ref(rule(branch(pattern="(a+)+$"), "x"), "refs/heads/" + "a" * 32 + "!") is None
    assert time.perf_counter() - started < 1


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern(r"cache-(?<x>\w+)") is compile_pattern(r"cache-(?<x>\w+)")


@pytest.mark.parametrize(
    "source",
    [
        RefSelector(RefType.BRANCH),
        RefSelector(RefType.BRANCH, name="main", pattern="main"),
        RefSelector(RefType.BRANCH, pattern="release-("),
    ],
)
def test_unusable_selector_raises_invalid_rule(source: RefSelector) -> None:
    with pytest.raises(InvalidRule, match=r"spec\.source"):
        match_ref(rule(source, "x", name="broken"), "refs/heads/main")


class _Preempted:
    """A compiled pattern whose first `stalls` matches time out without using the CPU, as a match
    does while its thread waits for a busy machine; then it matches."""

    def __init__(self, stalls: int, burn: bool = False) -> None:
        self.groupindex: dict[str, int] = {}
        self.stalls = stalls
        self.burn = burn
        self.calls = 0

    def fullmatch(self, string: str, *, timeout: float | None = None) -> object:
        self.calls += 1
        if self.calls <= self.stalls:
            if self.burn:  # backtracking: the thread is on the CPU the whole time
                end = time.thread_time() + (timeout or 0)
                while time.thread_time() < end:
                    pass
            raise TimeoutError("regex timed out")

        class Found:
            def groupdict(self, default: str) -> dict[str, str]:
                return {}

        return Found()


def test_a_match_cut_short_off_the_cpu_is_tried_again() -> None:
    r = rule(branch(pattern="x"), "t")
    preempted = _Preempted(stalls=PREEMPTION_RETRIES)
    assert fullmatch_short_name(r, preempted, "main", timeout=0.01) is not None
    assert preempted.calls == PREEMPTION_RETRIES + 1
    with pytest.raises(MatchTimeout):
        fullmatch_short_name(r, _Preempted(stalls=PREEMPTION_RETRIES + 1), "main", timeout=0.01)


def test_a_match_that_burns_the_cpu_is_blamed_at_once() -> None:
    burning = _Preempted(stalls=1, burn=True)
    with pytest.raises(MatchTimeout):
        fullmatch_short_name(rule(branch(pattern="x"), "t"), burning, "main", timeout=0.02)
    assert burning.calls == 1
