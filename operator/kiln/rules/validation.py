"""Checks on a BuildRule that its OpenAPI schema cannot express.

Problems name fields as paths into the BuildRule object (`spec.tags[0].tag`), so the controller
can put them in the Valid condition and an admission webhook can return them as field errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import regex

from kiln.rules.matching import compile_pattern
from kiln.rules.refs import MAX_TAG_LENGTH, bad_tag_chars, ref_name_problem
from kiln.rules.templates import (
    MAX_COMMIT_ID_LENGTH,
    REF_PLACEHOLDER,
    Placeholder,
    TemplateError,
    TemplatePart,
    TimeField,
    commit_id_length_problem,
    parse_build_time,
    parse_template,
    unknown_group_message,
)
from kiln.rules.types import Problem, RefSelector, Rule, TagTemplate

MIN_TAGS = 1
MAX_TAGS = 3
_BAD_START = ".-"


def _source_problems(source: RefSelector) -> tuple[list[Problem], Sequence[str] | None]:
    """Problems of spec.source, and the group names templates may use (None: unknown, skip checks)."""
    if (source.name is None) == (source.pattern is None):
        both = "both" if source.name is not None else "neither"
        return [Problem("spec.source", f"give exactly one of name or pattern ({both} is set)")], None
    if source.name is not None:
        problem = ref_name_problem(source.name)
        if problem is None:
            return [], ()
        return [Problem("spec.source.name", f"{source.name!r} is not a valid git ref name: {problem}")], ()
    assert source.pattern is not None
    if not source.pattern:
        return [
            Problem("spec.source.pattern", "the pattern is empty; it can only match an empty ref name")
        ], None
    try:
        groups = list(compile_pattern(source.pattern).groupindex)
    except regex.error as exc:
        return [Problem("spec.source.pattern", f"the pattern does not compile: {exc}")], None
    if REF_PLACEHOLDER in groups:
        message = (
            f"the pattern defines a group named {REF_PLACEHOLDER!r}, but ${{{REF_PLACEHOLDER}}} "
            "always stands for the short ref name; rename the group"
        )
        return [Problem("spec.source.pattern", message)], groups
    return [], groups


def _template_problems(
    path: str, template: str, groups: Sequence[str] | None, by_pattern: bool
) -> tuple[list[Problem], tuple[TemplatePart, ...]]:
    """Problems of spec.tags[i].tag, and its parsed parts (empty if it does not parse)."""
    try:
        parts = parse_template(template)
    except TemplateError as exc:
        return [Problem(path, str(exc))], ()
    problems: list[Problem] = []
    literal = "".join(part for part in parts if isinstance(part, str))
    bad = bad_tag_chars(literal)
    if bad:
        hint = "; placeholders are written ${group}" if "$" in bad else ""
        problems.append(
            Problem(
                path,
                f"tag template {template!r} contains {', '.join(map(repr, bad))}, which an image tag cannot "
                f"hold (allowed: letters, digits, '_', '.', '-'){hint}",
            )
        )
    elif parts and isinstance(parts[0], str) and parts[0][0] in _BAD_START:
        problems.append(
            Problem(
                path,
                f"tag template {template!r} starts with {parts[0][0]!r}; a tag must start with a "
                "letter, a digit or '_'",
            )
        )
    if groups is not None:
        used = dict.fromkeys(part.name for part in parts if isinstance(part, Placeholder))
        problems += [
            Problem(path, unknown_group_message(name, groups, by_pattern))
            for name in used
            if name != REF_PLACEHOLDER and name not in groups
        ]
    return problems, parts


def _build_time_problems(path: str, fmt: str, first: bool) -> list[Problem]:
    """Problems of spec.tags[i].buildTime; `first`: its output starts the tag (empty template)."""
    if not fmt:
        return [Problem(path, "buildTime is empty; omit it or give a format such as yyyyMMddHHmm")]
    try:
        parts = parse_build_time(fmt)
    except TemplateError as exc:
        return [Problem(path, str(exc))]
    if not any(isinstance(part, TimeField) for part in parts):
        return [
            Problem(path, f"build time {fmt!r} has no field (yyyy yy MM dd HH mm ss); it would be constant")
        ]
    bad = bad_tag_chars("".join(part for part in parts if isinstance(part, str)))
    if bad:
        return [
            Problem(
                path,
                f"build time {fmt!r} contains {', '.join(map(repr, bad))}, which an image tag "
                "cannot hold (allowed besides the fields: letters, digits, '_', '.', '-')",
            )
        ]
    if first and fmt[0] in _BAD_START:
        return [
            Problem(
                path,
                f"build time {fmt!r} starts the tag with {fmt[0]!r}; a tag must start with a "
                "letter, a digit or '_'",
            )
        ]
    return []


def _tag_problems(
    index: int, tag: TagTemplate, groups: Sequence[str] | None, by_pattern: bool
) -> list[Problem]:
    path = f"spec.tags[{index}]"
    if not tag.tag and tag.build_time is None and tag.commit_id_length is None:
        return [Problem(path, "the tag is empty: give a template, a build time or a commit id length")]
    problems, parts = _template_problems(f"{path}.tag", tag.tag, groups, by_pattern)
    if tag.build_time is not None:
        problems += _build_time_problems(f"{path}.buildTime", tag.build_time, first=not tag.tag)
    if tag.commit_id_length is not None:
        problem = commit_id_length_problem(tag.commit_id_length)
        if problem is not None:
            problems.append(Problem(f"{path}.commitIdLength", problem))
    # Placeholders may render empty, and a build time always renders exactly len(format) chars,
    # so this is the shortest the tag can ever be.
    lengths = [
        sum(len(part) for part in parts if isinstance(part, str)),
        len(tag.build_time or ""),
        min(tag.commit_id_length or 0, MAX_COMMIT_ID_LENGTH),  # an out-of-range length is reported above
    ]
    present = [length for length in lengths if length > 0]
    shortest = sum(present) + max(len(present) - 1, 0)
    if shortest > MAX_TAG_LENGTH:
        problems.append(
            Problem(
                path,
                f"the tag is always at least {shortest} characters long; an image tag holds at most "
                f"{MAX_TAG_LENGTH}",
            )
        )
    return problems


def validate_rule(rule: Rule) -> list[Problem]:
    """Every problem of the rule (empty list: valid)."""
    problems, groups = _source_problems(rule.source)
    if not MIN_TAGS <= len(rule.tags) <= MAX_TAGS:
        problems.append(
            Problem("spec.tags", f"a rule has {MIN_TAGS} to {MAX_TAGS} tags, this one has {len(rule.tags)}")
        )
    by_pattern = rule.source.pattern is not None
    for index, tag in enumerate(rule.tags):
        problems += _tag_problems(index, tag, groups, by_pattern)
    return problems
