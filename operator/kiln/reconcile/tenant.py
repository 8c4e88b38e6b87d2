"""Bring one tenant's Kubernetes objects into shape: the Namespace controller's work, without kopf.

It refuses to touch a Kubernetes namespace Kiln does not own, applies the children (server-side
apply, so a re-run converges and a deleted child comes back), copies the push Secret, and returns
what the status should be and which Events to post (`kiln.tenancy.tenant.result`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from kiln.api.constants import API_VERSION, LABEL_NAMESPACE, PUSH_SECRET, REPOSITORY
from kiln.api.namespace import NamespaceSpec
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.reconcile.repository import ensure_secret, hook_url
from kiln.tenancy import manifests
from kiln.tenancy.tenant import ReconcileResult, Tenant, result


def _claim_namespace(
    kube: Kube, tenant: Tenant, spec: NamespaceSpec, owner: Mapping[str, Any]
) -> tuple[str, str] | None:
    """Create the tenant's Kubernetes namespace if missing; (reason, message) when it cannot be used."""
    ns = manifests.kubernetes_namespace_name(tenant.name, spec)
    existing = kube.get("v1", "Namespace", ns)
    if existing is None:
        # create, not apply: if someone else creates the namespace meanwhile, this fails instead of
        # taking it over
        namespace = manifests.owned(manifests.namespace(tenant.name, spec), dict(owner))
        existing = kube.create(namespace) or kube.get("v1", "Namespace", ns)
    if existing is not None and not manifests.owned_by(existing["metadata"].get("labels"), tenant.name):
        return (
            "Conflict",
            f"Kubernetes namespace {ns!r} exists and is not managed by Kiln for this Namespace "
            f"(label {LABEL_NAMESPACE}={tenant.name} missing); it is left untouched",
        )
    if existing is not None and existing.get("status", {}).get("phase") == "Terminating":
        return "Terminating", f"Kubernetes namespace {ns!r} is being deleted"
    return None


def reconcile_tenant(kube: Kube, settings: Settings, tenant: Tenant) -> ReconcileResult:
    spec = tenant.spec
    if spec is None:
        return result(tenant, False, "InvalidSpec", tenant.problem or "invalid spec")
    try:
        children = manifests.tenant_objects(tenant.name, spec, settings)
    except ValueError as error:  # e.g. a quantity the builders cannot scale: report, do not retry forever
        return result(tenant, False, "InvalidSpec", str(error))
    owner = manifests.owner_reference(tenant.name, tenant.uid)
    refused = _claim_namespace(kube, tenant, spec, owner)
    if refused is not None:
        reason, message = refused
        # a namespace that is not Kiln's is not the tenant's either: status names none
        return result(
            tenant, False, reason, message, **({"kubernetesNamespace": None} if reason == "Conflict" else {})
        )

    ns = manifests.kubernetes_namespace_name(tenant.name, spec)
    for child in (manifests.namespace(tenant.name, spec), *children):
        kube.apply(manifests.owned(child, owner))
    secret_problem = _sync_push_secret(kube, tenant, ns, owner)
    organization, organization_problem = _sync_organization_hook(kube, settings, tenant, spec, ns, owner)
    status = {
        "kubernetesNamespace": ns,
        "repositories": len(kube.list(API_VERSION, REPOSITORY.kind, namespace=ns)),
        "organizationWebhook": organization,
    }
    if secret_problem:
        return result(tenant, False, "PushSecretMissing", secret_problem, **status)
    if organization_problem:
        return result(tenant, False, "OrganizationSecretInvalid", organization_problem, **status)
    return result(
        tenant, True, "Reconciled", f"Kubernetes namespace {ns} and its build policies are in place", **status
    )


def _sync_organization_hook(
    kube: Kube, settings: Settings, tenant: Tenant, spec: NamespaceSpec, ns: str, owner: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """The organization hook's Secret (made when absent) and the receiver's Role on it (with
    `create` on Repositories and BuildRules when autoCreateRepositories): its status, or a problem."""
    hook = spec.organization_webhook
    account = settings.receiver_service_account
    if hook is None:
        if tenant.organization_hook_status:  # the hook was removed: so is the receiver's access
            for kind in ("RoleBinding", "Role"):
                kube.delete("rbac.authorization.k8s.io/v1", kind, manifests.ORGANIZATION_ACCESS_NAME, ns)
        return None, None
    name, key = hook.secret()
    if account:
        # before the secret is made: the receiver may verify the first delivery at once
        for manifest in manifests.receiver_organization_access(
            ns, dict(owner), name, account, spec.auto_create_repositories
        ):
            kube.apply(manifest)
    status = {
        "url": hook_url(settings.receiver_url, hook.provider, tenant.name),
        "secretName": name,
        "secretKey": key,
    }
    try:
        ensure_secret(kube, ns, name, key, owner, manifests.tenant_labels(tenant.name))
    except ValueError as error:
        return status, f"spec.organizationWebhook: {error}"
    return status, None


def _sync_push_secret(kube: Kube, tenant: Tenant, ns: str, owner: Mapping[str, Any]) -> str | None:
    """Copy the push Secret into the tenant namespace; return a problem description if it cannot."""
    if tenant.push_secret is None:
        kube.delete("v1", "Secret", PUSH_SECRET, ns)
        return None
    source_ns, source_name = tenant.push_secret
    try:
        source = kube.get("v1", "Secret", source_name, source_ns)
    except ApiException as error:
        return f"cannot read push Secret {source_ns}/{source_name}: {error.reason}"
    if source is None:
        # credentials withdrawn at the source are withdrawn from the tenant too
        kube.delete("v1", "Secret", PUSH_SECRET, ns)
        return f"spec.registry.pushSecretRef: Secret {source_ns}/{source_name} not found"
    kube.apply(manifests.owned(manifests.push_secret(tenant.name, ns, source), dict(owner)))
    return None


def child_needs_repair(kube: Kube, event_type: str | None, child: Mapping[str, Any], tenant: Tenant) -> bool:
    """Whether a watch event on a tenant's child is drift to repair: a deletion, or a change by someone
    else to a field Kiln sets (its own writes, status and fields others own are no drift)."""
    if event_type == "DELETED":
        return True
    if event_type != "MODIFIED":
        return False
    meta = child["metadata"]
    if kube.applied_by_us(
        child["apiVersion"], child["kind"], meta.get("namespace"), meta["name"], meta.get("resourceVersion")
    ):
        return False
    return not tenant.child_in_shape(child)


def delete_tenant(kube: Kube, tenant: Tenant) -> str:
    """Delete the tenant's Kubernetes namespace if (and only if) Kiln created it for this tenant."""
    ns = tenant.kubernetes_namespace
    if ns is None:
        return "spec invalid: nothing was created, nothing to delete"
    existing = kube.get("v1", "Namespace", ns)
    if existing is None:
        return f"Kubernetes namespace {ns} already gone"
    if not manifests.owned_by(existing["metadata"].get("labels"), tenant.name):
        return f"Kubernetes namespace {ns} is not Kiln's: left untouched"
    kube.delete("v1", "Namespace", ns)
    return f"deleted Kubernetes namespace {ns}"
