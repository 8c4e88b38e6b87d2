"""Bring one tenant's Kubernetes objects into shape: the Namespace controller's core, without kopf.

It parses the spec, refuses to touch a Kubernetes namespace Kiln does not own, applies the
children (server-side apply, so a re-run converges and a deleted child comes back), copies the
push Secret, and says what the status should be and which Events to post.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kiln.api.conditions import Condition, set_condition
from kiln.api.constants import API_VERSION, LABEL_NAMESPACE, REPOSITORY, ConditionType
from kiln.api.namespace import NamespaceSpec
from kiln.api.validation import field_path, format_problems
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.rules.types import Problem
from kiln.tenancy import manifests


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(slots=True)
class ReconcileResult:
    """What a reconcile decided: the status to write and the Events to post."""

    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return any(
            c["type"] == ConditionType.READY and c["status"] == "True" for c in self.status["conditions"]
        )


def _outcome(
    previous: Sequence[Condition] | None,
    generation: int | None,
    ready: bool,
    reason: str,
    message: str,
    **status: Any,
) -> ReconcileResult:
    conditions = set_condition(
        previous, ConditionType.READY, "True" if ready else "False", reason, message, generation
    )
    outcome = ReconcileResult({"conditions": conditions, "observedGeneration": generation, **status})
    if not ready:
        outcome.events.append(Event("Warning", reason, message))
    return outcome


def parse_spec(spec: Mapping[str, Any]) -> NamespaceSpec | str:
    """The parsed spec, or a message naming every invalid field."""
    try:
        return NamespaceSpec.model_validate(spec)
    except ValidationError as error:
        return format_problems([Problem(f"spec.{field_path(e['loc'])}", e["msg"]) for e in error.errors()])


def reconcile_tenant(
    kube: Kube,
    settings: Settings,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    generation: int | None = None,
    conditions: Sequence[Condition] | None = None,
) -> ReconcileResult:
    parsed = parse_spec(spec)
    if isinstance(parsed, str):
        return _outcome(conditions, generation, False, "InvalidSpec", parsed)
    try:
        children = manifests.tenant_objects(name, parsed, settings)
    except ValueError as error:  # e.g. a quantity the builders cannot scale: report, do not retry forever
        return _outcome(conditions, generation, False, "InvalidSpec", str(error))

    ns = manifests.kubernetes_namespace_name(name, parsed)
    owner = manifests.owner_reference(name, uid)
    namespace = manifests.owned(manifests.namespace(name, parsed), owner)
    existing = kube.get("v1", "Namespace", ns)
    if existing is None:
        # create, not apply: if someone else creates the namespace meanwhile, this fails instead of
        # taking it over
        existing = kube.create(namespace) or kube.get("v1", "Namespace", ns)
    if existing is not None and not manifests.owned_by(existing["metadata"].get("labels"), name):
        return _outcome(
            conditions,
            generation,
            False,
            "Conflict",
            f"Kubernetes namespace {ns!r} exists and is not managed by Kiln for this Namespace "
            f"(label {LABEL_NAMESPACE}={name} missing); it is left untouched",
            kubernetesNamespace=None,
        )
    if existing is not None and existing.get("status", {}).get("phase") == "Terminating":
        return _outcome(
            conditions, generation, False, "Terminating", f"Kubernetes namespace {ns!r} is being deleted"
        )

    kube.apply(namespace)
    for child in children:
        kube.apply(manifests.owned(child, owner))

    secret_problem = _sync_push_secret(kube, settings, name, ns, parsed, owner)
    repositories = len(kube.list(API_VERSION, REPOSITORY.kind, namespace=ns))
    if secret_problem:
        return _outcome(
            conditions,
            generation,
            False,
            "PushSecretMissing",
            secret_problem,
            kubernetesNamespace=ns,
            repositories=repositories,
        )
    return _outcome(
        conditions,
        generation,
        True,
        "Reconciled",
        f"Kubernetes namespace {ns} and its build policies are in place",
        kubernetesNamespace=ns,
        repositories=repositories,
    )


def push_secret_source(spec: NamespaceSpec, settings: Settings) -> tuple[str, str] | None:
    """(namespace, name) of the push Secret to copy; an unset namespace means the operator's own."""
    ref = spec.registry.push_secret_ref
    if ref is None:
        return None
    return (ref.namespace or settings.operator_namespace, ref.name)


def _sync_push_secret(
    kube: Kube, settings: Settings, name: str, ns: str, spec: NamespaceSpec, owner: dict[str, Any]
) -> str | None:
    """Copy the push Secret into the tenant namespace; return a problem description if it cannot."""
    source_ref = push_secret_source(spec, settings)
    if source_ref is None:
        kube.delete("v1", "Secret", manifests.PUSH_SECRET, ns)
        return None
    source_ns, source_name = source_ref
    try:
        source = kube.get("v1", "Secret", source_name, source_ns)
    except ApiException as error:
        return f"cannot read push Secret {source_ns}/{source_name}: {error.reason}"
    if source is None:
        # credentials withdrawn at the source are withdrawn from the tenant too
        kube.delete("v1", "Secret", manifests.PUSH_SECRET, ns)
        return f"spec.registry.pushSecretRef: Secret {source_ns}/{source_name} not found"
    kube.apply(manifests.owned(manifests.push_secret(name, ns, source), owner))
    return None


def delete_tenant(kube: Kube, name: str, spec: Mapping[str, Any]) -> str:
    """Delete the tenant's Kubernetes namespace if (and only if) Kiln created it for this tenant."""
    parsed = parse_spec(spec)
    if isinstance(parsed, str):
        return "spec invalid: nothing was created, nothing to delete"
    ns = manifests.kubernetes_namespace_name(name, parsed)
    existing = kube.get("v1", "Namespace", ns)
    if existing is None:
        return f"Kubernetes namespace {ns} already gone"
    if not manifests.owned_by(existing["metadata"].get("labels"), name):
        return f"Kubernetes namespace {ns} is not Kiln's: left untouched"
    kube.delete("v1", "Namespace", ns)
    return f"deleted Kubernetes namespace {ns}"
