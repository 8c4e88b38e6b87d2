"""Every generated Job (and its ConfigMap) is accepted by the real API server: server-side dry run.

The same variants as the schema check against current Kubernetes (tests/unit/builds), moved into
a fresh namespace; `--dry-run=server` runs the API server's whole admission and validation chain
without storing anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.unit.builds.objects import variants

PLANS = variants()


def objects(output: str) -> list[dict[str, Any]]:
    """kubectl prints one JSON document per object created (or a List): the objects, in order."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output.rstrip()):
        document, end = decoder.raw_decode(output, at)
        found.extend(document.get("items", [document]))
        at = end + len(output[end:]) - len(output[end:].lstrip())
    return found


@pytest.mark.parametrize("name", sorted(PLANS))
def test_job_is_accepted_by_the_api_server(cluster: Cluster, namespace: str, name: str) -> None:
    items: list[dict[str, Any]] = [
        {**m, "metadata": {**m["metadata"], "namespace": namespace}} for m in PLANS[name].manifests
    ]
    proc = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    created = objects(proc.stdout)
    assert [i["kind"] for i in created] == [m["kind"] for m in items]
    job = next(i for i in created if i["kind"] == "Job")
    # nothing the API server pruned: the containers come back as sent
    sent = next(m for m in items if m["kind"] == "Job")["spec"]["template"]["spec"]
    for key in ("initContainers", "containers"):
        for ours, stored in zip(sent[key], job["spec"]["template"]["spec"][key], strict=True):
            assert stored["command"] == ours["command"] and stored.get("args") == ours.get("args")
            assert stored["securityContext"] == ours["securityContext"]
