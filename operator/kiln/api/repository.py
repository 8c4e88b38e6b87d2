"""Repository (namespaced): an image repository bound to one code repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from kiln.api.common import (
    Condition,
    KilnModel,
    KilnObject,
    PoolName,
    SecretKeySelector,
    Visibility,
    conditions_field,
    kopf_state_field,
    observed_generation_field,
)
from kiln.api.constants import REPOSITORY, GiteeMode, KindInfo, Provider

# One path component of an image name (the distribution spec's `path-component`).
IMAGE_NAME_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*$"


class Webhook(KilnModel):
    """The push webhook of the code repository."""

    secret_ref: SecretKeySelector | None = Field(
        None,
        description=(
            "Secret key holding the shared webhook secret that deliveries are verified with; "
            "unset: the Secret `<metadata.name>-webhook` (key `token`). The operator creates the Secret with a "
            "random secret (32 bytes, owned by the Repository) when it does not exist."
        ),
    )
    auto_register: bool = Field(
        True,
        description=(
            "The operator registers (and on deletion removes) the webhook on the code host using the "
            "source credentials; false: add it yourself with the URL in status.webhook.url."
        ),
    )
    gitee_mode: GiteeMode = Field(
        GiteeMode.SIGNATURE,
        description=(
            "Gitee only: `signature` verifies the HMAC-SHA256 signature of the delivery, `password` compares "
            "the secret Gitee sends in clear text."
        ),
    )


class Source(KilnModel):
    """The code repository images are built from."""

    provider: Provider = Field(description="Code hosting platform.")
    url: str = Field(
        max_length=2048,
        pattern=r"^https://[^\s/]+/\S+$",
        description=(
            "HTTPS clone URL of the code repository, e.g. `https://github.com/acme/app.git`; "
            "self-hosted GitLab, Bitbucket Server and GitHub Enterprise URLs are allowed."
        ),
    )
    credentials_secret_ref: SecretKeySelector | None = Field(
        None,
        description=(
            "Secret key holding an OAuth token or personal access token for the code host, used to "
            "register the webhook and to clone private repositories; unset: public repository, no "
            "automatic webhook registration."
        ),
    )
    webhook: Webhook = Field(default_factory=Webhook, description="The push webhook.")


class BuildSettings(KilnModel):
    """How the Repository's images are built."""

    auto_build: bool = Field(True, description="Build when code is pushed; false: only manual builds.")
    no_cache: bool = Field(
        False, description="Build without the build cache (slower, always pulls base images)."
    )
    pool: PoolName | None = Field(
        None,
        description=(
            "Build pool to build on, e.g. `overseas`: one of the operator's KILN_BUILD_POOLS (node selector, "
            "tolerations, proxy, registry mirrors) that the Namespace's spec.buildPools allows; anything else "
            "is refused. Unset: no node selector or proxy, the operator-wide registry mirrors only."
        ),
    )
    accelerated: bool = Field(
        False,
        description=(
            "Also push an eStargz (lazily pulled) variant of each tag as `<tag>-accelerated` (buildkit "
            "strategy). The buildah strategy cannot write eStargz: its BuildRuns push the plain tags only "
            "and say so in condition `Accelerated` (False, reason `NotSupported`)."
        ),
    )


class RepositorySpec(KilnModel):
    """Desired state of a Repository."""

    name: str | None = Field(
        None,
        max_length=128,
        pattern=IMAGE_NAME_PATTERN,
        description="Image repository name in the registry; default metadata.name. Immutable.",
    )
    visibility: Visibility | None = Field(
        None, description="Who may pull the images; default the Namespace's defaultRepositoryVisibility."
    )
    summary: str | None = Field(None, max_length=100, description="One-line summary.")
    description: str | None = Field(None, description="Longer description (Markdown).")
    source: Source = Field(description="The code repository images are built from.")
    build: BuildSettings = Field(default_factory=BuildSettings, description="Build settings.")


class WebhookStatus(KilnModel):
    """The webhook as registered on the code host."""

    id: str | None = Field(None, description="The code host's id of the registered webhook.")
    url: str | None = Field(
        None,
        description=(
            "The URL the code host delivers push events to: `<KILN_RECEIVER_URL>/hooks/<provider>/<tenant>/"
            "<repository>` (unset when the operator has no KILN_RECEIVER_URL)."
        ),
    )
    secret_version: str | None = Field(
        None,
        description=(
            "`<uid>/<resourceVersion>` of the webhook Secret the hook was registered with: when the Secret "
            "changes (a rotated secret), the hook is updated."
        ),
    )


class ResyncStatus(KilnModel):
    """The operator's resync: the heads listed on the code host, the pushes no delivery brought."""

    baseline_time: datetime | None = Field(
        None,
        description="When the heads were first recorded (the binding): heads there then are never built by resync.",
    )
    last_time: datetime | None = Field(None, description="When the heads were last listed (or tried).")
    next_time: datetime | None = Field(None, description="When they are listed next (KILN_RESYNC_INTERVAL).")
    heads: int | None = Field(None, description="Branch heads and tags the last listing found.")
    created: int | None = Field(
        None, description="BuildRuns the last resync created (pushes no webhook delivered)."
    )
    error: str | None = Field(None, description="Why the last resync did not complete; unset when it did.")


class RepositoryStatus(KilnModel):
    """Observed state of a Repository, written by the operator."""

    conditions: list[Condition] = conditions_field("SourceBound, WebhookRegistered, Ready")
    image: str | None = Field(
        None, description="Full image path the builds push to, `<server>/<namespace>/<name>`."
    )
    webhook: WebhookStatus | None = Field(None, description="The registered webhook.")
    last_build_run: str | None = Field(None, description="Name of the most recently created BuildRun.")
    resync: ResyncStatus | None = Field(None, description="The resync of missed pushes (docs/codehosts.md).")
    observed_generation: int | None = observed_generation_field()
    kopf: dict[str, Any] | None = kopf_state_field()


class Repository(KilnObject):
    """An image repository bound to one code repository; its BuildRules say what to build."""

    INFO: ClassVar[KindInfo] = REPOSITORY

    spec: RepositorySpec = Field(description="Desired state of the Repository.")
    status: RepositoryStatus | None = Field(None, description="Observed state, written by the operator.")
