"""Builders shared by the rules tests; the two rules of the reference document."""

from __future__ import annotations

from datetime import UTC, datetime

from kiln.rules import Push, RefSelector, RefType, Rule, TagTemplate

# The seed's example commit starts with these 30 characters; the rest is made up.
EXAMPLE_COMMIT = "d4ef3dc3b77a011a5779eec7efdd45" + "6b1c9e02a7"
# 2020-10-15 16:25 UTC+8.
EXAMPLE_PUSHED_AT = datetime(2020, 10, 15, 8, 25, tzinfo=UTC)
EXAMPLE_PATTERN = r"release-(?<imageTag>\w*)"


def branch(name: str | None = None, pattern: str | None = None) -> RefSelector:
    return RefSelector(RefType.BRANCH, name=name, pattern=pattern)


def tag_ref(name: str | None = None, pattern: str | None = None) -> RefSelector:
    return RefSelector(RefType.TAG, name=name, pattern=pattern)


def rule(source: RefSelector, *tags: TagTemplate | str, name: str = "rule", repository: str = "app") -> Rule:
    """A rule; plain strings are tag templates without build time or commit id."""
    templates = tuple(TagTemplate(t) if isinstance(t, str) else t for t in tags)
    return Rule(name=name, repository=repository, source=source, tags=templates)


def push(ref: str, commit: str = EXAMPLE_COMMIT, pushed_at: datetime = EXAMPLE_PUSHED_AT) -> Push:
    return Push(ref=ref, commit=commit, pushed_at=pushed_at)


# Example 1: Branch `main`, tag `latest`.
EXAMPLE_1 = rule(branch(name="main"), "latest", name="example-1")
# Example 2: Branch pattern release-(?<imageTag>\w*), tag ${imageTag} + yyyyMMddHHmm + 30 commit chars.
EXAMPLE_2 = rule(
    branch(pattern=EXAMPLE_PATTERN),
    TagTemplate("${imageTag}", build_time="yyyyMMddHHmm", commit_id_length=30),
    name="example-2",
)
EXAMPLE_2_REASON = (
    "the rule selects refs by pattern, spec.tags[0] uses a build time and a commit id; "
    "only pushes can build it"
)
