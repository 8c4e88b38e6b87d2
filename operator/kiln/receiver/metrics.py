"""The webhook receiver's Prometheus metrics (default registry; `kiln.platform.metrics` exposes it)."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram

# Label values are bounded: the provider comes from a fixed set (anything else is `unknown`), the
# outcome from kiln.webhooks.decisions.DeliveryOutcome. Tenants and repositories stay out (cardinality).
WEBHOOK_REQUESTS = Counter(
    "kiln_webhook_requests_total",
    "Webhook deliveries answered, by provider and outcome.",
    ["provider", "outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "kiln_webhook_request_duration_seconds",
    "Time from receiving a webhook delivery to answering it, BuildRun creation included.",
    ["provider"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOK_BUILDRUNS = Counter(
    "kiln_webhook_buildruns_created_total",
    "BuildRuns created by the webhook receiver (redeliveries that found them existing excluded).",
    ["provider"],
)
WEBHOOK_RULE_FAILURES = Counter(
    "kiln_webhook_rule_failures_total",
    "BuildRules that matched a push but could not build it (pattern timeout, invalid tag).",
    ["provider"],
)
SECRET_READS = Counter(
    "kiln_webhook_secret_reads_total",
    "Webhook Secrets read by name, by result (found, missing: 404, forbidden: 403, error: kept the last value).",
    ["result"],
)
WATCH_RESTARTS = Counter(
    "kiln_watch_restarts_total",
    "Re-lists of a watched resource, by resource and reason (gone: 410 expired, error: failure).",
    ["resource", "reason"],
)


@functools.cache
def _delivery_series(provider: str, outcome: str) -> tuple[Counter, Histogram]:
    # labels() takes a lock and builds a key on every call; the label values are bounded (above)
    return WEBHOOK_REQUESTS.labels(provider, outcome), WEBHOOK_LATENCY.labels(provider)


def record_delivery(
    provider: str, outcome: str, seconds: float, *, created: int = 0, rule_failures: int = 0
) -> None:
    requests, latency = _delivery_series(provider, outcome)
    requests.inc()
    latency.observe(seconds)
    if created:
        WEBHOOK_BUILDRUNS.labels(provider).inc(created)
    if rule_failures:
        WEBHOOK_RULE_FAILURES.labels(provider).inc(rule_failures)
