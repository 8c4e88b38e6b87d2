"""Repository controller: thin kopf handlers around `kiln.reconcile.repository` (bind to the code
host, one webhook, the webhook Secret) and `kiln.reconcile.commit_status` (build states on commits).

A Repository is reconciled on create, on a spec change and every RESYNC_SECONDS (a rotated secret
or a fixed token takes effect then), and resynced when due (`kiln.reconcile.resync`: its heads
listed every KILN_RESYNC_INTERVAL, the pushes no webhook delivered built); a Repository with a
registered hook carries a finalizer until the hook is removed from the code host.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf

from kiln.api.conditions import set_condition, status_holds
from kiln.api.constants import API_VERSION, BUILD_RUN, GROUP, REPOSITORY, VERSION, ConditionType
from kiln.codehosts import CodeHostError
from kiln.controllers.runtime import LastValues, Runtime
from kiln.reconcile import metrics
from kiln.reconcile.commit_status import pending_report, report
from kiln.reconcile.repository import reconcile_repository, remove_hook
from kiln.reconcile.resync import resync_repository
from kiln.reconcile.template_rules import complete_template_rules
from kiln.tenancy.tenant import Tenant, tenant_owning

RESYNC_SECONDS = 60.0
_FAILED = frozenset({"Unauthorized", "NotFound", "Unreachable", "Error"})
# how long the finalizer waits between attempts to remove a hook from a host that cannot be reached
REMOVAL_RETRY_SECONDS = 30.0
# attempts before the finalizer gives up (the hook stays on the host; an Event says so)
REMOVAL_ATTEMPTS = 20


# the state last reported per BuildRun (by uid): events that arrive before the report is in the
# status do not report it again
_REPORTED = LastValues()


@kopf.on.resume(GROUP, VERSION, REPOSITORY.plural)
@kopf.on.create(GROUP, VERSION, REPOSITORY.plural)
@kopf.on.update(GROUP, VERSION, REPOSITORY.plural, field="spec")
@kopf.timer(GROUP, VERSION, REPOSITORY.plural, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def repository_reconcile(
    body: kopf.Body, namespace: str, name: str, memo: Runtime, tenants: kopf.Index[str, Tenant], **_: Any
) -> None:
    if body["metadata"].get("deletionTimestamp"):
        return
    tenant = tenant_owning(namespace, tenants)
    # first: it needs no code host, and a push builds only with the rules that exist
    completed = complete_template_rules(memo.kube, body, tenant)
    result = reconcile_repository(memo.kube, memo.settings, body, tenant)
    if any(reason in _FAILED for _, reason, _ in result.events):
        provider = str(((body.get("spec") or {}).get("source") or {}).get("provider", ""))
        metrics.HOOK_FAILURES.labels(provider).inc()
    status, events = dict(result.status), [*completed, *result.events]
    # after the binding above: the first listing of the heads is the baseline
    resync = resync_repository(memo.kube, memo.settings, body, tenant, datetime.now(UTC))
    if resync is not None:
        status["resync"] = resync.status
        events.extend(resync.events)
    if not status_holds(body.get("status") or {}, status):
        memo.kube.patch_status(API_VERSION, REPOSITORY.kind, name, namespace, status)
    for type_, reason, message in events:
        kopf.event(dict(body), type=type_, reason=reason, message=message)


def _has_hook(status: kopf.Status, **_: Any) -> bool:
    return bool((status.get("webhook") or {}).get("id"))


@kopf.on.delete(
    GROUP, VERSION, REPOSITORY.plural, when=_has_hook, retries=REMOVAL_ATTEMPTS, backoff=REMOVAL_RETRY_SECONDS
)
def repository_delete(
    body: kopf.Body, name: str, namespace: str, memo: Runtime, retry: int, **_: Any
) -> None:
    """Remove the registered hook; while the host cannot be reached, say why and try again."""
    try:
        remove_hook(memo.kube, memo.settings, body)
    except CodeHostError as error:
        message = f"removing hook {body['status']['webhook']['id']} failed: {error.message}"
        kopf.event(dict(body), type="Warning", reason="HookRemovalFailed", message=message)
        conditions = set_condition(
            (body.get("status") or {}).get("conditions"),
            ConditionType.WEBHOOK_REGISTERED,
            "True",
            "RemovalFailed",
            f"{message}; retrying every {REMOVAL_RETRY_SECONDS:g} s",
        )
        memo.kube.patch_status(API_VERSION, REPOSITORY.kind, name, namespace, {"conditions": conditions})
        if retry + 1 >= REMOVAL_ATTEMPTS:
            return  # given up: the Repository goes, the hook stays (the Event says so)
        raise kopf.TemporaryError(message, delay=REMOVAL_RETRY_SECONDS) from None


@kopf.on.event(GROUP, VERSION, BUILD_RUN.plural)
async def buildrun_commit_status(
    type: str | None, body: kopf.Body, namespace: str, name: str, memo: Runtime, repositories: Any, **_: Any
) -> None:
    """Report each new state of a BuildRun on its commit (in a thread: the host may be slow)."""
    if type == "DELETED":
        return
    state = pending_report(body)
    if state is None or not _REPORTED.mark(str(body["metadata"]["uid"]), state.value):
        return
    repository = next(iter(repositories.get((namespace, str(body["spec"].get("repository", ""))), [])), None)
    fields = await asyncio.to_thread(report, memo.kube, memo.settings, dict(body), repository, state)
    if fields is None:
        return
    if fields.get("error"):
        metrics.COMMIT_STATUS_FAILURES.labels(
            str(body["spec"].get("trigger", {}).get("provider") or "")
        ).inc()
    await asyncio.to_thread(
        memo.kube.patch_status, API_VERSION, BUILD_RUN.kind, name, namespace, {"commitStatus": fields}
    )
