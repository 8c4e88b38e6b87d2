"""API objects and deliveries for the receiver's tests, as the watches and code hosts send them.

Shared by tests/unit/webhooks/test_receiver*.py and tests/integration/test_webhook_receiver.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiln.api.constants import LABEL_NAMESPACE
from kiln.api.namespace import DEFAULT_ORGANIZATION_SECRET
from kiln.receiver.cache import Kind, ResourceCache
from kiln.webhooks import DEFAULT_MAX_REFS, GiteeSecret, GitLabSecret, SharedSecret, WebhookSecret, sign
from kiln.webhooks.decisions import CreateRuns, Decision, Delivery, Reply, decide

TENANT = "acme"
NAMESPACE = "kiln-acme"
SECRET = "s3cret"
REPOSITORY = "app"
SECRET_NAME = "app-hook"
# github-push-branch.json: a push of 0d1a26e... to refs/heads/changes of baxterthehacker/public-repo
GITHUB_URL = "https://github.com/baxterthehacker/public-repo.git"
GITHUB_COMMIT = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"

Manifest = dict[str, Any]


def tenant(name: str = TENANT, kubernetes_namespace: str | None = None) -> Manifest:
    spec: Manifest = {"registry": {"server": "registry.example.com"}}
    if kubernetes_namespace:
        spec["kubernetesNamespace"] = kubernetes_namespace
    return {"apiVersion": "kiln.dev/v1alpha1", "kind": "Namespace", "metadata": {"name": name}, "spec": spec}


def kubernetes_namespace(name: str = NAMESPACE, tenant: str | None = TENANT) -> Manifest:
    labels = {LABEL_NAMESPACE: tenant} if tenant else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def repository(
    name: str = REPOSITORY,
    *,
    provider: str = "github",
    url: str = GITHUB_URL,
    secret_name: str | None = SECRET_NAME,
    auto_build: bool = True,
    gitee_mode: str | None = None,
    namespace: str = NAMESPACE,
) -> Manifest:
    webhook: Manifest = {}
    if secret_name:
        webhook["secretRef"] = {"name": secret_name}
    if gitee_mode:
        webhook["giteeMode"] = gitee_mode
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "source": {"provider": provider, "url": url, "webhook": webhook},
            "build": {"autoBuild": auto_build},
        },
    }


def secret(
    name: str = SECRET_NAME, data: Mapping[str, str] | None = None, namespace: str = NAMESPACE
) -> Manifest:
    values = {"token": SECRET} if data is None else data
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def build_rule(
    name: str,
    *,
    branch: str | None = None,
    pattern: str | None = None,
    ref_type: str = "Branch",
    tags: list[Manifest] | None = None,
    repository: str = REPOSITORY,
    namespace: str = NAMESPACE,
    **extra: Any,
) -> Manifest:
    source: Manifest = {"type": ref_type}
    if branch is not None:
        source["name"] = branch
    if pattern is not None:
        source["pattern"] = pattern
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "BuildRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"repository": repository, "source": source, "tags": tags or [{"tag": "latest"}], **extra},
    }


# Rules for github-push-branch.json: two match refs/heads/changes, one does not.
CHANGES_RULE = build_rule(
    "changes", branch="changes", tags=[{"tag": "latest"}, {"tag": "${ref}", "commitIdLength": 7}]
)
PATTERN_RULE = build_rule(
    "pattern", pattern="chan(?<rest>.*)", tags=[{"tag": "v-${rest}", "buildTime": "yyyyMMdd"}]
)
MAIN_RULE = build_rule("main", branch="main")
EXPECTED_TAGS = {"changes": ["latest", "changes-0d1a26e"], "pattern": ["v-ges-20150506"]}


# One shared payload per host (the hosts' documentation examples), the Repository URL it belongs
# to, the secret it is signed with (Gitee: password mode) and its push event.
@dataclass(frozen=True)
class Host:
    """A shared payload of one host, the Repository it belongs to, how it is signed."""

    provider: str
    file: str
    url: str
    secret: WebhookSecret
    event: str


HOSTS = {
    h.provider: h
    for h in (
        Host(
            "github",
            "github-push-branch.json",
            "https://github.com/baxterthehacker/public-repo.git",
            SharedSecret(SECRET),
            "push",
        ),
        Host(
            "gitlab",
            "gitlab-push-hook.json",
            "https://example.com/mike/diaspora.git",
            GitLabSecret(token=SECRET),
            "Push Hook",
        ),
        Host(
            "gitee",
            "gitee-push.json",
            "https://gitee.com/kit101/drone-yml-test.git",
            GiteeSecret(SECRET),
            "Push Hook",
        ),
        Host(
            "bitbucket",
            "bitbucket-cloud-repo-push.json",
            "https://bitbucket.org/brydzewski/foo.git",
            SharedSecret(SECRET),
            "repo:push",
        ),
        Host(
            "bitbucket-server",
            "bitbucket-server-repo-refs-changed.json",
            "https://bitbucket.example.com/scm/proj/repository.git",
            SharedSecret(SECRET),
            "repo:refs_changed",
        ),
    )
}


def fed_cache(*objects: Manifest, **limits: float) -> ResourceCache:
    """A ready cache holding `objects` (their kind says where each goes); `limits`: ResourceCache's
    match_timeout / plan_budget."""
    cache = ResourceCache(**limits)
    kinds: dict[str, Callable[[Manifest], Kind]] = {
        "Namespace": lambda o: Kind.TENANT if o["apiVersion"].startswith("kiln.dev") else Kind.NAMESPACE,
        "Repository": lambda o: Kind.REPOSITORY,
        "BuildRule": lambda o: Kind.BUILD_RULE,
        "Secret": lambda o: Kind.SECRET,
    }
    by_kind: dict[Kind, list[Manifest]] = {kind: [] for kind in Kind}
    for obj in objects:
        by_kind[kinds[obj["kind"]](obj)].append(obj)
    for kind, items in by_kind.items():
        cache.replace(kind, items)
    return cache


def world(
    *extra: Manifest, rules: tuple[Manifest, ...] = (CHANGES_RULE, PATTERN_RULE, MAIN_RULE), **repo: Any
) -> ResourceCache:
    """The standard tenant: acme -> kiln-acme, Repository app (github, the payload's URL), its Secret."""
    return fed_cache(tenant(), kubernetes_namespace(), repository(**repo), secret(), *rules, *extra)


def signed(provider: str, body: bytes, key: WebhookSecret | None = None, **kwargs: Any) -> dict[str, str]:
    return sign(provider, body, key or SharedSecret(SECRET), **kwargs)


def deliver(
    cache: ResourceCache,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    *,
    provider: str = "github",
    tenant_name: str = TENANT,
    repo: str = REPOSITORY,
    max_refs: int = DEFAULT_MAX_REFS,
) -> Decision:
    return decide(Delivery(provider, tenant_name, repo, headers, body), cache, now, max_refs=max_refs)


def reply_of(decision: Decision) -> Reply:
    assert isinstance(decision, Reply), decision
    return decision


def create_of(decision: Decision) -> CreateRuns:
    assert isinstance(decision, CreateRuns), decision
    return decision


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) into a JSON document, for tests that cut or change one."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def with_commit(body: bytes, commit: str) -> bytes:
    """A GitHub push body re-pointed at `commit`: BuildRuns are named by (rule, Repository, ref,
    commit), so pushes that must each build need commits of their own."""
    payload = json.loads(body)
    payload["after"] = payload["head_commit"]["id"] = commit
    return json.dumps(payload).encode()


# --- organization hooks (/hooks/{provider}/{tenant}) ------------------------------------------------

ORG_SECRET = "org-s3cret"
TEMPLATE_RULES = [
    {"name": "changes", "source": {"type": "Branch", "name": "changes"}, "tags": [{"tag": "latest"}]},
    {"name": "main", "source": {"type": "Branch", "name": "main"}, "tags": [{"tag": "latest"}]},
]


def org_tenant(*, auto_create: bool = True, provider: str = "github", **template: Any) -> Manifest:
    body = tenant()
    body["spec"].update(
        autoCreateRepositories=auto_create,
        organizationWebhook={"provider": provider},
        repositoryTemplate={
            "credentialsSecretRef": {"name": "org-token"},
            "buildRules": TEMPLATE_RULES,
            **template,
        },
    )
    return body


def org_world(*extra: Manifest, tenant_body: Manifest | None = None) -> ResourceCache:
    """The tenant with an organization hook (its default Secret holds ORG_SECRET) and no Repository."""
    org_secret = secret(DEFAULT_ORGANIZATION_SECRET, {"token": ORG_SECRET})
    return fed_cache(tenant_body or org_tenant(), kubernetes_namespace(), org_secret, *extra)
