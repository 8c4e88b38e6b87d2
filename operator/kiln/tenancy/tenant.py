"""A Kiln Namespace as the operator works with it, and what its status says: pure.

`Tenant.of(body, defaults, operator_namespace)` parses a Namespace object once into the record the
Namespace controller's index holds and its reconcile works from: the parsed spec (or the problem
with it), the Kubernetes namespace it owns, the push Secret to copy and the children as the
builders make them, which drift is measured against. `result(...)` words the status and Events of
a reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiln.api.conditions import ConditionDict, set_condition
from kiln.api.constants import API_VERSION, NAMESPACE, ConditionType
from kiln.api.namespace import Namespace, NamespaceSpec
from kiln.api.validation import checked_spec
from kiln.tenancy import manifests
from kiln.tenancy.manifests import Manifest, TenantDefaults

ChildKey = tuple[str, str]  # (kind, name)


def parse_spec(name: str, spec: Mapping[str, Any]) -> NamespaceSpec | str:
    """The parsed spec, or a message naming every invalid field (worded as admission words it)."""
    checked = checked_spec(Namespace, {"metadata": {"name": name}, "spec": spec})
    return checked if isinstance(checked, str) else checked.spec


def push_secret_source(spec: NamespaceSpec, operator_namespace: str) -> tuple[str, str] | None:
    """(namespace, name) of the push Secret to copy; an unset namespace means the operator's own."""
    ref = spec.registry.push_secret_ref
    if ref is None:
        return None
    return (ref.namespace or operator_namespace, ref.name)


def _desired_children(name: str, spec: NamespaceSpec, defaults: TenantDefaults) -> dict[ChildKey, Manifest]:
    try:
        built = [manifests.namespace(name, spec), *manifests.tenant_objects(name, spec, defaults)]
    except ValueError:  # a quantity the builders cannot scale: the reconcile reports it
        return {}
    return {(m["kind"], m["metadata"]["name"]): m for m in built}


@dataclass(frozen=True, slots=True)
class Tenant:
    """One Kiln Namespace, parsed: `spec` is None (and `problem` set) when its spec does not validate."""

    name: str
    uid: str
    generation: int | None
    conditions: tuple[ConditionDict, ...]
    deleting: bool
    spec: NamespaceSpec | None
    problem: str | None = None
    kubernetes_namespace: str | None = None
    push_secret: tuple[str, str] | None = None
    desired: Mapping[ChildKey, Manifest] = field(default_factory=dict)
    # status.organizationWebhook was written: the receiver's Role for it may exist
    organization_hook_status: bool = False

    @classmethod
    def of(cls, body: Mapping[str, Any], defaults: TenantDefaults, operator_namespace: str) -> Tenant:
        meta = body.get("metadata") or {}
        name = str(meta.get("name", ""))
        common: dict[str, Any] = {
            "name": name,
            "uid": str(meta.get("uid", "")),
            "generation": meta.get("generation"),
            "conditions": tuple((body.get("status") or {}).get("conditions") or ()),
            "deleting": meta.get("deletionTimestamp") is not None,
            "organization_hook_status": bool((body.get("status") or {}).get("organizationWebhook")),
        }
        parsed = parse_spec(name, body.get("spec") or {})
        if isinstance(parsed, str):
            return cls(**common, spec=None, problem=parsed)
        return cls(
            **common,
            spec=parsed,
            kubernetes_namespace=manifests.kubernetes_namespace_name(name, parsed),
            push_secret=push_secret_source(parsed, operator_namespace),
            desired=_desired_children(name, parsed, defaults),
        )

    @property
    def object_ref(self) -> Manifest:
        """The Namespace as Events and status writes address it."""
        return {
            "apiVersion": API_VERSION,
            "kind": NAMESPACE.kind,
            "metadata": {"name": self.name, "uid": self.uid},
        }

    def child_in_shape(self, child: Mapping[str, Any]) -> bool:
        """Whether a child object still has every field Kiln sets (fields others own do not count)."""
        desired = self.desired.get((child["kind"], child["metadata"]["name"]))
        return desired is not None and manifests.in_shape(child, desired)


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What a reconcile decided: the status to write and the Events to post."""

    status: dict[str, Any]
    events: tuple[Event, ...] = ()

    @property
    def ready(self) -> bool:
        return any(
            c["type"] == ConditionType.READY and c["status"] == "True" for c in self.status["conditions"]
        )


def result(tenant: Tenant, ready: bool, reason: str, message: str, **status: Any) -> ReconcileResult:
    """The status of a reconcile that ended `ready` or not (with `reason`), and a Warning when not."""
    conditions: Sequence[ConditionDict] = set_condition(
        tenant.conditions,
        ConditionType.READY,
        "True" if ready else "False",
        reason,
        message,
        tenant.generation,
    )
    events = () if ready else (Event("Warning", reason, message),)
    return ReconcileResult(
        {"conditions": conditions, "observedGeneration": tenant.generation, **status}, events
    )


def tenant_owning(namespace: str, tenants: Mapping[str, Iterable[Tenant]]) -> Tenant | None:
    """The tenant whose Kubernetes namespace is `namespace`, from tenants by name (the operator's
    index), or None."""
    found = (t for name in list(tenants) for t in tenants.get(name, ()))
    return next((t for t in found if t.kubernetes_namespace == namespace), None)
