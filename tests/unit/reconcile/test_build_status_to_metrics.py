"""Finished and running builds -> the operator's Prometheus metrics (default registry)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from kiln.reconcile import metrics


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_finished_build_counts_with_its_duration_and_time_queued() -> None:
    before = sample("kiln_builds_total", tenant="t-metrics", strategy="buildah", result="Succeeded")
    durations = sample("kiln_build_duration_seconds_count", tenant="t-metrics", strategy="buildah")
    metrics.record_finished(
        "t-metrics",
        "buildah",
        "Succeeded",
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:00:02Z",
        "2026-12-01T10:01:02Z",
    )
    assert (
        sample("kiln_builds_total", tenant="t-metrics", strategy="buildah", result="Succeeded") == before + 1
    )
    assert (
        sample("kiln_build_duration_seconds_count", tenant="t-metrics", strategy="buildah") == durations + 1
    )
    assert (
        sample("kiln_build_duration_seconds_bucket", tenant="t-metrics", strategy="buildah", le="30.0")
        == durations
    )
    # 60 s of building, 2 s queued
    assert (
        sample("kiln_build_duration_seconds_bucket", tenant="t-metrics", strategy="buildah", le="60.0")
        == durations + 1
    )
    assert sample("kiln_build_queue_seconds_bucket", tenant="t-metrics", le="2.5") >= 1


def test_cancelled_before_it_started_counts_without_a_duration() -> None:
    durations = sample("kiln_build_duration_seconds_count", tenant="t-cancel", strategy="buildkit")
    metrics.record_finished(
        "t-cancel", "buildkit", "Cancelled", "2026-12-01T10:00:00Z", None, "2026-12-01T10:00:05Z"
    )
    assert sample("kiln_builds_total", tenant="t-cancel", strategy="buildkit", result="Cancelled") >= 1
    assert sample("kiln_build_duration_seconds_count", tenant="t-cancel", strategy="buildkit") == durations


def test_running_builds_follow_the_phases_seen() -> None:
    running = metrics.RunningBuilds()
    running.track(("ns", "a"), "acme", "buildah", True)
    running.track(("ns", "b"), "acme", "buildah", True)
    running.track(("ns", "c"), "beta", "buildkit", True)
    running.track(("ns", "b"), "acme", "buildah", False)
    (family,) = running.collect()
    assert sorted((s.labels["tenant"], s.labels["strategy"], s.value) for s in family.samples) == [
        ("acme", "buildah", 1),
        ("beta", "buildkit", 1),
    ]
