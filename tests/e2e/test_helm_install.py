"""`helm install` of charts/kiln into the local cluster with Helm's own engine (helm-python-sdk, Helm
4's Go SDK): the operator and the receiver run from the Kiln image under the chart's ServiceAccounts
and RBAC, and a signed GitHub push sent to the receiver's Service (cluster IP, through kube-proxy)
becomes an image in the registry.

The harness's own operator gives way for the module (two operators would handle the same objects)
and is started again afterwards; the tenant is removed while the installed operator still runs, so
its finalizer is honoured, and the release is uninstalled last.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import helm_python as helm
import pytest
from kubernetes import client

from kiln.api.admission import CONFIGURATION_NAME
from tests.conftest import REPO, Cluster, GitServer, OperatorProcess, Registry, _hack
from tests.integration.conftest import Tenants, admission_answers, eventually
from tests.integration.test_builds import GITHUB_OWNER, BuildEnv, base_image, succeeded

CHART = REPO / "charts" / "kiln"
RELEASE = "kiln"
NAMESPACE = "kiln-system"
INSTALL_SECONDS = 300
RECEIVER_USER = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-receiver"


@dataclass(frozen=True)
class Release:
    cluster: Cluster
    config: helm.Config
    receiver_url: str  # the receiver's Service, at its cluster IP

    def uninstall(self) -> None:
        self.config.uninstall(RELEASE, wait="watcher", timeout=INSTALL_SECONDS, ignore_not_found=True)


def chart_values(cluster: Cluster, kiln_image: str, registry: Registry) -> dict[str, Any]:
    """The values a platform team would set to run Kiln on this cluster: the image, buildah builds
    (no BuildKit image exists here) from the node's builder image, the local registry over plain
    HTTP, and clones of github.com/kiln-e2e from the git daemon (as a mirror would serve them)."""
    repository, tag = kiln_image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "operator": {"replicas": 2, "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}}},
        "receiver": {"replicas": 2, "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}}},
        "settings": {
            "build": {
                "strategy": "buildah",
                "buildahImage": cluster.builder_image,
                "cloneImage": cluster.builder_image,
                "insecureRegistries": [registry.pod_address],
                "gitURLRewrites": {GITHUB_OWNER: _hack("gitserver.sh", "url") + "/"},
            }
        },
    }


def _pods(cluster: Cluster, component: str) -> list[Any]:
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
    return list(
        client.CoreV1Api(cluster.api_client).list_namespaced_pod(NAMESPACE, label_selector=selector).items
    )


def _gone(cluster: Cluster) -> bool:
    return not _pods(cluster, "operator") and not _pods(cluster, "receiver")


def _log(cluster: Cluster, pod: Any) -> str:
    return str(client.CoreV1Api(cluster.api_client).read_namespaced_pod_log(pod.metadata.name, NAMESPACE))


def _diagnosis(cluster: Cluster) -> str:
    """The installed pods' states and log tails, for a failure message."""
    lines = []
    for component in ("operator", "receiver"):
        for pod in _pods(cluster, component):
            statuses = [
                (s.name, s.ready, s.restart_count, s.state.to_dict())
                for s in pod.status.container_statuses or []
            ]
            lines.append(f"{pod.metadata.name}: {pod.status.phase} {statuses}")
            try:
                lines.extend(_log(cluster, pod).splitlines()[-15:])
            except client.ApiException as error:
                lines.append(f"(no log: {error.reason})")
    for service in client.CoreV1Api(cluster.api_client).list_namespaced_endpoints(NAMESPACE).items:
        ready = [a.ip for subset in service.subsets or [] for a in subset.addresses or []]
        lines.append(f"Endpoints {service.metadata.name}: ready {ready}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def release(
    kiln_image: str, operator: OperatorProcess, registry: Registry, gitserver: GitServer
) -> Iterator[Release]:
    cluster = operator.cluster
    operator.stop()
    # the harness operator's own admission configuration: Helm adopts no object it did not make
    cluster.kubectl("delete", "validatingwebhookconfiguration", CONFIGURATION_NAME, "--ignore-not-found")
    eventually(
        lambda: _gone(cluster) or None, timeout=120, what="the pods of an earlier install of the release gone"
    )
    config = helm.Config(kubeconfig_path=str(cluster.kubeconfig), namespace=NAMESPACE)
    chart = helm.Chart.load(str(CHART))
    try:
        try:
            config.install(
                chart,
                RELEASE,
                chart_values(cluster, kiln_image, registry),
                namespace=NAMESPACE,
                create_namespace=True,
                wait="watcher",
                timeout=INSTALL_SECONDS,
            )
        except helm.HelmError as error:
            pytest.fail(f"helm install failed: {error}\n{_diagnosis(cluster)}", pytrace=False)
        # Helm waits for ready Pods; the API server reaches a webhook only once the endpoints
        # controller and kube-proxy have seen one (seconds later on a busy node), and admission fails
        # closed until then
        try:
            eventually(lambda: admission_answers(cluster) or None, timeout=60, what="admission answering")
        except AssertionError as error:
            pytest.fail(f"{error}\n{_diagnosis(cluster)}", pytrace=False)
        service = client.CoreV1Api(cluster.api_client).read_namespaced_service(
            f"{RELEASE}-receiver", NAMESPACE
        )
        release = Release(cluster, config, f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}")
        yield release
    finally:
        try:
            config.uninstall(RELEASE, wait="watcher", timeout=INSTALL_SECONDS, ignore_not_found=True)
        finally:
            chart.close()
            config.close()
            operator.start()


