"""Namespace (cluster-scoped): a tenant, owning one Kubernetes namespace and a registry namespace."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kiln.api.common import (
    DNS_LABEL_PATTERN,
    Condition,
    KilnModel,
    KilnObject,
    PoolName,
    Quantity,
    SecretReference,
    UniqueList,
    Visibility,
    conditions_field,
    kopf_state_field,
    observed_generation_field,
)
from kiln.api.constants import NAMESPACE, KindInfo

# host[:port] with an optional path prefix, e.g. `registry.example.com`, `localhost:5000/team`.
REGISTRY_SERVER_PATTERN = (
    r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)


class Registry(KilnModel):
    """The container registry the tenant's images are pushed to, as `<server>/<namespace>/<repository>`."""

    server: str = Field(
        max_length=253,
        pattern=REGISTRY_SERVER_PATTERN,
        description="Registry host, optionally with port and path prefix, e.g. `registry.example.com`.",
    )
    push_secret_ref: SecretReference | None = Field(
        None,
        description=(
            "A `kubernetes.io/dockerconfigjson` Secret with credentials to push to the server, copied into "
            "the tenant's Kubernetes namespace as `kiln-registry-push` and kept in sync; unset: push without "
            "credentials."
        ),
    )


class Quota(KilnModel):
    """Limits on the tenant's builds; an unset field takes the operator's default (4 builds, 2 CPU, 4Gi)."""

    max_concurrent_builds: int | None = Field(
        None,
        ge=1,
        description=(
            "At most this many BuildRuns of the tenant have a build Job at the same time; the others wait "
            "in phase Pending with reason `Queued`, oldest first, and start as slots free."
        ),
    )
    cpu: Quantity | None = Field(None, description="CPU limit of one build, e.g. `2` or `500m`.")
    memory: Quantity | None = Field(None, description="Memory limit of one build, e.g. `4Gi`.")


class NamespaceSpec(KilnModel):
    """Desired state of a tenant."""

    kubernetes_namespace: str | None = Field(
        None,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description=(
            "Name of the Kubernetes namespace the operator creates and owns for the tenant's Repositories, "
            "BuildRules, BuildRuns and build Jobs; default `kiln-<metadata.name>`. Immutable."
        ),
    )
    auto_create_repositories: bool = Field(
        False, description="A push for a repository path without a Repository creates the Repository."
    )
    default_repository_visibility: Visibility = Field(
        Visibility.PRIVATE, description="Visibility of Repositories that do not set spec.visibility."
    )
    registry: Registry = Field(description="Where the tenant's images are pushed.")
    build_pools: UniqueList[PoolName] = Field(
        default_factory=list,
        description=(
            "Build pools (names in the operator's KILN_BUILD_POOLS) the tenant's Repositories may pick in "
            "spec.build.pool; an unknown name is refused. Empty: none, builds run where the operator's "
            "default places them."
        ),
    )
    quota: Quota | None = Field(
        None,
        description="Limits on the tenant's builds; unset: the operator's defaults (4 concurrent builds of 2 CPU and 4Gi each, settable).",
    )


class NamespaceStatus(KilnModel):
    """Observed state of a tenant, written by the operator."""

    conditions: list[Condition] = conditions_field("Ready")
    kubernetes_namespace: str | None = Field(
        None, description="The Kubernetes namespace the operator manages."
    )
    repositories: int | None = Field(None, ge=0, description="Number of Repositories of the tenant.")
    observed_generation: int | None = observed_generation_field()
    kopf: dict[str, Any] | None = kopf_state_field()


class Namespace(KilnObject):
    """A tenant: a registry namespace plus the Kubernetes namespace holding its Repositories and builds."""

    INFO: ClassVar[KindInfo] = NAMESPACE

    spec: NamespaceSpec = Field(description="Desired state of the tenant.")
    status: NamespaceStatus | None = Field(None, description="Observed state, written by the operator.")
