"""A BuildRun and what it names (a fake API server) -> its one Job, or why it cannot be built; its
Job and Pod -> its status and log archive; cancel. The real API server: tests/integration."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import yaml

from kiln.builds.logs import ARCHIVE_KEY
from kiln.platform.settings import Settings
from kiln.reconcile.buildrun import archive_log, build_pod, cancel, start
from tests.unit.reconcile.fake_kube import FakeKube

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
NS = "kiln-acme"


def example(name: str, **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    body["metadata"] = {**body["metadata"], **meta}
    return body


def cluster(*without: str) -> tuple[FakeKube, dict[str, Any]]:
    """The docs/examples objects of tenant acme (less the kinds in `without`), and its BuildRun."""
    run = example("buildrun.yaml", namespace=NS, uid="run-uid")
    objects = {
        "Namespace": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NS, "labels": {"kiln.dev/namespace": "acme"}},
        },
        "Tenant": example("namespace.yaml"),
        "BuildRule": example("buildrule-release.yaml", namespace=NS),
        "Repository": example("repository.yaml", namespace=NS),
    }
    return FakeKube(*(o for kind, o in objects.items() if kind not in without)), run


def test_buildrun_to_one_job_and_a_pending_status() -> None:
    kube, run = cluster()
    fields = start(kube, Settings(), run)
    assert (fields["phase"], fields["jobName"], fields["shortCommit"]) == (
        "Pending",
        "release-d4ef3dc",
        "d4ef3dc",
    )
    job = kube.get("batch/v1", "Job", "release-d4ef3dc", NS)
    assert job is not None and job["metadata"]["ownerReferences"][0]["uid"] == "run-uid"
    assert [w for w in kube.writes if w[0] == "create"] == [("create", "Job", "release-d4ef3dc")]
    # a second start (a restart) adopts the Job: still one
    again = start(kube, Settings(), {**run, "status": fields})
    assert again["jobName"] == "release-d4ef3dc"
    # its create was answered 409 and the Job found is the same one
    assert [j["metadata"]["uid"] for j in kube.list("batch/v1", "Job", NS)] == [job["metadata"]["uid"]]
    assert ("apply", "Job", "release-d4ef3dc") not in kube.writes


def test_what_the_buildrun_names_missing_or_invalid_to_a_reason() -> None:
    for missing, reason, words in [
        ("BuildRule", "InvalidRule", "BuildRule 'release' not found in kiln-acme"),
        ("Repository", "InvalidRepository", "Repository 'app' not found in kiln-acme"),
        ("Tenant", "InvalidTenant", "belongs to no Kiln Namespace"),
    ]:
        kube, run = cluster(missing)
        fields = start(kube, Settings(), run)
        (condition,) = fields["conditions"]
        assert (fields["phase"], condition["reason"]) == ("Failed", reason), missing
        assert words in fields["message"]
        assert kube.get("batch/v1", "Job", "release-d4ef3dc", NS) is None


def test_a_job_of_that_name_not_the_buildruns_is_not_adopted() -> None:
    kube, run = cluster()
    kube.create(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "release-d4ef3dc", "namespace": NS}}
    )
    fields = start(kube, Settings(), run)
    assert fields["phase"] == "Failed" and "is not this BuildRun's" in fields["message"]


def test_a_job_deleted_while_the_operator_was_away_is_not_built_again() -> None:
    kube, run = cluster()
    fields = start(kube, Settings(), {**run, "status": {"jobName": "release-d4ef3dc", "phase": "Running"}})
    assert fields["phase"] == "Failed" and "was deleted before the build finished" in fields["message"]
    assert kube.get("batch/v1", "Job", "release-d4ef3dc", NS) is None


def pod(name: str, owner_uid: str, created: str = "2026-12-01T10:00:00Z") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "creationTimestamp": created,
            "labels": {"kiln.dev/build-run": "release-d4ef3dc"},
            "ownerReferences": [{"uid": owner_uid, "controller": True}],
        },
    }


def test_only_pods_the_job_controls_are_the_builds_and_cancel_deletes_only_them() -> None:
    kube, run = cluster()
    start(kube, Settings(), run)
    job = kube.get("batch/v1", "Job", "release-d4ef3dc", NS)
    assert job is not None
    kube.create(pod("real", job["metadata"]["uid"]))
    kube.create(pod("forged", "someone-else", created="2026-12-01T11:00:00Z"))  # newer, same label
    found = build_pod(kube, NS, "release-d4ef3dc")
    assert found is not None and found["metadata"]["name"] == "real"
    cancel(kube, NS, "release-d4ef3dc", "release-d4ef3dc")
    assert kube.get("batch/v1", "Job", "release-d4ef3dc", NS) is None
    assert kube.get("v1", "Pod", "real", NS) is None
    assert kube.get("v1", "Pod", "forged", NS) is not None


def test_log_archive_keeps_what_each_container_left() -> None:
    kube, run = cluster()
    kube.logs[("p", "clone")] = ["fatal: could not read from remote repository"]
    # the build container never started: no log for it, and the checkout's is kept all the same
    archive = archive_log(kube, run, pod("p", "job-uid"))
    assert archive == "configmaps/release-d4ef3dc-log"
    stored = kube.get("v1", "ConfigMap", "release-d4ef3dc-log", NS)
    assert stored is not None
    text = gzip.decompress(base64.b64decode(stored["binaryData"][ARCHIVE_KEY])).decode()
    assert "fatal: could not read from remote repository" in text
    assert "==> build: no log (ApiException) <==" in text
