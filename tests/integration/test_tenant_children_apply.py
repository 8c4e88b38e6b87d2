"""A tenant's children applied again change nothing on the real apiserver, and read back in shape.

This is the condition behind issue 12's write storm: the NetworkPolicy carried `ingress: []`, which
the API server stores as absent. Every apply of it was then a change (NetworkPolicy bumps its
generation when the spec is not deeply equal), so each repair made a new version and a new watch
event; and the object as read back never looked in shape, so every such event looked like drift.
With two writes in flight after an API server stall (`Kube.applied_by_us` remembers only the last
version written), each late event caused the next write, for minutes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from kiln.api.namespace import NamespaceSpec
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.tenancy import manifests
from kiln.tenancy.tenant import Tenant
from tests.conftest import Cluster


@pytest.fixture
def tenant_name(cluster: Cluster) -> Iterator[str]:
    name = f"apply-twice-{uuid.uuid4().hex[:6]}"
    spec = NamespaceSpec.model_validate({"registry": {"server": "registry.example.com"}})
    Kube(cluster.api_client).apply(manifests.namespace(name, spec))
    yield name
    client.CoreV1Api(cluster.api_client).delete_namespace(manifests.kubernetes_namespace_name(name, spec))


@pytest.mark.parametrize(
    ("quota", "canonical"),
    [
        (None, True),
        ({"maxConcurrentBuilds": 3, "cpu": "2", "memory": "4Gi"}, True),
        # the API server writes these as 500m and 1Gi (and the quota's 4 x 1024Mi as 4Gi): an apply
        # of the user's spelling is a write each time, but reads back in shape, so it is no drift
        ({"cpu": "0.5", "memory": "1024Mi"}, False),
    ],
)
def test_children_applied_twice_to_no_change_and_in_shape(
    cluster: Cluster, tenant_name: str, quota: dict[str, object] | None, canonical: bool
) -> None:
    kube = Kube(cluster.api_client)
    body = {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Namespace",
        "metadata": {"name": tenant_name, "uid": "0", "generation": 1},
        "spec": {"registry": {"server": "registry.example.com"}, **({"quota": quota} if quota else {})},
    }
    settings = Settings()
    tenant = Tenant.of(body, settings, settings.operator_namespace)
    assert tenant.spec is not None
    children = manifests.tenant_objects(tenant_name, tenant.spec, settings)
    assert {c["kind"] for c in children} >= {"NetworkPolicy", "ResourceQuota", "LimitRange"}
    for child in children:
        what = f"{child['kind']} {child['metadata']['name']}"
        kube.apply(child)
        settled = _settled(kube, child)  # after the controllers' own writes (a quota's status)
        again = kube.apply(child)
        # what Tenant.child_in_shape checks, without the owner reference (an owner that does not
        # exist would have the garbage collector delete the children mid-test)
        assert manifests.in_shape(settled, child), what
        if canonical:
            assert again["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"], what
        assert again["metadata"].get("generation") == settled["metadata"].get("generation"), what


def _settled(kube: Kube, child: dict[str, object]) -> dict[str, object]:
    """The object once two reads a second apart show the same version."""
    meta = child["metadata"]
    assert isinstance(meta, dict)
    read = lambda: kube.get(str(child["apiVersion"]), str(child["kind"]), meta["name"], meta["namespace"])  # noqa: E731
    last = read()
    for _ in range(20):
        time.sleep(1)
        now = read()
        assert now is not None and last is not None
        if now["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"]:
            return now
        last = now
    pytest.fail(f"{child['kind']} kept changing for 20 s")
