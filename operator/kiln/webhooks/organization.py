"""Organization-level webhooks: a Repository created from a tenant's template. Pure.

A delivery to `/hooks/{provider}/{tenant}` comes from the code host's organization (group,
workspace, project) hook, for any of its code repositories. When no Repository of the tenant builds
the pushed one and the tenant has `autoCreateRepositories`, `plan_repository` makes the Repository
and BuildRules from `spec.repositoryTemplate`, and a `RulesView` over the template's rules, so the
push is planned exactly as a delivery to the new Repository's own hook would be
(`kiln.webhooks.decisions.plan_runs`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kiln.api.buildrule import BuildRuleSpec, buildrule_to_rule
from kiln.api.constants import API_VERSION, BUILD_RULE, LABEL_NAMESPACE, LABEL_REPOSITORY, REPOSITORY
from kiln.api.namespace import RepositoryTemplate
from kiln.api.repository import IMAGE_NAME_PATTERN, RepositorySpec
from kiln.api.validation import format_problems, problems_of
from kiln.rules import DEFAULT_MATCH_TIMEOUT, BuildPlan, Push, RuleIndex
from kiln.webhooks.entries import code_repository_path, url_path
from kiln.webhooks.events import PushEvent
from kiln.webhooks.paths import NO_FILTER, PathFilter

# Labels and annotations of what an organization hook created: whoever lists Repositories can tell
# them from those written by hand, and which code repository each was made for.
LABEL_CREATED_BY = "kiln.dev/created-by"
CREATED_BY_ORGANIZATION_WEBHOOK = "organization-webhook"
ANNOTATION_CODE_REPOSITORY = "kiln.dev/code-repository"
# The BuildRules a created Repository is to have, as JSON, until all exist: the receiver creates
# them right after the Repository, and the operator creates any that a failed or interrupted
# delivery left out (kiln.reconcile.template_rules), then removes the annotation; a rule deleted
# after that stays deleted.
ANNOTATION_TEMPLATE_BUILDRULES = "kiln.dev/template-buildrules"
MAX_REPOSITORY_NAME = 63  # a label value and a DNS label, so BuildRun labels can name it
NAME_HASH_LENGTH = 6
# Total pattern-matching time of one push over the template's rules (as the cache's plan budget).
TEMPLATE_PLAN_BUDGET = 0.25

_NOT_NAME = re.compile(r"[^a-z0-9]+")
_IMAGE_NAME = re.compile(IMAGE_NAME_PATTERN)


def repository_name(path: str, taken: Set[str]) -> str | None:
    """The Repository name for the code repository `path` (e.g. `acme/web-app` -> `web-app`): its
    last component made a valid name; `<name>-<6 hex of the path>` when another Repository has the
    name (GitLab subgroups may hold `a/app` and `b/app`). None when no valid name comes of it."""
    last = code_repository_path(path).rsplit("/", 1)[-1]
    base = _NOT_NAME.sub("-", last).strip("-")[:MAX_REPOSITORY_NAME].rstrip("-")
    if not base:
        return None
    if base not in taken:
        return base
    digest = hashlib.sha256(code_repository_path(path).encode()).hexdigest()[:NAME_HASH_LENGTH]
    return f"{base[: MAX_REPOSITORY_NAME - NAME_HASH_LENGTH - 1].rstrip('-')}-{digest}"


def rule_name(repository: str, template_rule: str) -> str:
    """`<repository>-<rule>`: the BuildRule a template rule becomes."""
    return f"{repository}-{template_rule}"


@dataclass(frozen=True, slots=True)
class TemplateRules:
    """The template's rules as the Repository `repository` will have them: a `RulesView`."""

    index: RuleIndex
    filters: dict[str, PathFilter]
    budget: float = TEMPLATE_PLAN_BUDGET

    def plan(self, namespace: str, repository: str, push: Push) -> BuildPlan:
        return self.index.snapshot(repository).plan(push, timeout=DEFAULT_MATCH_TIMEOUT, budget=self.budget)

    def path_filter(self, namespace: str, rule: str) -> PathFilter:
        return self.filters.get(rule, NO_FILTER)


@dataclass(frozen=True, slots=True)
class NewRepository:
    """A Repository to create for an organization delivery, its BuildRules, and their rules."""

    name: str
    manifest: dict[str, Any]
    rules: tuple[dict[str, Any], ...]
    view: TemplateRules
    auto_build: bool

    @property
    def objects(self) -> tuple[dict[str, Any], ...]:
        """What to create, in order: the Repository first, so its BuildRules can be owned by it."""
        return (self.manifest, *self.rules)


def _metadata(name: str, namespace: str, tenant: str, repository: str, path: str) -> dict[str, Any]:
    labels = {
        LABEL_NAMESPACE: tenant,
        LABEL_REPOSITORY: repository,
        LABEL_CREATED_BY: CREATED_BY_ORGANIZATION_WEBHOOK,
    }
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": {ANNOTATION_CODE_REPOSITORY: path},
    }


