"""Organization hooks (`/hooks/{provider}/{tenant}`): a delivery -> the Repository that builds it,
or one created from the tenant's template, or `ignored` with the reason. No HTTP, no cluster."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from kiln.api import BuildRule, Repository
from kiln.api.namespace import DEFAULT_ORGANIZATION_SECRET, Namespace
from kiln.api.validation import validate
from kiln.receiver.cache import Kind, ResourceCache
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.decisions import (
    CreateResult,
    CreateStatus,
    Delivery,
    DeliveryOutcome,
    buildrun_name,
    conclude,
    decide,
    secret_source,
)
from kiln.webhooks.dispatch import dispatch
from kiln.webhooks.organization import (
    ANNOTATION_CODE_REPOSITORY,
    ANNOTATION_TEMPLATE_BUILDRULES,
    LABEL_CREATED_BY,
    PendingRules,
    owned_by_repository,
    pending_template_rules,
    repository_name,
)
from tests.unit.webhooks.objects import (
    CHANGES_RULE,
    GITHUB_COMMIT,
    GITHUB_URL,
    HOSTS,
    NAMESPACE,
    ORG_SECRET,
    REPOSITORY,
    SECRET,
    TEMPLATE_RULES,
    TENANT,
    create_of,
    deliver,
    fed_cache,
    kubernetes_namespace,
    org_tenant,
    org_world,
    reply_of,
    repository,
    secret,
    signed,
    tenant,
)


def org_deliver(
    cache: ResourceCache, body: bytes, now: datetime, key: str = ORG_SECRET, provider: str = "github"
) -> Any:
    headers = signed(provider, body, SharedSecret(key))
    return decide(Delivery(provider, TENANT, None, headers, body), cache, now)


URL_PREFIXES = {"gitlab": "https://example.com", "bitbucket-server": "https://bitbucket.example.com/scm"}
# template rules that build any branch and any tag, so each host's example builds
ANY_BRANCH_TEMPLATE = {
    "name": "branches",
    "source": {"type": "Branch", "pattern": ".*"},
    "tags": [{"tag": "x"}],
}
ANY_TAG_TEMPLATE = {"name": "tags", "source": {"type": "Tag", "pattern": ".*"}, "tags": [{"tag": "y"}]}


@pytest.fixture
def push(shared_payload: Callable[[str], bytes]) -> bytes:
    return shared_payload("github-push-branch.json")


def test_organization_push_to_the_repository_that_builds_it(push: bytes, now: datetime) -> None:
    """Found by its code repository; named as the repository's own hook names it (one BuildRun)."""
    cache = org_world(repository(), secret(), CHANGES_RULE)
    by_organization = create_of(org_deliver(cache, push, now))
    by_repository = create_of(deliver(cache, push, signed("github", push), now))
    assert by_organization.repository is None
    assert [r.name for r in by_organization.runs] == [r.name for r in by_repository.runs]
    assert by_organization.runs[0].name == buildrun_name("changes", _event(push), REPOSITORY)


def _event(push: bytes) -> Any:
    """The push as the receiver parses it (for the names it must get)."""
    parsed = dispatch(
        "github", signed("github", push), push, SharedSecret(SECRET), datetime.now().astimezone()
    )
    return parsed.events[0]


def test_organization_push_for_an_unknown_repository_creates_it_from_the_template(
    push: bytes, now: datetime
) -> None:
    create = create_of(org_deliver(org_world(), push, now))
    new = create.repository
    assert new is not None and new.name == "public-repo"
    repo = Repository.model_validate(new.manifest)
    assert (repo.spec.source.provider.value, repo.spec.source.url) == ("github", GITHUB_URL)
    assert repo.spec.source.webhook.auto_register is False  # the organization hook delivers already
    assert repo.spec.source.credentials_secret_ref is not None
    assert repo.spec.source.credentials_secret_ref.name == "org-token"
    meta = new.manifest["metadata"]
    assert meta["namespace"] == NAMESPACE
    assert meta["labels"][LABEL_CREATED_BY] == "organization-webhook"
    assert meta["annotations"][ANNOTATION_CODE_REPOSITORY] == "baxterthehacker/public-repo"
    rules = [BuildRule.model_validate(r) for r in new.rules]
    assert [(r.metadata["name"], r.spec.repository) for r in rules] == [
        ("public-repo-changes", "public-repo"),
        ("public-repo-main", "public-repo"),
    ]
    # the push is planned against the template's rules, as the new Repository's hook would plan it
    assert [(r.rule, r.tags) for r in create.runs] == [("public-repo-changes", ("latest",))]
    run = create.runs[0]
    assert run.manifest["spec"]["repository"] == "public-repo"
    assert run.manifest["spec"]["source"]["commit"] == GITHUB_COMMIT
    assert run.name == buildrun_name("public-repo-changes", _event(push), "public-repo")
    assert create.report["repository"] == {
        "name": "public-repo",
        "buildRules": ["public-repo-changes", "public-repo-main"],
    }


