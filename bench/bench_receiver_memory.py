"""Memory and match cost of the webhook receiver's cache holding 10 000 BuildRules.

The receiver is the process that keeps every BuildRule in memory (the operator's Namespace
controller keeps none), so this is where "RSS with 10 000 rules" is measured: the cache is fed
the same raw objects a list+watch delivers (1 000 Repositories over 100 tenants, 10 000
BuildRules, 30% of them patterns, 1 000 Secrets), then pushes are planned against it.

    .venv/bin/python bench/bench_receiver_memory.py
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from kiln.receiver.cache import Kind, ResourceCache
from kiln.rules import Push

TENANTS, REPOSITORIES, RULES, PUSHES = 100, 1_000, 10_000, 10_000


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def obj(kind: str, namespace: str, name: str, **rest: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        **rest,
    }


def main() -> None:
    rng = random.Random(1)
    base = rss_mib()
    tenants = [f"t{i}" for i in range(TENANTS)]
    repos = [(f"kiln-{tenants[i % TENANTS]}", f"repo{i}") for i in range(REPOSITORIES)]
    cache = ResourceCache()
    cache.replace(
        Kind.TENANT,
        [
            {"metadata": {"name": t}, "spec": {"registry": {"server": "registry.example.com"}}}
            for t in tenants
        ],
    )
    cache.replace(
        Kind.NAMESPACE,
        [{"metadata": {"name": f"kiln-{t}", "labels": {"kiln.dev/namespace": t}}} for t in tenants],
    )
    cache.replace(
        Kind.REPOSITORY,
        [
            obj(
                "Repository",
                ns,
                name,
                spec={"source": {"provider": "github", "url": f"https://github.com/o/{name}.git"}},
            )
            for ns, name in repos
        ],
    )
    cache.replace(
        Kind.SECRET,
        [
            {"metadata": {"name": f"{name}-webhook", "namespace": ns}, "data": {"token": "c2VjcmV0"}}
            for ns, name in repos
        ],
    )
    rules = []
    for i in range(RULES):
        ns, repo = repos[i % REPOSITORIES]
        if i % 10 < 3:
            source = {"type": "Branch", "pattern": f"release{i}-(?<imageTag>\\w*)"}
            tags = [{"tag": "${imageTag}", "buildTime": "yyyyMMddHHmm", "commitIdLength": 30}]
        else:
            source = {"type": "Branch", "name": f"branch-{i}"}
            tags = [{"tag": "latest"}]
        rules.append(
            obj("BuildRule", ns, f"rule{i}", spec={"repository": repo, "source": source, "tags": tags})
        )
    t0 = time.perf_counter()
    cache.replace(Kind.BUILD_RULE, rules)
    load_s = time.perf_counter() - t0
    del rules
    loaded = rss_mib()

    now = datetime(2020, 10, 15, 8, 25, tzinfo=UTC)
    costs, builds = [], 0
    for _ in range(PUSHES):
        i = rng.randrange(RULES)
        ns, repo = repos[i % REPOSITORIES]
        ref = f"refs/heads/release{i}-v1" if i % 10 < 3 else f"refs/heads/branch-{rng.randrange(RULES)}"
        t = time.perf_counter()
        plan = cache.plan(ns, repo, Push(ref, "d4ef3dc3b77a011a5779eec7efdd45aa11223344", now))
        costs.append((time.perf_counter() - t) * 1e6)
        builds += len(plan.builds)
    costs.sort()
    print(
        f"tenants={TENANTS} repositories={REPOSITORIES} rules={RULES} (30% patterns) secrets={REPOSITORIES}"
    )
    print(f"cache load of {RULES} BuildRules: {load_s * 1000:.0f} ms (pydantic validation + rule index)")
    print(f"RSS: {base:.1f} MiB before, {loaded:.1f} MiB with everything loaded (+{loaded - base:.1f} MiB)")
    print(
        f"plan per push: mean={statistics.fmean(costs):.1f} us p50={costs[len(costs) // 2]:.1f} us "
        f"p99={costs[int(len(costs) * 0.99)]:.1f} us ({builds} builds over {PUSHES} pushes)"
    )


if __name__ == "__main__":
    main()
