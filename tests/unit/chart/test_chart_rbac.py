"""Least privilege per component, checked against the code: what kopf's handlers watch and patch,
what the tenancy and build manifests are, what the receiver lists, watches and creates. The
receiver has no access to Secrets beyond the per-Repository Roles the operator makes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import kopf
import pytest
from kubernetes import client

from kiln.api.admission import CONFIGURATION_NAME
from kiln.api.constants import GROUP, KINDS
from kiln.api.namespace import NamespaceSpec
from kiln.platform.settings import Settings
from kiln.receiver.watch import sources
from kiln.tenancy import manifests as tenancy
from tests.unit.builds.objects import variants
from tests.unit.chart.conftest import CHART, NAMESPACE, Manifest, all_values, container_env, render

Rule = dict[str, Any]
# apiVersion, kind -> API group, resource, for the kinds the operator writes
RESOURCES = {
    ("v1", "Namespace"): ("", "namespaces"),
    ("v1", "ServiceAccount"): ("", "serviceaccounts"),
    ("v1", "ResourceQuota"): ("", "resourcequotas"),
    ("v1", "LimitRange"): ("", "limitranges"),
    ("v1", "Secret"): ("", "secrets"),
    ("v1", "ConfigMap"): ("", "configmaps"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networking.k8s.io", "networkpolicies"),
    ("rbac.authorization.k8s.io/v1", "Role"): ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.authorization.k8s.io", "rolebindings"),
    ("batch/v1", "Job"): ("batch", "jobs"),
}
# server-side apply creates what is missing: the API server asks for both verbs
APPLY = ("create", "patch")


def allows(rules: Iterable[Rule], group: str, resource: str, verb: str, name: str | None = None) -> bool:
    """Whether one of `rules` grants `verb` on `resource` (on every object when `name` is None)."""
    return any(
        group in r.get("apiGroups", ())
        and resource in r.get("resources", ())
        and verb in r.get("verbs", ())
        and (not r.get("resourceNames") or (name is not None and name in r["resourceNames"]))
        for r in rules
    )


def _resource(manifest: Manifest) -> tuple[str, str]:
    key = (manifest["apiVersion"], manifest["kind"])
    assert key in RESOURCES, f"the operator writes {key}: say which resource it is"
    return RESOURCES[key]


def _role(manifests: list[Manifest], component: str) -> list[Rule]:
    (role,) = [
        m
        for m in manifests
        if m["kind"] == "ClusterRole" and m["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return list(role["rules"])


def _service_account(manifests: list[Manifest], component: str) -> tuple[str, str]:
    (deployment,) = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return deployment["metadata"]["namespace"], deployment["spec"]["template"]["spec"]["serviceAccountName"]


@pytest.fixture(scope="module", params=["defaults", "all-values"])
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(all_values() if request.param == "all-values" else None)


def _kopf_handlers() -> Iterator[tuple[str, Any]]:
    """(what kopf does for it, handler) of every handler the operator registers."""
    from kiln.controllers import admission, admission_config, buildrule, buildrun, namespace, repository

    _ = (admission, admission_config, buildrule, buildrun, namespace, repository)
    registry = kopf.get_default_registry()
    for kind in ("_indexing", "_watching", "_spawning", "_changing"):
        for handler in getattr(registry, kind).get_all_handlers():
            yield kind, handler


def test_the_operator_may_watch_what_kopf_watches_and_patch_what_it_marks(manifests: list[Manifest]) -> None:
    rules = _role(manifests, "operator")
    watched, changed = set(), set()
    for kind, handler in _kopf_handlers():
        selector = handler.selector
        resource = (selector.group or "", selector.any_name or selector.plural)
        watched.add(resource)
        if kind in ("_spawning", "_changing"):
            changed.add(resource)  # finalizers on the object, kopf's progress in its status
    assert watched >= {(GROUP, k.plural) for k in KINDS}
    for group, resource in sorted(watched):
        for verb in ("list", "watch"):
            assert allows(rules, group, resource, verb), f"kopf watches {group}/{resource}: {verb}"
    for group, resource in sorted(changed):
        assert allows(rules, group, resource, "patch"), resource
        assert allows(rules, group, f"{resource}/status", "patch"), resource


def test_the_operator_may_apply_every_tenant_object() -> None:
    rules = _role(render(), "operator")
    settings = Settings()
    spec = NamespaceSpec.model_validate({"registry": {"server": "registry.example.com"}})
    owner = tenancy.owner_reference("acme", "uid")
    source = {
        "metadata": {"name": "push", "namespace": "kiln-system"},
        "type": "kubernetes.io/dockerconfigjson",
    }
    written = [
        tenancy.namespace("acme", spec),
        *tenancy.tenant_objects("acme", spec, settings),
        tenancy.push_secret("acme", "kiln-acme", source),
        *tenancy.receiver_secret_access(
            "kiln-acme", "app", owner, "app-webhook", f"{NAMESPACE}/kiln-receiver"
        ),
        *_organization_access(owner),
    ]
    for manifest in written:
        group, resource = _resource(manifest)
        for verb in APPLY:
            assert allows(rules, group, resource, verb), f"{manifest['kind']}: {verb}"
    # the tenant's namespace goes with it; a withdrawn push Secret's copy is deleted; a removed
    # organization hook's Role and RoleBinding are deleted
    assert allows(rules, "", "namespaces", "delete") and allows(rules, "", "secrets", "delete")
    assert allows(rules, "rbac.authorization.k8s.io", "roles", "delete")
    assert allows(rules, "rbac.authorization.k8s.io", "rolebindings", "delete")


def _organization_access(owner: Manifest) -> list[Manifest]:
    return tenancy.receiver_organization_access(
        "kiln-acme", owner, "kiln-organization-hook", f"{NAMESPACE}/kiln-receiver", auto_create=True
    )


def test_the_operator_may_grant_the_receivers_role_without_escalating() -> None:
    """The API server lets a Role be created (and bound) only by who holds what it grants."""
    rules = _role(render(), "operator")
    owner = tenancy.owner_reference("acme", "uid")
    role, _ = tenancy.receiver_secret_access(
        "kiln-acme", "app", owner, "app-webhook", f"{NAMESPACE}/kiln-receiver"
    )
    organization_role, _ = _organization_access(owner)
    for rule in [*role["rules"], *organization_role["rules"]]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or [None]:
                        assert allows(rules, group, resource, verb, name), rule
    assert not allows(rules, "rbac.authorization.k8s.io", "roles", "escalate")
    assert not allows(rules, "rbac.authorization.k8s.io", "roles", "bind")


def test_the_operator_may_run_builds() -> None:
    rules = _role(render(), "operator")
    for plan in variants().values():
        for manifest in plan.manifests:
            group, resource = _resource(manifest)
            assert allows(rules, group, resource, "create") and allows(rules, group, resource, "get")
    # cancel deletes the Job and its Pod; logs are followed and archived (server-side apply)
    assert allows(rules, "batch", "jobs", "delete") and allows(rules, "", "pods", "delete")
    assert allows(rules, "", "pods/log", "get") and allows(rules, "", "configmaps", "patch")
    assert allows(rules, GROUP, "buildruns", "delete")  # history retention
    assert allows(rules, "", "events", "create")


def test_the_operator_keeps_only_kilns_webhook_configuration_and_its_peering(
    manifests: list[Manifest],
) -> None:
    rules = _role(manifests, "operator")
    group, resource = "admissionregistration.k8s.io", "validatingwebhookconfigurations"
    for verb in ("list", "watch", "create"):
        assert allows(rules, group, resource, verb)
    for verb in ("get", "patch"):
        assert allows(rules, group, resource, verb, CONFIGURATION_NAME)
        assert not allows(rules, group, resource, verb, "someone-elses")
    (peering,) = [m["metadata"]["name"] for m in manifests if m["kind"] == "ClusterKopfPeering"]
    for verb in ("list", "watch"):
        assert allows(rules, "kopf.dev", "clusterkopfpeerings", verb)
    for verb in ("get", "patch"):
        assert allows(rules, "kopf.dev", "clusterkopfpeerings", verb, peering)
        assert not allows(rules, "kopf.dev", "clusterkopfpeerings", verb, "another-operator")


def _receiver_sources() -> Iterator[tuple[str, str]]:
    named = {"list_namespace": ("", "namespaces"), "list_secret_for_all_namespaces": ("", "secrets")}
    for source in sources(client.ApiClient()):
        if source.list_fn.__name__ == "list_cluster_custom_object":
            group, _, plural = source.args
            yield group, plural
        else:
            assert source.list_fn.__name__ in named, (
                f"the receiver lists {source.list_fn.__name__}: which resource?"
            )
            yield named[source.list_fn.__name__]


def test_the_receiver_may_list_and_watch_what_it_caches_and_create_buildruns(
    manifests: list[Manifest],
) -> None:
    rules = _role(manifests, "receiver")
    cached = set(_receiver_sources())
    assert ("", "secrets") not in cached, "the receiver must read webhook Secrets by name, not list them"
    assert cached == {
        (GROUP, "kilnnamespaces"),
        (GROUP, "repositories"),
        (GROUP, "buildrules"),
        ("", "namespaces"),
    }
    for group, resource in cached:
        assert allows(rules, group, resource, "list") and allows(rules, group, resource, "watch"), resource
    assert allows(rules, GROUP, "buildruns", "create")
    granted = {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    needed = {(g, r, v) for g, r in cached for v in ("list", "watch")} | {(GROUP, "buildruns", "create")}
    assert granted == needed, "the receiver is granted more than it uses"


def test_the_receiver_has_no_secrets_access_cluster_wide(manifests: list[Manifest]) -> None:
    namespace, account = _service_account(manifests, "receiver")
    roles = {m["metadata"]["name"]: m for m in manifests if m["kind"] in ("ClusterRole", "Role")}
    bound = [
        m["roleRef"]["name"]
        for m in manifests
        if m["kind"] in ("ClusterRoleBinding", "RoleBinding")
        and {"kind": "ServiceAccount", "name": account, "namespace": namespace} in m["subjects"]
    ]
    assert bound, "the receiver's ServiceAccount is bound to nothing"
    for name in bound:
        for rule in roles[name]["rules"]:
            assert "secrets" not in rule["resources"] and "*" not in rule["resources"], rule
            assert "" not in rule["apiGroups"] or set(rule["resources"]) <= {"namespaces"}, rule
    # its one way to a webhook Secret: the operator's per-Repository Role, bound to this account
    settings = Settings.from_env(
        container_env(
            next(
                m
                for m in manifests
                if m["metadata"]["name"].endswith("-operator") and m["kind"] == "Deployment"
            )
        )
    )
    assert settings.receiver_service_account == f"{namespace}/{account}"
    owner = tenancy.owner_reference("acme", "uid")
    role, binding = tenancy.receiver_secret_access(
        "kiln-acme", "app", owner, "app-webhook", settings.receiver_service_account
    )
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["app-webhook"], "verbs": ["get"]}
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]


def test_no_rule_uses_a_wildcard(manifests: list[Manifest]) -> None:
    for m in manifests:
        for rule in m.get("rules", ()) if m["kind"] in ("ClusterRole", "Role") else ():
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], (m["metadata"]["name"], rule)


def test_every_rule_says_why_it_is_there() -> None:
    text = (CHART / "templates" / "rbac.yaml").read_text().splitlines()
    rules = [n for n, line in enumerate(text) if re.match(r"^\s*- apiGroups:", line)]
    assert len(rules) == len(_role(render(), "operator")) + len(_role(render(), "receiver"))
    for n in rules:
        above = text[n - 1].strip()
        assert above.startswith("#") and len(above) > 10, f"rbac.yaml:{n + 1}: a rule without a comment"
