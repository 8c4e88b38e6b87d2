"""A per-repository index of rules, so a push is matched against its repository's rules only.

Exact-name rules are found by a dict lookup on (type, short name); pattern rules of the pushed
ref's type are tried in insertion order. The index is fed rule by rule (add/remove), so a
watch-driven cache can keep it current without rebuilding it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kiln.rules.errors import InvalidRule, RuleError
from kiln.rules.matching import (
    DEFAULT_MATCH_TIMEOUT,
    CompiledPattern,
    compile_rule_pattern,
    fullmatch_short_name,
)
from kiln.rules.refs import split_ref
from kiln.rules.tags import render_tags
from kiln.rules.types import Push, RefMatch, RefType, Rule


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule that would have been considered for a push but failed (timeout, bad tag, bad rule)."""

    rule: Rule
    error: RuleError


@dataclass(frozen=True, slots=True)
class IndexMatch:
    """The rules a push matched (sorted by rule name) and the rules that failed on it."""

    matches: tuple[tuple[Rule, RefMatch], ...] = ()
    failures: tuple[RuleFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannedBuild:
    """One build a push starts: the rule, what it matched, the rendered tags."""

    rule: Rule
    match: RefMatch
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """Everything a push starts, and the rules that matched but cannot build (reported, not built)."""

    builds: tuple[PlannedBuild, ...] = ()
    failures: tuple[RuleFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class _PatternEntry:
    """A rule tried by pattern; a rule that cannot be matched keeps its error so each push reports it."""

    rule: Rule
    compiled: CompiledPattern | None
    error: InvalidRule | None


def _pattern_entry(rule: Rule) -> _PatternEntry:
    try:
        return _PatternEntry(rule, compile_rule_pattern(rule), None)
    except InvalidRule as exc:
        return _PatternEntry(rule, None, exc)


@dataclass(slots=True)
class _RepositoryRules:
    by_name: dict[str, Rule] = field(default_factory=dict)
    # (type, short name) -> rule name -> rule: several rules may select the same ref.
    exact: dict[tuple[RefType, str], dict[str, Rule]] = field(default_factory=dict)
    # type -> rule name -> entry; dicts keep insertion order and give O(1) removal.
    patterns: dict[RefType, dict[str, _PatternEntry]] = field(default_factory=dict)


def _is_exact(rule: Rule) -> bool:
    return rule.source.name is not None and rule.source.pattern is None


class RuleIndex:
    """Rules keyed by (repository, rule name); `match`/`plan` answer for one push."""

    def __init__(self, rules: Iterable[Rule] = (), *, timeout: float = DEFAULT_MATCH_TIMEOUT) -> None:
        self._repositories: dict[str, _RepositoryRules] = {}
        self._timeout = timeout
        self._size = 0
        for rule in rules:
            self.add(rule)

    def __len__(self) -> int:
        return self._size

    def get(self, repository: str, name: str) -> Rule | None:
        repo = self._repositories.get(repository)
        return None if repo is None else repo.by_name.get(name)

    def add(self, rule: Rule) -> None:
        """Add a rule, replacing any rule of the same (repository, name)."""
        self.remove(rule.repository, rule.name)
        repo = self._repositories.setdefault(rule.repository, _RepositoryRules())
        repo.by_name[rule.name] = rule
        if _is_exact(rule):
            assert rule.source.name is not None
            repo.exact.setdefault((rule.source.type, rule.source.name), {})[rule.name] = rule
        else:
            repo.patterns.setdefault(rule.source.type, {})[rule.name] = _pattern_entry(rule)
        self._size += 1

    def remove(self, repository: str, name: str) -> Rule | None:
        """Remove a rule; returns it, or None if it was not there."""
        repo = self._repositories.get(repository)
        rule = None if repo is None else repo.by_name.pop(name, None)
        if repo is None or rule is None:
            return None
        # Empty containers are dropped so a long-running cache does not grow with deleted rules.
        if _is_exact(rule):
            assert rule.source.name is not None
            key = (rule.source.type, rule.source.name)
            del repo.exact[key][name]
            if not repo.exact[key]:
                del repo.exact[key]
        else:
            del repo.patterns[rule.source.type][name]
            if not repo.patterns[rule.source.type]:
                del repo.patterns[rule.source.type]
        if not repo.by_name:
            del self._repositories[repository]
        self._size -= 1
        return rule

    def match(self, repository: str, push: Push) -> IndexMatch:
        """The repository's rules that select the pushed ref; failing rules are reported, not raised."""
        split = split_ref(push.ref)
        repo = self._repositories.get(repository)
        if split is None or repo is None:
            return IndexMatch()
        ref_type, short_name = split
        matches = [
            (rule, RefMatch(short_name)) for rule in repo.exact.get((ref_type, short_name), {}).values()
        ]
        failures: list[RuleFailure] = []
        for entry in repo.patterns.get(ref_type, {}).values():
            if entry.compiled is None:
                assert entry.error is not None
                failures.append(RuleFailure(entry.rule, entry.error))
                continue
            try:
                found = fullmatch_short_name(entry.rule, entry.compiled, short_name, self._timeout)
            except RuleError as exc:
                failures.append(RuleFailure(entry.rule, exc))
                continue
            if found is not None:
                matches.append((entry.rule, found))
        # Sorted so the outcome does not depend on the order the watch delivered the rules in.
        matches.sort(key=lambda pair: pair[0].name)
        return IndexMatch(tuple(matches), tuple(failures))

    def plan(self, repository: str, push: Push) -> BuildPlan:
        """`match`, then render each matched rule's tags; a rule whose tags fail becomes a failure."""
        matched = self.match(repository, push)
        builds: list[PlannedBuild] = []
        failures = list(matched.failures)
        for rule, found in matched.matches:
            try:
                builds.append(PlannedBuild(rule, found, tuple(render_tags(rule, found, push))))
            except RuleError as exc:
                failures.append(RuleFailure(rule, exc))
        return BuildPlan(tuple(builds), tuple(failures))
