"""A Repository an organization delivery created -> the BuildRules it names and lacks, created from
the tenant's template (`kiln.reconcile.template_rules`); the annotation then names only those to try
again, and goes when none is left."""

from __future__ import annotations

import json
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from kiln.platform.settings import Settings
from kiln.reconcile.template_rules import complete_template_rules
from kiln.tenancy.tenant import Tenant
from kiln.webhooks.organization import ANNOTATION_TEMPLATE_BUILDRULES, LABEL_CREATED_BY
from tests.unit.reconcile.fake_kube import FakeKube
from tests.unit.webhooks.objects import NAMESPACE, TEMPLATE_RULES, org_tenant

TENANT = Tenant.of(org_tenant(), Settings(), "kiln-system")
V = "kiln.dev/v1alpha1"


def created_repository(
    kube: FakeKube, names: str = "changes,main", created_by: bool = True
) -> dict[str, Any]:
    labels = {LABEL_CREATED_BY: "organization-webhook"} if created_by else {}
    meta = {
        "name": "app",
        "namespace": NAMESPACE,
        "labels": labels,
        "annotations": {ANNOTATION_TEMPLATE_BUILDRULES: names},
    }
    kube.put({"apiVersion": V, "kind": "Repository", "metadata": meta, "spec": {}})
    found = kube.get(V, "Repository", "app", NAMESPACE)
    assert found is not None
    return found


def annotation(kube: FakeKube) -> str | None:
    repo = kube.get(V, "Repository", "app", NAMESPACE) or {"metadata": {}}
    return (repo["metadata"].get("annotations") or {}).get(ANNOTATION_TEMPLATE_BUILDRULES)


def refused(status: int, message: str = "") -> ApiException:
    reasons = {403: "Forbidden", 422: "Unprocessable Entity", 503: "Service Unavailable"}
    error = ApiException(status=status, reason=reasons[status])
    error.body = json.dumps({"kind": "Status", "message": message})
    return error


def test_repository_missing_a_rule_to_the_rule_made_of_the_template_owned_by_it() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    kube.put(
        {
            "apiVersion": V,
            "kind": "BuildRule",
            "metadata": {"name": "app-changes", "namespace": NAMESPACE},
            "spec": {},
        }
    )
    events = complete_template_rules(kube, repo, TENANT)
    assert events == (
        ("Normal", "BuildRuleCreated", "BuildRule app-main created from the tenant's template"),
    )
    made = kube.get(V, "BuildRule", "app-main", NAMESPACE)
    assert made is not None
    assert (made["spec"]["repository"], made["spec"]["source"]) == ("app", TEMPLATE_RULES[1]["source"])
    assert made["metadata"]["labels"][LABEL_CREATED_BY] == "organization-webhook"
    assert made["metadata"]["ownerReferences"] == [
        {"apiVersion": V, "kind": "Repository", "name": "app", "uid": repo["metadata"]["uid"]}
    ]
    assert annotation(kube) is None
    # done: the next reconcile writes nothing, and a rule deleted by hand stays deleted
    kube.delete(V, "BuildRule", "app-main", NAMESPACE)
    kube.writes.clear()
    after = kube.get(V, "Repository", "app", NAMESPACE)
    assert after is not None
    assert complete_template_rules(kube, after, TENANT) == () and kube.writes == []


def test_rule_the_api_server_cannot_take_now_to_a_warning_and_only_it_tried_again() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    kube.refusals[("BuildRule", "app-main")] = refused(503, "etcdserver: request timed out")
    events = complete_template_rules(kube, repo, TENANT)
    assert events == (
        ("Normal", "BuildRuleCreated", "BuildRule app-changes created from the tenant's template"),
        (
            "Warning",
            "BuildRuleCreateFailed",
            "BuildRule app-main: 503 Service Unavailable: etcdserver: request timed out; tried again within a minute",
        ),
    )
    assert annotation(kube) == "main"
    kube.refusals[("BuildRule", "app-main")] = urllib3.exceptions.ProtocolError("Connection aborted.")
    again = kube.get(V, "Repository", "app", NAMESPACE)
    assert again is not None
    kube.writes.clear()
    assert [e[1] for e in complete_template_rules(kube, again, TENANT)] == ["BuildRuleCreateFailed"]
    assert annotation(kube) == "main" and kube.writes == [
        ("create", "BuildRule", "app-main")
    ]  # not patched again
    kube.refusals.clear()
    last = kube.get(V, "Repository", "app", NAMESPACE)
    assert last is not None
    assert [e[2] for e in complete_template_rules(kube, last, TENANT)] == [
        "BuildRule app-main created from the tenant's template"
    ]
    assert annotation(kube) is None


def test_rule_admission_refuses_to_a_warning_naming_it_once() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    kube.refusals[("BuildRule", "app-main")] = refused(422, 'spec.pool: "gpu" is not allowed')
    events = complete_template_rules(kube, repo, TENANT)
    assert events[-1] == (
        "Warning",
        "BuildRuleRefused",
        'BuildRule app-main: 422 Unprocessable Entity: spec.pool: "gpu" is not allowed',
    )
    assert annotation(kube) is None  # refused for good: not tried every minute


def test_names_the_template_lacks_or_a_repository_made_by_hand_to_a_warning_and_no_rule() -> None:
    kube = FakeKube()
    repo = created_repository(kube, "main,deploy-prod")
    events = complete_template_rules(kube, repo, TENANT)
    assert ("Warning", "TemplateRuleUnavailable") in [e[:2] for e in events]
    assert "deploy-prod: no rule of that name" in " ".join(e[2] for e in events)
    assert kube.get(V, "BuildRule", "app-deploy-prod", NAMESPACE) is None
    assert kube.get(V, "BuildRule", "app-main", NAMESPACE) is not None
    assert annotation(kube) is None

    kube = FakeKube()
    by_hand = created_repository(kube, created_by=False)  # annotated by whoever may edit it
    ((kind, reason, message),) = complete_template_rules(kube, by_hand, TENANT)
    assert (kind, reason) == (
        "Warning",
        "TemplateRuleUnavailable",
    ) and "not created by an organization webhook" in message
    assert [w for w in kube.writes if w[0] == "create"] == [] and annotation(kube) is None


def test_repository_of_no_known_tenant_or_without_the_annotation_to_nothing() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    kube.writes.clear()
    assert complete_template_rules(kube, repo, None) == () and kube.writes == []  # the index not loaded yet
    del repo["metadata"]["annotations"]
    assert complete_template_rules(kube, repo, TENANT) == () and kube.writes == []


def test_annotation_the_api_server_cannot_take_now_or_a_repository_gone_to_no_error() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    kube.refusals[("Repository", "app")] = refused(503)
    assert [e[1] for e in complete_template_rules(kube, repo, TENANT)] == ["BuildRuleCreated"] * 2
    assert annotation(kube) == "changes,main"  # the next reconcile removes it
    kube.refusals.clear()
    kube.delete(V, "Repository", "app", NAMESPACE)
    assert complete_template_rules(kube, repo, TENANT) == ()  # rules exist; the patch meets a 404


def test_annotation_patch_refused_for_good_to_a_warning_not_an_error() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    kube.refusals[("Repository", "app")] = refused(403, 'repositories.kiln.dev "app" is forbidden')
    events = complete_template_rules(kube, repo, TENANT)
    assert [e[1] for e in events] == ["BuildRuleCreated", "BuildRuleCreated", "TemplateRulesNotUpdated"]
    assert "403 Forbidden" in events[-1][2] and annotation(kube) == "changes,main"
