"""A Repository an organization delivery created -> the BuildRules it carries and lacks, created
(`kiln.reconcile.template_rules`), the annotation removed once none is left to try again."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from kiln.reconcile.template_rules import complete_template_rules
from kiln.webhooks.organization import ANNOTATION_TEMPLATE_BUILDRULES
from tests.unit.reconcile.fake_kube import FakeKube

NAMESPACE = "kiln-acme"
RULES = ("app-main", "app-release")


def rule(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "BuildRule",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"kiln.dev/created-by": "organization-webhook"},
        },
        "spec": {"repository": "app", "source": {"type": "Branch", "name": "main"}},
    }


def created_repository(kube: FakeKube, annotation: str | None = None) -> dict[str, Any]:
    text = annotation if annotation is not None else json.dumps([rule(name) for name in RULES])
    kube.put(
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "Repository",
            "metadata": {
                "name": "app",
                "namespace": NAMESPACE,
                "annotations": {ANNOTATION_TEMPLATE_BUILDRULES: text},
            },
            "spec": {},
        }
    )
    found = kube.get("kiln.dev/v1alpha1", "Repository", "app", NAMESPACE)
    assert found is not None
    return found


def annotated(kube: FakeKube) -> bool:
    repo = kube.get("kiln.dev/v1alpha1", "Repository", "app", NAMESPACE) or {}
    return ANNOTATION_TEMPLATE_BUILDRULES in (repo["metadata"].get("annotations") or {})


def test_repository_missing_a_rule_to_the_rule_created_owned_by_it() -> None:
    kube = FakeKube(rule("app-main"))  # the receiver created one, then stopped
    repo = created_repository(kube)
    events = complete_template_rules(kube, repo)
    assert events == (
        ("Normal", "BuildRuleCreated", "BuildRule app-release created from the tenant's template"),
    )
    made = kube.get("kiln.dev/v1alpha1", "BuildRule", "app-release", NAMESPACE)
    assert made is not None and made["spec"] == rule("app-release")["spec"]
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "Repository",
            "name": "app",
            "uid": repo["metadata"]["uid"],
        }
    ]
    assert not annotated(kube)
    # done: the next reconcile writes nothing, and a rule deleted by hand stays deleted
    kube.delete("kiln.dev/v1alpha1", "BuildRule", "app-release", NAMESPACE)
    kube.writes.clear()
    after = kube.get("kiln.dev/v1alpha1", "Repository", "app", NAMESPACE)
    assert after is not None
    assert complete_template_rules(kube, after) == () and kube.writes == []


def test_rule_the_api_server_cannot_take_now_to_annotation_kept_and_created_next_time() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    kube.refusals[("BuildRule", "app-release")] = ApiException(status=503, reason="Service Unavailable")
    events = complete_template_rules(kube, repo)
    assert [e[2] for e in events] == ["BuildRule app-main created from the tenant's template"]
    assert annotated(kube)
    kube.refusals.clear()
    again = kube.get("kiln.dev/v1alpha1", "Repository", "app", NAMESPACE)
    assert again is not None
    assert [e[2] for e in complete_template_rules(kube, again)] == [
        "BuildRule app-release created from the tenant's template"
    ]
    assert not annotated(kube)


def test_rule_admission_refuses_to_a_warning_naming_it_and_the_reason() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    body = json.dumps(
        {"kind": "Status", "message": 'admission webhook denied the request: spec.pool: "gpu" is not allowed'}
    )
    refusal = ApiException(status=422, reason="Unprocessable Entity")
    refusal.body = body
    kube.refusals[("BuildRule", "app-release")] = refusal
    events = complete_template_rules(kube, repo)
    assert events[-1] == (
        "Warning",
        "BuildRuleRefused",
        'BuildRule app-release: 422 Unprocessable Entity: admission webhook denied the request: spec.pool: "gpu" is not allowed',
    )
    assert not annotated(kube)  # refused for good: not tried every minute


def test_unreadable_annotation_to_a_warning_and_no_rule() -> None:
    kube = FakeKube()
    other = {**rule("app-x"), "spec": {"repository": "someone-else"}}
    repo = created_repository(kube, json.dumps([other]))
    ((kind, reason, message),) = complete_template_rules(kube, repo)
    assert (kind, reason) == ("Warning", "TemplateRulesUnreadable") and "Repository app" in message
    assert kube.get("kiln.dev/v1alpha1", "BuildRule", "app-x", NAMESPACE) is None
    assert not annotated(kube)


def test_repository_without_the_annotation_to_nothing() -> None:
    kube = FakeKube()
    repo = created_repository(kube)
    del repo["metadata"]["annotations"]  # one written by hand, or completed already
    kube.writes.clear()
    assert complete_template_rules(kube, repo) == () and kube.writes == []
