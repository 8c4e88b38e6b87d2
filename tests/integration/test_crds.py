"""The generated CRDs on a real kube-apiserver 1.20: accepted, enforcing, listed, explained.

Only what OpenAPI can express is tested here; the cross-field rules (name xor pattern, pattern
compiles, template groups exist) belong to the admission webhook.
"""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kiln.api.constants import GROUP, KINDS, KINDS_BY_NAME, NAMESPACE, VERSION, Scope
from tests.conftest import Cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"

pytestmark = pytest.mark.cluster

Body = dict[str, Any]


def example(name: str) -> Body:
    body: Body = yaml.safe_load((EXAMPLES / name).read_text())
    return body


@pytest.fixture
def kiln_namespace_name(cluster: Any, crds: Cluster) -> Iterator[str]:
    """A unique name for a cluster-scoped Kiln Namespace, deleted after the test."""
    name = f"kiln-test-{uuid.uuid4().hex[:8]}"
    yield name
    cluster.kubectl("delete", NAMESPACE.crd_name, name, "--ignore-not-found", "--wait=false")


Apply = Callable[[Body], subprocess.CompletedProcess[str]]


@pytest.fixture
def apply(cluster: Any, crds: Cluster, namespace: str, kiln_namespace_name: str) -> Apply:
    """kubectl apply one object into the test namespace (a Kiln Namespace gets the unique name)."""
    # a tenant's namespace, so the objects also pass the operator's admission webhook if a test
    # session registered it (these tests are about what the API server's schemas refuse)
    client.CoreV1Api(cluster.api_client).patch_namespace(
        namespace, {"metadata": {"labels": {"kiln.dev/namespace": "crd-tests"}}}
    )

    def run(body: Body) -> subprocess.CompletedProcess[str]:
        body = copy.deepcopy(body)
        if KINDS_BY_NAME[body["kind"]].scope is Scope.CLUSTER:
            body["metadata"]["name"] = kiln_namespace_name
        proc: subprocess.CompletedProcess[str] = cluster.kubectl(
            "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body), check=False
        )
        return proc

    return run


EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def test_crds_are_established_with_names_and_category(cluster: Any, crds: Cluster) -> None:
    for info in KINDS:
        crd = json.loads(cluster.kubectl("get", f"crd/{info.crd_name}", "-o", "json").stdout)
        assert crd["status"]["acceptedNames"]["shortNames"] == list(info.short_names)
        assert crd["status"]["acceptedNames"]["categories"] == ["kiln"]
        assert crd["spec"]["scope"] == info.scope


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_valid_example_is_accepted(cluster: Any, apply: Apply, namespace: str, name: str) -> None:
    proc = apply(example(name))
    assert proc.returncode == 0, proc.stderr
    assert "created" in proc.stdout


def test_defaults_are_applied_by_the_apiserver(cluster: Any, apply: Apply, namespace: str) -> None:
    body = example("buildrule-main.yaml")
    del body["spec"]["contextDir"], body["spec"]["dockerfile"]
    assert apply(body).returncode == 0
    stored = json.loads(cluster.kubectl("get", "brule", "main", "-n", namespace, "-o", "json").stdout)
    spec = stored["spec"]
    assert spec["contextDir"] == "/"
    assert spec["dockerfile"] == "Dockerfile"
    assert spec["platforms"] == ["linux/amd64"]
    assert spec["runPolicy"] == "Serial"
    assert spec["timeout"] == "1h"
    assert spec["history"] == {"succeeded": 10, "failed": 10}


def _rule_with(**changes: Any) -> Body:
    body = example("buildrule-main.yaml")
    body["spec"].update(changes)
    return body


