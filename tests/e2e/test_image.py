"""The Kiln image (Dockerfile, hack/image.sh): its config, and Kiln running from it on the local node
as a restricted pod would run it (non-root, read-only root filesystem, no capabilities)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any

import pytest
from kubernetes import client

from kiln import __version__
from tests.conftest import Cluster
from tests.e2e.conftest import image_sh

# a container that waits for one of these will never start: fail at once with the reason
STUCK = {"ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError", "InvalidImageName"}


def _image_config(ref: str) -> dict[str, Any]:
    """The config of the archive that was imported into the node, read by skopeo (not Kiln's code)."""
    archive = image_sh("archive", ref)
    proc = subprocess.run(
        ["skopeo", "inspect", "--config", f"oci-archive:{archive}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"skopeo inspect --config oci-archive:{archive}: {proc.stderr}", pytrace=False)
    config: dict[str, Any] = json.loads(proc.stdout)["config"]
    return config


def test_image_runs_as_a_numeric_non_root_user_with_kiln_as_entrypoint(kiln_image: str) -> None:
    assert kiln_image.startswith("localhost/kiln/kiln:")
    assert kiln_image.rsplit(":", 1)[1].startswith(f"{__version__}-")
    config = _image_config(kiln_image)
    user, _, group = config["User"].partition(":")
    # numeric, so the kubelet can check runAsNonRoot without an /etc/passwd lookup
    assert user.isdigit(), config["User"]
    assert int(user) != 0
    assert not group or group.isdigit(), config["User"]
    assert config["Entrypoint"] == ["kiln"]
    assert config["Cmd"] == ["--help"]
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]
    assert config["Labels"]["org.opencontainers.image.version"] == __version__


def _restricted(name: str, image: str, **container: Any) -> dict[str, Any]:
    """A container as a locked-down pod runs it: read-only root, no privilege escalation, no capabilities."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Never",
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **container,
    }


def _run_pod(cluster: Cluster, namespace: str, containers: list[dict[str, Any]], timeout: float = 120) -> Any:
    """Create a Pod of `containers` (runAsNonRoot, no user given: the image's user must do), wait until it ends."""
    core = client.CoreV1Api(cluster.api_client)
    name = f"kiln-{uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True},
            "automountServiceAccountToken": False,
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "containers": containers,
        },
    }
    core.create_namespaced_pod(namespace, body)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod: Any = core.read_namespaced_pod(name, namespace)
        if pod.status.phase in ("Succeeded", "Failed"):
            return pod
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting
            if waiting and waiting.reason in STUCK:
                raise AssertionError(f"container {status.name}: {waiting.reason}: {waiting.message}")
        time.sleep(0.3)
    raise AssertionError(f"pod {name} did not finish in {timeout} s: {pod.status}")


def _logs(cluster: Cluster, pod: Any, container: str) -> str:
    return str(
        client.CoreV1Api(cluster.api_client).read_namespaced_pod_log(
            pod.metadata.name, pod.metadata.namespace, container=container
        )
    )


def test_kiln_runs_from_the_image_as_a_restricted_pod(
    cluster: Cluster, namespace: str, kiln_image: str
) -> None:
    pod = _run_pod(
        cluster,
        namespace,
        [
            _restricted("version", kiln_image, args=["--version"]),
            _restricted("operator-help", kiln_image, args=["operator", "--help"]),
            # what `kiln operator` and `kiln webhook serve` import (kopf, kubernetes, aiohttp, the
            # code host clients, pydantic...): the image's dependencies are all there
            _restricted(
                "imports",
                kiln_image,
                command=["python3", "-c"],
                args=[
                    "import sys, kiln.controllers.operator, kiln.receiver.app; print(sys.prefix, sys.flags.dont_write_bytecode)"
                ],
            ),
        ],
    )
    logs = {c: _logs(cluster, pod, c) for c in ("version", "operator-help", "imports")}
    exits = {s.name: s.state.terminated.exit_code for s in pod.status.container_statuses}
    assert pod.status.phase == "Succeeded", (exits, logs)
    assert exits == {"version": 0, "operator-help": 0, "imports": 0}
    assert logs["version"].strip() == f"kiln {__version__}"
    assert logs["operator-help"].startswith("usage: kiln operator"), logs["operator-help"]
    assert "--kubeconfig" in logs["operator-help"]
    # the venv's interpreter, which writes no bytecode on the read-only root
    assert logs["imports"].split() == ["/opt/kiln", "1"]
