"""BuildRun (namespaced): one build; its spec is the complete, immutable record of what to build."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from kiln.api.buildrule import Platform
from kiln.api.common import (
    Condition,
    KilnModel,
    KilnObject,
    ObjectName,
    UniqueList,
    conditions_field,
    kopf_state_field,
    observed_generation_field,
)
from kiln.api.constants import BUILD_RUN, KindInfo, Provider
from kiln.rules.refs import MAX_TAG_LENGTH
from kiln.rules.validation import MAX_TAGS, MIN_TAGS

COMMIT_PATTERN = r"^[0-9a-f]{40}$"
# An image tag as the distribution spec allows it.
IMAGE_TAG_PATTERN = rf"^[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_TAG_LENGTH - 1}}}$"
# Characters of the commit id in status.shortCommit (the printer column), as `git log --oneline`.
SHORT_COMMIT_LENGTH = 7


class TriggerType(enum.StrEnum):
    """What created the BuildRun."""

    PUSH = "Push"
    MANUAL = "Manual"
    RESYNC = "Resync"


class Phase(enum.StrEnum):
    """Where a BuildRun is in its life."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class SucceededReason(enum.StrEnum):
    """Reasons of the BuildRun's Succeeded condition."""

    PENDING = "Pending"
    QUEUED = "Queued"
    BUILDING = "Building"
    PUSHED = "Pushed"
    BUILD_FAILED = "BuildFailed"
    TIMEOUT = "Timeout"
    CANCELLED = "Cancelled"
    SUPERSEDED = "Superseded"
    INVALID_BUILD_RUN = "InvalidBuildRun"
    INVALID_RULE = "InvalidRule"
    INVALID_REPOSITORY = "InvalidRepository"
    INVALID_TENANT = "InvalidTenant"


class Trigger(KilnModel):
    """What triggered the build."""

    type: TriggerType = Field(description="`Push` (webhook), `Manual` (`kiln build`) or `Resync`.")
    delivery_id: str | None = Field(
        None, description="The code host's id of the webhook delivery (Push only)."
    )
    provider: Provider | None = Field(None, description="Code host the push came from (Push only).")
    sender: str | None = Field(None, description="Who pushed, or who started the manual build.")


class PushedSource(KilnModel):
    """The exact source to build."""

    ref: str = Field(
        max_length=1024,
        pattern=r"^refs/(heads|tags)/\S+$",
        description="Full ref name, e.g. `refs/heads/release-v1` or `refs/tags/v1.2.0`.",
    )
    commit: str = Field(pattern=COMMIT_PATTERN, description="Full commit id (40 lowercase hex characters).")
    pushed_at: datetime | None = Field(
        None, description="When the commit was pushed (the build time in tags is computed from it)."
    )
    message: str | None = Field(None, description="Commit message.")
    author: str | None = Field(None, description="Commit author.")
    changed_files: list[str] | None = Field(
        None, description="Files changed by the push, when the code host reports them."
    )


ImageTag = Annotated[str, StringConstraints(pattern=IMAGE_TAG_PATTERN)]


class BuildRunSpec(KilnModel):
    """What to build; immutable once created, except `cancel`."""

    build_rule: ObjectName = Field(description="Name of the BuildRule, in the same Kubernetes namespace.")
    repository: ObjectName = Field(description="Name of the Repository, in the same Kubernetes namespace.")
    trigger: Trigger = Field(description="What triggered the build.")
    source: PushedSource = Field(description="The ref and commit to build.")
    tags: UniqueList[ImageTag] = Field(
        min_length=MIN_TAGS,
        max_length=MAX_TAGS,
        description="The image tags to push, rendered from the rule's templates when the run was created.",
    )
    cancel: bool = Field(False, description="Set to true to cancel the build.")


class Image(KilnModel):
    """An image pushed by the build."""

    ref: str = Field(description="Image reference with tag, e.g. `registry.example.com/team/app:v1`.")
    digest: str | None = Field(
        None, pattern=r"^sha256:[0-9a-f]{64}$", description="Manifest (or index) digest, `sha256:...`."
    )


class Cache(KilnModel):
    """Use of the build cache."""

    imported: bool | None = Field(None, description="The build imported a cache.")
    exported: bool | None = Field(None, description="The build exported its cache.")


class Progress(KilnModel):
    """How far a running build is, parsed from its output."""

    step: int | None = Field(None, ge=0, description="The step being run (1-based).")
    total: int | None = Field(
        None, ge=0, description="Steps of the build (of the last stage when multi-stage)."
    )
    cached: int | None = Field(None, ge=0, description="Steps taken from the cache so far.")
    summary: str | None = Field(
        None, description="`step/total`, with the cached steps, e.g. `3/7 (2 cached)`."
    )


class Logs(KilnModel):
    """Where the build log is kept."""

    archive: str | None = Field(
        None, description="Location of the archived build log, once the build finished."
    )


class CommitStatusReport(KilnModel):
    """The build's state as last reported on its commit (GitHub status, GitLab commit status,
    Bitbucket build status)."""

    state: str | None = Field(
        None, description="The state reported: `queued`, `running`, `succeeded`, `failed` or `cancelled`."
    )
    error: str | None = Field(
        None, description="Why the report failed (the code host's message); the build is not affected."
    )


class BuildRunStatus(KilnModel):
    """Observed state of a BuildRun, written by the operator."""

    phase: Phase | None = Field(
        None, description="`Pending`, `Running`, `Succeeded`, `Failed` or `Cancelled`."
    )
    conditions: list[Condition] = conditions_field(
        "Succeeded: Unknown while pending or running, then True or False; its reason is one of "
        + ", ".join(SucceededReason)
        + ". Accelerated: False (NotSupported) when the Repository asks for eStargz variants that the "
        "build's strategy cannot write"
    )
    short_commit: str | None = Field(
        None,
        max_length=SHORT_COMMIT_LENGTH,
        description=f"First {SHORT_COMMIT_LENGTH} characters of spec.source.commit (for `kubectl get`).",
    )
    start_time: datetime | None = Field(None, description="When the build started running.")
    completion_time: datetime | None = Field(None, description="When the build finished.")
    job_name: str | None = Field(None, description="Name of the Job running the build.")
    images: list[Image] = Field(default_factory=list, description="Images pushed, one per tag.")
    platforms: list[Platform] = Field(default_factory=list, description="Platforms built.")
    cache: Cache | None = Field(None, description="Use of the build cache.")
    message: str | None = Field(
        None, description="Human-readable summary of the outcome, e.g. the failing step."
    )
    progress: Progress | None = Field(None, description="How far the build is, while it runs.")
    strategy: str | None = Field(None, description="The build strategy that ran it, `buildkit` or `buildah`.")
    logs: Logs | None = Field(None, description="Where the build log is kept.")
    commit_status: CommitStatusReport | None = Field(
        None,
        description=(
            "The last state reported on the commit; only for Repositories with source.credentialsSecretRef "
            "(the token reports it)."
        ),
    )
    observed_generation: int | None = observed_generation_field()
    kopf: dict[str, Any] | None = kopf_state_field()


class BuildRun(KilnObject):
    """One build of a BuildRule for one pushed commit (or a manual or resync trigger)."""

    INFO: ClassVar[KindInfo] = BUILD_RUN

    spec: BuildRunSpec = Field(description="What to build; immutable except `cancel`.")
    status: BuildRunStatus | None = Field(None, description="Observed state, written by the operator.")
