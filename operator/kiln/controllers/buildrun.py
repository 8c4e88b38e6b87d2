"""BuildRun controller: thin kopf handlers around `kiln.reconcile.buildrun`.

A BuildRun's Job is created once (deterministic name, adopted after a restart); the Jobs and Pods
labelled `kiln.dev/build-run` are followed through indexes fed by one watch each, so a build's
status moves with their events, not by polling per BuildRun. While a build runs, a daemon follows
its log for `status.progress`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kiln.api.buildrun import Phase, SucceededReason
from kiln.api.constants import (
    API_VERSION,
    BUILD_RULE,
    BUILD_RUN,
    GROUP,
    LABEL_BUILD_RUN,
    LABEL_NAMESPACE,
    REPOSITORY,
    VERSION,
)
from kiln.builds import Strategy, parse_progress
from kiln.builds.parts import BUILD_CONTAINER
from kiln.builds.status import FINISHED, Observation, status_fields
from kiln.controllers.runtime import Runtime
from kiln.reconcile import metrics
from kiln.reconcile.buildrun import ClusterLookup, build_pod, cancel, settle, start
from kiln.tenancy.tenant import Tenant

RunKey = tuple[str, str]  # (Kubernetes namespace, BuildRun name)
Objects = kopf.Index[RunKey, dict[str, Any]]
# status.progress is written at most this often per build
PROGRESS_INTERVAL = 3.0


def _finished(status: Any) -> bool:
    return (status or {}).get("phase") in FINISHED


def _newest(objects: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    return max(objects, key=lambda o: str(o["metadata"].get("creationTimestamp", "")), default=None)


@kopf.index("batch", "v1", "jobs", labels={LABEL_BUILD_RUN: kopf.PRESENT})
def build_jobs(
    namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[RunKey, dict[str, Any]]:
    return {(namespace, labels[LABEL_BUILD_RUN]): dict(body)}


@kopf.index("", "v1", "pods", labels={LABEL_BUILD_RUN: kopf.PRESENT})
def build_pods(
    namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[RunKey, dict[str, Any]]:
    return {(namespace, labels[LABEL_BUILD_RUN]): dict(body)}


@kopf.index(GROUP, VERSION, BUILD_RULE.plural)
def build_rules(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[RunKey, dict[str, Any]]:
    return {(namespace, name): dict(body)}


@kopf.index(GROUP, VERSION, REPOSITORY.plural)
def repositories(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[RunKey, dict[str, Any]]:
    return {(namespace, name): dict(body)}


class IndexLookup:
    """The objects a BuildRun names, from the operator's indexes (no API call); what an index has not
    seen yet (right after a start, or an object created a moment ago) is asked of the API server."""

    def __init__(
        self, rules: Objects, repos: Objects, tenants: kopf.Index[str, Tenant], cluster: ClusterLookup
    ):
        self._rules, self._repos, self._tenants, self._cluster = rules, repos, tenants, cluster

    def rule(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return _newest(self._rules.get((namespace, name), [])) or self._cluster.rule(namespace, name)

    def repository(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return _newest(self._repos.get((namespace, name), [])) or self._cluster.repository(namespace, name)

    def tenant(self, namespace: str) -> Tenant | None:
        found = (
            t for entries in self._tenants.values() for t in entries if t.kubernetes_namespace == namespace
        )
        return next(found, None) or self._cluster.tenant(namespace)


@kopf.index(GROUP, VERSION, BUILD_RUN.plural)
def build_runs(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[RunKey, dict[str, Any]]:
    return {(namespace, name): dict(body)}


class _FinishedHere:
    """BuildRuns this process saw finish, by uid (the newest few thousand): the indexes lag behind
    the operator's own writes, so a Job or Pod event may come before its BuildRun shows the end."""

    def __init__(self, size: int = 10_000) -> None:
        self._uids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, uid: str) -> bool:
        """Record `uid`; False when it was recorded already."""
        with self._lock:
            if uid in self._uids:
                return False
            self._uids[uid] = None
            while len(self._uids) > self._size:
                self._uids.popitem(last=False)
            return True

    def __contains__(self, uid: object) -> bool:
        with self._lock:
            return uid in self._uids


