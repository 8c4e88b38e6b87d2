"""Resync a Repository: list its heads on the code host when due, create the BuildRuns of the pushes
no webhook delivered (`kiln.webhooks.resync` decides which), keep the heads seen in a ConfigMap.

The baseline (`kiln-resync-<repository>`, owned by the Repository) is taken at the first reconcile
that can list the heads, i.e. when the Repository is bound; later listings build what moved since.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from kiln.api.common import parse_time
from kiln.api.constants import API_VERSION, BUILD_RULE
from kiln.api.repository import Repository
from kiln.api.validation import checked_spec
from kiln.codehosts import CodeHostError, client_for
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.reconcile import metrics
from kiln.reconcile.repository import ClientFactory, owner_reference, source_client
from kiln.tenancy.tenant import Tenant
from kiln.webhooks.resync import ListedRules, first_offset, next_baseline, plan_resync, resync_due, summary

HEADS_KEY = "heads.json"
LABEL_RESYNC_OF = "kiln.dev/resync-of"


def baseline_name(repository: str) -> str:
    return f"kiln-resync-{repository}"


@dataclass(frozen=True, slots=True)
class ResyncResult:
    """`status.resync` to write, and the Events to post."""

    status: dict[str, Any]
    events: tuple[tuple[str, str, str], ...] = ()


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def resync_repository(
    kube: Kube,
    settings: Settings,
    body: Mapping[str, Any],
    tenant: Tenant | None,
    now: datetime,
    factory: ClientFactory = client_for,
) -> ResyncResult | None:
    """Resync the Repository if due; None when nothing was due (or resync is off)."""
    if not settings.resync_interval:
        return None
    meta = body["metadata"]
    name, namespace = str(meta["name"]), str(meta["namespace"])
    repository = checked_spec(Repository, body)
    if isinstance(repository, str) or tenant is None or tenant.spec is None:
        return None
    interval = timedelta(seconds=settings.resync_interval)
    old = dict((body.get("status") or {}).get("resync") or {})
    if old.get("baselineTime") and not resync_due(
        now, parse_time(old.get("nextTime")), parse_time(old.get("lastTime")), interval
    ):
        return None
    source = repository.spec.source
    provider = source.provider.value
    client = source_client(kube, settings, namespace, source, factory)
    if client is None:
        missing = "resync lists the heads with the token of source.credentialsSecretRef, and there is none"
        return ResyncResult({**old, "error": missing}) if old.get("error") != missing else None
    schedule = {"lastTime": _iso(now), "nextTime": _iso(now + interval)}
    try:
        current = client.refs()
    except CodeHostError as failure:
        metrics.RESYNC_RUNS.labels(provider, "error").inc()
        metrics.code_host_error(provider, "refs", failure)
        message = f"listing the heads failed: {failure.message}"
        warned = () if old.get("error") == message else (("Warning", "ResyncFailed", message),)
        return ResyncResult({**old, **schedule, "error": message}, warned)
    metrics.RESYNC_HEADS.labels(provider).inc(len(current))
    stored = kube.get("v1", "ConfigMap", baseline_name(name), namespace)
    if stored is None:
        # the binding: what the host holds now is history, never built by resync
        kube.create(_baseline_manifest(name, namespace, meta, current))
        metrics.RESYNC_RUNS.labels(provider, "baseline").inc()
        next_at = now + first_offset(str(meta.get("uid", name)), interval)
        return ResyncResult(
            {
                "baselineTime": _iso(now),
                "lastTime": _iso(now),
                "nextTime": _iso(next_at),
                "heads": len(current),
                "created": 0,
                "error": None,
            }
        )
    baseline = json.loads((stored.get("data") or {}).get(HEADS_KEY) or "{}")
    rules = ListedRules(kube.list(API_VERSION, BUILD_RULE.kind, namespace))
    planned = plan_resync(
        rules, namespace, tenant.name, name, source.provider, source.url, current, baseline, now
    )
    created: list[str] = []
    unfinished: set[str] = set()
    for run in planned.plan.runs:
        try:
            if kube.create(run.manifest) is not None:  # None: made already (delivered after all)
                created.append(run.ref)
        except ApiException:
            unfinished.add(run.ref)
    kube.merge_patch(
        "v1",
        "ConfigMap",
        baseline_name(name),
        namespace,
        {"data": {HEADS_KEY: json.dumps(next_baseline(baseline, current, unfinished), sort_keys=True)}},
    )
    metrics.RESYNC_RUNS.labels(provider, "ok").inc()
    metrics.RESYNC_BUILDRUNS.labels(provider).inc(len(created))
    events: list[tuple[str, str, str]] = []
    if created:
        refs = sorted(set(created))
        events.append(
            (
                "Normal",
                "Resync",
                f"{len(created)} BuildRun(s) for pushes no webhook delivered: {summary(refs, current)}",
            )
        )
    problem: str | None = None
    if unfinished:
        problem = f"{len(unfinished)} BuildRun(s) could not be created ({summary(sorted(unfinished), current)}); retried at the next resync"
    return ResyncResult(
        {**old, **schedule, "heads": len(current), "created": len(created), "error": problem}, tuple(events)
    )


def _baseline_manifest(
    name: str, namespace: str, meta: Mapping[str, Any], heads: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": baseline_name(name),
            "namespace": namespace,
            "labels": {LABEL_RESYNC_OF: name} if len(name) <= 63 else {},
            "ownerReferences": [owner_reference(meta)],
        },
        "data": {HEADS_KEY: json.dumps(dict(heads), sort_keys=True)},
    }
