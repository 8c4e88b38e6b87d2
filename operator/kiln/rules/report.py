"""`kiln rule test -o json`: what a rule does with one push, without a cluster."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, TypedDict

from kiln.rules.errors import RuleError
from kiln.rules.manual import manual_build
from kiln.rules.matching import DEFAULT_MATCH_TIMEOUT, match_ref
from kiln.rules.refs import REF_PREFIXES, ref_name_problem
from kiln.rules.tags import render_tags
from kiln.rules.templates import require_aware
from kiln.rules.types import Push, Rule

# Abbreviated (git's minimum is 4) or full SHA-1 ids, and full SHA-256 ids.
_COMMIT = re.compile(r"[0-9a-fA-F]{4,40}|[0-9a-fA-F]{64}")


class RuleTestReport(TypedDict):
    matched: bool
    groups: dict[str, str]
    tags: list[str]
    manualBuild: Literal["Allowed", "Refused"]
    reason: str | None
    error: str | None  # why the rule failed on this push (pattern timeout, invalid tag), else None


def _check_ref(ref: str) -> None:
    prefix = next((p for p in REF_PREFIXES.values() if ref.startswith(p)), None)
    if prefix is None:
        raise ValueError(f"ref {ref!r} must start with refs/heads/ (a branch) or refs/tags/ (a tag)")
    problem = ref_name_problem(ref[len(prefix) :])
    if problem is not None:
        raise ValueError(f"ref {ref!r} is not a valid git ref: {problem}")


def _check_commit(rule: Rule, commit: str) -> str:
    """The commit id, lower-cased as git reports it in pushes."""
    if not _COMMIT.fullmatch(commit):
        raise ValueError(f"commit {commit!r} must be 4 to 40 hexadecimal digits (or a 64-digit SHA-256 id)")
    # A prefix shorter than the tag asks for would render a tag no real push produces.
    for index, tag in enumerate(rule.tags):
        if tag.commit_id_length is not None and len(commit) < tag.commit_id_length:
            raise ValueError(
                f"commit {commit!r} has {len(commit)} digits but spec.tags[{index}].commitIdLength is "
                f"{tag.commit_id_length}; give at least that many (the full 40-digit id is safest)"
            )
    return commit.lower()


def rule_test_report(
    rule: Rule, ref: str, commit: str, pushed_at: datetime, *, timeout: float = DEFAULT_MATCH_TIMEOUT
) -> RuleTestReport:
    """Match `ref` and render the tags a push of `commit` at `pushed_at` would get.

    Raises ValueError for a malformed ref, commit or a push time without a time zone.
    """
    _check_ref(ref)
    commit = _check_commit(rule, commit)
    require_aware(pushed_at)
    decision = manual_build(rule)
    report: RuleTestReport = {
        "matched": False,
        "groups": {},
        "tags": [],
        "manualBuild": decision.status,
        "reason": decision.reason,
        "error": None,
    }
    try:
        found = match_ref(rule, ref, timeout=timeout)
        if found is not None:
            report["matched"] = True
            report["groups"] = dict(found.groups)
            report["tags"] = render_tags(rule, found, Push(ref, commit, pushed_at))
    except RuleError as exc:
        report["error"] = str(exc)
    return report
