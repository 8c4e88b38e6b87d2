"""The harness node is real: Jobs run as containers, logs/exec go through the kubelet, builds push images."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from typing import Any

import pytest
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


def _pod_spec(image: str, command: list[str], **container: Any) -> dict[str, Any]:
    """A pod spec on the pod network (no hostNetwork) whose one container runs `command` in `image`.

    The image is one the node imported and is never pulled, unless `container` says otherwise.
    """
    return {
        "containers": [
            {"name": "main", "image": image, "imagePullPolicy": "Never", "command": command, **container}
        ]
    }


def _busybox(cluster: Cluster, script: str) -> dict[str, Any]:
    """A pod spec running `script` in the node's busybox image."""
    return _pod_spec(cluster.busybox_image, ["sh", "-c", script])


def _builder(cluster: Cluster, script: str, **container: Any) -> dict[str, Any]:
    """A pod spec running `script` with `bash -e` in the node's builder image (buildah, runc, git)."""
    return _pod_spec(cluster.builder_image, ["bash", "-ec", script], **container)


def _logs(cluster: Cluster, pod: Any) -> str:
    return str(
        client.CoreV1Api(cluster.api_client).read_namespaced_pod_log(
            pod.metadata.name, pod.metadata.namespace
        )
    )


def _assert_on_pod_network(pod: Any, node_address: str) -> None:
    """The pod has an address of its own on the bridge, and `node_address` is its node's."""
    assert not pod.spec.host_network
    assert pod.status.pod_ip != pod.status.host_ip
    assert node_address.rsplit(":", 1)[0] == pod.status.host_ip


def test_job_prints_lines_and_logs_are_readable(cluster: Cluster, namespace: str) -> None:
    pod = _run_job(cluster, namespace, _busybox(cluster, "for i in 1 2 3; do echo line-$i; done"))
    assert pod.status.phase == "Succeeded"
    assert _logs(cluster, pod).splitlines() == ["line-1", "line-2", "line-3"]
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


def test_plain_pod_reaches_git_daemon_and_registry_over_the_node_address(
    cluster: Cluster, namespace: str, gitserver: GitServer, registry: Registry
) -> None:
    # neither hostNetwork nor privileged: the servers must answer on the pod network as a real
    # cluster's code host and registry do
    repo = f"reach-{uuid.uuid4().hex[:6]}"
    commit = gitserver.create(repo, {"README": f"{repo}\n"})
    host, port = registry.pod_address.rsplit(":", 1)
    script = f"""
        git ls-remote {gitserver.pod_url(repo)} refs/heads/main
        exec 3<>/dev/tcp/{host}/{port}
        printf 'GET /v2/ HTTP/1.0\\r\\nHost: {registry.pod_address}\\r\\n\\r\\n' >&3
        cat <&3
    """
    pod = _run_job(cluster, namespace, _builder(cluster, script))
    logs = _logs(cluster, pod)
    assert pod.status.phase == "Succeeded", logs
    _assert_on_pod_network(pod, registry.pod_address)
    lines = logs.splitlines()
    assert lines[0] == f"{commit}\trefs/heads/main"
    assert re.fullmatch(r"HTTP/1\.[01] 200 OK", lines[1]), logs
    assert "Docker-Distribution-Api-Version: registry/2.0" in lines, logs


def test_builder_job_builds_from_git_and_pushes_to_registry(
    cluster: Cluster, namespace: str, gitserver: GitServer, registry: Registry
) -> None:
    repo = f"app-{uuid.uuid4().hex[:6]}"
    commit = gitserver.create(
        repo, {"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n", "hello.txt": f"{repo}\n"}
    )
    # on the pod network, as a build pod in a real cluster: git daemon and registry at the node address
    image = f"{registry.pod_address}/harness/{repo}:{commit[:7]}"
    script = f"""
        git clone -q {gitserver.pod_url(repo)} /workspace
        cd /workspace && git checkout -q {commit}
        buildah bud --network host -t {image} .
        buildah push --tls-verify=false --digestfile /dev/termination-log {image}
    """
    pod = _run_job(
        cluster, namespace, _builder(cluster, script, securityContext={"privileged": True}), timeout=180
    )
    logs = _logs(cluster, pod)
    assert pod.status.phase == "Succeeded", logs
    _assert_on_pod_network(pod, registry.pod_address)
    pushed_digest = pod.status.container_statuses[0].state.terminated.message
    assert pushed_digest.startswith("sha256:")
    # read back from the host's address: the same registry storage
    assert pushed_digest == registry.manifest_digest(f"harness/{repo}", commit[:7])


@pytest.mark.parametrize("address", ["address", "pod_address"])
def test_containerd_pulls_from_the_local_registry_over_http(
    cluster: Cluster, namespace: str, registry: Registry, address: str
) -> None:
    # the node start pushed the busybox image to the registry; Always forces a real pull (a failed
    # one leaves the Job pending, and _run_job times out)
    pulled = cluster.busybox_image.replace("localhost/", f"{getattr(registry, address)}/")
    pod = _run_job(cluster, namespace, _pod_spec(pulled, ["echo", "pulled"], imagePullPolicy="Always"))
    assert pod.status.phase == "Succeeded"
    # containerd reports one repo digest of the image, whichever of its names sorts first
    digest = registry.manifest_digest("kiln/busybox", pulled.rsplit(":", 1)[1])
    assert pod.status.container_statuses[0].image_id.endswith(f"/kiln/busybox@{digest}")


def test_a_pod_reaches_the_api_server_through_the_kubernetes_service(
    cluster: Cluster, namespace: str
) -> None:
    # what in-cluster clients do: KUBERNETES_SERVICE_HOST is the Service's cluster IP, which
    # kube-proxy sends to the node address, where the API server is forwarded
    script = 'wget -q -O- --no-check-certificate "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version"'
    pod = _run_job(cluster, namespace, _busybox(cluster, script))
    assert pod.status.phase == "Succeeded", _logs(cluster, pod)
    assert '"gitVersion": "v1.20.2"' in _logs(cluster, pod)


def test_a_service_routes_the_hosts_requests_to_its_pod(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client)
    labels = {"app": "svc-" + uuid.uuid4().hex[:6]}
    spec = _busybox(
        cluster, "mkdir -p /www && echo served-by-pod > /www/index.html && exec httpd -f -p 8080 -h /www"
    )
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": labels["app"], "labels": labels}, "spec": spec}
    )
    service = core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": labels["app"]},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    url = f"http://{service.spec.cluster_ip}/index.html"
    deadline, answer = time.monotonic() + 60, ""
    while time.monotonic() < deadline and answer != "served-by-pod":
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                answer = response.read().decode().strip()
        except OSError:
            time.sleep(0.5)
    assert answer == "served-by-pod", f"{url} did not answer from the pod within 60 s"