@pytest.fixture(scope="module")
def tenants(release: Release) -> Iterator[Tenants]:
    found = Tenants(release.cluster)
    yield found
    found.cleanup()  # while the installed operator runs (it removes its finalizer), unless done already


@pytest.fixture(scope="module")
def env(
    release: Release, tenants: Tenants, operator: OperatorProcess, gitserver: GitServer, registry: Registry
) -> BuildEnv:
    """A tenant made ready by the installed operator, its pushes delivered to the installed receiver."""
    name = tenants.create(
        {"registry": {"server": registry.pod_address}, "quota": {"cpu": "1", "memory": "2Gi"}}
    )
    ready = eventually(
        lambda: tenants.ready(name), what=f"Namespace {name} reconciled by the installed operator"
    )
    assert ready["status"] == "True", ready
    namespace = tenants.get(name)["status"]["kubernetesNamespace"]
    return BuildEnv(release.cluster, operator, gitserver, registry, name, namespace, release.receiver_url)


def test_install_to_ready_pods_from_the_kiln_image_with_one_operator_working(release: Release) -> None:
    cluster = release.cluster
    operators, receivers = _pods(cluster, "operator"), _pods(cluster, "receiver")
    assert (len(operators), len(receivers)) == (2, 2), _diagnosis(cluster)
    for pod in operators + receivers:
        assert all(s.ready for s in pod.status.container_statuses), _diagnosis(cluster)
        assert pod.spec.containers[0].image.startswith("localhost/kiln/kiln:")
    # kopf peering: both replicas are peers of the release's ClusterKopfPeering, one stands by
    custom = client.CustomObjectsApi(cluster.api_client)

    def peers() -> dict[str, Any] | None:
        found: Any = custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", RELEASE)
        status = found.get("status") or {}
        return status if len(status) == 2 else None

    status = eventually(peers, what="both operator replicas in the ClusterKopfPeering")
    assert len({peer["priority"] for peer in status.values()}) == 2

    def working() -> list[str] | None:
        """The replicas working: kopf starts a peered operator paused and logs only its changes, so a
        replica works when the last of them was a resume (one that met a stronger peer first never
        logs at all)."""
        active = []
        for pod in operators:
            changes = [line for line in _log(cluster, pod).splitlines() if "operations" in line]
            changes = [
                line for line in changes if "Resuming operations" in line or "Pausing operations" in line
            ]
            if changes and "Resuming operations" in changes[-1]:
                active.append(pod.metadata.name)
        return active if len(active) == 1 else None

    try:
        # kopf starts its peering watch after its first resource scan, which takes long on a busy node
        eventually(working, timeout=120, what="exactly one operator replica working")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{status}\n{_diagnosis(cluster)}") from None
    # nothing restarted meanwhile (a replica killed by its liveness probe or its memory limit)
    restarted = [
        pod.metadata.name
        for pod in _pods(cluster, "operator") + _pods(cluster, "receiver")
        if any(s.restart_count for s in pod.status.container_statuses or [])
    ]
    assert not restarted, _diagnosis(cluster)
    # the operator keeps its admission configuration pointing at its Service
    admission = client.AdmissionregistrationV1Api(cluster.api_client)
    webhook = admission.read_validating_webhook_configuration(CONFIGURATION_NAME).webhooks[0]
    assert webhook.client_config.service.namespace == NAMESPACE
    assert webhook.client_config.ca_bundle


