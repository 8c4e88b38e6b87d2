"""Names of the Kiln API: group, version, kinds, labels and condition types, in one place.

Everything else (models, CRD generator, controllers, CLI) refers to these constants so a rename
happens here only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

GROUP = "kiln.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# `kubectl get kiln` lists every kind in this category.
CATEGORY = "kiln"


class Scope(enum.StrEnum):
    """CustomResourceDefinition scope."""

    CLUSTER = "Cluster"
    NAMESPACED = "Namespaced"


@dataclass(frozen=True, slots=True)
class KindInfo:
    """How one kind is named on the API server."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    scope: Scope

    @property
    def crd_name(self) -> str:
        """The CustomResourceDefinition's metadata.name, e.g. `buildrules.kiln.dev`."""
        return f"{self.plural}.{GROUP}"


# Not plural `namespaces`: the API server reads `/apis/<group>/<version>/namespaces/<name>` as a
# namespace-scoped path, so GET, PATCH and DELETE by name of a cluster-scoped `namespaces` resource
# answer 404 (seen on 1.20). `kubectl get kns` and `kubectl get kilnnamespaces` address it.
NAMESPACE = KindInfo("Namespace", "kilnnamespaces", "kilnnamespace", ("kns",), Scope.CLUSTER)
REPOSITORY = KindInfo("Repository", "repositories", "repository", ("krepo",), Scope.NAMESPACED)
BUILD_RULE = KindInfo("BuildRule", "buildrules", "buildrule", ("brule",), Scope.NAMESPACED)
BUILD_RUN = KindInfo("BuildRun", "buildruns", "buildrun", ("brun",), Scope.NAMESPACED)

# Order matters: CRD files, `kiln crds` output and docs/api.md follow it (owner before owned).
KINDS: tuple[KindInfo, ...] = (NAMESPACE, REPOSITORY, BUILD_RULE, BUILD_RUN)
KINDS_BY_NAME: dict[str, KindInfo] = {k.kind: k for k in KINDS}

# Labels set on every child object (Jobs, Secrets, BuildRuns...), so e.g.
# `kubectl get jobs -l kiln.dev/build-rule=x` works.
LABEL_NAMESPACE = f"{GROUP}/namespace"
LABEL_REPOSITORY = f"{GROUP}/repository"
LABEL_BUILD_RULE = f"{GROUP}/build-rule"
LABEL_BUILD_RUN = f"{GROUP}/build-run"

# Objects of fixed names in every tenant namespace: the ServiceAccount builds run as and the copy of
# the registry push Secret they mount (the tenancy controller makes both; build Jobs use them).
BUILDER_SERVICE_ACCOUNT = "kiln-builder"
PUSH_SECRET = "kiln-registry-push"

# A Kiln Namespace `x` owns the Kubernetes namespace `kiln-x` unless spec.kubernetesNamespace says otherwise.
KUBERNETES_NAMESPACE_PREFIX = "kiln-"


def tenant_namespace(name: str, configured: str | None = None) -> str:
    """The Kubernetes namespace of the Kiln Namespace `name`: spec.kubernetesNamespace, or `kiln-<name>`."""
    return configured or f"{KUBERNETES_NAMESPACE_PREFIX}{name}"


class Provider(enum.StrEnum):
    """The code hosting platform of a Repository's source (also the provider part of webhook URLs)."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GITEE = "gitee"
    BITBUCKET = "bitbucket"
    BITBUCKET_SERVER = "bitbucket-server"


class GiteeMode(enum.StrEnum):
    """How Gitee proves a webhook delivery: the secret sent as is, or an HMAC signature of it."""

    PASSWORD = "password"
    SIGNATURE = "signature"


# When the creator made a BuildRun, to the microsecond (creationTimestamp has whole seconds): the
# order of a tenant's queue within one second. Set by the webhook receiver.
ANNOTATION_CREATED_AT = f"{GROUP}/created-at"


class ConditionType(enum.StrEnum):
    """Condition types used in the kinds' status.conditions."""

    READY = "Ready"  # Namespace, Repository
    SOURCE_BOUND = "SourceBound"  # Repository
    WEBHOOK_REGISTERED = "WebhookRegistered"  # Repository
    VALID = "Valid"  # BuildRule
    SUCCEEDED = "Succeeded"  # BuildRun
    ACCELERATED = "Accelerated"  # BuildRun of a Repository with spec.build.accelerated