_FINISHED = _FinishedHere()


def _report(body: Any, fields: dict[str, Any]) -> None:
    """What these status fields change, said: an Event when the Job is created or the build ends,
    and the build counted in the metrics when it ends (the BuildRun was not finished before)."""
    status = body.get("status") or {}
    if fields.get("jobName") and not status.get("jobName"):
        kopf.event(body, type="Normal", reason="Started", message=f"Job {fields['jobName']} created")
    if fields.get("phase") not in FINISHED or _finished(status) or not _FINISHED.add(body["metadata"]["uid"]):
        return
    (succeeded,) = [c for c in fields["conditions"] if c["type"] == "Succeeded"]
    kind = "Normal" if fields["phase"] in (Phase.SUCCEEDED, Phase.CANCELLED) else "Warning"
    message = succeeded["message"] or f"pushed {', '.join(i['ref'] for i in fields.get('images') or [])}"
    kopf.event(body, type=kind, reason=succeeded["reason"], message=message[:1024])
    metrics.record_finished(
        (body["metadata"].get("labels") or {}).get(LABEL_NAMESPACE, ""),
        fields.get("strategy") or status.get("strategy") or "",
        str(fields["phase"]),
        body["metadata"].get("creationTimestamp"),
        fields.get("startTime") or status.get("startTime"),
        fields.get("completionTime"),
    )


@kopf.on.event(GROUP, VERSION, BUILD_RUN.plural)
def buildrun_running(
    type: str | None, body: kopf.Body, namespace: str, name: str, memo: Runtime, **_: Any
) -> None:
    """Keep `kiln_builds_running` in line with the BuildRuns' phases; drop a progress the progress
    daemon wrote just as the build ended (a finished build shows none)."""
    status = body.get("status") or {}
    if type != "DELETED" and _finished(status) and status.get("progress") is not None:
        memo.kube.patch_status(API_VERSION, BUILD_RUN.kind, name, namespace, {"progress": None})
    metrics.RUNNING.track(
        (namespace, name),
        (body["metadata"].get("labels") or {}).get(LABEL_NAMESPACE, ""),
        status.get("strategy") or "",
        type != "DELETED" and status.get("phase") == Phase.RUNNING,
    )


def _cancelled(status: kopf.Status) -> dict[str, Any]:
    observation = Observation(Phase.CANCELLED, SucceededReason.CANCELLED, "cancelled (spec.cancel)")
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {**status_fields(observation, list(status.get("conditions") or []), ()), "completionTime": now}


@kopf.on.resume(GROUP, VERSION, BUILD_RUN.plural)
@kopf.on.create(GROUP, VERSION, BUILD_RUN.plural)
def buildrun_start(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: Runtime,
    build_rules: Objects,
    repositories: Objects,
    tenants: kopf.Index[str, Tenant],
    **_: Any,
) -> None:
    if _finished(status):
        return
    if spec.get("cancel"):
        cancel(memo.kube, body["metadata"]["namespace"], body["metadata"]["name"], status.get("jobName"))
        fields = _cancelled(status)
    else:
        lookup = IndexLookup(build_rules, repositories, tenants, ClusterLookup(memo.kube, memo.settings))
        fields = start(memo.kube, memo.settings, body, lookup)
    _report(body, fields)
    patch.status.update(fields)


@kopf.on.update(GROUP, VERSION, BUILD_RUN.plural, field="spec.cancel")
def buildrun_cancel(
    body: kopf.Body, new: Any, status: kopf.Status, patch: kopf.Patch, memo: Runtime, **_: Any
) -> None:
    if not new or _finished(status):
        return
    cancel(memo.kube, body["metadata"]["namespace"], body["metadata"]["name"], status.get("jobName"))
    fields = _cancelled(status)
    _report(body, fields)
    patch.status.update(fields)


