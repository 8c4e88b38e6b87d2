"""A per-repository index of rules, so a push is matched against its repository's rules only.

`RuleIndex` is fed rule by rule (add/remove), so a watch-driven cache can keep it current without
rebuilding it. Matching runs on a `RepositoryRules`: an immutable snapshot of one repository's
rules, built on demand after a change and kept until the next change of that repository, which any
number of threads may match against without a lock. Exact-name rules are found by a dict lookup on
(type, short name); pattern rules of the pushed ref's type are tried in rule-name order, so which of
them a spent per-push budget leaves untried does not depend on the order the rules were added in.
Matches come back sorted by rule name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from kiln.rules.errors import InvalidRule, MatchTimeout, PlanBudgetExceeded, RuleError
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
    """A rule tried by pattern, compiled once; a rule that cannot be matched keeps its error so
    each push it could select reports it."""

    rule: Rule
    compiled: CompiledPattern | InvalidRule


def _pattern_entry(rule: Rule) -> _PatternEntry:
    try:
        return _PatternEntry(rule, compile_rule_pattern(rule))
    except InvalidRule as exc:
        return _PatternEntry(rule, exc)


def _is_exact(rule: Rule) -> bool:
    return rule.source.name is not None and rule.source.pattern is None


@dataclass(frozen=True, slots=True)
class RepositoryRules:
    """One repository's rules as of one moment, grouped for matching.

    Never changed once built, so any number of threads may match against it without a lock. Build
    one with `of` or take the current one from `RuleIndex.snapshot`.
    """

    # (type, short name) -> the rules selecting exactly that ref, by rule name
    exact: Mapping[tuple[RefType, str], tuple[Rule, ...]] = field(default_factory=dict)
    # type -> its pattern rules, by rule name, each with its compiled pattern or why it has none
    patterns: Mapping[RefType, tuple[_PatternEntry, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> RepositoryRules:
        """A snapshot of one repository's `rules`; of two rules with one name the later is kept."""
        return _grouped({rule.name: rule for rule in rules}.values(), _pattern_entry)

    def match(self, push: Push, *, timeout: float, budget: float | None = None) -> IndexMatch:
        """The rules selecting the pushed ref; failing rules are reported, not raised.

        `timeout` limits each pattern's match; `budget`, if given, all of this push's pattern
        matching: pattern rules it leaves untried, or cuts short, fail with `PlanBudgetExceeded`
        (a match the budget cut short says nothing about its pattern, so it is not blamed on it).
        Exact names cost no matching and are never left out.
        """
        split = split_ref(push.ref)
        if split is None:
            return IndexMatch()
        ref_type, short_name = split
        matches = [(rule, RefMatch(short_name)) for rule in self.exact.get(split, ())]
        failures: list[RuleFailure] = []
        started = time.monotonic() if budget is not None else 0.0
        for entry in self.patterns.get(ref_type, ()):
            rule, compiled = entry.rule, entry.compiled
            if isinstance(compiled, InvalidRule):
                failures.append(RuleFailure(rule, compiled))
                continue
            limit, cut_short = timeout, False
            if budget is not None:
                remaining = started + budget - time.monotonic()
                if remaining <= 0:
                    failures.append(RuleFailure(rule, PlanBudgetExceeded(rule.name, budget)))
                    continue
                if remaining < timeout:
                    limit, cut_short = remaining, True
            try:
                found = fullmatch_short_name(rule, compiled, short_name, limit)
            except MatchTimeout as exc:
                blame: RuleError = exc
                if cut_short:
                    assert budget is not None
                    blame = PlanBudgetExceeded(rule.name, budget)
                failures.append(RuleFailure(rule, blame))
                continue
            if found is not None:
                matches.append((rule, found))
        # Sorted so the outcome does not depend on the order the rules were added in.
        matches.sort(key=lambda pair: pair[0].name)
        return IndexMatch(tuple(matches), tuple(failures))

    def plan(self, push: Push, *, timeout: float, budget: float | None = None) -> BuildPlan:
        """`match`, then render each matched rule's tags; a rule whose tags fail becomes a failure."""
        matched = self.match(push, timeout=timeout, budget=budget)
        builds: list[PlannedBuild] = []
        failures = list(matched.failures)
        for rule, found in matched.matches:
            try:
                builds.append(PlannedBuild(rule, found, tuple(render_tags(rule, found, push))))
            except RuleError as exc:
                failures.append(RuleFailure(rule, exc))
        return BuildPlan(tuple(builds), tuple(failures))


