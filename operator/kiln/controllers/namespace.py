"""Namespace controller: thin kopf handlers around `kiln.reconcile.tenant`."""

from __future__ import annotations

from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from kiln.api.constants import API_VERSION, GROUP, LABEL_NAMESPACE, NAMESPACE, REPOSITORY, VERSION
from kiln.api.namespace import NamespaceSpec
from kiln.controllers.runtime import Runtime
from kiln.reconcile.tenant import (
    ReconcileResult,
    delete_tenant,
    parse_spec,
    push_secret_source,
    reconcile_tenant,
)
from kiln.tenancy import manifests

RESYNC_SECONDS = 60.0
Tenants = kopf.Index[str, dict[str, Any]]


def _post(body: Any, outcome: ReconcileResult) -> None:
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


@kopf.index(GROUP, VERSION, NAMESPACE.plural)
def tenants(
    name: str, body: kopf.Body, meta: kopf.Meta, memo: Runtime, **_: Any
) -> dict[str, dict[str, Any]]:
    """Kiln Namespaces by name, so events on other objects can find and reconcile their tenant."""
    spec = dict(body.get("spec") or {})
    entry: dict[str, Any] = {
        "uid": meta.uid,
        "spec": spec,
        "generation": meta.get("generation"),
        "conditions": list((body.get("status") or {}).get("conditions") or []),
        "deleting": meta.get("deletionTimestamp") is not None,
        "kubernetesNamespace": None,
        "pushSecret": None,
        "desired": {},
    }
    parsed = parse_spec(spec)
    if not isinstance(parsed, str):
        entry["kubernetesNamespace"] = manifests.kubernetes_namespace_name(name, parsed)
        entry["pushSecret"] = push_secret_source(parsed, memo.settings)
        entry["desired"] = _desired_children(name, parsed, memo)
    return {name: entry}


def _desired_children(name: str, spec: NamespaceSpec, memo: Runtime) -> dict[tuple[str, str], dict[str, Any]]:
    """The children as the builders make them, by (kind, name): what drift is measured against."""
    try:
        built = [manifests.namespace(name, spec), *manifests.tenant_objects(name, spec, memo.settings)]
    except ValueError:
        return {}
    return {(m["kind"], m["metadata"]["name"]): m for m in built}


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
        meta.uid,
        dict(spec),
        meta.get("generation"),
        list(status.get("conditions") or []),
    )
    patch.status.update(outcome.status)
    _post(body, outcome)


@kopf.on.delete(GROUP, VERSION, NAMESPACE.plural)
def namespace_delete(
    name: str, spec: kopf.Spec, body: kopf.Body, memo: Runtime, logger: Any, **_: Any
) -> None:
    message = delete_tenant(memo.kube, name, dict(spec))
    logger.info(message)
    # kopf.event, not kopf.info: posting.level (WARNING) filters kopf.info out
    kopf.event(body, type="Normal", reason="Deleted", message=message)


def reconcile_by_name(tenant: str, memo: Runtime, tenants: Tenants, logger: Any) -> None:
    """Reconcile a tenant found through the index and write its status: for events on other objects."""
    for entry in tenants.get(tenant, []):
        if entry["deleting"]:
            return
        try:
            outcome = reconcile_tenant(
                memo.kube,
                memo.settings,
                tenant,
                entry["uid"],
                entry["spec"],
                entry["generation"],
                entry["conditions"],
            )
            memo.kube.patch_status(API_VERSION, NAMESPACE.kind, tenant, None, outcome.status)
            ref = {
                "apiVersion": API_VERSION,
                "kind": NAMESPACE.kind,
                "metadata": {"name": tenant, "uid": entry["uid"]},
            }
            _post(ref, outcome)
        except ApiException as error:
            # the tenant or its namespace is going away meanwhile: the next event or resync settles it
            logger.warning(f"reconcile of Namespace {tenant} after an event failed: {error.reason}")


def _child_event(
    type: str | None,
    body: kopf.Body,
    labels: kopf.Labels,
    memo: Runtime,
    tenants: Tenants,
    logger: Any,
    **_: Any,
) -> None:
    """Drift repair: a child deleted or changed by hand is put back at once, not at the next resync."""
    meta = body["metadata"]
    tenant = labels[LABEL_NAMESPACE]
    if type == "MODIFIED":
        # the operator's own writes and changes to fields it does not own (status, tokens) are no drift
        if memo.kube.applied_by_us(
            body["apiVersion"], body["kind"], meta.get("namespace"), meta["name"], meta.get("resourceVersion")
        ):
            return
        desired = [e["desired"].get((body["kind"], meta["name"])) for e in tenants.get(tenant, [])]
        if desired and desired[0] is not None and manifests.in_shape(body, desired[0]):
            return
    if type in ("DELETED", "MODIFIED"):
        reconcile_by_name(tenant, memo, tenants, logger)


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
    tenants: Tenants = kwargs["tenants"]
    return any(entry["pushSecret"] == (namespace, name) for entries in tenants.values() for entry in entries)


# `when` keeps the other Secrets of the cluster out of the handler (and out of the logs)
@kopf.on.event("", "v1", "secrets", when=_is_push_secret_source)
def push_secret_changed(
    namespace: str, name: str, memo: Runtime, tenants: Tenants, logger: Any, **_: Any
) -> None:
    """Keep the tenants' copies in sync when a source push Secret changes (or appears, or goes)."""
    for tenant, entries in tenants.items():
        if any(entry["pushSecret"] == (namespace, name) for entry in entries):
            reconcile_by_name(tenant, memo, tenants, logger)


@kopf.on.event(GROUP, VERSION, REPOSITORY.plural)
def repository_count(
    type: str | None, namespace: str, memo: Runtime, tenants: Tenants, logger: Any, **_: Any
) -> None:
    """status.repositories follows Repositories being added and removed."""
    if type not in ("ADDED", "DELETED"):
        return
    for tenant, entries in tenants.items():
        if any(entry["kubernetesNamespace"] == namespace for entry in entries):
            reconcile_by_name(tenant, memo, tenants, logger)