def test_the_receivers_account_reads_no_secrets_but_its_repositories_webhook_secrets(env: BuildEnv) -> None:
    env.repository("rbac-app")
    authz = client.AuthorizationV1Api(env.cluster.api_client)

    def allowed(verb: str, name: str | None = None, namespace: str | None = env.namespace) -> bool:
        attributes = {"verb": verb, "resource": "secrets", "namespace": namespace, "name": name}
        review = {
            "spec": {"user": RECEIVER_USER, "resourceAttributes": {k: v for k, v in attributes.items() if v}}
        }
        return bool(authz.create_subject_access_review(review).status.allowed)

    eventually(lambda: allowed("get", "rbac-app-webhook") or None, what="the installed operator's Role")
    assert not allowed("get", "someone-elses-secret")
    assert not allowed("list")
    assert not allowed("list", namespace=None)
    assert not allowed("get", "kiln-webhook-tls", namespace=NAMESPACE)


def test_push_to_the_receivers_service_to_an_image(env: BuildEnv) -> None:
    env.repository("helm-app")
    env.rule("helm-app-main", "helm-app")
    files = {"Dockerfile": f"FROM {base_image(env)}\nRUN echo built-by-helm > /built\n"}
    commit, name = env.push("helm-app", files)
    run = env.wait(name, ("Succeeded", "Failed"))
    assert run["status"]["phase"] == "Succeeded", json.dumps(run["status"], indent=1)
    assert (succeeded(run)["status"], succeeded(run)["reason"]) == ("True", "Pushed")
    image = f"{env.tenant}/helm-app"
    (pushed,) = run["status"]["images"]
    assert pushed["ref"] == f"{env.registry.pod_address}/{image}:latest"
    assert pushed["digest"] == env.registry.manifest_digest(image, "latest")  # read back from the registry
    assert (run["spec"]["trigger"]["type"], run["spec"]["source"]["commit"]) == ("Push", commit)


def test_uninstall_leaves_nothing_that_refuses_kiln_objects(release: Release, tenants: Tenants) -> None:
    # the module's last test (pytest keeps file order): tenants first, while the operator handles
    # their finalizers, then the release, while its operator replicas are stopping
    tenants.cleanup()
    release.uninstall()
    admission = client.AdmissionregistrationV1Api(release.cluster.api_client)
    rbac = client.RbacAuthorizationV1Api(release.cluster.api_client)
    deadline = time.monotonic() + 20  # a stopping replica must not put the configuration back
    while time.monotonic() < deadline:
        names = [c.metadata.name for c in admission.list_validating_webhook_configuration().items]
        assert CONFIGURATION_NAME not in names
        time.sleep(1)
    assert not [r for r in rbac.list_cluster_role().items if r.metadata.name.startswith(f"{RELEASE}-")]
    eventually(lambda: _gone(release.cluster) or None, timeout=120, what="the release's pods gone")
