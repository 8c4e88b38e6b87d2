"""Rendering a rule's tags for one push."""

from __future__ import annotations

from kiln.rules.errors import TagError
from kiln.rules.refs import image_tag_problem, sanitize
from kiln.rules.templates import (
    REF_PLACEHOLDER,
    TemplateError,
    commit_id_length_problem,
    format_build_time,
    parse_build_time,
    parse_template,
    require_aware,
    unknown_group_message,
)
from kiln.rules.types import Push, RefMatch, Rule, TagTemplate


def _substitute(rule: Rule, template: str, match: RefMatch) -> str:
    """Fill `${group}` / `${ref}`; captured text is sanitised, the template's own text is not."""
    out: list[str] = []
    for part in parse_template(template):
        if isinstance(part, str):
            out.append(part)
        elif part.name == REF_PLACEHOLDER:
            out.append(sanitize(match.short_name))
        elif part.name in match.groups:
            out.append(sanitize(match.groups[part.name]))
        else:
            raise TemplateError(
                unknown_group_message(part.name, match.groups, rule.source.pattern is not None)
            )
    return "".join(out)


def _render_one(rule: Rule, template: TagTemplate, match: RefMatch, push: Push) -> str:
    """The non-empty parts joined with '-': substituted template, build time, commit id prefix."""
    parts = [_substitute(rule, template.tag, match)]
    if template.build_time is not None:
        parts.append(format_build_time(parse_build_time(template.build_time), push.pushed_at))
    if template.commit_id_length is not None:
        problem = commit_id_length_problem(template.commit_id_length)
        if problem is not None:
            raise TemplateError(problem)
        parts.append(sanitize(push.commit[: template.commit_id_length]))
    return "-".join(part for part in parts if part)


def render_tags(rule: Rule, match: RefMatch, push: Push) -> list[str]:
    """The image tags a push builds, in rule order, duplicates dropped.

    Raises TagError (naming the tag's index) if any tag is not a valid image tag: a rule builds
    all its tags or none. Raises ValueError for a push time without a time zone.
    """
    require_aware(push.pushed_at)
    tags: dict[str, None] = {}  # an ordered set
    for index, template in enumerate(rule.tags):
        try:
            tag = _render_one(rule, template, match, push)
        except TemplateError as exc:
            raise TagError(rule.name, index, str(exc)) from None
        problem = image_tag_problem(tag)
        if problem is not None:
            raise TagError(rule.name, index, f"rendered tag {tag!r} is not a valid image tag: {problem}")
        tags[tag] = None
    return list(tags)


def tag_summary(templates: tuple[TagTemplate, ...] | list[TagTemplate]) -> str:
    """The tag templates as one short line, e.g. `${imageTag}-yyyyMMddHHmm-<commit:30>, latest`: the
    parts a tag is joined from, as `_render_one` joins them (for `kubectl get` and `kiln get`)."""
    return ", ".join(
        "-".join(
            part
            for part in (
                template.tag,
                template.build_time,
                None if template.commit_id_length is None else f"<commit:{template.commit_id_length}>",
            )
            if part
        )
        for template in templates
    )
