"""Every object the chart installs against the Kubernetes API: 1.20.2's own OpenAPI (the oldest
Kiln supports, the local cluster's) and kubernetes-validate's schemas, strictly (a misspelt field
fails), rendered for the version it is checked against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from tests.unit.chart import openapi
from tests.unit.chart.conftest import Manifest, all_values, crds, find, render

# kinds no Kubernetes schema describes: the Prometheus Operator's and kopf's custom resources
NO_SCHEMA = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("kopf.dev/v1", "ClusterKopfPeering")}
# kubernetes-validate's oldest and newest schemas (it ships none before 1.25)
KV_VERSIONS = (all_versions()[0], all_versions()[-1])
VALUE_SETS: dict[str, Callable[[], dict[str, Any] | None]] = {
    "defaults": lambda: None,
    "all-values": all_values,
}


def _unschematized(manifests: list[Manifest], check: Callable[[Manifest], bool]) -> set[tuple[str, str]]:
    """Validate each manifest with `check`; the (apiVersion, kind) of those it had no schema for."""
    return {(m["apiVersion"], m["kind"]) for m in manifests if not check(m)}


@pytest.mark.parametrize("values", sorted(VALUE_SETS))
def test_valid_for_kubernetes_1_20(values: str) -> None:
    trimmed = openapi.load()
    manifests = [*render(VALUE_SETS[values](), kube_version=openapi.VERSION), *crds()]

    def check(manifest: Manifest) -> bool:
        key = f"{manifest['apiVersion']} {manifest['kind']}"
        if key not in trimmed["kinds"]:
            return False
        errors = sorted(
            openapi.validator(trimmed, manifest["apiVersion"], manifest["kind"]).iter_errors(manifest),
            key=str,
        )
        assert not errors, f"{key} {manifest['metadata']['name']}: {[e.message for e in errors][:5]}"
        return True

    expected = NO_SCHEMA if values == "all-values" else {("kopf.dev/v1", "ClusterKopfPeering")}
    assert _unschematized(manifests, check) == expected


@pytest.mark.parametrize("version", KV_VERSIONS)
@pytest.mark.parametrize("values", sorted(VALUE_SETS))
def test_valid_for_kubernetes_validate_schemas(values: str, version: str) -> None:
    manifests = [*render(VALUE_SETS[values](), kube_version=version), *crds()]

    def check(manifest: Manifest) -> bool:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return False
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{manifest['kind']} {manifest['metadata']['name']} on {version}: {error.message}")
        return True

    expected = NO_SCHEMA if values == "all-values" else {("kopf.dev/v1", "ClusterKopfPeering")}
    assert _unschematized(manifests, check) == expected


def test_the_1_20_schema_refuses_a_misspelt_field() -> None:
    deployment = find(render(), "Deployment", "kiln-operator")
    spec = deployment["spec"]["template"]["spec"]
    broken = {
        **deployment,
        "spec": {**deployment["spec"], "template": {"spec": {**spec, "serviceAcountName": "x"}}},
    }
    trimmed = openapi.load()
    assert list(openapi.validator(trimmed, "apps/v1", "Deployment").iter_errors(broken))
    assert not list(openapi.validator(trimmed, "apps/v1", "Deployment").iter_errors(deployment))


def test_pod_disruption_budgets_use_the_clusters_api() -> None:
    def versions(kube_version: str) -> set[str]:
        return {
            m["apiVersion"] for m in render(kube_version=kube_version) if m["kind"] == "PodDisruptionBudget"
        }

    assert versions("1.20.2") == {"policy/v1beta1"}
    assert versions("1.21.0") == {"policy/v1"}
    assert versions(KV_VERSIONS[-1]) == {"policy/v1"}


def test_the_trimmed_1_20_openapi_holds_every_kind_the_chart_renders() -> None:
    rendered = {(m["apiVersion"], m["kind"]) for m in [*render(all_values()), *render(), *crds()]}
    assert rendered - NO_SCHEMA == set(openapi.KINDS)
    assert set(openapi.load()["kinds"]) == {f"{a} {k}" for a, k in openapi.KINDS}


def test_the_peering_crd_is_kopfs() -> None:
    (peering,) = [c for c in crds() if c["spec"]["group"] == "kopf.dev"]
    assert peering["metadata"]["name"] == "clusterkopfpeerings.kopf.dev"
    assert peering["spec"]["scope"] == "Cluster"
    assert peering["spec"]["names"]["kind"] == "ClusterKopfPeering"
    (version,) = peering["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    # kopf writes the peers into status through the main resource: no status subresource
    assert "subresources" not in version
    (rendered,) = [m for m in render() if m["kind"] == "ClusterKopfPeering"]
    assert rendered["apiVersion"] == f"kopf.dev/{version['name']}"
