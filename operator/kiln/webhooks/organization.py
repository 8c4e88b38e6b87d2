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
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kiln.api.buildrule import BuildRuleSpec, buildrule_to_rule
from kiln.api.constants import API_VERSION, BUILD_RULE, LABEL_NAMESPACE, LABEL_REPOSITORY, REPOSITORY
from kiln.api.namespace import RepositoryTemplate, RuleTemplate
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
# The names of the template rules a created Repository is to have BuildRules of (`main,release`),
# until all exist: the receiver creates them right after the Repository, and the operator creates
# any that a failed or interrupted delivery left out (kiln.reconcile.template_rules), from the
# tenant's template as it is then, and removes the annotation; a rule deleted after that stays
# deleted. Names only: whoever may edit a Repository can pick among the template's rules, no more.
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
        rule_specs = [(rule_name(name, rule.name), _rule_spec(rule, name)) for rule in template.build_rules]
    except ValidationError as error:  # e.g. a clone URL the Repository's own pattern refuses
        return f"the Repository for {event.repository} would be invalid: {format_problems(problems_of(error)[:3])}"
    rules = tuple(
        _rule_manifest(rule, rule_spec, namespace, tenant, name, path) for rule, rule_spec in rule_specs
    )
    meta = _metadata(name, namespace, tenant, name, path)
    if template.build_rules:
        meta["annotations"][ANNOTATION_TEMPLATE_BUILDRULES] = ",".join(r.name for r in template.build_rules)
    manifest = {"apiVersion": API_VERSION, "kind": REPOSITORY.kind, "metadata": meta, "spec": spec.to_wire()}
    index = RuleIndex(buildrule_to_rule(rule, rule_spec) for rule, rule_spec in rule_specs)
    filters = {rule: PathFilter.of(s.paths, s.ignore_paths) for rule, s in rule_specs}
    return NewRepository(name, manifest, rules, TemplateRules(index, filters), template.build.auto_build)


def _rule_spec(rule: RuleTemplate, repository: str) -> BuildRuleSpec:
    """The template rule's spec as the BuildRule of `repository` has it (raises ValidationError)."""
    wire = {k: v for k, v in rule.to_wire().items() if k != "name"}
    return BuildRuleSpec.model_validate({**wire, "repository": repository})


def _rule_manifest(
    name: str, spec: BuildRuleSpec, namespace: str, tenant: str, repository: str, path: str
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": BUILD_RULE.kind,
        "metadata": _metadata(name, namespace, tenant, repository, path),
        "spec": spec.to_wire(),
    }


def owned_by_repository(manifest: dict[str, Any], name: str, uid: str) -> dict[str, Any]:
    """`manifest` owned by the Repository `name` (`uid`): deleting the Repository deletes it."""
    owner = {"apiVersion": API_VERSION, "kind": REPOSITORY.kind, "name": name, "uid": uid}
    return {**manifest, "metadata": {**manifest["metadata"], "ownerReferences": [owner]}}


@dataclass(frozen=True, slots=True)
class PendingRules:
    """The BuildRules a Repository's ANNOTATION_TEMPLATE_BUILDRULES asks for: the manifests to
    create (owned by the Repository) and, for the names none can be made of, why."""

    manifests: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]


def pending_template_rules(
    repository: Mapping[str, Any], tenant: str, template: RepositoryTemplate | None
) -> PendingRules | None:
    """What the Repository `repository` of the tenant `tenant` still asks to have made of the
    tenant's `template` (as it is now); None when it asks nothing."""
    meta = repository.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    text = annotations.get(ANNOTATION_TEMPLATE_BUILDRULES)
    if text is None:
        return None
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    if (meta.get("labels") or {}).get(LABEL_CREATED_BY) != CREATED_BY_ORGANIZATION_WEBHOOK:
        why = f"Repository {name} was not created by an organization webhook (label {LABEL_CREATED_BY})"
        return PendingRules((), (why,))
    found = {rule.name: rule for rule in (template.build_rules if template else ())}
    manifests: list[dict[str, Any]] = []
    problems: list[str] = []
    path = str(annotations.get(ANNOTATION_CODE_REPOSITORY, ""))
    for wanted in names:
        rule = found.get(wanted)
        if rule is None:
            problems.append(
                f"{wanted}: no rule of that name in the tenant's spec.repositoryTemplate.buildRules"
            )
            continue
        try:
            spec = _rule_spec(rule, name)
        except ValidationError as error:
            problems.append(f"{wanted}: {format_problems(problems_of(error)[:3])}")
            continue
        made = _rule_manifest(rule_name(name, wanted), spec, namespace, tenant, name, path)
        manifests.append(owned_by_repository(made, name, str(meta.get("uid", ""))))
    return PendingRules(tuple(manifests), tuple(problems))


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
