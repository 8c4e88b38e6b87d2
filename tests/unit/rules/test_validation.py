"""validate_rule: what the BuildRule OpenAPI schema cannot check."""

from __future__ import annotations

import pytest

from kiln.rules import Problem, RefSelector, RefType, Rule, TagTemplate, validate_rule

from ._helpers import EXAMPLE_1, EXAMPLE_2, EXAMPLE_PATTERN, branch, rule


def fields(r: Rule) -> list[str]:
    return [problem.field for problem in validate_rule(r)]


def only_problem(r: Rule) -> Problem:
    problems = validate_rule(r)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize(
    "valid",
    [
        EXAMPLE_1,
        EXAMPLE_2,
        rule(branch(pattern=r"release-(?P<imageTag>\w*)"), "${imageTag}"),
        rule(branch(name="feature/login"), "${ref}", TagTemplate("b", build_time="yyyyMMddTHHmmss")),
        rule(RefSelector(RefType.TAG, name="v1.0"), "v1.0_x-y", TagTemplate(commit_id_length=40)),
        rule(branch(name="main"), TagTemplate(build_time="yyyy"), TagTemplate(commit_id_length=1)),
    ],
)
def test_valid_rules_have_no_problems(valid: Rule) -> None:
    assert validate_rule(valid) == []


@pytest.mark.parametrize("source", [RefSelector(RefType.BRANCH), branch(name="main", pattern="main")])
def test_source_needs_exactly_one_of_name_and_pattern(source: RefSelector) -> None:
    problem = only_problem(rule(source, "latest"))
    assert problem.field == "spec.source"
    assert "exactly one of name or pattern" in problem.message


def test_pattern_must_compile() -> None:
    problem = only_problem(rule(branch(pattern="release-(?<imageTag>\\w*"), "latest"))
    assert problem == Problem("spec.source.pattern", "the pattern does not compile: missing ) at position 23")


def test_empty_pattern_is_refused() -> None:
    assert fields(rule(branch(pattern=""), "latest")) == ["spec.source.pattern"]


def test_group_named_ref_is_refused() -> None:
    problem = only_problem(rule(branch(pattern="(?<ref>.*)"), "latest"))
    assert problem.field == "spec.source.pattern"
    assert "'ref'" in problem.message


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("release-*", "'*'"),
        ("a..b", "'..'"),
        ("refs/heads/main", "short name"),
        ("", "empty"),
        ("-x", "'-'"),
        ("x/y.lock", ".lock"),
        ("/x", "'/'"),
        ("a b", "' '"),
        ("x/.hidden", "'.'"),
        ("x.", "ends with '.'"),
        ("a@{b", "@{"),
    ],
)
def test_name_must_be_a_git_ref_short_name(name: str, complaint: str) -> None:
    problem = only_problem(rule(branch(name=name), "latest"))
    assert problem.field == "spec.source.name"
    assert complaint in problem.message


@pytest.mark.parametrize("count", [0, 4])
def test_one_to_three_tags(count: int) -> None:
    problem = only_problem(rule(branch(name="main"), *[f"t{i}" for i in range(count)]))
    assert problem == Problem("spec.tags", f"a rule has 1 to 3 tags, this one has {count}")


def test_unknown_group_names_the_group_and_the_known_ones() -> None:
    problem = only_problem(rule(branch(pattern=EXAMPLE_PATTERN), "${foo}"))
    assert problem == Problem(
        "spec.tags[0].tag",
        "tag template uses ${foo} but the pattern defines no group 'foo' (groups: imageTag)",
    )


def test_group_on_a_name_rule_points_to_ref() -> None:
    problem = only_problem(rule(branch(name="main"), "${imageTag}"))
    assert problem.field == "spec.tags[0].tag"
    assert "${imageTag}" in problem.message and "${ref}" in problem.message


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("${imageTag", "'${imageTag' at position 0 is missing its closing '}'"),
        ("v-${}", "'${}' at position 2 has no group name"),
        ("${image-tag}", "'${image-tag}' at position 0 is not a valid placeholder"),
        ("$imageTag", "'$'"),
    ],
)
def test_malformed_placeholders(template: str, complaint: str) -> None:
    problem = only_problem(rule(branch(pattern=EXAMPLE_PATTERN), template))
    assert problem.field == "spec.tags[0].tag"
    assert complaint in problem.message


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        (".latest", "starts with '.'"),
        ("-${imageTag}", "starts with '-'"),
        ("la test", "' '"),
        ("v1/${imageTag}", "'/'"),
    ],
)
def test_literal_text_must_be_valid_in_a_tag(template: str, complaint: str) -> None:
    problem = only_problem(rule(branch(pattern=EXAMPLE_PATTERN), template))
    assert problem.field == "spec.tags[0].tag"
    assert complaint in problem.message


def test_literal_tag_longer_than_128_is_refused() -> None:
    assert validate_rule(rule(branch(name="main"), "a" * 128)) == []
    problem = only_problem(rule(branch(name="main"), "a" * 129))
    assert problem.field == "spec.tags[0]"
    assert "at least 129 characters" in problem.message


def test_fixed_parts_alone_too_long_is_refused() -> None:
    # 80 literal + '-' + 12 build time + '-' + 40 commit = 134, whatever the groups capture.
    tag = TagTemplate("a" * 80 + "${imageTag}", build_time="yyyyMMddHHmm", commit_id_length=40)
    problem = only_problem(rule(branch(pattern=EXAMPLE_PATTERN), tag))
    assert "at least 134 characters" in problem.message


def test_tag_with_nothing_is_refused() -> None:
    assert only_problem(rule(branch(name="main"), "latest", "")) == Problem(
        "spec.tags[1]", "the tag is empty: give a template, a build time or a commit id length"
    )


@pytest.mark.parametrize(
    ("template", "build_time", "complaint"),
    [
        ("n", "yyyMMdd", "'yyy' at position 0"),
        ("n", "yyyyMdd", "'M' at position 4"),
        ("n", "", "empty"),
        ("n", "yyyy/MM", "'/'"),
        ("n", "abc", "no field"),
        ("", "-yyyyMM", "starts the tag with '-'"),
    ],
)
def test_build_time_format(template: str, build_time: str, complaint: str) -> None:
    problem = only_problem(rule(branch(name="main"), TagTemplate(template, build_time=build_time)))
    assert problem.field == "spec.tags[0].buildTime"
    assert complaint in problem.message


def test_build_time_may_start_with_a_separator_after_a_template() -> None:
    assert validate_rule(rule(branch(name="main"), TagTemplate("n", build_time="-yyyyMM"))) == []


@pytest.mark.parametrize("length", [0, 41, -1])
def test_commit_id_length_is_1_to_40(length: int) -> None:
    problem = only_problem(rule(branch(name="main"), TagTemplate(commit_id_length=length)))
    assert problem == Problem(
        "spec.tags[0].commitIdLength", f"commitIdLength must be between 1 and 40, got {length}"
    )


def test_every_problem_is_reported_at_once() -> None:
    r = rule(
        branch(pattern=EXAMPLE_PATTERN),
        "${foo}",
        TagTemplate("x", build_time="yyy", commit_id_length=99),
        "",
        "ok",
    )
    assert fields(r) == [
        "spec.tags",
        "spec.tags[0].tag",
        "spec.tags[1].buildTime",
        "spec.tags[1].commitIdLength",
        "spec.tags[2]",
    ]
