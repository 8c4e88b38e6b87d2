"""Pure builders of a tenant's child objects: Kiln Namespace spec + settings -> Kubernetes manifests.

No I/O here: the Namespace controller applies what these return (server-side apply), so
re-running a reconcile converges on the same objects.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from kiln.api.constants import (
    API_VERSION,
    BUILD_RULE,
    BUILDER_SERVICE_ACCOUNT,
    GROUP,
    LABEL_NAMESPACE,
    NAMESPACE,
    PUSH_SECRET,
    REPOSITORY,
    tenant_namespace,
)
from kiln.api.namespace import NamespaceSpec

Manifest = dict[str, Any]


class TenantDefaults(Protocol):
    """What the builders need of the operator's settings (`kiln.platform.settings.Settings` has it)."""

    @property
    def blocked_egress_cidrs(self) -> tuple[str, ...]: ...
    @property
    def default_max_concurrent_builds(self) -> int: ...
    @property
    def default_build_cpu(self) -> str: ...
    @property
    def default_build_memory(self) -> str: ...


NETWORK_POLICY = "kiln-builds"
RESOURCE_QUOTA = "kiln-quota"
LIMIT_RANGE = "kiln-limits"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kiln"}

# Rootless BuildKit needs seccomp and AppArmor unconfined (it creates user namespaces and mounts),
# which the `baseline` Pod Security level forbids; `privileged` is the most restrictive level it
# runs under. `baseline` is still audited and warned about, so anything else stands out.
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "baseline",
    "pod-security.kubernetes.io/warn": "baseline",
}


def kubernetes_namespace_name(name: str, spec: NamespaceSpec) -> str:
    """The Kubernetes namespace a Kiln Namespace owns: `kiln-<name>` unless the spec overrides it."""
    return tenant_namespace(name, spec.kubernetes_namespace)


def tenant_labels(name: str) -> dict[str, str]:
    return {LABEL_NAMESPACE: name, **MANAGED_BY}


def owner_reference(name: str, uid: str) -> Manifest:
    """Children point at their Kiln Namespace, so the garbage collector removes them with it even if
    its finalizer was removed by hand."""
    return {"apiVersion": API_VERSION, "kind": NAMESPACE.kind, "name": name, "uid": uid, "controller": True}


def owned(manifest: Manifest, owner: Manifest) -> Manifest:
    return {**manifest, "metadata": {**manifest["metadata"], "ownerReferences": [owner]}}


