"""The builds' Prometheus metrics: results, durations, time queued, builds running.

Labels stay few and bounded: the tenant (a Kiln Namespace: as many as the cluster has), the
strategy (two) and the result (the finished phases). Rules, repositories and BuildRuns stay out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from kiln.api.common import parse_time
from kiln.codehosts import CodeHostError

_DURATION_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
_QUEUE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

BUILDS = Counter(
    "kiln_builds_total", "Builds finished, by tenant, strategy and result.", ["tenant", "strategy", "result"]
)
BUILD_DURATION = Histogram(
    "kiln_build_duration_seconds",
    "Time from a build's start to its end (its Pod's run), by tenant and strategy.",
    ["tenant", "strategy"],
    buckets=_DURATION_BUCKETS,
)
QUEUE_TIME = Histogram(
    "kiln_build_queue_seconds",
    "Time from a BuildRun's creation to its build starting, by tenant.",
    ["tenant"],
    buckets=_QUEUE_BUCKETS,
)

HANDLER_FAILURES = Counter(
    "kiln_reconcile_errors_total",
    "Operator handlers that failed (kopf retries them or gives up), by the kind they handle.",
    ["kind"],
)

RESYNC_RUNS = Counter(
    "kiln_resync_runs_total",
    "Listings of a Repository's heads, by code host and result (baseline: the first, building nothing;"
    " ok; error: the code host failed).",
    ["provider", "result"],
)
RESYNC_HEADS = Counter("kiln_resync_heads_checked_total", "Heads resync listed, by code host.", ["provider"])
RESYNC_BUILDRUNS = Counter(
    "kiln_resync_buildruns_created_total",
    "BuildRuns resync created for pushes no webhook delivered, by code host.",
    ["provider"],
)

COMMIT_STATUS_FAILURES = Counter(
    "kiln_commit_status_failures_total",
    "Build states that could not be reported on their commit, by code host.",
    ["provider"],
)
CODE_HOST_ERRORS = Counter(
    "kiln_codehost_errors_total",
    "Code-host API calls that failed, by code host, call (access: binding; hook: webhook registration;"
    " commit_status; refs: resync's listing) and error (Unauthorized, NotFound, Unreachable, CodeHostError).",
    ["provider", "call", "error"],
)


def code_host_error(provider: str, call: str, error: CodeHostError) -> None:
    CODE_HOST_ERRORS.labels(provider, call, type(error).__name__).inc()


HOOK_FAILURES = Counter(
    "kiln_webhook_registration_failures_total",
    "Times a Repository's binding or webhook registration started failing (a condition turned to an error), by code host.",
    ["provider"],
)


def record_finished(
    tenant: str, strategy: str, result: str, created: object, started: object, ended: object
) -> None:
    """One build ended with `result` (Succeeded, Failed, Cancelled); times as the status has them."""
    BUILDS.labels(tenant, strategy, result).inc()
    start, end, creation = parse_time(started), parse_time(ended), parse_time(created)
    if start and end and end >= start:
        BUILD_DURATION.labels(tenant, strategy).observe((end - start).total_seconds())
    if creation and start and start >= creation:
        QUEUE_TIME.labels(tenant).observe((start - creation).total_seconds())


class RunningBuilds(Collector):
    """`kiln_builds_running{tenant,strategy}`, from the phases the controller last saw per BuildRun."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], tuple[str, str]] = {}

    def track(self, key: tuple[str, str], tenant: str, strategy: str, running: bool) -> None:
        with self._lock:
            if running:
                self._running[key] = (tenant, strategy)
            else:
                self._running.pop(key, None)

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "kiln_builds_running", "Builds running now.", labels=["tenant", "strategy"]
        )
        with self._lock:
            counts: dict[tuple[str, str], int] = {}
            for labels in self._running.values():
                counts[labels] = counts.get(labels, 0) + 1
        for (tenant, strategy), count in sorted(counts.items()):
            family.add_metric([tenant, strategy], count)
        yield family


RUNNING = RunningBuilds()
REGISTRY.register(RUNNING)