def test_organization_push_for_an_unknown_repository_without_auto_create_to_ignored(
    push: bytes, now: datetime
) -> None:
    reply = reply_of(org_deliver(org_world(tenant_body=org_tenant(auto_create=False)), push, now))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.IGNORED)
    assert "no Repository in 'acme' builds github repository baxterthehacker/public-repo" in str(
        reply.body["reason"]
    )
    assert "autoCreateRepositories is false" in str(reply.body["reason"])


def test_organization_push_signed_with_another_secret_to_401(push: bytes, now: datetime) -> None:
    cache = org_world(repository(), secret())
    reply = reply_of(org_deliver(cache, push, now, key=SECRET))  # the Repository's secret, not the org's
    assert (reply.status, reply.outcome) == (401, DeliveryOutcome.UNAUTHORIZED)


def test_organization_push_to_a_tenant_without_organization_hook_to_404(push: bytes, now: datetime) -> None:
    cache = fed_cache(tenant(), kubernetes_namespace())
    reply = reply_of(org_deliver(cache, push, now))
    assert (reply.status, reply.outcome) == (404, DeliveryOutcome.NOT_FOUND)
    assert "has no spec.organizationWebhook" in str(reply.body["reason"])


def test_organization_push_from_another_provider_to_404(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("bitbucket-cloud-repo-push.json")
    reply = reply_of(org_deliver(org_world(), body, now, provider="bitbucket"))
    assert (reply.status, reply.outcome) == (404, DeliveryOutcome.NOT_FOUND)
    assert "is a github hook: deliver to /hooks/github/acme" in str(reply.body["reason"])


def test_organization_push_whose_name_is_taken_creates_a_hashed_name(push: bytes, now: datetime) -> None:
    other = repository("public-repo", url="https://github.com/someone-else/public-repo.git", secret_name=None)
    new = create_of(org_deliver(org_world(other), push, now)).repository
    assert (
        new is not None and new.name.startswith("public-repo-") and len(new.name) == len("public-repo-") + 6
    )


def test_organization_push_without_https_clone_url_to_ignored(push: bytes, now: datetime) -> None:
    document = json.loads(push)
    document["repository"]["clone_url"] = "http://github.com/baxterthehacker/public-repo.git"
    body = json.dumps(document).encode()
    reply = reply_of(org_deliver(org_world(), body, now))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.IGNORED)
    assert "names no HTTPS clone URL" in str(reply.body["reason"])


def test_organization_push_matching_no_template_rule_still_creates_the_repository(
    push: bytes, now: datetime
) -> None:
    tenant_body = org_tenant(buildRules=[TEMPLATE_RULES[1]])  # main only; the push is to `changes`
    create = create_of(org_deliver(org_world(tenant_body=tenant_body), push, now))
    assert create.repository is not None and create.runs == ()
    reply = conclude(create, {}, CreateResult(CreateStatus.CREATED))
    assert (reply.status, reply.outcome) == (202, DeliveryOutcome.CREATED)
    assert str(reply.body["reason"]).startswith(
        "Repository public-repo created from spec.repositoryTemplate; 0"
    )
    assert "no BuildRule builds refs/heads/changes" in str(reply.body["reason"])


def test_created_repository_and_runs_to_202_and_refused_repository_to_500(push: bytes, now: datetime) -> None:
    create = create_of(org_deliver(org_world(), push, now))
    created = {run.name: CreateResult(CreateStatus.CREATED) for run in create.runs}
    reply = conclude(create, created, CreateResult(CreateStatus.CREATED))
    assert (reply.status, reply.outcome) == (202, DeliveryOutcome.CREATED)
    assert (
        reply.body["reason"]
        == "Repository public-repo created from spec.repositoryTemplate; 1 BuildRun(s) created"
    )
    assert reply.body["repository"] == {
        "name": "public-repo",
        "buildRules": ["public-repo-changes", "public-repo-main"],
        "result": "created",
    }
    again = conclude(
        create,
        {run.name: CreateResult(CreateStatus.EXISTS) for run in create.runs},
        CreateResult(CreateStatus.EXISTS),
    )
    assert (again.status, again.outcome) == (200, DeliveryOutcome.DUPLICATE)
    refused = conclude(create, {}, CreateResult(CreateStatus.REJECTED, "403 Forbidden"))
    assert (refused.status, refused.outcome) == (500, DeliveryOutcome.FAILED)
    assert "Repository public-repo: 403 Forbidden" in str(refused.body["reason"])
    unavailable = conclude(create, {}, CreateResult(CreateStatus.UNAVAILABLE, "timed out"))
    assert (unavailable.status, unavailable.outcome) == (503, DeliveryOutcome.UNAVAILABLE)