def plan_repository(
    event: PushEvent, namespace: str, tenant: str, template: RepositoryTemplate, taken: Set[str]
) -> NewRepository | str:
    """The Repository (and BuildRules) the organization delivery `event` creates, or why it cannot.

    `taken`: the names of the tenant's Repositories now. The Repository's webhook is not registered:
    the organization hook delivers its pushes already.
    """
    path = code_repository_path(event.repository)
    name = repository_name(path, taken)
    if name is None or not _IMAGE_NAME.match(name):
        return f"no valid Repository name comes of the code repository path {event.repository!r}"
    if template.source_url_prefix is not None:
        url = f"{template.source_url_prefix.rstrip('/')}/{event.repository.strip().strip('/')}.git"
    else:
        url = event.clone_url or ""
    if not url.startswith("https://"):
        shown = f" ({url})" if url else ""
        return (
            f"the delivery names no HTTPS clone URL for {event.repository}{shown}, so no Repository can be "
            "bound to it: set spec.repositoryTemplate.sourceUrlPrefix"
        )
    source: dict[str, Any] = {
        "provider": event.provider.value,
        "url": url,
        "webhook": {"autoRegister": False},
    }
    if template.credentials_secret_ref is not None:
        source["credentialsSecretRef"] = template.credentials_secret_ref.to_wire()
    wire: dict[str, Any] = {"source": source, "build": template.build.to_wire()}
    if template.visibility is not None:
        wire["visibility"] = template.visibility.value
    try:
        spec = RepositorySpec.model_validate(wire)
        rule_specs = [
            (
                rule_name(name, rule.name),
                BuildRuleSpec.model_validate({**_without_name(rule.to_wire()), "repository": name}),
            )
            for rule in template.build_rules
        ]
    except ValidationError as error:  # e.g. a clone URL the Repository's own pattern refuses
        return f"the Repository for {event.repository} would be invalid: {format_problems(problems_of(error)[:3])}"
    rules = tuple(
        {
            "apiVersion": API_VERSION,
            "kind": BUILD_RULE.kind,
            "metadata": _metadata(rule, namespace, tenant, name, path),
            "spec": rule_spec.to_wire(),
        }
        for rule, rule_spec in rule_specs
    )
    meta = _metadata(name, namespace, tenant, name, path)
    if rules:
        meta["annotations"][ANNOTATION_TEMPLATE_BUILDRULES] = json.dumps(rules, separators=(",", ":"))
    manifest = {"apiVersion": API_VERSION, "kind": REPOSITORY.kind, "metadata": meta, "spec": spec.to_wire()}
    index = RuleIndex(buildrule_to_rule(rule, rule_spec) for rule, rule_spec in rule_specs)
    filters = {rule: PathFilter.of(s.paths, s.ignore_paths) for rule, s in rule_specs}
    return NewRepository(name, manifest, rules, TemplateRules(index, filters), template.build.auto_build)


def _without_name(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "name"}


def owned_by_repository(manifest: dict[str, Any], name: str, uid: str) -> dict[str, Any]:
    """`manifest` owned by the Repository `name` (`uid`): deleting the Repository deletes it."""
    owner = {"apiVersion": API_VERSION, "kind": REPOSITORY.kind, "name": name, "uid": uid}
    return {**manifest, "metadata": {**manifest["metadata"], "ownerReferences": [owner]}}


def template_rules(repository: Mapping[str, Any]) -> tuple[dict[str, Any], ...] | str:
    """The BuildRule manifests the Repository `repository` was created to have (its
    ANNOTATION_TEMPLATE_BUILDRULES), owned by it; () when it names none; a string saying why when
    the annotation is unreadable (edited by hand)."""
    meta = repository.get("metadata") or {}
    text = (meta.get("annotations") or {}).get(ANNOTATION_TEMPLATE_BUILDRULES)
    if text is None:
        return ()
    try:
        rules = json.loads(text)
    except ValueError as error:
        return f"annotation {ANNOTATION_TEMPLATE_BUILDRULES} is not JSON: {error}"
    name, namespace = str(meta.get("name")), meta.get("namespace")
    if not isinstance(rules, list) or not all(_rule_of(rule, name, namespace) for rule in rules):
        # only rules of this Repository: whoever may edit a Repository gets no other BuildRule made
        return (
            f"annotation {ANNOTATION_TEMPLATE_BUILDRULES} is not a list of BuildRules of Repository "
            f"{name} (named {rule_name(name, '*')}, in namespace {namespace})"
        )
    return tuple(owned_by_repository(rule, name, str(meta.get("uid"))) for rule in rules)


def _rule_of(rule: Any, repository: str, namespace: Any) -> bool:
    if not isinstance(rule, dict) or (rule.get("apiVersion"), rule.get("kind")) != (
        API_VERSION,
        BUILD_RULE.kind,
    ):
        return False
    meta, spec = rule.get("metadata"), rule.get("spec")
    return (
        isinstance(meta, dict)
        and isinstance(spec, dict)
        and meta.get("namespace") == namespace
        and str(meta.get("name", "")).startswith(rule_name(repository, ""))
        and spec.get("repository") == repository
    )


def name_taken(existing: Mapping[str, Any], new: NewRepository) -> str | None:
    """Why the Repository `existing`, found under the name `new` wanted, is not the one to build
    `new`'s push with (it builds another code repository), or None when it is."""
    source = (existing.get("spec") or {}).get("source") or {}
    url = str(source.get("url", ""))
    path = new.manifest["metadata"]["annotations"][ANNOTATION_CODE_REPOSITORY]
    if url_path(url).endswith("/" + path):
        return None
    return (
        f"Repository {new.name} exists and builds {url}, not {path}: it was created a moment ago for "
        "another code repository; deliver again, and the Repository is created under a name of its own"
    )
