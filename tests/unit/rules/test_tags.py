"""render_tags: substitution, build time in UTC+8, commit ids, sanitising, tag validity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kiln.rules import RefMatch, Rule, TagError, TagTemplate, match_ref, render_tags

from ._helpers import EXAMPLE_1, EXAMPLE_2, EXAMPLE_COMMIT, EXAMPLE_PUSHED_AT, branch, push, rule


def render(r: Rule, ref: str, pushed_at: datetime = EXAMPLE_PUSHED_AT) -> list[str]:
    found = match_ref(r, ref)
    assert found is not None, f"{ref} should match"
    return render_tags(r, found, push(ref, pushed_at=pushed_at))


def test_example_1() -> None:
    assert render(EXAMPLE_1, "refs/heads/main") == ["latest"]


def test_example_2_exactly_as_in_the_reference_document() -> None:
    assert render(EXAMPLE_2, "refs/heads/release-v1") == ["v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45"]


def test_push_time_in_any_zone_gives_the_same_utc8_build_time() -> None:
    same_moment = datetime(2020, 10, 15, 16, 25, tzinfo=timezone(timedelta(hours=8)))
    assert render(EXAMPLE_2, "refs/heads/release-v1", pushed_at=same_moment) == render(
        EXAMPLE_2, "refs/heads/release-v1"
    )


def test_build_time_crosses_the_date_boundary_in_utc8() -> None:
    r = rule(branch(name="main"), TagTemplate(build_time="yyyyMMdd"))
    assert render(r, "refs/heads/main", pushed_at=datetime(2020, 10, 15, 20, 0, tzinfo=UTC)) == ["20201016"]


def test_build_time_fields_and_literal_characters() -> None:
    r = rule(branch(name="main"), TagTemplate("nightly", build_time="yy.MM.dd_HHmmss"))
    at = datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert render(r, "refs/heads/main", pushed_at=at) == ["nightly-21.01.02_110405"]


def test_naive_push_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        render(EXAMPLE_2, "refs/heads/release-v1", pushed_at=datetime(2020, 10, 15, 8, 25))


@pytest.mark.parametrize("length", [1, 40])
def test_commit_id_length_bounds(length: int) -> None:
    r = rule(branch(name="main"), TagTemplate(commit_id_length=length))
    assert render(r, "refs/heads/main") == [EXAMPLE_COMMIT[:length]]


def test_ref_placeholder_is_the_sanitised_short_name() -> None:
    r = rule(branch(pattern="feature/.+"), "${ref}")
    assert render(r, "refs/heads/feature/login") == ["feature-login"]


def test_captured_text_is_sanitised_but_kept_in_place() -> None:
    r = rule(branch(pattern=r"(?<area>.+)@(?<what>.+)"), "${area}_${what}")
    assert render(r, "refs/heads/ui/x@fix login") == ["ui-x_fix-login"]


def test_empty_parts_are_skipped_when_joining() -> None:
    r = rule(branch(pattern=r"rc(?<n>\d*)"), TagTemplate("${n}", commit_id_length=4))
    assert render(r, "refs/heads/rc") == [EXAMPLE_COMMIT[:4]]


def test_duplicate_tags_collapse_keeping_the_first_position() -> None:
    r = rule(branch(name="main"), "${ref}", "latest", "main")
    assert render(r, "refs/heads/main") == ["main", "latest"]


def test_tag_that_renders_empty_is_an_error_naming_its_index() -> None:
    r = rule(branch(pattern=r"rc(?<n>\d*)"), "rc", "${n}")
    with pytest.raises(TagError, match=r"spec\.tags\[1\].*empty") as caught:
        render(r, "refs/heads/rc")
    assert caught.value.index == 1


def test_tag_longer_than_128_is_an_error() -> None:
    r = rule(branch(pattern=r"long-(?<rest>.*)"), "${rest}")
    assert render(r, "refs/heads/long-" + "a" * 128) == ["a" * 128]
    with pytest.raises(TagError, match="129 characters"):
        render(r, "refs/heads/long-" + "a" * 129)


def test_tag_with_a_bad_first_character_is_an_error() -> None:
    r = rule(branch(pattern=r"release(?<v>.*)"), "${v}")
    with pytest.raises(TagError, match="starts with '-'"):
        render(r, "refs/heads/release-v1")


def test_unknown_group_is_an_error_at_render_time_too() -> None:
    r = rule(branch(pattern=r"release-(?<imageTag>\w*)"), "${foo}")
    with pytest.raises(TagError, match=r"no group 'foo' \(groups: imageTag\)"):
        render(r, "refs/heads/release-v1")


def test_render_uses_the_match_given() -> None:
    # The engine does not re-match: the receiver may render from a stored match.
    tags = render_tags(EXAMPLE_2, RefMatch("release-x", {"imageTag": "x"}), push("refs/heads/release-x"))
    assert tags == ["x-202010151625-d4ef3dc3b77a011a5779eec7efdd45"]
