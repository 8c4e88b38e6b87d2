"""Properties that must hold for any input, not just the examples."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import regex
from hypothesis import given
from hypothesis import strategies as st

from kiln.rules import (
    Push,
    RefMatch,
    Rule,
    RuleIndex,
    TagError,
    TagTemplate,
    match_ref,
    render_tags,
    sanitize,
)

from ._helpers import EXAMPLE_COMMIT, branch, rule, tag_ref

# Written out independently of the engine's own check.
VALID_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
GROUPS = ("a", "b", "imageTag")

# Ref names: tag characters plus the ones that need sanitising.
names = st.text(alphabet="abcXYZ019_.-/@+é ", min_size=1, max_size=40)
captures = st.text(max_size=140)
placeholders = st.sampled_from([*(f"${{{g}}}" for g in GROUPS), "${ref}"])
literals = st.text(alphabet="abz09_.-$ /", max_size=12)
templates = st.lists(st.one_of(placeholders, literals), max_size=5).map("".join)
build_times = st.sampled_from([None, "yyyyMMddHHmm", "yy.MM", "-HH", "ss", "yyyyMMddTHHmmss"])
commit_lengths = st.one_of(st.none(), st.integers(1, 40))
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-11, minutes=-30))])
moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones)
tag_templates = st.builds(TagTemplate, templates, build_times, commit_lengths)


@st.composite
def render_inputs(draw: st.DrawFn) -> tuple[Rule, RefMatch, Push]:
    tags = draw(st.lists(tag_templates, min_size=1, max_size=3))
    r = rule(branch(pattern="x"), *tags)
    short_name = draw(names)
    found = RefMatch(short_name, {g: draw(captures) for g in GROUPS})
    commit = draw(st.text(alphabet="0123456789abcdef", min_size=40, max_size=40))
    return r, found, Push(f"refs/heads/{short_name}", commit, draw(moments))


@given(render_inputs())
def test_rendered_tags_are_valid_or_tag_error(inputs: tuple[Rule, RefMatch, Push]) -> None:
    try:
        tags = render_tags(*inputs)
    except TagError as exc:
        assert exc.index in range(len(inputs[0].tags))
        return
    assert tags, "a rule with tags renders at least one"
    assert len(set(tags)) == len(tags)
    for tag in tags:
        assert VALID_TAG.fullmatch(tag), tag


@given(render_inputs(), zones)
def test_rendering_is_deterministic_and_independent_of_the_push_time_zone(
    inputs: tuple[Rule, RefMatch, Push], zone: timezone
) -> None:
    r, found, p = inputs
    moved = Push(p.ref, p.commit, p.pushed_at.astimezone(zone))

    def outcome(push: Push) -> list[str] | str:
        try:
            return render_tags(r, found, push)
        except TagError as exc:
            return str(exc)

    assert outcome(p) == outcome(p) == outcome(moved)


@given(names, names)
def test_a_literal_pattern_matches_only_the_whole_name(name: str, extra: str) -> None:
    r = rule(branch(pattern=regex.escape(name)), "x")
    assert match_ref(r, f"refs/heads/{name}") == RefMatch(name, {})
    assert match_ref(r, f"refs/heads/{name}{extra}") is None
    assert match_ref(r, f"refs/heads/{extra}{name}") is None


@given(st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True), st.text(alphabet="-/.X ", min_size=1, max_size=5))
def test_a_partial_match_never_matches(version: str, tail: str) -> None:
    r = rule(branch(pattern=r"release-(?<imageTag>[a-z0-9]+)"), "${imageTag}")
    assert match_ref(r, f"refs/heads/release-{version}") == RefMatch(
        f"release-{version}", {"imageTag": version}
    )
    # The pattern finds "release-<version>" at the start of the name, but not all of it.
    assert regex.match(r"release-(?<imageTag>[a-z0-9]+)", f"release-{version}{tail}")
    assert match_ref(r, f"refs/heads/release-{version}{tail}") is None


@given(st.text(max_size=60))
def test_sanitize_keeps_length_and_leaves_only_tag_characters(text: str) -> None:
    cleaned = sanitize(text)
    assert len(cleaned) == len(text)
    assert re.fullmatch(r"[A-Za-z0-9_.-]*", cleaned)
    assert all(c == d for c, d in zip(text, cleaned, strict=True) if re.fullmatch(r"[A-Za-z0-9_.-]", c))


selectors = st.one_of(
    st.builds(branch, name=st.sampled_from(["main", "dev", "release-v1"])),
    st.builds(branch, pattern=st.sampled_from([r"release-(?<v>\w*)", ".*", "ma.*", "dev|main"])),
    st.builds(tag_ref, name=st.sampled_from(["v1", "main"])),
    st.builds(tag_ref, pattern=st.sampled_from([r"v(?<n>\d+)", ".+"])),
)
rule_sets = st.lists(
    st.builds(
        lambda source, i, repo: rule(source, "${ref}", name=f"r{i}", repository=repo),
        selectors,
        st.integers(0, 20),
        st.sampled_from(["app", "web"]),
    ),
    max_size=25,
)
refs = st.sampled_from(
    ["refs/heads/main", "refs/heads/dev", "refs/heads/release-v1", "refs/tags/v1", "refs/tags/x"]
)


@given(rule_sets, refs)
def test_index_agrees_with_a_linear_scan(rules: list[Rule], ref: str) -> None:
    index = RuleIndex(rules)
    latest = {(r.repository, r.name): r for r in rules}  # add() replaces same-named rules
    expected = sorted(
        ((r.name, found) for r in latest.values() if r.repository == "app" and (found := match_ref(r, ref))),
        key=lambda pair: pair[0],
    )
    p = Push(ref, EXAMPLE_COMMIT, datetime(2020, 1, 1, tzinfo=UTC))
    assert [(r.name, found) for r, found in index.match("app", p).matches] == expected
