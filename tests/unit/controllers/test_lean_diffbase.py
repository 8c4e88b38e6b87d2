"""The operator's diff-base storage builds exactly the essence kopf's own builds, from less copying."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from kiln.controllers.operator import LeanDiffBaseStorage

FIELD = "status.kopf.diffbase"

BUILD_RUN: dict[str, Any] = {
    "apiVersion": "kiln.dev/v1alpha1",
    "kind": "BuildRun",
    "metadata": {
        "name": "main-0d1a26e",
        "namespace": "kiln-acme",
        "uid": "6f1c",
        "resourceVersion": "1234",
        "labels": {"kiln.dev/namespace": "acme"},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "kopf.zalando.org/last-handled-configuration": "{}",
            "kiln.dev/note": "kept",
        },
        "managedFields": [{"manager": "kiln-webhook", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {
        "rule": "main",
        "source": {"commit": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"},
        "cancel": False,
    },
    "status": {
        "phase": "Pending",
        "jobName": "main-0d1a26e",
        "kopf": {"diffbase": '{"spec": {}}', "progress": {}},
    },
}


def essences(body: dict[str, Any], extra: Any = None) -> tuple[Any, Any]:
    lean = LeanDiffBaseStorage(field=FIELD).build(body=kopf.Body(body), extra_fields=extra)
    kopfs = kopf.StatusDiffBaseStorage(field=FIELD).build(body=kopf.Body(body), extra_fields=extra)
    return lean, kopfs


@pytest.mark.parametrize(
    "extra",
    [None, [], ["spec.cancel"], ["status.phase"], [("status", "jobName")], ["metadata.name"]],
)
def test_build_run_body_to_the_same_essence_as_kopfs(extra: Any) -> None:
    lean, kopfs = essences(BUILD_RUN, extra)
    assert lean == kopfs
    assert "status" not in kopfs or (extra and any("status" in str(f) for f in extra))


def test_status_fields_handlers_watch_are_kept() -> None:
    lean, _ = essences(BUILD_RUN, ["status.phase"])
    assert lean["status"] == {"phase": "Pending"}


def test_body_without_metadata_or_status_to_the_same_essence() -> None:
    body = {"apiVersion": "v1", "kind": "Thing", "spec": {"a": [1, {"b": 2}]}}
    lean, kopfs = essences(body, ["status.x"])
    assert lean == kopfs == {"spec": {"a": [1, {"b": 2}]}}


def test_the_essence_is_a_copy() -> None:
    body = {"spec": {"a": [1]}, "metadata": {"labels": {"x": "y"}}}
    lean, _ = essences(body)
    body["spec"]["a"].append(2)
    body["metadata"]["labels"]["x"] = "z"
    assert lean == {"spec": {"a": [1]}, "metadata": {"labels": {"x": "y"}}}
