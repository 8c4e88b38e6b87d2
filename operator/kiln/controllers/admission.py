"""Validating admission for every Kiln kind: the rules OpenAPI cannot express (Kubernetes 1.20 has
no CEL), plus "Repositories, BuildRules and BuildRuns live only in a tenant's namespace"."""

from __future__ import annotations

from typing import Any

import kopf

from kiln.api.constants import GROUP, KINDS, LABEL_NAMESPACE, NAMESPACE, VERSION, KindInfo
from kiln.api.validation import format_problems, validate, validate_update
from kiln.rules.types import Problem


@kopf.index("", "v1", "namespaces", labels={LABEL_NAMESPACE: kopf.PRESENT})
def tenant_namespaces(name: str, labels: kopf.Labels, **_: Any) -> dict[str, str]:
    """Kubernetes namespaces that belong to a Kiln Namespace, to the tenant's name."""
    return {name: labels[LABEL_NAMESPACE]}


def _without_status(body: kopf.Body) -> dict[str, Any]:
    # status belongs to the operator (and holds kopf's bookkeeping); only what users write is checked
    return {k: v for k, v in body.items() if k != "status"}


def _check(
    info: KindInfo,
    body: kopf.Body,
    old: kopf.Body | None,
    operation: str | None,
    namespace: str | None,
    tenant_namespaces: kopf.Index[str, str],
) -> None:
    problems: list[Problem] = []
    if info is not NAMESPACE and namespace not in tenant_namespaces:
        problems.append(
            Problem(
                "metadata.namespace",
                f"namespace {namespace!r} belongs to no Kiln Namespace; create {info.kind}s in a tenant's "
                f"namespace (see `kubectl get kns`)",
            )
        )
    new = _without_status(body)
    if operation == "UPDATE" and old is not None:
        problems += validate_update(info.kind, _without_status(old), new)
    else:
        problems += validate(info.kind, new)
    if problems:
        raise kopf.AdmissionError(
            f"{info.kind} {body.get('metadata', {}).get('name', '')}: {format_problems(problems)}"
        )


def _register(info: KindInfo) -> None:
    def handler(
        body: kopf.Body,
        old: kopf.Body | None,
        operation: str | None,
        namespace: str | None,
        tenant_namespaces: kopf.Index[str, str],
        **_: Any,
    ) -> None:
        # a deletion-pending object may still be patched (finalizers, status): never block that
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        _check(info, body, old, operation, namespace, tenant_namespaces)

    kopf.on.validate(
        GROUP, VERSION, info.plural, id=f"validate-{info.singular}", operations=["CREATE", "UPDATE"]
    )(handler)


for _info in KINDS:
    _register(_info)