def _build_object_event(
    namespace: str,
    labels: kopf.Labels,
    memo: Runtime,
    build_jobs: Objects,
    build_pods: Objects,
    build_runs: Objects,
    **_: Any,
) -> None:
    """A build's Job or Pod changed: bring its BuildRun's status in line (a write only on a change)."""
    key = (namespace, labels[LABEL_BUILD_RUN])
    run = _newest(build_runs.get(key, []))
    if (
        run is None
        or _finished(run.get("status"))
        or run["metadata"].get("uid") in _FINISHED
        or (run.get("spec") or {}).get("cancel")
    ):
        return  # a finished build's status is final; a cancelled one's is the cancel handler's
    if not (run.get("status") or {}).get("jobName"):
        return  # the start handler has not written its status yet: it reads the Job itself
    fields = settle(memo.kube, run, _newest(build_jobs.get(key, [])), _newest(build_pods.get(key, [])))
    current = run.get("status") or {}
    if any(current.get(k) != v for k, v in fields.items()):
        memo.kube.patch_status(API_VERSION, BUILD_RUN.kind, key[1], namespace, fields)
        _report(run, fields)


for _group, _plural in (("batch", "jobs"), ("", "pods")):
    kopf.on.event(_group, "v1", _plural, labels={LABEL_BUILD_RUN: kopf.PRESENT}, id=f"build-{_plural}")(
        _build_object_event
    )


def _running(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") == Phase.RUNNING


def _progress_fields(lines: list[str], strategy: Strategy) -> dict[str, Any]:
    progress = parse_progress(lines, strategy)
    summary = f"{progress.current}/{progress.total}" + (
        f" ({progress.cached} cached)" if progress.cached else ""
    )
    return {"step": progress.current, "total": progress.total, "cached": progress.cached, "summary": summary}


@kopf.daemon(GROUP, VERSION, BUILD_RUN.plural, when=_running, cancellation_timeout=10)
def buildrun_progress(
    name: str,
    namespace: str,
    uid: str,
    status: kopf.Status,
    memo: Runtime,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    """Follow the build's log while it runs and keep status.progress current (every few seconds)."""
    strategy = Strategy(status.get("strategy") or memo.settings.build_strategy)
    written: dict[str, Any] | None = status.get("progress")
    while not stopped:
        pod = build_pod(memo.kube, namespace, name)
        if pod is None:
            stopped.wait(PROGRESS_INTERVAL)
            continue
        lines: list[str] = []  # each reconnect reads the log from its start
        last = 0.0
        try:
            for line in memo.kube.pod_log(
                namespace, pod["metadata"]["name"], BUILD_CONTAINER, follow=True, timeout=30
            ):
                lines.append(line)
                if stopped or uid in _FINISHED:
                    return  # the end of the log is the end of the build: its status has no progress
                if time.monotonic() - last >= PROGRESS_INTERVAL:
                    last = time.monotonic()
                    written = _write_progress(memo, name, namespace, lines, strategy, written)
        except (ApiException, HTTPError, OSError):
            # not started yet (the checkout runs first), or the stream broke (a long quiet step
            # outlasts the read timeout): read it again
            stopped.wait(PROGRESS_INTERVAL)
            continue
        return  # the log ended: so did the build container


def _write_progress(
    memo: Runtime,
    name: str,
    namespace: str,
    lines: list[str],
    strategy: Strategy,
    written: dict[str, Any] | None,
) -> dict[str, Any] | None:
    progress = _progress_fields(lines, strategy)
    if progress == written or not progress["total"]:
        return written
    memo.kube.patch_status(API_VERSION, BUILD_RUN.kind, name, namespace, {"progress": progress})
    return progress
