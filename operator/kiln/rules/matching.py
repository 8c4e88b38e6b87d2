"""Matching a pushed ref against a rule's source selector."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Protocol

import regex

from kiln.rules.errors import InvalidRule, MatchTimeout
from kiln.rules.refs import split_ref
from kiln.rules.types import RefMatch, Rule

# Per-match limit. Real patterns match a ref name in microseconds; only catastrophic backtracking
# gets near this, and the receiver must stay responsive while it reports the rule.
DEFAULT_MATCH_TIMEOUT = 0.05
# How often a match cut short while its thread was off the CPU is tried again.
PREEMPTION_RETRIES = 3


class _Match(Protocol):
    def groupdict(self, default: str) -> dict[str, str]: ...


class CompiledPattern(Protocol):
    """The part of `regex.Pattern` the engine uses (regex ships no type information)."""

    @property
    def groupindex(self) -> Mapping[str, int]: ...

    def fullmatch(self, string: str, *, timeout: float | None = None) -> _Match | None: ...


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Compile with the `regex` library, which accepts both (?<name>...) and (?P<name>...).

    Raises regex.error for a pattern that does not compile.
    """
    compiled: CompiledPattern = regex.compile(pattern)
    return compiled


def compile_rule_pattern(rule: Rule) -> CompiledPattern:
    """The compiled pattern of a pattern rule; InvalidRule if it has none or it does not compile."""
    source = rule.source
    if (source.name is None) == (source.pattern is None):
        raise InvalidRule(rule.name, "spec.source needs exactly one of name or pattern")
    if source.pattern is None:
        raise InvalidRule(rule.name, "the rule selects refs by name, not by pattern")
    try:
        return compile_pattern(source.pattern)
    except regex.error as exc:
        raise InvalidRule(rule.name, f"spec.source.pattern does not compile: {exc}") from None


def fullmatch_short_name(
    rule: Rule, compiled: CompiledPattern, short_name: str, timeout: float
) -> RefMatch | None:
    """Full-match a short ref name; groups that did not take part capture ''.

    The limit is wall-clock time (what `regex` offers). A match whose thread got less than half of
    it on the CPU was waiting for a busy machine, not backtracking: it is tried again (a few times)
    before the pattern is blamed.
    """
    for attempt in range(PREEMPTION_RETRIES + 1):
        cpu = time.thread_time()
        try:
            found = compiled.fullmatch(short_name, timeout=timeout)
            break
        except TimeoutError:
            if time.thread_time() - cpu >= timeout / 2 or attempt == PREEMPTION_RETRIES:
                raise MatchTimeout(rule.name, rule.source.pattern or "", short_name, timeout) from None
    return None if found is None else RefMatch(short_name, found.groupdict(default=""))


def match_ref(rule: Rule, ref: str, *, timeout: float = DEFAULT_MATCH_TIMEOUT) -> RefMatch | None:
    """Match a full ref (`refs/heads/x`, `refs/tags/x`) against the rule.

    Branch rules see only refs/heads/*, Tag rules only refs/tags/*. A name matches the short name
    exactly; a pattern must match all of it. Raises MatchTimeout or InvalidRule.
    """
    split = split_ref(ref)
    if split is None or split[0] != rule.source.type:
        return None
    short_name = split[1]
    name = rule.source.name
    if name is not None and rule.source.pattern is None:
        return RefMatch(short_name) if short_name == name else None
    return fullmatch_short_name(rule, compile_rule_pattern(rule), short_name, timeout)
