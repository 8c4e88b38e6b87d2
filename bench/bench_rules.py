"""Benchmark of the build rules engine: RuleIndex against a linear scan.

Run: .venv/bin/python bench/bench_rules.py
10 000 rules over 1 000 repositories (~70% exact names, ~30% patterns), then per-push cost of
matching plus tag rendering. Prints numbers only; the target is < 1 ms per push.
"""

from __future__ import annotations

import random
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kiln.rules import (
    Push,
    RefSelector,
    RefType,
    Rule,
    RuleError,
    RuleIndex,
    TagTemplate,
    match_ref,
    render_tags,
)

REPOSITORIES = 1_000
RULES_PER_REPOSITORY = 10
PUSHES = 10_000
LINEAR_PUSHES = 2_000  # the linear scan is ~20x slower; this many already give a stable mean
SEED = 20201015

EXACT_BRANCHES = ["main", "develop", "staging", "production", "qa", "hotfix", "next"]
PATTERNS = [
    (RefType.BRANCH, r"release-(?<imageTag>\w*)"),
    (RefType.BRANCH, r"feature/(?P<topic>[a-z0-9-]+)"),
    (RefType.TAG, r"v(?<major>\d+)\.(?<minor>\d+)\.(?<patch>\d+)"),
]
LATEST = TagTemplate("latest")
VERSIONED = TagTemplate("${imageTag}", build_time="yyyyMMddHHmm", commit_id_length=30)


def make_rules(rng: random.Random) -> list[Rule]:
    rules: list[Rule] = []
    for repo_index in range(REPOSITORIES):
        repository = f"team-{repo_index % 50}/service-{repo_index}"
        for rule_index in range(RULES_PER_REPOSITORY):
            name = f"rule-{rule_index}"
            if rng.random() < 0.7:
                source = RefSelector(RefType.BRANCH, name=f"{rng.choice(EXACT_BRANCHES)}-{rule_index}")
                tags: tuple[TagTemplate, ...] = (LATEST, TagTemplate("${ref}", commit_id_length=7))
            else:
                ref_type, pattern = rng.choice(PATTERNS)
                source = RefSelector(ref_type, pattern=pattern)
                tags = (
                    (VERSIONED,) if "imageTag" in pattern else (TagTemplate("${ref}", build_time="yyyyMMdd"),)
                )
            rules.append(Rule(name, repository, source, tags))
    return rules


def make_pushes(rng: random.Random, rules: list[Rule], count: int) -> list[tuple[str, Push]]:
    """Pushes to refs rules select (exact and pattern) and to refs nothing selects."""
    start = datetime(2020, 10, 15, 8, 25, tzinfo=UTC)
    refs = [
        *(f"refs/heads/{b}-{i}" for b in EXACT_BRANCHES for i in range(RULES_PER_REPOSITORY)),
        "refs/heads/release-v1",
        "refs/heads/release-v1-hotfix",
        "refs/heads/feature/login-form",
        "refs/tags/v1.2.3",
        "refs/heads/renovate/lodash-4.x",
    ]
    repositories = sorted({r.repository for r in rules})
    return [
        (
            rng.choice(repositories),
            Push(
                rng.choice(refs),
                f"{rng.getrandbits(160):040x}",
                start + timedelta(seconds=rng.randrange(10**7)),
            ),
        )
        for _ in range(count)
    ]


def timed_us(step: Callable[[str, Push], int], pushes: list[tuple[str, Push]]) -> tuple[list[float], int]:
    costs: list[float] = []
    builds = 0
    for repository, push in pushes:
        started = time.perf_counter_ns()
        builds += step(repository, push)
        costs.append((time.perf_counter_ns() - started) / 1000)
    return costs, builds


def linear_scan(rules: list[Rule]) -> Callable[[str, Push], int]:
    """The baseline the index replaces: every rule tried for every push."""

    def step(repository: str, push: Push) -> int:
        builds = 0
        for rule in rules:
            if rule.repository != repository:
                continue
            try:
                found = match_ref(rule, push.ref)
                if found is not None:
                    render_tags(rule, found, push)
                    builds += 1
            except RuleError:
                pass
        return builds

    return step


def report(label: str, costs: list[float], builds: int) -> None:
    costs = sorted(costs)
    p99 = costs[min(len(costs) - 1, int(len(costs) * 0.99))]
    print(
        f"{label:<13} pushes={len(costs):>6}  builds={builds:>6}  mean={statistics.fmean(costs):9.1f} us  "
        f"p50={statistics.median(costs):9.1f} us  p99={p99:9.1f} us"
    )


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    print(f"max RSS before rules: {max_rss_mib():.1f} MiB")
    rng = random.Random(SEED)
    rules = make_rules(rng)
    patterns = sum(rule.source.pattern is not None for rule in rules)
    print(f"rules={len(rules)} repositories={REPOSITORIES} patterns={patterns} ({patterns / len(rules):.0%})")

    started = time.perf_counter()
    index = RuleIndex(rules)
    print(f"index build:  {(time.perf_counter() - started) * 1000:.1f} ms")
    # Built lazily by the first push to each repository after a change; timed apart here, so the
    # per-push numbers below are the steady state.
    started = time.perf_counter()
    for repository in {rule.repository for rule in rules}:
        index.snapshot(repository)
    print(f"snapshots:    {(time.perf_counter() - started) * 1000:.1f} ms ({REPOSITORIES} repositories)")
    print(f"max RSS after build: {max_rss_mib():.1f} MiB")

    pushes = make_pushes(rng, rules, PUSHES)
    report("index+render", *timed_us(lambda repo, push: len(index.plan(repo, push).builds), pushes))
    report("linear scan", *timed_us(linear_scan(rules), pushes[:LINEAR_PUSHES]))
    print(f"max RSS at end: {max_rss_mib():.1f} MiB")


if __name__ == "__main__":
    main()
