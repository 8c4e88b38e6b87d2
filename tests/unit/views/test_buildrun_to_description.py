"""A BuildRun and its Events -> `kiln describe buildrun`; a finished run -> how `--follow` ends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kiln.views import Tone, describe_buildrun, finished_result

NOW = datetime(2026, 1, 2, 3, 10, 0, tzinfo=UTC)
DIGEST = "sha256:" + "cd" * 32


def pushed_run(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "main-0a1b2c3d4e",
            "namespace": "kiln-acme",
            "creationTimestamp": "2026-01-02T03:00:00Z",
        },
        "spec": {
            "buildRule": "main",
            "repository": "app",
            "trigger": {"type": "Push", "provider": "github", "deliveryId": "d-1", "sender": "alice"},
            "source": {
                "ref": "refs/heads/main",
                "commit": "f" * 40,
                "author": "Alice <a@x>",
                "message": "fix\n\nbody",
            },
            "tags": ["latest"],
        },
        "status": status,
    }


def test_a_succeeded_run_with_trigger_timing_images_conditions_and_events() -> None:
    run = pushed_run(
        phase="Succeeded", strategy="buildah", jobName="main-0a1b2c3d4e", platforms=["linux/amd64"],
        startTime="2026-01-02T03:00:04Z", completionTime="2026-01-02T03:01:04Z",
        images=[{"ref": "r/acme/app:latest", "digest": DIGEST}], logs={"archive": "configmaps/main-0a1b2c3d4e-log"},
        conditions=[{"type": "Succeeded", "status": "True", "reason": "Pushed", "message": "pushed 1 image"}],
    )  # fmt: skip
    events = [
        {"type": "Normal", "reason": "Pushed", "message": "pushed", "lastTimestamp": "2026-01-02T03:01:05Z"},
        {
            "type": "Normal",
            "reason": "Started",
            "message": "Job created",
            "lastTimestamp": "2026-01-02T03:00:01Z",
        },
    ]
    cells = describe_buildrun(run, events, NOW)
    text = "\n".join(c.text for c in cells)
    assert "Triggered by: Push by alice (delivery d-1)" in text
    assert f"Source:       refs/heads/main at {'f' * 40}" in text
    assert "Commit:       fix\n" in text  # the subject line only
    assert "Phase:        Succeeded (Pushed)" in text
    assert "  Started:    2026-01-02T03:00:04Z (9m56s ago), waited 4s" in text
    assert "  Finished:   2026-01-02T03:01:04Z (8m56s ago), ran 1m" in text
    assert f"r/acme/app:latest   {DIGEST}" in text
    assert "Log:          archived in configmaps/main-0a1b2c3d4e-log" in text
    assert "Succeeded   True     Pushed   pushed 1 image" in text
    started, pushed = text.index("Normal   Started"), text.index("Normal   Pushed")
    assert started < pushed  # Events oldest first
    assert next(c for c in cells if c.text.startswith("Phase:")).tone is Tone.GOOD


def test_a_run_the_operator_has_not_seen_yet() -> None:
    run = {"metadata": {"name": "x"}, "spec": {"trigger": {"type": "Manual"}}}
    text = "\n".join(c.text for c in describe_buildrun(run, [], NOW))
    assert "Phase:        <none: the operator has not seen it yet>" in text
    assert "Images: <none>" in text and "Conditions: <none>" in text and "Events: <none>" in text


def test_finished_results_for_follow() -> None:
    assert finished_result(pushed_run(phase="Running")) is None
    ok = finished_result(pushed_run(phase="Succeeded", images=[{"ref": "r/app:latest", "digest": DIGEST}]))
    assert ok == (True, f"BuildRun main-0a1b2c3d4e succeeded: pushed r/app:latest@{DIGEST}")
    failed = finished_result(pushed_run(phase="Failed", message="step 2/3 failed: RUN make"))
    assert failed == (False, "BuildRun main-0a1b2c3d4e failed: step 2/3 failed: RUN make")
    cancelled = pushed_run(
        phase="Cancelled", conditions=[{"type": "Succeeded", "status": "False", "reason": "Cancelled"}]
    )
    assert finished_result(cancelled) == (False, "BuildRun main-0a1b2c3d4e cancelled: Cancelled")
