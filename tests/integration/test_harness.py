"""The harness is real: these talk to the kube-apiserver, registry and git daemon the hack/ scripts start."""

from __future__ import annotations

import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, watch

from tests.conftest import Cluster, GitServer, Registry


def test_apiserver_readyz_through_real_kubectl(cluster: Cluster) -> None:
    assert cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    version = cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.20.2"' in version


def test_configmap_create_watch_delete(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client)
    seen: list[tuple[str, str]] = []
    # watching from the list's resourceVersion: no event is missed however late the watch connects
    since = core.list_namespaced_config_map(namespace).metadata.resource_version

    def watch_configmaps() -> None:
        w = watch.Watch()
        for event in w.stream(
            core.list_namespaced_config_map, namespace, resource_version=since, timeout_seconds=20
        ):
            obj = event["object"]
            if obj.metadata.name == "harness":
                seen.append((event["type"], obj.data.get("k", "") if obj.data else ""))
            if event["type"] == "DELETED" and obj.metadata.name == "harness":
                w.stop()

    watcher = threading.Thread(target=watch_configmaps, daemon=True)
    watcher.start()
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="harness"), data={"k": "v1"})
    )
    core.patch_namespaced_config_map("harness", namespace, {"data": {"k": "v2"}})
    core.delete_namespaced_config_map("harness", namespace)
    watcher.join(25)

    assert not watcher.is_alive(), "the watch never saw the ConfigMap deleted"
    assert [t for t, _ in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[1][1] == "v2"
    names = [cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items]
    assert "harness" not in names


# the host reaches the node address too (pods reaching it: test_node.py)
@pytest.mark.parametrize("address", ["address", "pod_address"])
def test_registry_serves_the_v2_api(registry: Registry, address: str) -> None:
    with urllib.request.urlopen(f"http://{getattr(registry, address)}/v2/", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


@pytest.mark.parametrize("url", ["url", "pod_url"])
def test_gitserver_push_then_clone(gitserver: GitServer, tmp_path: Path, url: str) -> None:
    name = f"harness-{tmp_path.name}"
    first = gitserver.create(name, {"Dockerfile": "FROM scratch\n"})
    second = gitserver.push(name, {"README": "hello\n"}, message="second")
    assert first != second
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", getattr(gitserver, url)(name), str(clone)], check=True)
    head = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert head == second
    assert (clone / "Dockerfile").read_text() == "FROM scratch\n"
    assert (clone / "README").read_text() == "hello\n"


def test_registry_and_git_daemon_listen_on_loopback_and_node_address_only(
    registry: Registry, gitserver: GitServer
) -> None:
    # unauthenticated servers that take pushes: never on the machine's other interfaces (0.0.0.0)
    sockets = subprocess.run(["ss", "-Hltn"], check=True, capture_output=True, text=True).stdout
    listening = {line.split()[3] for line in sockets.splitlines()}
    node_ip = registry.pod_address.rsplit(":", 1)[0]
    for port, expected in [
        (registry.address.rsplit(":", 1)[1], {registry.address, registry.pod_address}),
        (str(gitserver.port), {f"127.0.0.1:{gitserver.port}", f"{node_ip}:{gitserver.port}"}),
    ]:
        assert {a for a in listening if a.rsplit(":", 1)[1] == port} == expected
