"""Organization hooks against the real API server, operator and receiver (the operator hosts it).

A tenant with `spec.organizationWebhook` gets its hook Secret from the operator and a URL in
status; a GitHub push delivered there, signed with that Secret, creates the Repository (and its
BuildRules) from `spec.repositoryTemplate` and its BuildRun when autoCreateRepositories allows it,
and is answered `ignored` with the reason when it does not. Every object passes admission.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from kiln.api.constants import BUILD_RULE, BUILD_RUN, GROUP, REPOSITORY, VERSION
from kiln.api.namespace import NamespaceSpec
from kiln.webhooks import SharedSecret, sign
from kiln.webhooks.dispatch import dispatch
from kiln.webhooks.organization import (
    ANNOTATION_TEMPLATE_BUILDRULES,
    LABEL_CREATED_BY,
    NewRepository,
    plan_repository,
)
from tests.conftest import OperatorProcess
from tests.integration.conftest import Tenants, eventually, tenant_spec
from tests.integration.test_webhook_receiver import PAYLOAD, READY_SECONDS, http, new_commit, wait_ready
from tests.unit.webhooks.objects import TEMPLATE_RULES

RECEIVER_USER = (
    "system:serviceaccount:kiln-system:kiln-receiver"  # KILN_RECEIVER_SERVICE_ACCOUNT of the harness
)
CODE_REPOSITORY = "public-repo"  # github-push-branch.json: baxterthehacker/public-repo, refs/heads/changes


def organization_spec(auto_create: bool) -> dict[str, Any]:
    return tenant_spec(
        autoCreateRepositories=auto_create,
        organizationWebhook={"provider": "github"},
        repositoryTemplate={"buildRules": TEMPLATE_RULES},
    )


class OrganizationTenant:
    """A Ready tenant with an organization hook: its namespace, hook URL and secret."""

    def __init__(self, tenants: Tenants, auto_create: bool) -> None:
        self.name = tenants.create(organization_spec(auto_create))
        eventually(lambda: (tenants.ready(self.name) or {}).get("status") == "True", what="tenant Ready")
        status = tenants.get(self.name)["status"]
        self.namespace: str = status["kubernetesNamespace"]
        hook = status["organizationWebhook"]
        self.url: str = hook["url"]
        core = client.CoreV1Api(tenants.cluster.api_client)
        secret = core.read_namespaced_secret(hook["secretName"], self.namespace)
        self.secret = base64.b64decode(secret.data[hook["secretKey"]]).decode()
        self.custom = client.CustomObjectsApi(tenants.cluster.api_client)

    def deliver(self, body: bytes, delivery_id: str | None = None) -> tuple[int, Any]:
        headers = sign(
            "github", body, SharedSecret(self.secret), delivery_id=delivery_id or str(uuid.uuid4())
        )
        return http("POST", self.url, body, headers)

    def items(self, plural: str) -> list[dict[str, Any]]:
        listed: Any = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural)
        return list(listed["items"])


@pytest.fixture(scope="module")
def tenants(operator: OperatorProcess) -> Iterator[Tenants]:
    # module-scoped: the two tenants serve every test here
    t = Tenants(operator.cluster)
    yield t
    t.cleanup()


@pytest.fixture(scope="module")
def allowing(tenants: Tenants) -> OrganizationTenant:
    return OrganizationTenant(tenants, auto_create=True)


@pytest.fixture(scope="module")
def refusing(tenants: Tenants) -> OrganizationTenant:
    return OrganizationTenant(tenants, auto_create=False)


@pytest.fixture
def body() -> bytes:
    return new_commit(PAYLOAD.read_bytes())


def _answer_once_known(tenant: OrganizationTenant, body: bytes) -> tuple[int, Any]:
    """The answer once the receiver's cache has the tenant's hook (a 404 until its watch sees it)."""
    wait_ready(tenant.url.split("/hooks/")[0])
    return eventually(
        lambda: (answer := tenant.deliver(body))[0] not in (0, 401, 404) and answer,
        READY_SECONDS,
        f"the receiver knows {tenant.name}'s organization hook",
    )


def test_organization_push_for_an_unknown_repository_to_repository_rules_and_buildrun(
    allowing: OrganizationTenant, body: bytes
) -> None:
    status, answer = _answer_once_known(allowing, body)
    assert status == 202, answer
    assert answer["repository"] == {
        "name": CODE_REPOSITORY,
        "buildRules": [f"{CODE_REPOSITORY}-changes", f"{CODE_REPOSITORY}-main"],
        "result": "created",
    }
    (repo,) = allowing.items(REPOSITORY.plural)
    assert repo["metadata"]["name"] == CODE_REPOSITORY
    assert repo["metadata"]["labels"][LABEL_CREATED_BY] == "organization-webhook"
    assert repo["spec"]["source"]["url"] == json.loads(body)["repository"]["clone_url"]
    assert repo["spec"]["source"]["webhook"]["autoRegister"] is False
    rules = {r["metadata"]["name"]: r for r in allowing.items(BUILD_RULE.plural)}
    assert sorted(rules) == [f"{CODE_REPOSITORY}-changes", f"{CODE_REPOSITORY}-main"]
    for rule in rules.values():
        assert rule["spec"]["repository"] == CODE_REPOSITORY
        assert [o["uid"] for o in rule["metadata"]["ownerReferences"]] == [repo["metadata"]["uid"]]
    (run,) = allowing.items(BUILD_RUN.plural)
    assert (run["spec"]["buildRule"], run["spec"]["repository"]) == (
        f"{CODE_REPOSITORY}-changes",
        CODE_REPOSITORY,
    )
    assert run["spec"]["source"]["commit"] == json.loads(body)["after"]
    assert run["spec"]["trigger"]["type"] == "Push"

    # the same push again (a new delivery id): the Repository is found now, the BuildRun exists
    again = eventually(
        lambda: (answer := allowing.deliver(body))[1].get("outcome") == "duplicate" and answer,
        READY_SECONDS,
        "the redelivery answered duplicate once the receiver's cache has the new Repository's rules",
    )
    assert again[0] == 200, again
    assert len(allowing.items(BUILD_RUN.plural)) == 1 and len(allowing.items(REPOSITORY.plural)) == 1


def test_organization_push_for_an_unknown_repository_without_auto_create_to_ignored(
    refusing: OrganizationTenant, body: bytes
) -> None:
    status, answer = _answer_once_known(refusing, body)
    assert (status, answer["outcome"]) == (200, "ignored"), answer
    assert "autoCreateRepositories is false" in answer["reason"]
    assert refusing.items(REPOSITORY.plural) == [] and refusing.items(BUILD_RUN.plural) == []


def test_receiver_may_create_repositories_only_where_auto_create_allows(
    allowing: OrganizationTenant, refusing: OrganizationTenant, operator: OperatorProcess
) -> None:
    """The operator's per-tenant Role, judged by the API server's own RBAC authorizer."""
    authz = client.AuthorizationV1Api(operator.cluster.api_client)

    def allowed(
        namespace: str, verb: str, resource: str, group: str = GROUP, name: str | None = None
    ) -> bool:
        attributes = {
            "verb": verb,
            "group": group,
            "resource": resource,
            "namespace": namespace,
            "name": name,
        }
        review = {
            "spec": {"user": RECEIVER_USER, "resourceAttributes": {k: v for k, v in attributes.items() if v}}
        }
        return bool(authz.create_subject_access_review(review).status.allowed)

    for resource in ("repositories", "buildrules"):
        assert allowed(allowing.namespace, "create", resource)
        assert not allowed(refusing.namespace, "create", resource)
        assert not allowed(allowing.namespace, "delete", resource)
    for tenant in (allowing, refusing):
        assert allowed(tenant.namespace, "get", "secrets", "", "kiln-organization-hook")
        assert not allowed(tenant.namespace, "get", "secrets", "", "another-secret")


def test_repository_created_without_its_rules_to_rules_created_by_the_operator(
    allowing: OrganizationTenant, tenants: Tenants, body: bytes
) -> None:
    """A delivery that created the Repository and got no further (the receiver stopped, or the API
    server refused the BuildRules for a moment): the operator creates them from the Repository's
    annotation, owned by it, and removes the annotation."""
    payload = json.loads(body)
    payload["repository"].update(
        name="half-made",
        full_name="baxterthehacker/half-made",
        clone_url="https://github.com/baxterthehacker/half-made.git",
    )
    raw = json.dumps(payload).encode()
    (event,) = dispatch(
        "github", sign("github", raw, SharedSecret("s")), raw, SharedSecret("s"), datetime.now(UTC)
    ).events
    template = NamespaceSpec.model_validate(tenants.get(allowing.name)["spec"]).repository_template
    assert template is not None
    new = plan_repository(event, allowing.namespace, allowing.name, template, set())
    assert isinstance(new, NewRepository), new
    # exactly what the receiver creates first
    created: Any = allowing.custom.create_namespaced_custom_object(
        GROUP, VERSION, allowing.namespace, REPOSITORY.plural, new.manifest
    )

    def rules() -> dict[str, Any] | None:
        found = {r["metadata"]["name"]: r for r in allowing.items(BUILD_RULE.plural)}
        mine = {name: r for name, r in found.items() if r["spec"]["repository"] == "half-made"}
        return mine if len(mine) == len(new.rules) else None

    made = eventually(rules, what="the operator creating the Repository's BuildRules")
    assert sorted(made) == ["half-made-changes", "half-made-main"]
    for rule in made.values():
        assert [o["uid"] for o in rule["metadata"]["ownerReferences"]] == [created["metadata"]["uid"]]
        assert rule["metadata"]["labels"][LABEL_CREATED_BY] == "organization-webhook"

    def annotation_removed() -> bool:
        repo: Any = allowing.custom.get_namespaced_custom_object(
            GROUP, VERSION, allowing.namespace, REPOSITORY.plural, "half-made"
        )
        return ANNOTATION_TEMPLATE_BUILDRULES not in (repo["metadata"].get("annotations") or {})

    eventually(annotation_removed, what="the annotation removed once the rules exist")
    core = client.CoreV1Api(tenants.cluster.api_client)
    expected = [
        "BuildRule half-made-changes created from the tenant's template",
        "BuildRule half-made-main created from the tenant's template",
    ]

    def events() -> list[str] | None:
        found = core.list_namespaced_event(
            allowing.namespace, field_selector="involvedObject.kind=Repository,involvedObject.name=half-made"
        ).items
        messages = sorted(e.message for e in found if e.reason == "BuildRuleCreated")
        return messages if messages == expected else None

    eventually(events, what="an Event for each BuildRule created")
