"""Namespace (cluster-scoped): a tenant, owning one Kubernetes namespace and a registry namespace."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from kiln.api.buildrule import BuildRuleSettings
from kiln.api.common import (
    DNS_LABEL_PATTERN,
    Condition,
    KilnModel,
    KilnObject,
    PoolName,
    Quantity,
    SecretKeySelector,
    SecretReference,
    UniqueList,
    Visibility,
    conditions_field,
    kopf_state_field,
    observed_generation_field,
)
from kiln.api.constants import NAMESPACE, GiteeMode, KindInfo, Provider
from kiln.api.repository import BuildSettings

# The Secret an organizationWebhook without secretRef is verified with, in the tenant's Kubernetes
# namespace: no Repository's default webhook Secret (`<name>-webhook`) can have this name.
DEFAULT_ORGANIZATION_SECRET = "kiln-organization-hook"
MAX_TEMPLATE_RULES = 20

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


class OrganizationWebhook(KilnModel):
    """The code host's organization-level webhook (a GitHub organization, GitLab group, Gitee
    organization, Bitbucket workspace or Bitbucket Server project), delivered to
    `<KILN_RECEIVER_URL>/hooks/<provider>/<tenant>`: one hook for every code repository in it."""

    provider: Provider = Field(description="Code hosting platform of the organization.")
    secret_ref: SecretKeySelector | None = Field(
        None,
        description=(
            "Secret key, in the tenant's Kubernetes namespace, holding the hook's shared secret; unset: the "
            f"Secret `{DEFAULT_ORGANIZATION_SECRET}` (key `token`), which the operator creates with a random "
            "secret (32 bytes) when it does not exist. Add the hook on the code host yourself, with "
            "status.organizationWebhook.url and this secret."
        ),
    )
    gitee_mode: GiteeMode = Field(
        GiteeMode.SIGNATURE,
        description="Gitee only: `signature` (HMAC-SHA256) or `password` (the secret sent in clear text).",
    )

    def secret(self) -> tuple[str, str]:
        """(Secret name, key) the hook is verified with: secretRef, else the operator's Secret."""
        ref = self.secret_ref or SecretKeySelector(name=DEFAULT_ORGANIZATION_SECRET)
        return ref.name, ref.key


class RuleTemplate(BuildRuleSettings):
    """A BuildRule every automatically created Repository gets: a BuildRule's spec without
    `repository`, plus the name it is created under."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="The BuildRule is created as `<repository>-<name>`, e.g. `app-main`.",
    )


class RepositoryTemplate(KilnModel):
    """What a Repository created by an organization webhook delivery looks like (spec.autoCreateRepositories)."""

    visibility: Visibility | None = Field(
        None, description="Visibility of the created Repositories; default defaultRepositoryVisibility."
    )
    credentials_secret_ref: SecretKeySelector | None = Field(
        None,
        description=(
            "Source credentials of the created Repositories (their spec.source.credentialsSecretRef): a "
            "token for the code host, to clone private repositories and for resync; unset: public "
            "repositories only."
        ),
    )
    source_url_prefix: str | None = Field(
        None,
        max_length=1024,
        pattern=r"^https://[^\s/]+(/\S*)?$",
        description=(
            "The created Repositories' spec.source.url is this, `/`, the code repository's path and "
            "`.git`, e.g. `https://gitlab.example.com` (Bitbucket Server: `https://bitbucket.example.com/scm`): "
            "for hosts behind a proxy, whose deliveries name http or internal clone URLs. Unset: the clone "
            "URL the delivery names, which must be HTTPS."
        ),
    )
    build: BuildSettings = Field(default_factory=BuildSettings, description="Their build settings.")
    build_rules: list[RuleTemplate] = Field(
        default_factory=list,
        max_length=MAX_TEMPLATE_RULES,
        description=(
            f"The BuildRules each created Repository gets (at most {MAX_TEMPLATE_RULES}), e.g. `main` for "
            "branch main → tag `latest`; empty: Repositories are created but build nothing until rules are "
            "added."
        ),
    )

    @model_validator(mode="after")
    def _unique_rule_names(self) -> RepositoryTemplate:
        names = [rule.name for rule in self.build_rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"buildRules names must be unique; given more than once: {', '.join(twice)}")
        return self


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
        False,
        description=(
            "An organizationWebhook delivery for a code repository no Repository builds creates one from "
            "repositoryTemplate, with its BuildRules, and builds the push; false: such a delivery is "
            "answered `ignored`, with the reason. Needs organizationWebhook."
        ),
    )
    organization_webhook: OrganizationWebhook | None = Field(
        None,
        description=(
            "Receive the code host's organization-level webhook at `/hooks/<provider>/<tenant>`: a push to "
            "any code repository of the organization builds with the Repository that builds it; unset: "
            "only per-Repository hooks."
        ),
    )
    repository_template: RepositoryTemplate | None = Field(
        None,
        description=(
            "The Repositories autoCreateRepositories creates: named after the code repository (its last "
            "path component, made a valid name), webhook not registered (the organization hook delivers)."
        ),
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


class OrganizationWebhookStatus(KilnModel):
    """Where the organization webhook delivers, and the Secret it is verified with."""

    url: str | None = Field(
        None,
        description=(
            "The URL to add on the code host: `<KILN_RECEIVER_URL>/hooks/<provider>/<tenant>` (unset when the "
            "operator has no KILN_RECEIVER_URL)."
        ),
    )
    secret_name: str | None = Field(None, description="The Secret holding the hook's secret.")
    secret_key: str | None = Field(None, description="Its key.")


class NamespaceStatus(KilnModel):
    """Observed state of a tenant, written by the operator."""

    conditions: list[Condition] = conditions_field("Ready")
    kubernetes_namespace: str | None = Field(
        None, description="The Kubernetes namespace the operator manages."
    )
    repositories: int | None = Field(None, ge=0, description="Number of Repositories of the tenant.")
    organization_webhook: OrganizationWebhookStatus | None = Field(
        None, description="The organization webhook (spec.organizationWebhook)."
    )
    observed_generation: int | None = observed_generation_field()
    kopf: dict[str, Any] | None = kopf_state_field()


class Namespace(KilnObject):
    """A tenant: a registry namespace plus the Kubernetes namespace holding its Repositories and builds."""

    INFO: ClassVar[KindInfo] = NAMESPACE

    spec: NamespaceSpec = Field(description="Desired state of the tenant.")
    status: NamespaceStatus | None = Field(None, description="Observed state, written by the operator.")
