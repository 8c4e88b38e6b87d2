"""Build pools: which names a tenant and its Repositories may use (the operator's settings name the
pools; a tenant's spec.buildPools allows some of them; a Repository's spec.build.pool picks one)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from kiln.rules.types import Problem


def _known(known: Collection[str]) -> str:
    return ", ".join(sorted(known)) if known else "none (KILN_BUILD_POOLS is empty)"


def tenant_pool_problems(pools: Sequence[str], known: Collection[str]) -> list[Problem]:
    """A Namespace's spec.buildPools: each must be one of the operator's pools."""
    return [
        Problem(
            f"spec.buildPools[{i}]", f"unknown build pool {name!r}; the operator's pools: {_known(known)}"
        )
        for i, name in enumerate(pools)
        if name not in known
    ]


def repository_pool_problems(
    pool: str | None, known: Collection[str], allowed: Collection[str], tenant: str
) -> list[Problem]:
    """A Repository's spec.build.pool: one of the operator's pools that its tenant allows."""
    if pool is None:
        return []
    if pool not in known:
        return [
            Problem("spec.build.pool", f"unknown build pool {pool!r}; the operator's pools: {_known(known)}")
        ]
    if pool not in allowed:
        allows = ", ".join(allowed) if allowed else "none"
        return [
            Problem(
                "spec.build.pool",
                f"build pool {pool!r} is not allowed by Kiln Namespace {tenant!r} (its spec.buildPools: {allows})",
            )
        ]
    return []


def template_pool_problems(
    pool: str | None, known: Collection[str], allowed: Collection[str], tenant: str
) -> list[Problem]:
    """A Namespace's spec.repositoryTemplate.build.pool: what the Repositories it creates would be
    refused for (`repository_pool_problems`), refused on the Namespace instead."""
    return [
        Problem(f"spec.repositoryTemplate.{p.field.removeprefix('spec.')}", p.message)
        for p in repository_pool_problems(pool, known, allowed, tenant)
    ]