_NO_RULES = RepositoryRules()


def _grouped(rules: Iterable[Rule], entry: Callable[[Rule], _PatternEntry]) -> RepositoryRules:
    exact: dict[tuple[RefType, str], list[Rule]] = {}
    patterns: dict[RefType, list[_PatternEntry]] = {}
    for rule in sorted(rules, key=lambda r: r.name):
        if _is_exact(rule):
            assert rule.source.name is not None
            exact.setdefault((rule.source.type, rule.source.name), []).append(rule)
        else:
            patterns.setdefault(rule.source.type, []).append(entry(rule))
    return RepositoryRules(
        {key: tuple(v) for key, v in exact.items()}, {key: tuple(v) for key, v in patterns.items()}
    )


@dataclass(slots=True)
class _Repository:
    """One repository's rules as `RuleIndex` keeps them between changes."""

    rules: dict[str, Rule] = field(default_factory=dict)
    # The pattern rules' entries by rule name: patterns are compiled once, when a rule is added.
    patterns: dict[str, _PatternEntry] = field(default_factory=dict)
    snapshot: RepositoryRules | None = None  # built on the first `snapshot` after a change


class RuleIndex:
    """Rules keyed by (repository, rule name); `match`/`plan` answer for one push.

    Not thread-safe: callers sharing one serialize `add`/`remove`/`snapshot` (e.g. under a lock)
    and may then match the snapshot outside it.
    """

    def __init__(self, rules: Iterable[Rule] = (), *, timeout: float = DEFAULT_MATCH_TIMEOUT) -> None:
        self._repositories: dict[str, _Repository] = {}
        self._timeout = timeout
        self._size = 0
        for rule in rules:
            self.add(rule)

    def __len__(self) -> int:
        return self._size

    def get(self, repository: str, name: str) -> Rule | None:
        repo = self._repositories.get(repository)
        return None if repo is None else repo.rules.get(name)

    def add(self, rule: Rule) -> None:
        """Add a rule, replacing any rule of the same (repository, name)."""
        self.remove(rule.repository, rule.name)
        repo = self._repositories.setdefault(rule.repository, _Repository())
        repo.rules[rule.name] = rule
        if not _is_exact(rule):
            repo.patterns[rule.name] = _pattern_entry(rule)
        repo.snapshot = None
        self._size += 1

    def remove(self, repository: str, name: str) -> Rule | None:
        """Remove a rule; returns it, or None if it was not there."""
        repo = self._repositories.get(repository)
        rule = None if repo is None else repo.rules.pop(name, None)
        if repo is None or rule is None:
            return None
        repo.patterns.pop(name, None)
        repo.snapshot = None
        # Dropped once empty, so a long-running cache does not grow with deleted rules.
        if not repo.rules:
            del self._repositories[repository]
        self._size -= 1
        return rule

    def snapshot(self, repository: str) -> RepositoryRules:
        """The repository's rules as they are now, immutable; built once per change of them."""
        repo = self._repositories.get(repository)
        if repo is None:
            return _NO_RULES
        if repo.snapshot is None:
            patterns = repo.patterns
            repo.snapshot = _grouped(repo.rules.values(), lambda rule: patterns[rule.name])
        return repo.snapshot

    def match(self, repository: str, push: Push, *, budget: float | None = None) -> IndexMatch:
        """The repository's rules that select the pushed ref (see `RepositoryRules.match`)."""
        return self.snapshot(repository).match(push, timeout=self._timeout, budget=budget)

    def plan(self, repository: str, push: Push, *, budget: float | None = None) -> BuildPlan:
        """`match`, then render each matched rule's tags (see `RepositoryRules.plan`)."""
        return self.snapshot(repository).plan(push, timeout=self._timeout, budget=budget)
