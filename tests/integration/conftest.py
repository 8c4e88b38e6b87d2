"""Fixtures for tests that need Kiln tenants (and so the operator)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kiln.api.constants import GROUP, NAMESPACE, VERSION
from tests.conftest import REPO, Cluster, OperatorProcess

T = TypeVar("T")
OPERATOR_NAMESPACE = "kiln-system"


def eventually(check: Callable[[], T | None], timeout: float = 30, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ApiException as error:
            if error.status != 404:
                raise
            last = None
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def admission_answers(cluster: Cluster) -> bool:
    """The API server reaches the webhook and trusts it: a BuildRule outside any tenant is refused
    with admission's own message (a server-side dry run writes nothing)."""
    rule = yaml.safe_load((REPO / "docs" / "examples" / "buildrule-main.yaml").read_text())
    rule["metadata"] = {"name": f"probe-{uuid.uuid4().hex[:6]}", "namespace": "default"}
    proc = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(rule), check=False)
    return proc.returncode != 0 and "belongs to no Kiln Namespace" in proc.stderr


class Tenants:
    """Create Kiln Namespaces for a test and remove whatever is left of them afterwards."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.custom = client.CustomObjectsApi(cluster.api_client)
        self.core = client.CoreV1Api(cluster.api_client)
        self.names: list[str] = []

    def create(self, spec: dict[str, Any], name: str | None = None) -> str:
        name = name or f"t-{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Namespace",
            "metadata": {"name": name},
            "spec": spec,
        }
        self.custom.create_cluster_custom_object(GROUP, VERSION, NAMESPACE.plural, body)
        return name

    def get(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_cluster_custom_object(GROUP, VERSION, NAMESPACE.plural, name)
        return obj

    def delete(self, name: str) -> None:
        self.custom.delete_cluster_custom_object(GROUP, VERSION, NAMESPACE.plural, name)

    def ready(self, name: str) -> dict[str, Any] | None:
        """The Ready condition once the operator has written one for the current generation."""
        obj = self.get(name)
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            return None
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    def cleanup(self) -> None:
        for name in self.names:
            try:
                self.delete(name)
            except ApiException as error:
                if error.status != 404:
                    raise


@pytest.fixture
def tenants(operator: OperatorProcess) -> Iterator[Tenants]:
    t = Tenants(operator.cluster)
    yield t
    # a test that stopped or killed the session's operator and failed before restarting it must not
    # take the later tests down with it
    operator.ensure_running()
    t.cleanup()


@pytest.fixture
def push_secret(operator: OperatorProcess) -> Iterator[str]:
    """A docker-registry Secret in the operator's namespace, as a platform team would create it."""
    core = client.CoreV1Api(operator.cluster.api_client)
    name = f"push-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_secret(OPERATOR_NAMESPACE, dockerconfig_secret(name, "robot", "s3cret"))
    yield name
    try:
        core.delete_namespaced_secret(name, OPERATOR_NAMESPACE)
    except ApiException as error:
        if error.status != 404:  # the test may have deleted it
            raise


def dockerconfig_secret(name: str, user: str, password: str) -> client.V1Secret:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = json.dumps({"auths": {"registry.example.com": {"auth": auth}}})
    return client.V1Secret(
        metadata=client.V1ObjectMeta(name=name),
        type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(config.encode()).decode()},
    )


def tenant_spec(push_secret: str | None = None, **extra: Any) -> dict[str, Any]:
    registry: dict[str, Any] = {"server": "registry.example.com"}
    if push_secret:
        registry["pushSecretRef"] = {"name": push_secret, "namespace": OPERATOR_NAMESPACE}
    return {"registry": registry, **extra}


def buildrun_creator(user: str) -> list[dict[str, Any]]:
    """A Role allowing to create BuildRuns and its RoleBinding to `user`: a tenant's developer (tests
    act as them through impersonation, which cluster-admin may do)."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "buildrun-creator"},
            "rules": [{"apiGroups": ["kiln.dev"], "resources": ["buildruns"], "verbs": ["create"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{user}-creates-buildruns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "buildrun-creator"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


@pytest.fixture(scope="module")
def tenant(operator: OperatorProcess) -> Iterator[tuple[str, str]]:
    """A module's tenant whose registry nothing is pushed to: (its name, its Kubernetes namespace)."""
    tenants = Tenants(operator.cluster)
    try:
        name = tenants.create({"registry": {"server": "registry.example.com"}})
        eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
        yield name, tenants.get(name)["status"]["kubernetesNamespace"]
    finally:
        tenants.cleanup()
