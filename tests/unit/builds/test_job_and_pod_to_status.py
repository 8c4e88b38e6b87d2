"""A build Job and its Pod, as the API server reports them -> the BuildRun's phase, reason and result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kiln.builds.logs import TRUNCATION_MARKER, archive_manifest, compress_log, decompress_log
from kiln.builds.status import observe, status_fields

DIGEST = "sha256:" + "ab" * 32
Manifest = dict[str, Any]


def job(*conditions: Manifest, deadline: int = 3600) -> Manifest:
    return {
        "spec": {"activeDeadlineSeconds": deadline},
        # the Job controller's startTime: before any wait for a slot or an image, not the build's start
        "status": {"startTime": "2026-12-01T09:59:00Z", "conditions": list(conditions)},
    }


def condition(type_: str, reason: str, message: str = "") -> Manifest:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-12-01T11:00:00Z",
    }


def pod(phase: str, *, clone: Manifest | None = None, build: Manifest | None = None) -> Manifest:
    status: Manifest = {"phase": phase}
    if clone is not None:
        status["initContainerStatuses"] = [{"name": "clone", "state": clone}]
    if build is not None:
        status["containerStatuses"] = [{"name": "build", "state": build}]
    return {"status": status}


def terminated(exit_code: int, message: str) -> Manifest:
    return {
        "terminated": {
            "exitCode": exit_code,
            "message": message,
            "startedAt": "2026-12-01T10:00:00Z",
            "finishedAt": "2026-12-01T10:05:00Z",
        }
    }


DONE = terminated(0, "")


def test_no_job_yet_to_pending() -> None:
    seen = observe(None, None)
    assert (seen.phase, seen.reason, seen.finished) == ("Pending", "Pending", False)


def test_pushed_digest_to_succeeded_with_an_image_per_tag() -> None:
    message = json.dumps({"digest": DIGEST, "cacheImported": False, "cacheExported": True})
    seen = observe(job(condition("Complete", "")), pod("Succeeded", clone=DONE, build=terminated(0, message)))
    assert (seen.phase, seen.reason, seen.result.digest) == ("Succeeded", "Pushed", DIGEST)
    fields = status_fields(seen, [], ["r/a:latest", "r/a:v1"], generation=1)
    assert fields["images"] == [{"ref": "r/a:latest", "digest": DIGEST}, {"ref": "r/a:v1", "digest": DIGEST}]
    assert fields["cache"] == {"imported": False, "exported": True}
    assert (fields["startTime"], fields["completionTime"]) == ("2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z")
    assert fields["progress"] is None
    (succeeded,) = fields["conditions"]
    assert (succeeded["type"], succeeded["status"], succeeded["reason"]) == ("Succeeded", "True", "Pushed")


def test_failed_build_to_failed_with_the_step_and_last_lines() -> None:
    log = 'STEP 1/2: FROM busybox\nSTEP 2/2: RUN make\nmake: *** no rule\nError: building at STEP "RUN make": exit status 2'
    seen = observe(
        job(condition("Failed", "BackoffLimitExceeded")), pod("Failed", clone=DONE, build=terminated(2, log))
    )
    assert (seen.phase, seen.reason) == ("Failed", "BuildFailed")
    assert seen.message.startswith("step RUN make failed")
    assert "make: *** no rule" in seen.message
    (failed,) = status_fields(seen, [], ["r/a:latest"])["conditions"]
    assert (failed["status"], failed["reason"]) == ("False", "BuildFailed")


def test_failed_checkout_to_failed_saying_so() -> None:
    clone = terminated(1, "fatal: commit 1234 is not on refs/heads/main")
    seen = observe(job(condition("Failed", "BackoffLimitExceeded")), pod("Failed", clone=clone))
    assert (seen.phase, seen.reason) == ("Failed", "BuildFailed")
    assert (
        seen.message.startswith("checking out the source failed:")
        and "is not on refs/heads/main" in seen.message
    )


def test_exit_zero_without_a_digest_is_no_success() -> None:
    seen = observe(job(), pod("Succeeded", clone=DONE, build=terminated(0, "pushed, probably")))
    assert (seen.phase, seen.reason) == ("Failed", "BuildFailed")
    assert "without reporting a pushed digest" in seen.message


def test_deadline_to_timeout_in_the_rules_words() -> None:
    seen = observe(job(condition("Failed", "DeadlineExceeded"), deadline=5400), pod("Failed", clone=DONE))
    assert (seen.phase, seen.reason) == ("Failed", "Timeout")
    assert "timeout of 1h30m" in seen.message
    assert seen.completion_time == "2026-12-01T11:00:00Z"


@pytest.mark.parametrize(
    ("state", "phase", "message"),
    [
        (pod("Pending", clone={"running": {}}), "Running", "checking out the source"),
        (pod("Running", clone=DONE, build={"running": {}}), "Running", "building"),
        (pod("Pending"), "Pending", "waiting for the build pod"),
    ],
)
def test_pod_on_its_way_to_pending_or_running(state: Manifest, phase: str, message: str) -> None:
    seen = observe(job(), state)
    assert (seen.phase, seen.message, seen.finished) == (phase, message, False)


def test_image_that_cannot_be_pulled_is_named_while_pending() -> None:
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image x"}}
    seen = observe(job(), pod("Pending", clone=waiting))
    assert seen.phase == "Pending"
    assert "ImagePullBackOff: Back-off pulling image x" in seen.message and "cannot start" in seen.message


def test_condition_transition_time_survives_unchanged_status() -> None:
    first = status_fields(observe(job(), pod("Running", clone=DONE, build={"running": {}})), [], [])
    again = status_fields(
        observe(job(), pod("Running", clone=DONE, build={"running": {}})), first["conditions"], []
    )
    assert again["conditions"] == first["conditions"]


def test_log_archive_round_trips_and_keeps_the_end_of_a_log_over_the_cap() -> None:
    small = b"STEP 1/1: FROM scratch\n"
    assert decompress_log(compress_log(small)) == small.decode()
    # random-looking text compresses badly: 4 MiB of it cannot fit 64 KiB
    import random

    rng = random.Random(7)
    big = "".join(f"{rng.getrandbits(64):016x}\n" for _ in range(250_000)).encode() + b"THE END\n"
    archive = compress_log(big, limit=64 * 1024)
    assert len(archive) <= 64 * 1024
    text = decompress_log(archive)
    assert text.endswith("THE END\n")
    first_line = text.splitlines()[0] + "\n"
    dropped = len(big) - (len(text.encode()) - len(first_line.encode()))
    assert first_line == TRUNCATION_MARKER.format(dropped=dropped)


def test_log_archive_manifest_is_owned_by_and_labelled_as_its_buildrun() -> None:
    meta = {
        "name": "main-1",
        "namespace": "kiln-acme",
        "uid": "u-9",
        "labels": {"kiln.dev/build-rule": "main", "x": "y"},
    }
    manifest = archive_manifest(meta, compress_log(b"log"))
    assert manifest["metadata"]["name"] == "main-1-log"
    assert manifest["metadata"]["labels"] == {"kiln.dev/build-rule": "main", "kiln.dev/build-run": "main-1"}
    (owner,) = manifest["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "BuildRun",
        "main-1",
        "u-9",
        True,
    )
    assert set(manifest["binaryData"]) == {"build.log.gz"}


def test_the_build_starts_when_its_checkout_does() -> None:
    waiting = observe(job(), pod("Pending", clone={"waiting": {"reason": "ContainerCreating"}}))
    assert waiting.start_time is None  # queued or pulling: not started
    cloning = observe(job(), pod("Pending", clone={"running": {"startedAt": "2026-12-01T10:00:30Z"}}))
    assert cloning.start_time == "2026-12-01T10:00:30Z"


def test_a_deleted_job_ends_the_build_for_good() -> None:
    from kiln.reconcile.buildrun import settle

    run = {
        "metadata": {"name": "r"},
        "status": {"jobName": "r", "phase": "Running", "images": [{"ref": "a:b"}]},
    }
    fields = settle(run, None, None)
    assert (
        fields["phase"] == "Failed"
        and "the build Job r was deleted before the build finished" in fields["message"]
    )
    assert "completionTime" in fields
    assert (
        settle({"metadata": {"name": "r"}, "status": {}}, None, None)["phase"] == "Pending"
    )  # not created yet


def test_progress_fields_and_the_lines_they_are_read_from() -> None:
    from kiln.builds import Strategy, parse_progress
    from kiln.builds.status import ProgressLines, progress_fields

    lines = ProgressLines()
    for line in [
        "STEP 1/3: FROM x",
        "Getting image source signatures",
        "STEP 2/3: RUN a",
        "--> Using cache 1",
        "noise",
    ]:
        lines.add(line)
    assert lines.lines == ["STEP 1/3: FROM x", "STEP 2/3: RUN a", "--> Using cache 1"]
    progress = progress_fields(parse_progress(lines.lines, Strategy.BUILDAH))
    assert progress == {"step": 2, "total": 3, "cached": 1, "summary": "2/3 (1 cached)"}


def test_cancelled_and_finished_builds_say_so() -> None:
    from kiln.builds.status import cancelled_fields, finish_event

    cancelled = cancelled_fields([])
    assert (cancelled["phase"], cancelled["conditions"][0]["reason"]) == ("Cancelled", "Cancelled")
    assert finish_event(cancelled) == ("Normal", "Cancelled", "cancelled (spec.cancel)")
    message = json.dumps({"digest": DIGEST})
    pushed = status_fields(
        observe(job(), pod("Succeeded", clone=DONE, build=terminated(0, message))), [], ["r/a:v1"]
    )
    assert finish_event(pushed) == ("Normal", "Pushed", "pushed r/a:v1")
    failed = status_fields(observe(job(), pod("Failed", clone=DONE, build=terminated(1, "boom"))), [], [])
    assert finish_event(failed)[:2] == ("Warning", "BuildFailed")
