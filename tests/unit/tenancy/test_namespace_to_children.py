"""Kiln Namespace spec + settings -> the tenant's child manifests (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kiln.api.namespace import NamespaceSpec
from kiln.api.validation import validate
from kiln.platform.settings import Settings
from kiln.tenancy import manifests


def spec(**extra: object) -> NamespaceSpec:
    return NamespaceSpec.model_validate({"registry": {"server": "registry.example.com"}, **extra})


@pytest.mark.parametrize(
    ("quantity", "n", "total"),
    [("500m", 3, "1500m"), ("4Gi", 4, "16Gi"), ("2", 4, "8"), ("0.5Gi", 3, "1.5Gi"), ("1e3", 2, "2e3")],
)
def test_quota_totals_keep_the_users_units(quantity: str, n: int, total: str) -> None:
    quota = manifests.Quota(max_concurrent_builds=n, cpu=quantity, memory="1Gi")
    assert manifests.resource_quota("t", "ns", quota)["spec"]["hard"]["limits.cpu"] == total


def test_unset_quota_fields_take_operator_defaults() -> None:
    settings = Settings(default_max_concurrent_builds=7, default_build_cpu="3", default_build_memory="2Gi")
    quota = manifests.Quota.effective(spec(quota={"cpu": "1"}), settings)
    assert quota == manifests.Quota(max_concurrent_builds=7, cpu="1", memory="2Gi")


def test_kubernetes_namespace_name_defaults_to_prefix() -> None:
    assert manifests.kubernetes_namespace_name("acme", spec()) == "kiln-acme"
    assert manifests.kubernetes_namespace_name("acme", spec(kubernetesNamespace="builds")) == "builds"


def test_network_policy_blocks_cluster_ranges_and_metadata_per_family() -> None:
    settings = Settings(cluster_cidrs=("10.244.0.0/16", "fd00::/8"))
    policy = manifests.network_policy("t", "ns", settings)["spec"]
    # Ingress with no ingress rules denies all ingress; an explicit `ingress: []` is stored as absent,
    # which made every apply a change (tests/integration/test_tenant_children_apply.py)
    assert policy["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in policy
    dns, world = policy["egress"]
    assert dns == {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    blocks = {b["ipBlock"]["cidr"]: b["ipBlock"].get("except") for b in world["to"]}
    assert blocks == {"0.0.0.0/0": ["10.244.0.0/16", "169.254.169.254/32"], "::/0": ["fd00::/8"]}


def test_every_child_is_labelled_with_its_tenant() -> None:
    children = [manifests.namespace("acme", spec()), *manifests.tenant_objects("acme", spec(), Settings())]
    assert [c["kind"] for c in children] == [
        "Namespace",
        "ServiceAccount",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
    ]
    for child in children:
        assert child["metadata"]["labels"]["kiln.dev/namespace"] == "acme"
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kiln"
    assert all(c["metadata"]["namespace"] == "kiln-acme" for c in children[1:])


def test_ownership_is_by_label_value() -> None:
    assert manifests.owned_by({"kiln.dev/namespace": "acme"}, "acme")
    assert not manifests.owned_by({"kiln.dev/namespace": "other"}, "acme")
    assert not manifests.owned_by(None, "acme")


def test_push_secret_copy_keeps_type_and_data_only() -> None:
    source = {
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="},
        "metadata": {"name": "src", "namespace": "kiln-system", "annotations": {"a": "b"}},
    }
    copy = manifests.push_secret("acme", "kiln-acme", source)
    assert copy["metadata"] == {
        "name": "kiln-registry-push",
        "namespace": "kiln-acme",
        "labels": {"kiln.dev/namespace": "acme", "app.kubernetes.io/managed-by": "kiln"},
    }
    assert (copy["type"], copy["data"]) == ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "e30="})


@pytest.mark.parametrize("cpu", ["-1", "+2", "0", "0.0", 0])
def test_quota_quantities_must_be_positive(cpu: object) -> None:
    problems = validate("Namespace", {
        "apiVersion": "kiln.dev/v1alpha1", "kind": "Namespace", "metadata": {"name": "t"},
        "spec": {"registry": {"server": "r.example.com"}, "quota": {"cpu": cpu}},
    })  # fmt: skip
    assert [p.field for p in problems] == ["spec.quota.cpu"]


def test_children_carry_the_owner_reference() -> None:
    owner = manifests.owner_reference("acme", "uid-1")
    child = manifests.owned(manifests.service_account("acme", "kiln-acme"), owner)
    assert child["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "Namespace",
            "name": "acme",
            "uid": "uid-1",
            "controller": True,
        }
    ]
    assert "ownerReferences" not in manifests.service_account("acme", "kiln-acme")["metadata"]


def test_drift_is_a_difference_in_fields_kiln_sets() -> None:
    desired = manifests.limit_range("t", "ns", manifests.Quota(2, "1", "1Gi"))
    actual = {**desired, "metadata": {**desired["metadata"], "uid": "x", "resourceVersion": "9"}}
    assert manifests.in_shape(actual, desired)
    edited = {**actual, "spec": {"limits": [{"type": "Container", "max": {"cpu": "8", "memory": "1Gi"}}]}}
    assert not manifests.in_shape(edited, desired)
    assert not manifests.in_shape({"metadata": desired["metadata"]}, desired)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        ("2", Decimal(2)),
        ("4Gi", Decimal(4 * 1024**3)),
        ("4096Mi", Decimal(4 * 1024**3)),
        ("1e3", Decimal(1000)),
        ("1k", Decimal(1000)),
        ("100u", Decimal("0.0001")),
        ("4 Gi", None),
        ("Gi", None),
        ("four", None),
    ],
)
def test_quantity_to_the_amount_it_stands_for(text: str, value: Decimal | None) -> None:
    assert manifests.quantity_value(text) == value


def test_amounts_in_the_api_servers_spelling_are_in_shape_elsewhere_strings_are_not() -> None:
    quota = manifests.resource_quota("t", "ns", manifests.Quota(4, "0.5", "1024Mi"))
    read = {**quota, "spec": {"hard": {"pods": "4", "limits.cpu": "2", "limits.memory": "4Gi"}}}
    assert manifests.in_shape(read, quota)
    more = {**quota, "spec": {"hard": {"pods": "4", "limits.cpu": "2", "limits.memory": "5Gi"}}}
    assert not manifests.in_shape(more, quota)
    # outside amount maps a string is a string: a label "01" is not the label "1"
    assert not manifests.in_shape({"metadata": {"labels": {"x": "01"}}}, {"metadata": {"labels": {"x": "1"}}})


def test_limit_range_items_compare_by_their_fields_and_amounts() -> None:
    limits = manifests.limit_range("t", "ns", manifests.Quota(1, "0.5", "1Gi"))
    entry = limits["spec"]["limits"][0]
    assert entry["defaultRequest"] == entry["default"] == entry["max"]  # nothing left for the server to fill
    canonical = {k: ({"cpu": "500m", "memory": "1Gi"} if k != "type" else v) for k, v in entry.items()}
    assert manifests.in_shape({**limits, "spec": {"limits": [canonical]}}, limits)
    extra = {**canonical, "min": {"cpu": "1m"}}  # an item is Kiln's whole: an added field is drift
    assert not manifests.in_shape({**limits, "spec": {"limits": [extra]}}, limits)
    assert not manifests.in_shape({**limits, "spec": {"limits": [canonical, canonical]}}, limits)
