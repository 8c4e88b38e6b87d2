"""BuildRun controller: thin kopf handlers around `kiln.reconcile.buildrun`.

A BuildRun's Job is created once (deterministic name, adopted after a restart); the Jobs and Pods
labelled `kiln.dev/build-run` are followed through indexes fed by one watch each, so a build's
status moves with their events, not by polling per BuildRun; only the Job its BuildRun controls and
the Pods that Job controls count. Status writes for one BuildRun are serialized, and a finished
status is never written over. While a build runs, a follower (in a pool of its own, not kopf's
handler threads) reads its log into `status.progress`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from kiln.api.conditions import status_holds
from kiln.api.constants import (
    API_VERSION,
    BUILD_RULE,
    BUILD_RUN,
    GROUP,
    LABEL_BUILD_RUN,
    LABEL_NAMESPACE,
    NAMESPACE,
    REPOSITORY,
    VERSION,
)
from kiln.builds import Strategy
from kiln.builds.queue import (
    FinishedRun,
    QueuedRun,
    beyond_history,
    history_of,
    plan_queue,
)
from kiln.builds.status import FINISHED, cancelled_fields, finish_event, queued_fields, superseded_fields
from kiln.controllers.runtime import LastValues, Runtime
from kiln.reconcile import metrics
from kiln.reconcile.buildrun import (
    ClusterLookup,
    archive_log,
    cancel,
    controlled_by,
    follow_progress,
    newest,
    settle,
    start,
)
from kiln.tenancy.manifests import Quota
from kiln.tenancy.tenant import Tenant, tenant_owning

RunKey = tuple[str, str]  # (Kubernetes namespace, name)
Objects = kopf.Index[RunKey, dict[str, Any]]
# status.progress is written at most this often per build
PROGRESS_INTERVAL = 3.0
# builds whose log is followed at once; more wait their turn (their progress shows later)
PROGRESS_FOLLOWERS = 64
# how often each tenant's queue and history are looked at besides the events that move them
QUEUE_RESYNC_SECONDS = 10.0
_FOLLOWERS = ThreadPoolExecutor(PROGRESS_FOLLOWERS, thread_name_prefix="kiln-progress")
# dispatch decisions and history trims, off kopf's handler threads and the loop's default executor
_DISPATCHERS = ThreadPoolExecutor(4, thread_name_prefix="kiln-queue")
# what the decisions start and write: Job creations and status writes, many namespaces at once
_STARTERS = ThreadPoolExecutor(16, thread_name_prefix="kiln-start")
log = logging.getLogger("kiln.builds")


def _finished(status: Any) -> bool:
    return (status or {}).get("phase") in FINISHED


def _indexed(group: str, version: str, plural: str, id: str, *, by_build_run: bool = False) -> None:
    """An index of `plural`'s bodies by (namespace, name), or by (namespace, the BuildRun's name)
    for the objects of builds (only those labelled with one)."""

    # async: kopf runs a sync function in its thread pool, and the hop costs more than the function
    async def index(
        namespace: str, name: str, labels: kopf.Labels, body: kopf.Body, **_: Any
    ) -> dict[RunKey, Any]:
        return {(namespace, labels[LABEL_BUILD_RUN] if by_build_run else name): dict(body)}

    labels = {LABEL_BUILD_RUN: kopf.PRESENT} if by_build_run else None
    kopf.index(group, version, plural, id=id, labels=labels)(index)


@kopf.index(GROUP, VERSION, BUILD_RUN.plural, id="unfinished_runs")
async def unfinished_runs(namespace: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    """Unfinished BuildRuns by Kubernetes namespace: each tenant's queue is derived from these."""
    return {} if _finished(body.get("status")) else {namespace: dict(body)}


