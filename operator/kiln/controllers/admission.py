"""Validating admission for every Kiln kind: the rules OpenAPI cannot express (Kubernetes 1.20 has
no CEL), plus "Repositories, BuildRules and BuildRuns live only in a tenant's namespace"."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf

from kiln.api.admission import handler_id
from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import BuildRun, TriggerType
from kiln.api.constants import (
    API_VERSION,
    BUILD_RULE,
    BUILD_RUN,
    GROUP,
    KINDS,
    LABEL_NAMESPACE,
    NAMESPACE,
    REPOSITORY,
    VERSION,
    KindInfo,
)
from kiln.api.pools import repository_pool_problems, template_pool_problems, tenant_pool_problems
from kiln.api.triggers import trigger_problems
from kiln.api.validation import checked_spec, format_problems, user_written, validate, validate_update
from kiln.controllers.runtime import Runtime
from kiln.platform.kube import Kube
from kiln.rules.types import Problem


@kopf.index("", "v1", "namespaces", labels={LABEL_NAMESPACE: kopf.PRESENT})
def tenant_namespaces(name: str, labels: kopf.Labels, **_: Any) -> dict[str, str]:
    """Kubernetes namespaces that belong to a Kiln Namespace, to the tenant's name."""
    return {name: labels[LABEL_NAMESPACE]}


def _in_tenant_namespace(namespace: str | None, tenant_namespaces: kopf.Index[str, str], kube: Kube) -> bool:
    if namespace in tenant_namespaces:
        return True
    # kopf serves admission before its indices are filled: a miss right after a start is looked up
    found = kube.get("v1", "Namespace", namespace) if namespace else None
    return found is not None and LABEL_NAMESPACE in (found["metadata"].get("labels") or {})


def _problems(
    info: KindInfo, body: kopf.Body, old: kopf.Body | None, in_tenant_namespace: Callable[[], bool]
) -> list[Problem]:
    """What admission refuses in a CREATE (old is None) or an UPDATE of a Kiln object."""
    new = user_written(body)
    if old is not None:
        if old.get("spec") == body.get("spec"):
            # metadata only (labels, finalizers, owner references): nothing the rules look at changed,
            # and refusing it would keep e.g. the operator's finalizer off a stored invalid object
            return []
        return validate_update(info.kind, user_written(old), new)
    problems = validate(info.kind, new)
    if info is not NAMESPACE and not in_tenant_namespace():
        namespace = body.get("metadata", {}).get("namespace")
        problems.insert(
            0,
            Problem(
                "metadata.namespace",
                f"namespace {namespace!r} belongs to no Kiln Namespace; create {info.kind}s in a tenant's "
                f"namespace (see `kubectl get kns`)",
            ),
        )
    return problems


def _trigger_problems(body: kopf.Body, username: str | None, memo: Runtime) -> list[Problem]:
    """Whether this identity may create this BuildRun (see kiln.api.triggers)."""
    run = BuildRun.model_validate(user_written(body))
    if run.spec.trigger.type is not TriggerType.MANUAL:  # who made it is all that counts: no lookup
        return trigger_problems(run, None, username, memo.settings.push_trigger_users)
    namespace = body.get("metadata", {}).get("namespace")
    found = memo.kube.get(API_VERSION, BUILD_RULE.kind, run.spec.build_rule, namespace)
    rule = checked_spec(BuildRule, found) if found is not None else None
    if isinstance(rule, str):
        return [Problem("spec.buildRule", f"BuildRule {run.spec.build_rule!r} is invalid: {rule}")]
    return trigger_problems(run, rule, username, memo.settings.push_trigger_users)


def _pool_problems(
    info: KindInfo,
    body: kopf.Body,
    old: kopf.Body | None,
    tenant_namespaces: kopf.Index[str, str],
    memo: Runtime,
) -> list[Problem]:
    """Build pools named by a Namespace or a Repository must be the operator's (and the tenant's).
    Checked when the names change, so a pool dropped from the settings later does not block other
    edits (its builds are refused then, with the reason)."""
    known = memo.settings.build_pools.keys()
    if info is NAMESPACE:
        pools, template_pool = _tenant_pools(body)
        if old is not None and (pools, template_pool) == _tenant_pools(old):
            return []
        tenant_name = str(body.get("metadata", {}).get("name", ""))
        return tenant_pool_problems(pools, known) + template_pool_problems(
            template_pool, known, pools, tenant_name
        )
    if info is not REPOSITORY:
        return []
    pool = ((body.get("spec") or {}).get("build") or {}).get("pool")
    if pool is None or (old is not None and pool == ((old.get("spec") or {}).get("build") or {}).get("pool")):
        return []
    namespace = str(body.get("metadata", {}).get("namespace", ""))
    tenant = tenant_namespaces.get(namespace)
    name = next(iter(tenant), None) if tenant else None
    found = memo.kube.get(API_VERSION, NAMESPACE.kind, name) if name else None
    if found is None:  # not in a tenant's namespace: refused above already
        return []
    allowed = list((found.get("spec") or {}).get("buildPools") or [])
    return repository_pool_problems(str(pool), known, allowed, str(name))


def _tenant_pools(body: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """A Namespace's spec.buildPools and the pool its repositoryTemplate picks."""
    spec = body.get("spec") or {}
    template_build = (spec.get("repositoryTemplate") or {}).get("build") or {}
    pool = template_build.get("pool")
    return list(spec.get("buildPools") or []), str(pool) if pool is not None else None


def _register(info: KindInfo) -> None:
    def handler(
        body: kopf.Body,
        old: kopf.Body | None,
        operation: str | None,
        namespace: str | None,
        tenant_namespaces: kopf.Index[str, str],
        memo: Runtime,
        userinfo: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        # a deletion-pending object may still be patched (finalizers, status): never block that
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        problems = _problems(
            info,
            body,
            old if operation == "UPDATE" else None,
            lambda: _in_tenant_namespace(namespace, tenant_namespaces, memo.kube),
        )
        if not problems and info is BUILD_RUN and operation == "CREATE":
            problems = _trigger_problems(body, (userinfo or {}).get("username"), memo)
        if not problems:
            problems = _pool_problems(
                info, body, old if operation == "UPDATE" else None, tenant_namespaces, memo
            )
        if problems:
            raise kopf.AdmissionError(
                f"{info.kind} {body.get('metadata', {}).get('name', '')}: {format_problems(problems)}"
            )

    kopf.on.validate(GROUP, VERSION, info.plural, id=handler_id(info), operations=["CREATE", "UPDATE"])(
        handler
    )


for _info in KINDS:
    _register(_info)