def _run_with_commit(commit: str) -> Body:
    body = example("buildrun.yaml")
    body["spec"]["source"]["commit"] = commit
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_rule_with(tags=[{"tag": f"t{i}"} for i in range(4)]), "spec.tags"),
        (_rule_with(tags=[]), "spec.tags"),
        (_rule_with(buildArgs={f"ARG_{i}": "x" for i in range(21)}), "spec.buildArgs"),
        (_rule_with(platforms=["linux/amd64", "windows/amd64"]), "spec.platforms"),
        (_rule_with(platforms=["linux/amd64", "linux/amd64"]), "spec.platforms[1]"),
        (_rule_with(tags=[{"tag": "x", "commitIdLength": 41}]), "commitIdLength"),
        (_rule_with(tags=[{"tag": "x", "commitIdLength": 0}]), "commitIdLength"),
        (_rule_with(runPolicy="Sometimes"), "spec.runPolicy"),
        (_run_with_commit("d4ef3dc"), "spec.source.commit"),
    ],
    ids=[
        "4-tags",
        "0-tags",
        "21-build-args",
        "bad-platform",
        "duplicate-platform",
        "commit-id-length-41",
        "commit-id-length-0",
        "bad-run-policy",
        "short-commit",
    ],
)
def test_invalid_object_is_rejected_naming_the_field(apply: Apply, body: Body, field: str) -> None:
    proc = apply(body)
    assert proc.returncode != 0, f"accepted: {proc.stdout}"
    assert field in proc.stderr, proc.stderr


def test_get_kiln_lists_every_kind(
    cluster: Any, apply: Apply, namespace: str, kiln_namespace_name: str
) -> None:
    for name in EXAMPLE_FILES:
        assert apply(example(name)).returncode == 0
    out = cluster.kubectl("get", "kiln", "-n", namespace, "-o", "name").stdout.split()
    expected = {f"namespace.{GROUP}/{kiln_namespace_name}"} | {
        f"{example(n)['kind'].lower()}.{GROUP}/{example(n)['metadata']['name']}"
        for n in EXAMPLE_FILES
        if example(n)["kind"] != "Namespace"
    }
    assert expected <= set(out), out


def test_explain_shows_field_descriptions(cluster: Any, crds: Cluster) -> None:
    out = cluster.kubectl("explain", "buildrule.spec.tags").stdout
    assert "The image tags to push, 1 to 3." in out
    assert "commitIdLength" in out
    out = cluster.kubectl("explain", "buildrun.status.images").stdout
    assert "Images pushed, one per tag." in out


def _table(cluster: Any, *args: str) -> dict[str, str]:
    """The first row of `kubectl get` as header -> cell."""
    lines = cluster.kubectl("get", *args).stdout.splitlines()
    header = lines[0]
    # Columns start where a header word starts after two spaces; cells are aligned to them.
    starts = [0] + [
        i + 2 for i in range(len(header) - 2) if header[i : i + 2] == "  " and header[i + 2] != " "
    ]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return {header[a:b].strip(): lines[1][a:b].strip() for a, b in bounds}


def test_printer_columns(cluster: Any, apply: Apply, namespace: str) -> None:
    for name in ("buildrule-release.yaml", "buildrun.yaml"):
        assert apply(example(name)).returncode == 0
    rule = _table(cluster, "brule", "release", "-n", namespace)
    assert rule["REPOSITORY"] == "app"
    assert rule["TYPE"] == "Branch"
    assert rule["SOURCE"] == r"release-(?<imageTag>\w*)"
    assert "${imageTag}" in rule["TAGS"]

    status = {
        "phase": "Succeeded",
        "shortCommit": "d4ef3dc",
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Pushed",
                "lastTransitionTime": "2020-10-15T08:30:00Z",
            }
        ],
        "images": [{"ref": "registry.example.com/acme/app:v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45"}],
    }
    client.CustomObjectsApi(cluster.api_client).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "buildruns", "release-d4ef3dc", {"status": status}
    )
    run = _table(cluster, "brun", "release-d4ef3dc", "-n", namespace)
    assert run["RULE"] == "release"
    assert run["REF"] == "refs/heads/release-v1"
    assert run["COMMIT"] == "d4ef3dc"
    assert run["STATUS"] == "True"
    assert run["REASON"] == "Pushed"
    assert run["IMAGE"] == status["images"][0]["ref"]  # type: ignore[index]
