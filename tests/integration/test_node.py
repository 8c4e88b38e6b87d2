"""The harness node is real: Jobs run as containers, logs/exec go through the kubelet, builds push images."""

from __future__ import annotations

import time
import uuid
from typing import Any

from kubernetes import client

from tests.conftest import Cluster, GitServer, Registry


def _run_job(cluster: Cluster, namespace: str, pod_spec: dict[str, Any], timeout: float = 120) -> Any:
    """Create a Job with one Pod, wait until it completes or fails, return its Pod."""
    batch = client.BatchV1Api(cluster.api_client)
    core = client.CoreV1Api(cluster.api_client)
    name = f"job-{uuid.uuid4().hex[:6]}"
    batch.create_namespaced_job(
        namespace,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", **pod_spec}}},
        },
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = batch.read_namespaced_job_status(name, namespace)
        if job.status.succeeded or job.status.failed:
            pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
            assert len(pods) == 1
            return pods[0]
        time.sleep(0.3)
    raise AssertionError(f"job {name} neither completed nor failed in {timeout} s")


def test_node_is_ready(cluster: Cluster) -> None:
    nodes = client.CoreV1Api(cluster.api_client).list_node().items
    assert len(nodes) == 1
    ready = {c.type: c.status for c in nodes[0].status.conditions}["Ready"]
    assert ready == "True"
    assert nodes[0].status.node_info.kubelet_version == "v1.20.2"


def _busybox(cluster: Cluster, script: str) -> dict[str, Any]:
    """A pod spec running `script` in the node's busybox image (imported, never pulled)."""
    return {
        "containers": [
            {
                "name": "main",
                "image": cluster.busybox_image,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
            }
        ]
    }


def test_job_prints_lines_and_logs_are_readable(cluster: Cluster, namespace: str) -> None:
    pod = _run_job(cluster, namespace, _busybox(cluster, "for i in 1 2 3; do echo line-$i; done"))
    assert pod.status.phase == "Succeeded"
    logs = client.CoreV1Api(cluster.api_client).read_namespaced_pod_log(pod.metadata.name, namespace)
    assert logs.splitlines() == ["line-1", "line-2", "line-3"]
    # the same through the real kubectl
    assert cluster.kubectl("logs", "-n", namespace, pod.metadata.name).stdout.split() == [
        "line-1",
        "line-2",
        "line-3",
    ]


def test_failing_job_reports_its_termination_message(cluster: Cluster, namespace: str) -> None:
    pod = _run_job(
        cluster, namespace, _busybox(cluster, "echo 'build exploded' > /dev/termination-log; exit 3")
    )
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 3
    assert terminated.message == "build exploded\n"


def test_exec_goes_through_the_kubelet(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper"},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    {
                        "name": "main",
                        "image": cluster.busybox_image,
                        "imagePullPolicy": "Never",
                        "command": ["sleep", "300"],
                    }
                ],
            },
        },
    )
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
    out = cluster.kubectl("exec", "-n", namespace, "sleeper", "--", "sh", "-c", "echo $((6 * 7))").stdout
    assert out.strip() == "42"


def test_builder_job_builds_from_git_and_pushes_to_registry(
    cluster: Cluster, namespace: str, gitserver: GitServer, registry: Registry
) -> None:
    repo = f"app-{uuid.uuid4().hex[:6]}"
    commit = gitserver.create(
        repo, {"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n", "hello.txt": f"{repo}\n"}
    )
    image = f"{registry.address}/harness/{repo}:{commit[:7]}"
    script = f"""
        git clone -q {gitserver.url(repo)} /workspace
        cd /workspace && git checkout -q {commit}
        buildah bud --network host -t {image} .
        buildah push --tls-verify=false --digestfile /dev/termination-log {image}
    """
    pod = _run_job(
        cluster,
        namespace,
        {
            # hostNetwork: the git daemon and the registry listen on the host's loopback
            "hostNetwork": True,
            "containers": [
                {
                    "name": "build",
                    "image": cluster.builder_image,
                    "imagePullPolicy": "Never",
                    "securityContext": {"privileged": True},
                    "command": ["bash", "-ec", script],
                }
            ],
        },
        timeout=180,
    )
    logs = client.CoreV1Api(cluster.api_client).read_namespaced_pod_log(pod.metadata.name, namespace)
    assert pod.status.phase == "Succeeded", logs
    pushed_digest = pod.status.container_statuses[0].state.terminated.message
    assert pushed_digest.startswith("sha256:")
    assert pushed_digest == registry.manifest_digest(f"harness/{repo}", commit[:7])


def test_containerd_pulls_from_the_local_registry_over_http(cluster: Cluster, namespace: str) -> None:
    # the node start pushed the busybox image to the registry; Always forces a real pull
    pulled = cluster.busybox_image.replace("localhost/", "127.0.0.1:5000/")
    pod = _run_job(
        cluster,
        namespace,
        {
            "containers": [
                {"name": "main", "image": pulled, "imagePullPolicy": "Always", "command": ["echo", "pulled"]}
            ]
        },
    )
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].image_id.startswith("127.0.0.1:5000/kiln/busybox@sha256:")