@kopf.index(GROUP, VERSION, BUILD_RUN.plural, id="finished_runs")
async def finished_runs(namespace: str, body: kopf.Body, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
    """Finished BuildRuns by (Kubernetes namespace, BuildRule): what retention trims."""
    status = body.get("status") or {}
    if not _finished(status):
        return {}
    return {(namespace, str(spec.get("buildRule", ""))): FinishedRun.of(body)}


_indexed("batch", "v1", "jobs", "build_jobs", by_build_run=True)
_indexed("", "v1", "pods", "build_pods", by_build_run=True)
_indexed(GROUP, VERSION, BUILD_RULE.plural, "build_rules")
_indexed(GROUP, VERSION, REPOSITORY.plural, "repositories")
_indexed(GROUP, VERSION, BUILD_RUN.plural, "build_runs")


class IndexLookup:
    """The objects a BuildRun names, from the operator's indexes (no API call); what an index has not
    seen yet (right after a start, or an object created a moment ago) is asked of the API server."""

    def __init__(
        self, rules: Objects, repos: Objects, tenants: kopf.Index[str, Tenant], cluster: ClusterLookup
    ) -> None:
        self._rules, self._repos, self._tenants, self._cluster = rules, repos, tenants, cluster

    def rule(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return newest(self._rules.get((namespace, name), [])) or self._cluster.rule(namespace, name)

    def repository(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return newest(self._repos.get((namespace, name), [])) or self._cluster.repository(namespace, name)

    def tenant(self, namespace: str) -> Tenant | None:
        return tenant_owning(namespace, self._tenants) or self._cluster.tenant(namespace)


class _Runs:
    """Per BuildRun (by uid): a lock serializing its status writes, whether this process wrote its
    end, started it (its status may not be in the indexes yet) or released its slot. Bounded: the
    newest few thousand BuildRuns."""

    def __init__(self, size: int = 10_000) -> None:
        self._locks: OrderedDict[str, threading.Lock] = OrderedDict()
        self._finished: set[str] = set()
        self._started: set[str] = set()
        self._told = LastValues(size)
        self._released = LastValues(size)
        self._size = size
        self._guard = threading.Lock()

    @contextmanager
    def lock(self, uid: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(uid, threading.Lock())
            self._locks.move_to_end(uid)
            while len(self._locks) > self._size:
                old, _ = self._locks.popitem(last=False)
                self._finished.discard(old)
                self._started.discard(old)
        with lock:
            yield

    def finished(self, uid: str) -> bool:
        with self._guard:
            return uid in self._finished

    def finish(self, uid: str) -> None:
        with self._guard:
            self._finished.add(uid)

    def started(self, uid: str) -> bool:
        with self._guard:
            return uid in self._started

    def start(self, uid: str) -> None:
        with self._guard:
            self._started.add(uid)

    def unstart(self, uid: str) -> None:
        with self._guard:
            self._started.discard(uid)

    def tell(self, uid: str, message: str) -> bool:
        """Mark `message` as the waiting run's Queued message; False when it already is (written or
        on its way): every dispatch sees every waiting run, and must not write each one again."""
        return self._told.mark(uid, message)

    def untell(self, uid: str) -> None:
        self._told.forget(uid)

    def release(self, uid: str) -> bool:
        """Mark the finished (or deleted) run's slot released; True the first time."""
        return self._released.mark(uid)


_RUNS = _Runs()


def _write(
    memo: Runtime, body: Mapping[str, Any], fields: dict[str, Any], patch: kopf.Patch | None = None
) -> None:
    """Write status fields of a BuildRun, under its lock: never over a finished status, and never
    the same twice. A build that these fields end gets its Event, its metrics and its log archive
    (after the status: the status never waits for the archive).

    With `patch` (a change handler's), fields that do not end the build go into kopf's own status
    patch, which it sends when the handler returns: one write per started build, not two. An end
    is written at once, as it marks the build finished in this process."""
    meta = body["metadata"]
    uid, status = str(meta["uid"]), body.get("status") or {}
    with _RUNS.lock(uid):
        if _RUNS.finished(uid) or _finished(status):
            return
        if status_holds(status, fields):
            return
        if patch is not None and fields.get("phase") not in FINISHED:
            patch.setdefault("status", {}).update(fields)
        else:
            memo.kube.patch_status(API_VERSION, BUILD_RUN.kind, meta["name"], meta["namespace"], fields)
        if fields.get("jobName") and not status.get("jobName"):
            kopf.event(
                dict(body), type="Normal", reason="Started", message=f"Job {fields['jobName']} created"
            )
        if fields.get("phase") not in FINISHED:
            return
        _RUNS.finish(uid)
    kind, reason, message = finish_event(fields)
    kopf.event(dict(body), type=kind, reason=reason, message=message)
    metrics.record_finished(
        (meta.get("labels") or {}).get(LABEL_NAMESPACE, ""),
        fields.get("strategy") or status.get("strategy") or "",
        str(fields["phase"]),
        meta.get("creationTimestamp"),
        fields.get("startTime") or status.get("startTime"),
        fields.get("completionTime"),
    )


def _archive(memo: Runtime, body: Mapping[str, Any], pod: Mapping[str, Any] | None) -> None:
    if pod is None or ((body.get("status") or {}).get("logs") or {}).get("archive"):
        return
    archive = archive_log(memo.kube, body, pod)
    if archive is not None:
        meta = body["metadata"]
        memo.kube.patch_status(
            API_VERSION, BUILD_RUN.kind, meta["name"], meta["namespace"], {"logs": {"archive": archive}}
        )


@dataclass(frozen=True, slots=True)
class Indexes:
    """The operator's indexes a tenant's queue and history are read from (kopf passes them by id)."""

    unfinished_runs: kopf.Index[str, dict[str, Any]]
    finished_runs: kopf.Index[tuple[str, str], FinishedRun]
    build_runs: Objects
    build_jobs: Objects
    build_rules: Objects
    repositories: Objects
    tenants: kopf.Index[str, Tenant]

    @classmethod
    def of(cls, kwargs: Mapping[str, Any]) -> Indexes:
        return cls(**{f: kwargs[f] for f in cls.__dataclass_fields__})

    def lookup(self, memo: Runtime) -> IndexLookup:
        return IndexLookup(
            self.build_rules, self.repositories, self.tenants, ClusterLookup(memo.kube, memo.settings)
        )


_NAMESPACE_LOCKS: dict[str, threading.Lock] = {}
_NAMESPACE_GUARD = threading.Lock()
# namespaces whose dispatch is scheduled and has not read the indexes yet
_SCHEDULED: set[str] = set()


def _namespace_lock(namespace: str) -> threading.Lock:
    with _NAMESPACE_GUARD:
        return _NAMESPACE_LOCKS.setdefault(namespace, threading.Lock())


def _cap(lookup: IndexLookup, namespace: str, memo: Runtime) -> int | None:
    """The tenant's maxConcurrentBuilds; None when the namespace has no valid tenant (its runs are
    refused at start, so they need no slot)."""
    tenant = lookup.tenant(namespace)
    if tenant is None or tenant.spec is None or tenant.kubernetes_namespace != namespace:
        return None
    return Quota.effective(tenant.spec, memo.settings).max_concurrent_builds


def _queued_run(body: Mapping[str, Any], indexes: Indexes, lookup: IndexLookup) -> QueuedRun:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    rule = lookup.rule(namespace, str((body.get("spec") or {}).get("buildRule", "")))
    has_job = (namespace, name) in indexes.build_jobs or _RUNS.started(str(meta["uid"]))
    return QueuedRun.of(body, rule, has_job)


def dispatch(
    memo: Runtime, namespace: str, indexes: Indexes, own: tuple[kopf.Body, kopf.Patch] | None = None
) -> None:
    """Start the tenant's waiting runs that may start now (policies and cap), tell the others their
    place, supersede what SerialLatestOnly drops.

    Only the decision is serialized per namespace: it reserves the slots of the runs it starts,
    then the starts (API calls) run outside the lock, on the starter pool, so a busy tenant's Jobs
    are created in parallel. With `own` (a create handler's BuildRun and patch, whose start then
    rides on kopf's patch) the decision is made here only if no other one of the namespace is
    being made, else one is scheduled after it: kopf's handler threads never wait on a namespace."""
    lock = _namespace_lock(namespace)
    if own is not None and not lock.acquire(blocking=False):
        schedule_dispatch(memo, namespace, indexes)
        return
    if own is None:
        lock.acquire()
    try:
        _SCHEDULED.discard(namespace)
        work = _decide(memo, namespace, indexes, own)
    finally:
        lock.release()
    if work is not None:
        _carry_out(memo, namespace, work, own)


def schedule_dispatch(memo: Runtime, namespace: str, indexes: Indexes) -> None:
    """Dispatch the namespace soon, on the dispatch pool (once, however often it is asked before)."""
    if namespace in _SCHEDULED:
        return
    _SCHEDULED.add(namespace)
    _submit(_DISPATCHERS, f"dispatching the build queue of {namespace}", dispatch, memo, namespace, indexes)


def _submit(pool: ThreadPoolExecutor, what: str, function: Callable[..., None], *args: Any) -> None:
    """Run `function` on `pool` in a copy of this context: kopf keeps its settings and Event queue
    in context variables, which a bare pool thread lacks (kopf.event would fail there)."""
    pool.submit(contextvars.copy_context().run, _logged, what, function, *args)


def _logged(what: str, function: Callable[..., None], *args: Any) -> None:
    """Run `function` on a pool thread: a BuildRun deleted meanwhile is skipped; another failure is
    logged, and the next event or the queue timer tries again."""
    try:
        function(*args)
    except ApiException as error:
        if error.status != 404:
            log.warning(f"{what}: {error.status} {error.reason}; the queue retries")
    except Exception:
        log.exception(f"{what} failed; the queue retries")


@dataclass(frozen=True, slots=True)
class _Work:
    """A dispatch's decision: the runs whose slots it reserved, and the statuses to write."""

    starts: tuple[Mapping[str, Any], ...]
    waiting: tuple[tuple[Mapping[str, Any], str], ...]
    # (run, the newer run superseding it, their rule)
    superseded: tuple[tuple[Mapping[str, Any], str, str], ...]
    lookup: IndexLookup


def _decide(
    memo: Runtime, namespace: str, indexes: Indexes, own: tuple[kopf.Body, kopf.Patch] | None
) -> _Work | None:
    lookup = indexes.lookup(memo)
    tenant = lookup.tenant(namespace)
    if tenant is not None and tenant.deleting:
        return None  # its BuildRuns go with its namespace
    bodies: dict[str, Mapping[str, Any]] = {
        str(b["metadata"]["uid"]): b
        for b in indexes.unfinished_runs.get(namespace, [])
        if not _RUNS.finished(str(b["metadata"]["uid"]))
    }
    if own is not None and not _RUNS.finished(str(own[0]["metadata"]["uid"])):
        # a handler's body may be older than the end this process wrote (e.g. superseded meanwhile)
        bodies[str(own[0]["metadata"]["uid"])] = own[0]
    runs = {b["metadata"]["name"]: (b, _queued_run(b, indexes, lookup)) for b in bodies.values()}
    plan = plan_queue((run for _, run in runs.values()), _cap(lookup, namespace, memo))
    starts = [runs[name][0] for name in plan.start]
    if own is not None and own[0]["metadata"]["name"] in runs:
        uid = str(own[0]["metadata"]["uid"])
        if runs[own[0]["metadata"]["name"]][1].active and not _RUNS.started(uid):
            starts.insert(0, own[0])  # its Job exists (a restart came between it and the status): adopt it
    for body in starts:  # the slots are taken now, before the Jobs exist
        _RUNS.start(str(body["metadata"]["uid"]))
    return _Work(
        starts=tuple(starts),
        waiting=tuple((runs[name][0], message) for name, message in plan.waiting),
        superseded=tuple((runs[name][0], newer, runs[newer][1].rule) for name, newer in plan.superseded),
        lookup=lookup,
    )


def _begin(
    memo: Runtime, body: Mapping[str, Any], lookup: IndexLookup, patch: kopf.Patch | None = None
) -> None:
    """Create (or adopt) the run's Job and write what that says; a start that fails gives its slot back."""
    try:
        fields = start(memo.kube, memo.settings, body, lookup)
    except BaseException:
        _RUNS.unstart(str(body["metadata"]["uid"]))
        raise
    _write(memo, body, fields, patch)


def _carry_out(memo: Runtime, namespace: str, work: _Work, own: tuple[kopf.Body, kopf.Patch] | None) -> None:
    """The create handler's own start here (a failure retries that handler); the rest on the pool."""
    own_uid = str(own[0]["metadata"]["uid"]) if own is not None else None
    for body in work.starts:
        if own is not None and str(body["metadata"]["uid"]) == own_uid:
            _begin(memo, body, work.lookup, own[1])
        else:
            what = f"starting BuildRun {namespace}/{body['metadata']['name']}"
            _submit(_STARTERS, what, _begin, memo, body, work.lookup)
    for body, message in work.waiting:
        if _RUNS.tell(str(body["metadata"]["uid"]), message):
            _submit(_STARTERS, f"queueing {body['metadata']['name']}", _queue, memo, message, body)
    for body, newer, rule in work.superseded:
        what = f"superseding {body['metadata']['name']}"
        _submit(_STARTERS, what, _supersede, memo, newer, rule, body)


def _queue(memo: Runtime, message: str, body: Mapping[str, Any]) -> None:
    try:
        _write(memo, body, queued_fields(message, _conditions_of(body)))
    except BaseException:
        _RUNS.untell(str(body["metadata"]["uid"]))  # not written: the next dispatch tries again
        raise


def _supersede(memo: Runtime, newer: str, rule: str, body: Mapping[str, Any]) -> None:
    _write(memo, body, superseded_fields(newer, rule, _conditions_of(body)))


def _conditions_of(body: Mapping[str, Any]) -> list[Any]:
    return list((body.get("status") or {}).get("conditions") or [])


def trim_history(memo: Runtime, namespace: str, rule: str, indexes: Indexes) -> None:
    """Delete the rule's finished runs beyond its history (their Jobs and log archives go with them,
    through their owner references). Queued and running runs are never in `finished_runs`."""
    history = history_of(indexes.lookup(memo).rule(namespace, rule))
    if history is None:
        return
    for name in beyond_history(indexes.finished_runs.get((namespace, rule), []), history):
        memo.kube.delete(API_VERSION, BUILD_RUN.kind, name, namespace, propagation="Background")


def _released(memo: Runtime, namespace: str, rule: str, indexes: Indexes) -> None:
    """A run finished or went: its slot frees (a dispatch, unless one is already on its way) and
    its rule's history may be over its bound."""
    schedule_dispatch(memo, namespace, indexes)
    _submit(
        _DISPATCHERS,
        f"trimming the history of BuildRule {namespace}/{rule}",
        trim_history,
        memo,
        namespace,
        rule,
        indexes,
    )


@kopf.on.event(GROUP, VERSION, BUILD_RUN.plural)
async def buildrun_running(
    type: str | None, body: kopf.Body, namespace: str, name: str, memo: Runtime, **kwargs: Any
) -> None:
    """Keep `kiln_builds_running` in line with the BuildRuns' phases; drop a progress the follower
    wrote just as the build ended (a finished build shows none); once a run finished or went, start
    what waited for its slot and trim its rule's history. In the loop: every BuildRun event comes
    here, and only the rare write goes to a thread."""
    status = body.get("status") or {}
    metrics.RUNNING.track(
        (namespace, name),
        (body["metadata"].get("labels") or {}).get(LABEL_NAMESPACE, ""),
        status.get("strategy") or "",
        type != "DELETED" and status.get("phase") == "Running",
    )
    if type != "DELETED" and _finished(status) and status.get("progress") is not None:
        await asyncio.to_thread(
            memo.kube.patch_status, API_VERSION, BUILD_RUN.kind, name, namespace, {"progress": None}
        )
    if (type == "DELETED" or _finished(status)) and _RUNS.release(str(body["metadata"]["uid"])):
        rule = str((body.get("spec") or {}).get("buildRule", ""))
        _released(memo, namespace, rule, Indexes.of(kwargs))


@kopf.on.resume(GROUP, VERSION, BUILD_RUN.plural)
@kopf.on.create(GROUP, VERSION, BUILD_RUN.plural)
def buildrun_start(
    body: kopf.Body, spec: kopf.Spec, status: kopf.Status, memo: Runtime, patch: kopf.Patch, **kwargs: Any
) -> None:
    if _finished(status):
        return
    if spec.get("cancel"):
        cancel(memo.kube, body["metadata"]["namespace"], body["metadata"]["name"], status.get("jobName"))
        _write(memo, body, cancelled_fields(status.get("conditions")))
        return
    indexes = Indexes.of(kwargs)
    if status.get("jobName"):  # started before a restart: adopt its Job, read where it is
        _write(memo, body, start(memo.kube, memo.settings, body, indexes.lookup(memo)), patch)
        return
    dispatch(memo, body["metadata"]["namespace"], indexes, (body, patch))


@kopf.timer(
    GROUP, VERSION, NAMESPACE.plural, interval=QUEUE_RESYNC_SECONDS, initial_delay=QUEUE_RESYNC_SECONDS
)
def tenant_queue(name: str, memo: Runtime, **kwargs: Any) -> None:
    """Every few seconds per tenant: dispatch its queue (a changed quota or run policy takes effect
    here) and trim the history of each rule with finished runs (a changed history too)."""
    indexes = Indexes.of(kwargs)
    for tenant in indexes.tenants.get(name, []):
        namespace = tenant.kubernetes_namespace
        if not namespace or tenant.deleting:
            continue
        if indexes.unfinished_runs.get(namespace):
            schedule_dispatch(memo, namespace, indexes)
        for key in [k for k in indexes.finished_runs if k[0] == namespace]:
            trim_history(memo, namespace, key[1], indexes)


@kopf.on.update(GROUP, VERSION, BUILD_RUN.plural, field="spec.cancel")
def buildrun_cancel(body: kopf.Body, new: Any, status: kopf.Status, memo: Runtime, **_: Any) -> None:
    if not new or _finished(status):
        return
    cancel(memo.kube, body["metadata"]["namespace"], body["metadata"]["name"], status.get("jobName"))
    _write(memo, body, cancelled_fields(status.get("conditions")))


def _controlled(objects: Iterable[dict[str, Any]], owner: Mapping[str, Any] | None) -> dict[str, Any] | None:
    found = newest(o for o in objects if controlled_by(o, owner))
    return dict(found) if found is not None else None


def _settle_build(memo: Runtime, run: dict[str, Any], fields: dict[str, Any], pod: Any) -> None:
    _write(memo, run, fields)
    if fields.get("phase") in FINISHED:
        _archive(memo, run, pod)


async def _build_object_event(
    namespace: str,
    labels: kopf.Labels,
    memo: Runtime,
    build_jobs: Objects,
    build_pods: Objects,
    build_runs: Objects,
    **_: Any,
) -> None:
    """A build's Job or Pod changed: bring its BuildRun's status in line (a write only on a change).
    The status is worked out in the loop, from the indexes; only a write goes to a thread."""
    key = (namespace, labels[LABEL_BUILD_RUN])
    run = newest(build_runs.get(key, []))
    if run is None or _finished(run.get("status")) or (run.get("spec") or {}).get("cancel"):
        return  # a finished build's status is final; a cancelled one's is the cancel handler's
    status = run.get("status") or {}
    if not status.get("jobName") or _RUNS.finished(str(run["metadata"]["uid"])):
        return  # the start handler reads the Job itself; a finished build is done with
    job = _controlled(build_jobs.get(key, []), run)
    pod = _controlled(build_pods.get(key, []), job)
    fields = settle(run, job, pod)
    if status_holds(status, fields):
        return  # nothing new (most events): no thread, no write
    await asyncio.to_thread(_settle_build, memo, dict(run), fields, pod)


for _group, _plural in (("batch", "jobs"), ("", "pods")):
    kopf.on.event(_group, "v1", _plural, labels={LABEL_BUILD_RUN: kopf.PRESENT}, id=f"build-{_plural}")(
        _build_object_event
    )


def _running(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") == "Running"


@kopf.daemon(GROUP, VERSION, BUILD_RUN.plural, when=_running, cancellation_timeout=10)
async def buildrun_progress(
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
    written: list[dict[str, Any] | None] = [status.get("progress")]

    def write(progress: dict[str, Any]) -> None:
        if progress != written[0] and progress["total"] and not _RUNS.finished(uid):
            memo.kube.patch_status(API_VERSION, BUILD_RUN.kind, name, namespace, {"progress": progress})
            written[0] = progress

    def done() -> bool:
        return bool(stopped) or _RUNS.finished(uid)

    await asyncio.get_running_loop().run_in_executor(
        _FOLLOWERS, follow_progress, memo.kube, namespace, name, strategy, done, write, PROGRESS_INTERVAL
    )
