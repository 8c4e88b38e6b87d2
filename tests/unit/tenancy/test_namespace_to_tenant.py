"""Kiln Namespace object -> the parsed `Tenant` the controller indexes, drift, and status wording."""

from __future__ import annotations

from typing import Any

from kiln.api.constants import BUILDER_SERVICE_ACCOUNT
from kiln.api.validation import validate
from kiln.platform.settings import Settings
from kiln.tenancy import manifests
from kiln.tenancy.tenant import Tenant, result


def body(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Namespace",
        "metadata": {"name": "acme", "uid": "u-1", "generation": 3, **meta},
        "spec": spec,
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": ""}]
        },
    }


VALID = {"registry": {"server": "registry.example.com", "pushSecretRef": {"name": "push"}}}


def test_valid_namespace_to_tenant_with_its_children() -> None:
    tenant = Tenant.of(body(VALID), Settings(), "kiln-system")
    assert (tenant.name, tenant.uid, tenant.generation, tenant.deleting) == ("acme", "u-1", 3, False)
    assert tenant.problem is None and tenant.spec is not None
    assert tenant.kubernetes_namespace == "kiln-acme"
    assert tenant.push_secret == ("kiln-system", "push")  # an unset namespace is the operator's own
    assert sorted(tenant.desired) == [
        ("LimitRange", manifests.LIMIT_RANGE),
        ("Namespace", "kiln-acme"),
        ("NetworkPolicy", manifests.NETWORK_POLICY),
        ("ResourceQuota", manifests.RESOURCE_QUOTA),
        ("ServiceAccount", BUILDER_SERVICE_ACCOUNT),
    ]
    assert tenant.object_ref == {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Namespace",
        "metadata": {"name": "acme", "uid": "u-1"},
    }


def test_invalid_namespace_to_tenant_with_the_problem_worded_as_admission_words_it() -> None:
    bad = {"registry": {"server": "registry.example.com"}, "quota": {"cpu": "-1"}, "colour": "red"}
    tenant = Tenant.of(body(bad), Settings(), "kiln-system")
    assert tenant.spec is None and tenant.kubernetes_namespace is None and not tenant.desired
    admission = validate("Namespace", body(bad))
    assert tenant.problem is not None
    for problem in admission:
        assert f"{problem.field}: {problem.message}" in tenant.problem
    assert "spec.colour: unknown field" in tenant.problem


def test_child_drift_is_a_changed_field_kiln_sets_not_a_field_others_own() -> None:
    tenant = Tenant.of(body(VALID), Settings(), "kiln-system")
    account = dict(tenant.desired[("ServiceAccount", BUILDER_SERVICE_ACCOUNT)])
    with_server_fields = {
        **account,
        "secrets": [{"name": "token"}],
        "metadata": {**account["metadata"], "uid": "x"},
    }
    assert tenant.child_in_shape(with_server_fields)
    assert not tenant.child_in_shape({**account, "automountServiceAccountToken": True})
    assert not tenant.child_in_shape({**account, "kind": "Secret"})  # not one of the tenant's children


def test_result_keeps_transition_time_and_warns_only_when_not_ready() -> None:
    tenant = Tenant.of(body(VALID), Settings(), "kiln-system")
    ready = result(tenant, True, "Reconciled", "in place", kubernetesNamespace="kiln-acme")
    assert ready.ready and ready.events == ()
    assert ready.status["observedGeneration"] == 3 and ready.status["kubernetesNamespace"] == "kiln-acme"
    refused = result(tenant, False, "Conflict", "taken")
    assert not refused.ready
    assert [(e.type, e.reason, e.message) for e in refused.events] == [("Warning", "Conflict", "taken")]
    (condition,) = refused.status["conditions"]
    assert (condition["status"], condition["reason"], condition["observedGeneration"]) == (
        "False",
        "Conflict",
        3,
    )