def test_organization_secret_source_is_the_tenants_default_secret() -> None:
    source = secret_source(Delivery("github", TENANT, None, {}, b""), org_world())
    assert source is not None
    assert (source.namespace, source.name, source.key) == (NAMESPACE, DEFAULT_ORGANIZATION_SECRET, "token")


@pytest.mark.parametrize(
    ("path", "taken", "expected"),
    [
        ("acme/web-app", set(), "web-app"),
        ("Acme/My_Service.git", set(), "my-service"),
        ("group/sub/app", set(), "app"),
        ("acme/___", set(), None),
    ],
)
def test_code_repository_path_to_repository_name(path: str, taken: set[str], expected: str | None) -> None:
    assert repository_name(path, taken) == expected


def test_taken_repository_names_get_a_hash_of_the_path() -> None:
    first, second = repository_name("a/app", {"app"}), repository_name("b/app", {"app"})
    assert first != second and first is not None and second is not None
    assert first.startswith("app-") and first == repository_name("a/app", {"app"})  # deterministic
    assert len(repository_name("a/" + "x" * 100, {"x" * 63}) or "") == 63


def test_created_rules_are_owned_by_their_repository() -> None:
    owned = owned_by_repository({"metadata": {"name": "app-main"}}, "app", "uid-1")
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "kiln.dev/v1alpha1", "kind": "Repository", "name": "app", "uid": "uid-1"}
    ]


def test_created_repository_names_its_template_rules_which_make_the_same_buildrules(
    push: bytes, now: datetime
) -> None:
    new = create_of(org_deliver(org_world(), push, now)).repository
    assert new is not None
    assert new.manifest["metadata"]["annotations"][ANNOTATION_TEMPLATE_BUILDRULES] == "changes,main"
    created = {**new.manifest, "metadata": {**new.manifest["metadata"], "uid": "uid-1"}}
    template = Namespace.model_validate(org_tenant()).spec.repository_template
    pending = pending_template_rules(created, TENANT, template)
    assert pending == PendingRules(
        tuple(owned_by_repository(r, "public-repo", "uid-1") for r in new.rules), ()
    )
    assert (
        pending_template_rules({"metadata": {"name": "app", "namespace": NAMESPACE}}, TENANT, template)
        is None
    )
    # a template without rules: nothing to name
    bare = create_of(org_deliver(org_world(tenant_body=org_tenant(buildRules=[])), push, now)).repository
    assert bare is not None and ANNOTATION_TEMPLATE_BUILDRULES not in bare.manifest["metadata"]["annotations"]


def test_template_rules_are_validated_as_buildrules_naming_their_place() -> None:
    body = org_tenant(
        buildRules=[
            TEMPLATE_RULES[0],
            {
                "name": "rel",
                "source": {"type": "Tag", "pattern": "release-(?<imageTag>\\w*)"},
                "tags": [{"tag": "${nope}"}],
            },
            {**TEMPLATE_RULES[1], "name": "changes"},
        ]
    )
    problems = validate("Namespace", body)
    assert [p.field for p in problems] == ["spec.repositoryTemplate"]
    assert "given more than once: changes" in problems[0].message
    del body["spec"]["repositoryTemplate"]["buildRules"][2]
    problems = validate("Namespace", body)
    assert [p.field for p in problems] == ["spec.repositoryTemplate.buildRules[1].tags[0].tag"]
    assert "no group 'nope'" in problems[0].message


@pytest.mark.parametrize("provider", list(HOSTS))
def test_each_hosts_organization_push_to_a_repository_bound_to_its_clone_url(
    shared_payload: Callable[[str], bytes], provider: str, now: datetime
) -> None:
    """Organization, group, workspace and project hooks send the repository's own push payload:
    each host's shared example creates a Repository bound to the URL its Repository has in HOSTS."""
    host = HOSTS[provider]
    body = shared_payload(host.file)
    tenant_body = org_tenant(provider=provider, buildRules=[ANY_BRANCH_TEMPLATE, ANY_TAG_TEMPLATE])
    if provider == "gitee":
        tenant_body["spec"]["organizationWebhook"]["giteeMode"] = "password"
    if provider in URL_PREFIXES:  # their examples name http clone URLs: the prefix says the HTTPS one
        tenant_body["spec"]["repositoryTemplate"]["sourceUrlPrefix"] = URL_PREFIXES[provider]
    cache = org_world(tenant_body=tenant_body)
    cache.replace(Kind.SECRET, [secret(DEFAULT_ORGANIZATION_SECRET, {"token": SECRET})])
    headers = signed(provider, body, host.secret, event=host.event, delivery_id="d-1", now=now)
    create = create_of(decide(Delivery(provider, TENANT, None, headers, body), cache, now))
    assert create.repository is not None
    repo = Repository.model_validate(create.repository.manifest)
    assert (repo.spec.source.provider.value, repo.spec.source.url.lower()) == (provider, host.url.lower())
    assert create.runs and {run.manifest["spec"]["repository"] for run in create.runs} == {
        create.repository.name
    }