# maps of resource amounts in the children (ResourceQuota `hard`, LimitRange entries): the API
# server stores each amount in its canonical form (`0.5` as `500m`, `4096Mi` as `4Gi`)
_AMOUNT_MAPS = frozenset({"hard", "max", "min", "default", "defaultRequest"})
_SCALE = {
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(10) ** e for s, e in (("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6))},
    **{s: Decimal(10) ** e for s, e in (("G", 9), ("T", 12), ("P", 15), ("E", 18))},
}


def quantity_value(text: str) -> Decimal | None:
    """The amount a Kubernetes quantity stands for (`500m` -> 0.5, `1Gi` -> 1073741824), or None."""
    match = re.fullmatch(
        r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|([KMGTPE]i|[numkMGTPE])?)", text
    )
    if match is None:
        return None
    number, exponent, suffix = match.groups()
    if exponent:
        return Decimal(number + exponent)
    return Decimal(number) * _SCALE[suffix or ""]


def _same_leaf(actual: Any, desired: Any, amounts: bool) -> bool:
    if actual == desired:
        return True
    if amounts and isinstance(actual, str | int) and isinstance(desired, str | int):
        a, d = quantity_value(str(actual)), quantity_value(str(desired))
        return a is not None and a == d
    return False


def in_shape(actual: Any, desired: Any, *, amounts: bool = False) -> bool:
    """Whether every field of `desired` is in `actual` with the same value (lists compared whole,
    resource amounts by what they stand for): fields others own (status, tokens, defaults the API
    server adds) and the API server's spelling of an amount do not count as drift."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            in_shape(actual.get(k), v, amounts=amounts or k in _AMOUNT_MAPS) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(_same_list_item(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return _same_leaf(actual, desired, amounts)


def _same_list_item(actual: Any, desired: Any) -> bool:
    # a list is atomic (Kiln's whole): an item is its desired fields, nothing more, nothing less
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and actual.keys() == desired.keys() and in_shape(actual, desired)
    return in_shape(actual, desired)


def owned_by(namespace_labels: dict[str, str] | None, name: str) -> bool:
    """Whether an existing Kubernetes namespace was created by Kiln for the tenant `name`."""
    return (namespace_labels or {}).get(LABEL_NAMESPACE) == name


@dataclass(frozen=True, slots=True)
class Quota:
    """The tenant's effective limits: spec.quota with the operator's defaults filled in."""

    max_concurrent_builds: int
    cpu: str
    memory: str

    @classmethod
    def effective(cls, spec: NamespaceSpec, settings: TenantDefaults) -> Quota:
        q = spec.quota
        return cls(
            max_concurrent_builds=(q.max_concurrent_builds if q and q.max_concurrent_builds else None)
            or settings.default_max_concurrent_builds,
            cpu=str(q.cpu) if q and q.cpu is not None else settings.default_build_cpu,
            memory=str(q.memory) if q and q.memory is not None else settings.default_build_memory,
        )


def _times(quantity: str, n: int) -> str:
    """`quantity` x n, keeping its suffix (`500m` x 3 = `1500m`, `4Gi` x 4 = `16Gi`), as a user would write it."""
    # the API's quantity pattern: a number, then a suffix (m, Gi, e3, ...) that scales it
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(.*)", quantity)
    if match is None:
        raise ValueError(f"invalid quantity {quantity!r}")
    number, suffix = match.groups()
    return f"{format((Decimal(number) * n).normalize(), 'f')}{suffix}"


def namespace(name: str, spec: NamespaceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": kubernetes_namespace_name(name, spec),
            "labels": {**tenant_labels(name), **POD_SECURITY_LABELS},
        },
    }


def service_account(name: str, ns: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": BUILDER_SERVICE_ACCOUNT, "namespace": ns, "labels": tenant_labels(name)},
        # builds never talk to the Kubernetes API
        "automountServiceAccountToken": False,
    }


def _ip_blocks(blocked: tuple[str, ...]) -> list[Manifest]:
    """'The outside world' per IP family: everything except the blocked ranges of that family."""
    blocks = []
    for world in ("0.0.0.0/0", "::/0"):
        family = ipaddress.ip_network(world).version
        except_ = sorted(c for c in blocked if ipaddress.ip_network(c).version == family)
        blocks.append({"ipBlock": {"cidr": world, **({"except": except_} if except_ else {})}})
    return blocks


def network_policy(name: str, ns: str, settings: TenantDefaults) -> Manifest:
    dns_ports = [{"protocol": proto, "port": 53} for proto in ("UDP", "TCP")]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": NETWORK_POLICY, "namespace": ns, "labels": tenant_labels(name)},
        "spec": {
            # every pod of a tenant namespace is a build pod
            "podSelector": {},
            # Ingress with no ingress rules: nothing may connect to a build. (No `ingress: []`: the
            # API server stores it as absent, so every apply of it was a change, a new generation
            # and a watch event, and the object never looked in shape: the storm of issue 12.)
            "policyTypes": ["Ingress", "Egress"],
            "egress": [
                # DNS wherever the cluster's resolver is (1.20 has no namespace name label to select it by)
                {"ports": dns_ports},
                {"to": _ip_blocks(settings.blocked_egress_cidrs)},
            ],
        },
    }


def resource_quota(name: str, ns: str, quota: Quota) -> Manifest:
    n = quota.max_concurrent_builds
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": RESOURCE_QUOTA, "namespace": ns, "labels": tenant_labels(name)},
        "spec": {
            "hard": {
                # only pods that have not finished count, so this bounds concurrent builds
                "pods": str(n),
                "limits.cpu": _times(quota.cpu, n),
                "limits.memory": _times(quota.memory, n),
            }
        },
    }


def limit_range(name: str, ns: str, quota: Quota) -> Manifest:
    per_build = {"cpu": quota.cpu, "memory": quota.memory}
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": LIMIT_RANGE, "namespace": ns, "labels": tenant_labels(name)},
        # defaultRequest as the API server would default it: `limits` is an atomic list, so one it
        # fills in differs from the one applied, and the LimitRange would never read back in shape
        "spec": {
            "limits": [
                {"type": "Container", "max": per_build, "default": per_build, "defaultRequest": per_build}
            ]
        },
    }


def push_secret(name: str, ns: str, source: Manifest) -> Manifest:
    """The copy of the registry push Secret in the tenant namespace (type and data as the source's)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PUSH_SECRET, "namespace": ns, "labels": tenant_labels(name)},
        "type": source.get("type", "kubernetes.io/dockerconfigjson"),
        "data": dict(source.get("data") or {}),
    }


def tenant_objects(name: str, spec: NamespaceSpec, settings: TenantDefaults) -> list[Manifest]:
    """Everything the tenant namespace holds, except the push Secret (which needs the source's data)."""
    ns = kubernetes_namespace_name(name, spec)
    quota = Quota.effective(spec, settings)
    return [
        service_account(name, ns),
        network_policy(name, ns, settings),
        resource_quota(name, ns, quota),
        limit_range(name, ns, quota),
    ]


RECEIVER_ACCESS_PREFIX = "kiln-receiver-"


def receiver_access_name(repository: str) -> str:
    """`kiln-receiver-<repository>`: the Role and RoleBinding of one Repository's webhook Secret."""
    return f"{RECEIVER_ACCESS_PREFIX}{repository}"


def receiver_secret_access(
    ns: str, repository: str, owner: Manifest, secret_name: str, service_account: str
) -> list[Manifest]:
    """A Role that may `get` exactly the Repository's webhook Secret, bound to the receiver's
    ServiceAccount (`namespace/name`): the receiver reads no other Secret, and lists none.

    Owned by the Repository, so both go with it; a changed secretRef is a changed resourceName.
    """
    return _receiver_access(ns, receiver_access_name(repository), owner, secret_name, service_account)


# The tenant's organization hook: a name no Repository's Role (`kiln-receiver-<repository>`) can have.
ORGANIZATION_ACCESS_NAME = "kiln-organization-receiver"
# What the receiver creates for an organization push when the tenant allows it (autoCreateRepositories);
# `get`: a Repository that exists already (409) is read to see which code repository it builds.
AUTO_CREATE_RULE: Manifest = {
    "apiGroups": [GROUP],
    "resources": [REPOSITORY.plural, BUILD_RULE.plural],
    "verbs": ["create", "get"],
}


def receiver_organization_access(
    ns: str, owner: Manifest, secret_name: str, service_account: str, auto_create: bool
) -> list[Manifest]:
    """The receiver's Role in a tenant namespace for its organization hook: `get` on the hook's
    Secret and, only when the tenant has autoCreateRepositories, `create` on Repositories and
    BuildRules. Owned by the tenant; removed by the operator when the hook goes."""
    extra = [AUTO_CREATE_RULE] if auto_create else []
    return _receiver_access(ns, ORGANIZATION_ACCESS_NAME, owner, secret_name, service_account, extra)


def _receiver_access(
    ns: str,
    name: str,
    owner: Manifest,
    secret_name: str,
    service_account: str,
    extra_rules: Sequence[Manifest] = (),
) -> list[Manifest]:
    account_namespace, _, account = service_account.partition("/")
    metadata = {"name": name, "namespace": ns, "labels": dict(MANAGED_BY), "ownerReferences": [owner]}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata,
        "rules": [
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret_name], "verbs": ["get"]},
            *extra_rules,
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": account_namespace}],
    }
    return [role, binding]
