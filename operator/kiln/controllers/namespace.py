"""Namespace controller: thin kopf handlers around `kiln.tenancy.reconcile`."""

from __future__ import annotations

from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kiln.api.constants import GROUP, LABEL_NAMESPACE, NAMESPACE, REPOSITORY, VERSION
from kiln.controllers.runtime import Runtime
from kiln.tenancy.reconcile import Outcome, delete_tenant, reconcile_tenant

RESYNC_SECONDS = 60.0


def _post(body: Any, outcome: Outcome) -> None:
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


@kopf.index(GROUP, VERSION, NAMESPACE.plural)
def tenants(name: str, body: kopf.Body, meta: kopf.Meta, **_: Any) -> dict[str, dict[str, Any]]:
    """Kiln Namespaces by name, so events on their children can find and reconcile them."""
    return {
        name: {
            "spec": dict(body.get("spec") or {}),
            "generation": meta.get("generation"),
            "conditions": list((body.get("status") or {}).get("conditions") or []),
            "deleting": meta.get("deletionTimestamp") is not None,
            "kubernetesNamespace": (body.get("status") or {}).get("kubernetesNamespace"),
            "ref": {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "metadata": {"name": name, "uid": meta.uid},
            },
        }
    }


@kopf.on.resume(GROUP, VERSION, NAMESPACE.plural)
@kopf.on.create(GROUP, VERSION, NAMESPACE.plural)
@kopf.on.update(GROUP, VERSION, NAMESPACE.plural, field="spec")
@kopf.timer(GROUP, VERSION, NAMESPACE.plural, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def namespace_reconcile(
    name: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    body: kopf.Body,
    patch: kopf.Patch,
    memo: Runtime,
    **_: Any,
) -> None:
    if meta.get("deletionTimestamp"):
        return
    outcome = reconcile_tenant(
        memo.kube,
        memo.settings,
        name,
        dict(spec),
        meta.get("generation"),
        list(status.get("conditions") or []),
    )
    patch.status.update(outcome.status)
    _post(body, outcome)


@kopf.on.delete(GROUP, VERSION, NAMESPACE.plural)
def namespace_delete(name: str, spec: kopf.Spec, body: kopf.Body, memo: Runtime, **_: Any) -> None:
    message = delete_tenant(memo.kube, name, dict(spec))
    kopf.info(body, reason="Deleted", message=message)


def reconcile_by_name(
    tenant: str, memo: Runtime, tenants: kopf.Index[str, dict[str, Any]], logger: Any
) -> None:
    """Reconcile a tenant found through the index and write its status: for events on other objects."""
    for entry in tenants.get(tenant, []):
        if entry["deleting"]:
            return
        try:
            outcome = reconcile_tenant(
                memo.kube, memo.settings, tenant, entry["spec"], entry["generation"], entry["conditions"]
            )
            client.CustomObjectsApi(memo.kube.api_client).patch_cluster_custom_object_status(
                GROUP, VERSION, NAMESPACE.plural, tenant, {"status": outcome.status}
            )
            _post(entry["ref"], outcome)
        except ApiException as error:
            # the tenant or its namespace is going away meanwhile: the next event or resync settles it
            logger.warning(f"reconcile of Namespace {tenant} after a child event failed: {error.reason}")


def _child_event(
    type: str | None,
    body: kopf.Body,
    labels: kopf.Labels,
    memo: Runtime,
    tenants: kopf.Index[str, dict[str, Any]],
    logger: Any,
    **_: Any,
) -> None:
    # drift repair: a child deleted or changed by hand is put back at once, not at the next resync;
    # the operator's own writes are not drift (reacting to them would loop)
    meta = body["metadata"]
    own_write = memo.kube.applied_by_us(
        body["apiVersion"], body["kind"], meta.get("namespace"), meta["name"], meta.get("resourceVersion")
    )
    if type == "DELETED" or (type == "MODIFIED" and not own_write):
        reconcile_by_name(labels[LABEL_NAMESPACE], memo, tenants, logger)


_CHILDREN = [
    ("", "v1", "namespaces"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "resourcequotas"),
    ("", "v1", "limitranges"),
    ("", "v1", "secrets"),
    ("networking.k8s.io", "v1", "networkpolicies"),
]
for _group, _version, _plural in _CHILDREN:
    kopf.on.event(
        _group,
        _version,
        _plural,
        labels={LABEL_NAMESPACE: kopf.PRESENT, "app.kubernetes.io/managed-by": "kiln"},
        id=f"tenant-child-{_plural}",
    )(_child_event)


def _is_push_secret_source(namespace: str | None, name: str, labels: kopf.Labels, **kwargs: Any) -> bool:
    if LABEL_NAMESPACE in labels:
        return False  # Kiln's own copies
    tenants: kopf.Index[str, dict[str, Any]] = kwargs["tenants"]
    default_ns = kwargs["memo"].settings.operator_namespace
    return any(
        _push_secret_ref(entry["spec"], default_ns) == (namespace, name)
        for entries in tenants.values()
        for entry in entries
    )


def _push_secret_ref(spec: dict[str, Any], default_ns: str) -> tuple[str, str] | None:
    ref = (spec.get("registry") or {}).get("pushSecretRef")
    return (ref.get("namespace") or default_ns, ref["name"]) if ref else None


# `when` keeps the other Secrets of the cluster out of the handler (and out of the logs)
@kopf.on.event("", "v1", "secrets", when=_is_push_secret_source)
def push_secret_changed(
    type: str | None,
    namespace: str,
    name: str,
    labels: kopf.Labels,
    memo: Runtime,
    tenants: kopf.Index[str, dict[str, Any]],
    logger: Any,
    **_: Any,
) -> None:
    """Keep the tenants' copies in sync when a source push Secret changes (or appears, or goes)."""
    default_ns = memo.settings.operator_namespace
    for tenant, entries in tenants.items():
        if any(_push_secret_ref(entry["spec"], default_ns) == (namespace, name) for entry in entries):
            reconcile_by_name(tenant, memo, tenants, logger)


@kopf.on.event(GROUP, VERSION, REPOSITORY.plural)
def repository_count(
    type: str | None,
    namespace: str,
    memo: Runtime,
    tenants: kopf.Index[str, dict[str, Any]],
    logger: Any,
    **_: Any,
) -> None:
    """status.repositories follows Repositories being added and removed."""
    if type not in ("ADDED", "DELETED"):
        return
    for tenant, entries in tenants.items():
        if any(entry["kubernetesNamespace"] == namespace for entry in entries):
            reconcile_by_name(tenant, memo, tenants, logger)
