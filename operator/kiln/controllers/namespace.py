"""Namespace controller: thin kopf handlers around `kiln.reconcile.tenant`.

The index holds each Kiln Namespace as a parsed `Tenant`, so events on its children, its push
Secret and its Repositories find it; every path reconciles through `_sync`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from kiln.api.constants import API_VERSION, GROUP, LABEL_NAMESPACE, NAMESPACE, REPOSITORY, VERSION
from kiln.controllers.runtime import Runtime
from kiln.reconcile.tenant import child_needs_repair, delete_tenant, reconcile_tenant
from kiln.tenancy.repairs import Repair, RepairBudget
from kiln.tenancy.tenant import Tenant, tenant_owning

RESYNC_SECONDS = 60.0
log = logging.getLogger("kiln.tenancy")
Tenants = kopf.Index[str, Tenant]


def _tenant(body: kopf.Body, memo: Runtime) -> Tenant:
    return Tenant.of(body, memo.settings, memo.settings.operator_namespace)


@kopf.index(GROUP, VERSION, NAMESPACE.plural)
def tenants(name: str, body: kopf.Body, memo: Runtime, **_: Any) -> dict[str, Tenant]:
    """Kiln Namespaces by name, so events on other objects can find and reconcile their tenant."""
    return {name: _tenant(body, memo)}


def _sync(tenant: Tenant, memo: Runtime) -> None:
    """Reconcile, write the status, post the Events: the one path of every handler here. A Warning
    is also a log line naming the Kiln Namespace (whichever object's event led here)."""
    outcome = reconcile_tenant(memo.kube, memo.settings, tenant)
    memo.kube.patch_status(API_VERSION, NAMESPACE.kind, tenant.name, None, outcome.status)
    for event in outcome.events:
        kopf.event(tenant.object_ref, type=event.type, reason=event.reason, message=event.message)
        if event.type == "Warning":
            ref = {**tenant.object_ref, **tenant.object_ref["metadata"]}
            del ref["metadata"]
            # k8s_ref: kopf's JSON lines name the object; k8s_skip: the Event above already says it
            log.warning(f"{event.reason}: {event.message}", extra={"k8s_ref": ref, "k8s_skip": True})


@kopf.on.resume(GROUP, VERSION, NAMESPACE.plural)
@kopf.on.create(GROUP, VERSION, NAMESPACE.plural)
@kopf.on.update(GROUP, VERSION, NAMESPACE.plural, field="spec")
@kopf.timer(GROUP, VERSION, NAMESPACE.plural, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def namespace_reconcile(body: kopf.Body, memo: Runtime, **_: Any) -> None:
    tenant = _tenant(body, memo)
    if not tenant.deleting:
        _sync(tenant, memo)


@kopf.on.delete(GROUP, VERSION, NAMESPACE.plural)
def namespace_delete(body: kopf.Body, memo: Runtime, logger: Any, **_: Any) -> None:
    message = delete_tenant(memo.kube, _tenant(body, memo))
    logger.info(message)
    # kopf.event, not kopf.info: posting.level (WARNING) filters kopf.info out
    kopf.event(body, type="Normal", reason="Deleted", message=message)


def _sync_by_name(name: str, memo: Runtime, tenants: Tenants, logger: Any) -> None:
    """Reconcile a tenant found through the index: for events on other objects."""
    for tenant in tenants.get(name, []):
        if tenant.deleting:
            return
        try:
            _sync(tenant, memo)
        except ApiException as error:
            # the tenant or its namespace is going away meanwhile: the next event or resync settles it
            logger.warning(f"reconcile of Namespace {name} after an event failed: {error.reason}")


def _child_event(
    type: str | None,
    body: kopf.Body,
    labels: kopf.Labels,
    memo: Runtime,
    tenants: Tenants,
    logger: Any,
    **_: Any,
) -> None:
    """Drift repair: a child deleted or changed by hand is put back at once, not at the next resync;
    at most `REPAIRS_PER_WINDOW` times a minute per child (then the resync does it), with a Warning."""
    name = labels[LABEL_NAMESPACE]
    entries: list[Tenant] = list(tenants.get(name, []))
    if not any(child_needs_repair(memo.kube, type, body, tenant) for tenant in entries):
        return
    meta = body["metadata"]
    child = (str(body.get("kind")), str(meta.get("namespace")), str(meta["name"]))
    with _REPAIRS_LOCK:  # sync handlers run in kopf's threads
        verdict = _REPAIRS.ask(child, time.monotonic())
    if verdict is Repair.ALLOWED:
        _sync_by_name(name, memo, tenants, logger)
        return
    if verdict is Repair.LIMITED:
        message = _REPAIRS.limited_message(child)
        logger.warning(message)
        for tenant in entries:
            kopf.event(tenant.object_ref, type="Warning", reason="RepairLimited", message=message)


_REPAIRS = RepairBudget()
_REPAIRS_LOCK = threading.Lock()

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
    return any(t.push_secret == (namespace, name) for entries in tenants.values() for t in entries)


# `when` keeps the other Secrets of the cluster out of the handler (and out of the logs)
@kopf.on.event("", "v1", "secrets", when=_is_push_secret_source)
def push_secret_changed(
    namespace: str, name: str, memo: Runtime, tenants: Tenants, logger: Any, **_: Any
) -> None:
    """Keep the tenants' copies in sync when a source push Secret changes (or appears, or goes)."""
    for tenant, entries in tenants.items():
        if any(t.push_secret == (namespace, name) for t in entries):
            _sync_by_name(tenant, memo, tenants, logger)


@kopf.on.event(GROUP, VERSION, REPOSITORY.plural)
def repository_count(
    type: str | None, namespace: str, memo: Runtime, tenants: Tenants, logger: Any, **_: Any
) -> None:
    """status.repositories follows Repositories being added and removed."""
    if type not in ("ADDED", "DELETED"):
        return
    tenant = tenant_owning(namespace, tenants)
    if tenant is not None:
        _sync_by_name(tenant.name, memo, tenants, logger)
