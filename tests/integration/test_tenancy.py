"""Namespace controller against the real apiserver: a Kiln Namespace becomes an isolated tenant."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kiln.api.constants import GROUP, LABEL_NAMESPACE, NAMESPACE, VERSION
from kiln.tenancy.repairs import REPAIRS_PER_WINDOW
from tests.conftest import ADMISSION_WEBHOOK, REPO, OperatorProcess
from tests.integration.conftest import (
    OPERATOR_NAMESPACE,
    Tenants,
    dockerconfig_secret,
    eventually,
    tenant_spec,
)

EXAMPLES = REPO / "docs" / "examples"


def test_namespace_to_isolated_tenant(tenants: Tenants, push_secret: str) -> None:
    name = tenants.create(
        tenant_spec(push_secret, quota={"maxConcurrentBuilds": 3, "cpu": "500m", "memory": "1Gi"})
    )
    ready = eventually(lambda: tenants.ready(name), what="Ready condition")
    assert (ready["status"], ready["reason"]) == ("True", "Reconciled")
    status = tenants.get(name)["status"]
    ns = f"kiln-{name}"
    assert status["kubernetesNamespace"] == ns
    assert status["repositories"] == 0

    core = client.CoreV1Api(tenants.cluster.api_client)
    namespace = core.read_namespace(ns)
    assert namespace.metadata.labels[LABEL_NAMESPACE] == name
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert namespace.metadata.labels["pod-security.kubernetes.io/warn"] == "baseline"

    sa = core.read_namespaced_service_account("kiln-builder", ns)
    assert sa.automount_service_account_token is False
    assert sa.metadata.labels[LABEL_NAMESPACE] == name

    policy = client.NetworkingV1Api(tenants.cluster.api_client).read_namespaced_network_policy(
        "kiln-builds", ns
    )
    assert policy.spec.pod_selector.match_labels is None  # every pod of the namespace
    assert sorted(policy.spec.policy_types) == ["Egress", "Ingress"]
    assert not policy.spec.ingress
    dns, world = policy.spec.egress
    assert sorted((p.protocol, p.port) for p in dns.ports) == [("TCP", 53), ("UDP", 53)]
    assert dns.to is None
    v4 = next(peer.ip_block for peer in world.to if peer.ip_block.cidr == "0.0.0.0/0")
    assert "169.254.169.254/32" in v4._except
    assert "10.96.0.0/12" in v4._except and "10.244.0.0/16" in v4._except
    assert world.ports is None

    quota = core.read_namespaced_resource_quota("kiln-quota", ns)
    assert quota.spec.hard == {"pods": "3", "limits.cpu": "1500m", "limits.memory": "3Gi"}
    limits = core.read_namespaced_limit_range("kiln-limits", ns).spec.limits[0]
    assert limits.type == "Container"
    assert limits.max == {"cpu": "500m", "memory": "1Gi"}
    assert limits.default == {"cpu": "500m", "memory": "1Gi"}

    copy = core.read_namespaced_secret("kiln-registry-push", ns)
    source = core.read_namespaced_secret(push_secret, OPERATOR_NAMESPACE)
    assert copy.type == "kubernetes.io/dockerconfigjson"
    assert copy.data == source.data


def test_operator_defaults_fill_an_unset_quota(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    core = client.CoreV1Api(tenants.cluster.api_client)
    assert core.read_namespaced_resource_quota("kiln-quota", f"kiln-{name}").spec.hard == {
        "pods": "4",
        "limits.cpu": "8",
        "limits.memory": "16Gi",
    }
    # no push secret asked for: none copied
    secrets = core.list_namespaced_secret(f"kiln-{name}", label_selector=LABEL_NAMESPACE).items
    assert secrets == []


def test_deleted_network_policy_comes_back(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    net = client.NetworkingV1Api(tenants.cluster.api_client)
    ns = f"kiln-{name}"
    first = net.read_namespaced_network_policy("kiln-builds", ns).metadata.uid
    net.delete_namespaced_network_policy("kiln-builds", ns)
    again = eventually(
        lambda: net.read_namespaced_network_policy("kiln-builds", ns), what="NetworkPolicy back"
    )
    assert again.metadata.uid != first
    assert again.spec.policy_types == ["Ingress", "Egress"]


def test_hand_edited_quota_is_put_back(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    core = client.CoreV1Api(tenants.cluster.api_client)
    ns = f"kiln-{name}"
    core.patch_namespaced_resource_quota("kiln-quota", ns, {"spec": {"hard": {"pods": "100"}}})
    eventually(
        lambda: core.read_namespaced_resource_quota("kiln-quota", ns).spec.hard["pods"] == "4",
        what="quota restored",
    )


def test_push_secret_change_reaches_the_copy(tenants: Tenants, push_secret: str) -> None:
    name = tenants.create(tenant_spec(push_secret))
    eventually(lambda: tenants.ready(name), what="Ready condition")
    core = client.CoreV1Api(tenants.cluster.api_client)
    rotated = dockerconfig_secret(push_secret, "robot", "rotated-password")
    core.replace_namespaced_secret(push_secret, OPERATOR_NAMESPACE, rotated)
    eventually(
        lambda: core.read_namespaced_secret("kiln-registry-push", f"kiln-{name}").data == rotated.data,
        what="copy updated",
    )
    # credentials withdrawn at the source are withdrawn from the tenant
    core.delete_namespaced_secret(push_secret, OPERATOR_NAMESPACE)
    eventually(
        lambda: (
            not core.list_namespaced_secret(
                f"kiln-{name}", field_selector="metadata.name=kiln-registry-push"
            ).items
        ),
        what="copy deleted",
    )
    ready = eventually(
        lambda: (tenants.ready(name) or {}).get("reason") == "PushSecretMissing" and tenants.ready(name),
        what="PushSecretMissing",
    )
    assert ready["status"] == "False"


def test_missing_push_secret_is_not_ready_until_it_appears(tenants: Tenants) -> None:
    secret = f"late-{uuid.uuid4().hex[:6]}"
    name = tenants.create(tenant_spec(secret))
    ready = eventually(lambda: tenants.ready(name), what="Ready condition")
    assert (ready["status"], ready["reason"]) == ("False", "PushSecretMissing")
    assert f"{OPERATOR_NAMESPACE}/{secret}" in ready["message"]
    core = client.CoreV1Api(tenants.cluster.api_client)
    core.create_namespaced_secret(OPERATOR_NAMESPACE, dockerconfig_secret(secret, "u", "p"))
    try:
        eventually(lambda: (tenants.ready(name) or {}).get("status") == "True", what="Ready after the Secret")
        assert core.read_namespaced_secret("kiln-registry-push", f"kiln-{name}").data is not None
    finally:
        core.delete_namespaced_secret(secret, OPERATOR_NAMESPACE)


def test_existing_foreign_namespace_is_a_conflict_and_untouched(tenants: Tenants, namespace: str) -> None:
    core = client.CoreV1Api(tenants.cluster.api_client)
    before = core.read_namespace(namespace).metadata.labels
    name = tenants.create(tenant_spec(kubernetesNamespace=namespace))
    ready = eventually(lambda: tenants.ready(name), what="Ready condition")
    assert (ready["status"], ready["reason"]) == ("False", "Conflict")
    assert namespace in ready["message"]
    assert core.read_namespace(namespace).metadata.labels == before
    assert [sa.metadata.name for sa in core.list_namespaced_service_account(namespace).items] == ["default"]
    assert (
        client.NetworkingV1Api(tenants.cluster.api_client).list_namespaced_network_policy(namespace).items
        == []
    )

    tenants.delete(name)
    eventually(lambda: name not in _tenant_names(tenants), what="Namespace deleted")
    assert core.read_namespace(namespace).status.phase == "Active"
    assert eventually(lambda: _deletion_events(core, name), what="Deleted event") == [
        f"Kubernetes namespace {namespace} is not Kiln's: left untouched"
    ]


def _tenant_names(tenants: Tenants) -> list[str]:
    items = tenants.custom.list_cluster_custom_object(GROUP, VERSION, NAMESPACE.plural)["items"]
    return [i["metadata"]["name"] for i in items]


def _namespace_gone_or_terminating(core: client.CoreV1Api, ns: str) -> bool:
    try:
        return bool(core.read_namespace(ns).status.phase == "Terminating")
    except ApiException as error:
        return error.status == 404


def _deletion_events(core: client.CoreV1Api, name: str) -> list[str]:
    # Events about a cluster-scoped object are kept in the `default` namespace
    events = core.list_namespaced_event("default", field_selector=f"involvedObject.name={name}").items
    return [e.message for e in events if e.reason == "Deleted" and e.type == "Normal"]


def test_deleting_a_namespace_deletes_what_kiln_created(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    assert tenants.get(name)["metadata"]["finalizers"] == ["kiln.dev/finalizer"]
    tenants.delete(name)
    core = client.CoreV1Api(tenants.cluster.api_client)
    eventually(lambda: _namespace_gone_or_terminating(core, f"kiln-{name}"), what="namespace deleted")
    eventually(lambda: name not in _tenant_names(tenants), what="Namespace object gone")
    # the operator's finalizer did it (not only the garbage collector following owner references)
    assert eventually(lambda: _deletion_events(core, name), what="Deleted event") == [
        f"deleted Kubernetes namespace kiln-{name}"
    ]


def test_repository_count_follows_repositories(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    repo = yaml.safe_load((EXAMPLES / "repository.yaml").read_text())
    repo["metadata"] = {"name": "app", "namespace": f"kiln-{name}"}
    tenants.custom.create_namespaced_custom_object(GROUP, VERSION, f"kiln-{name}", "repositories", repo)
    eventually(lambda: tenants.get(name)["status"].get("repositories") == 1, what="repositories: 1")


def test_gitops_objects_show_no_operator_annotations(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    meta = tenants.get(name)["metadata"]
    assert not [k for k in meta.get("annotations") or {} if "kopf" in k]
    assert "kopf" in tenants.get(name)["status"]


@pytest.mark.parametrize("example", ["repository.yaml", "buildrule-main.yaml", "buildrun.yaml"])
def test_kiln_objects_outside_a_tenant_namespace_are_refused(
    operator: OperatorProcess, namespace: str, example: str
) -> None:
    body = yaml.safe_load((EXAMPLES / example).read_text())
    body["metadata"]["namespace"] = namespace
    result = operator.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0
    assert "metadata.namespace" in result.stderr
    assert f"namespace {namespace!r} belongs to no Kiln Namespace" in result.stderr


def test_admission_names_the_field_of_rules_openapi_cannot_express(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    rule = yaml.safe_load((EXAMPLES / "buildrule-main.yaml").read_text())
    rule["metadata"]["namespace"] = f"kiln-{name}"
    cases = {
        "spec.source": {"type": "Branch", "name": "main", "pattern": "release-.*"},
        "spec.source.pattern": {"type": "Branch", "pattern": "release-(?<v>\\w*"},
    }
    for field, source in cases.items():
        rule["spec"]["source"] = source
        result = tenants.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(rule), check=False)
        assert result.returncode != 0, field
        assert field in result.stderr
    rule["spec"]["source"] = {"type": "Branch", "pattern": "release-(?<v>\\w*)"}
    rule["spec"]["tags"] = [{"tag": "${version}"}]
    result = tenants.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(rule), check=False)
    assert result.returncode != 0
    assert "spec.tags[0].tag" in result.stderr and "version" in result.stderr


def test_operator_killed_mid_reconcile_converges_without_duplicates(
    operator: OperatorProcess, tenants: Tenants
) -> None:
    core = client.CoreV1Api(tenants.cluster.api_client)
    net = client.NetworkingV1Api(tenants.cluster.api_client)
    names = [tenants.create(tenant_spec()) for _ in range(8)]
    # freeze the operator as soon as the first tenant's namespace exists, check that it is mid-way
    # through them, then kill it (SIGKILL) there
    eventually(
        lambda: any(core.list_namespace(label_selector=f"{LABEL_NAMESPACE}={n}").items for n in names),
        timeout=30,
        what="a first tenant namespace",
    )
    operator.pause()
    half_done = [n for n in names if (tenants.ready(n) or {}).get("status") != "True"]
    operator.kill()
    assert half_done, "every tenant was finished before the kill: the test proves nothing"
    # a deletion while the operator is down is held by the finalizer, not lost
    doomed = names.pop()
    tenants.delete(doomed)
    operator.start()
    for name in names:
        ready = eventually(lambda n=name: tenants.ready(n), what=f"{name} Ready")  # type: ignore[misc]
        assert ready["status"] == "True"
    for name in names:
        selector = f"{LABEL_NAMESPACE}={name}"
        ns = f"kiln-{name}"
        assert len(core.list_namespace(label_selector=selector).items) == 1
        assert len(core.list_namespaced_service_account(ns, label_selector=selector).items) == 1
        assert len(net.list_namespaced_network_policy(ns, label_selector=selector).items) == 1
        assert len(core.list_namespaced_resource_quota(ns, label_selector=selector).items) == 1
        assert len(core.list_namespaced_limit_range(ns, label_selector=selector).items) == 1
    eventually(lambda: doomed not in _tenant_names(tenants), what="deleted Namespace finalized after restart")
    # nothing of the deleted tenant is left: its namespace (if it got that far) is going
    leftovers = core.list_namespace(label_selector=f"{LABEL_NAMESPACE}={doomed}").items
    assert all(ns.status.phase == "Terminating" for ns in leftovers)


def test_children_are_owned_by_their_namespace(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    uid = tenants.get(name)["metadata"]["uid"]
    core = client.CoreV1Api(tenants.cluster.api_client)
    for obj in (
        core.read_namespace(f"kiln-{name}"),
        core.read_namespaced_service_account("kiln-builder", f"kiln-{name}"),
        client.NetworkingV1Api(tenants.cluster.api_client).read_namespaced_network_policy(
            "kiln-builds", f"kiln-{name}"
        ),
    ):
        (owner,) = obj.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Namespace", name, uid, True)
        assert owner.api_version == f"{GROUP}/{VERSION}"


def _rule_status(tenants: Tenants, ns: str, name: str) -> dict[str, Any] | None:
    obj = tenants.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "buildrules", name)
    status = obj.get("status") or {}
    valid = next((c for c in status.get("conditions") or [] if c["type"] == "Valid"), None)
    return status if valid and status.get("observedGeneration") == obj["metadata"]["generation"] else None


def test_buildrule_status_says_valid_and_manual_build(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    ns = f"kiln-{name}"
    for example in ("buildrule-main.yaml", "buildrule-release.yaml"):
        rule = yaml.safe_load((EXAMPLES / example).read_text())
        tenants.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "buildrules", rule)
    main = eventually(lambda: _rule_status(tenants, ns, "main"), what="main rule status")
    assert main["conditions"][0]["status"] == "True"
    assert (main["manualBuild"], main.get("manualBuildReason")) == ("Allowed", None)
    release = eventually(lambda: _rule_status(tenants, ns, "release"), what="release rule status")
    assert release["manualBuild"] == "Refused"
    assert "pattern" in release["manualBuildReason"]
    printed = tenants.cluster.kubectl("get", "brule", "-n", ns, "release").stdout
    assert "Refused" in printed


def test_invalid_rule_that_predates_the_operator_is_reported_not_crashed(
    operator: OperatorProcess, tenants: Tenants
) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    ns = f"kiln-{name}"
    # the operator (and so its admission webhook) is down while the rule is written
    operator.stop()
    tenants.cluster.kubectl("delete", "validatingwebhookconfiguration", ADMISSION_WEBHOOK)
    rule = yaml.safe_load((EXAMPLES / "buildrule-release.yaml").read_text())
    rule["metadata"]["name"] = "broken"
    rule["spec"]["tags"] = [{"tag": "${version}"}]
    tenants.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "buildrules", rule)
    operator.start()
    status = eventually(lambda: _rule_status(tenants, ns, "broken"), what="broken rule status")
    valid = status["conditions"][0]
    assert (valid["status"], valid["reason"]) == ("False", "InvalidRule")
    assert "spec.tags[0].tag" in valid["message"]
    events = eventually(
        lambda: (
            client.CoreV1Api(tenants.cluster.api_client)
            .list_namespaced_event(ns, field_selector="involvedObject.name=broken")
            .items
        ),
        what="a Warning Event",
    )
    assert any(e.type == "Warning" and e.reason == "InvalidRule" for e in events)
    assert operator.proc is not None and operator.proc.poll() is None  # still running


def test_a_child_changed_over_and_over_is_put_back_at_most_ten_times_a_minute(tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    core = client.CoreV1Api(tenants.cluster.api_client)
    ns = f"kiln-{name}"

    def pods() -> str:
        return str(core.read_namespaced_resource_quota("kiln-quota", ns).spec.hard["pods"])

    repaired = 0
    for _ in range(3 * REPAIRS_PER_WINDOW):
        core.patch_namespaced_resource_quota("kiln-quota", ns, {"spec": {"hard": {"pods": "100"}}})
        deadline = time.monotonic() + 5
        while pods() != "4" and time.monotonic() < deadline:
            time.sleep(0.1)
        if pods() != "4":
            break
        repaired += 1
    # each edit is one or two events that look like drift (the quota controller's status write may
    # come before the repair), so the budget of 10 lasts for 5 to 10 edits
    assert REPAIRS_PER_WINDOW // 2 <= repaired <= REPAIRS_PER_WINDOW
    selector = f"involvedObject.name={name},reason=RepairLimited"
    warning = eventually(
        lambda: core.list_event_for_all_namespaces(field_selector=selector).items, what="RepairLimited Event"
    )[0]
    assert warning.type == "Warning" and f"ResourceQuota {ns}/kiln-quota" in warning.message
    time.sleep(2)
    assert pods() == "100"  # left for the periodic resync
