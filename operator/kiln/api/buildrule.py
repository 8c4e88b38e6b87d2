"""BuildRule (namespaced): which refs of a Repository to build, how, and how to tag the images."""

from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, StringConstraints

from kiln.api.common import (
    Condition,
    Duration,
    KilnModel,
    KilnObject,
    ObjectName,
    UniqueList,
    conditions_field,
    kopf_state_field,
    observed_generation_field,
)
from kiln.api.constants import BUILD_RULE, KindInfo
from kiln.rules.refs import MAX_TAG_LENGTH
from kiln.rules.templates import MAX_COMMIT_ID_LENGTH, MIN_COMMIT_ID_LENGTH
from kiln.rules.types import RefSelector, RefType, Rule, TagTemplate
from kiln.rules.validation import MAX_TAGS, MIN_TAGS

MAX_BUILD_ARGS = 20
# What `commitId: true` means without a commitIdLength (the seed: "the first six characters").
DEFAULT_COMMIT_ID_LENGTH = 6


class Platform(enum.StrEnum):
    """A platform images can be built for."""

    LINUX_AMD64 = "linux/amd64"
    LINUX_ARM64 = "linux/arm64"
    LINUX_386 = "linux/386"
    LINUX_ARM_V7 = "linux/arm/v7"
    LINUX_ARM_V6 = "linux/arm/v6"
    LINUX_PPC64LE = "linux/ppc64le"
    LINUX_S390X = "linux/s390x"
    LINUX_RISCV64 = "linux/riscv64"


class RunPolicy(enum.StrEnum):
    """What happens when a rule is triggered while a BuildRun of it is still running."""

    PARALLEL = "Parallel"
    SERIAL = "Serial"
    SERIAL_LATEST_ONLY = "SerialLatestOnly"


class ManualBuild(enum.StrEnum):
    """Whether the rule can be built by hand (`kiln build`)."""

    ALLOWED = "Allowed"
    REFUSED = "Refused"


class RefSource(KilnModel):
    """Which refs trigger the rule: exactly one of `name` or `pattern`."""

    type: RefType = Field(description="`Branch` (refs/heads/...) or `Tag` (refs/tags/...).")
    name: str | None = Field(
        None, min_length=1, max_length=255, description="Exact short name of the branch or tag, e.g. `main`."
    )
    pattern: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description=(
            "Regular expression the whole short ref name must match, e.g. `release-(?<imageTag>\\w*)`; "
            "named groups, written `(?<name>...)` or `(?P<name>...)`, can be used in tag templates as "
            "`${name}`. A rule with a pattern cannot be built by hand."
        ),
    )


class TagSpec(KilnModel):
    """One image tag: the non-empty parts (template, build time, commit id) joined with `-`."""

    tag: str | None = Field(
        None,
        max_length=MAX_TAG_LENGTH,
        pattern=r"^[A-Za-z0-9_.${}-]*$",
        description=(
            "Tag template: text with `${group}` placeholders for the pattern's named groups and `${ref}` for "
            "the short ref name, e.g. `latest` or `${imageTag}`."
        ),
    )
    build_time: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description=(
            "Append the push time (UTC+8) in this format: fields yyyy yy MM dd HH mm ss, other characters "
            "as is, e.g. `yyyyMMddHHmm`. A rule using it cannot be built by hand."
        ),
    )
    commit_id: bool | None = Field(
        None,
        description=(
            f"Append the first commitIdLength (default {DEFAULT_COMMIT_ID_LENGTH}) characters of the pushed "
            "commit id. A rule using it cannot be built by hand."
        ),
    )
    commit_id_length: int | None = Field(
        None,
        ge=MIN_COMMIT_ID_LENGTH,
        le=MAX_COMMIT_ID_LENGTH,
        description="Number of commit id characters to append; setting it implies commitId.",
    )

    @property
    def effective_commit_id_length(self) -> int | None:
        """How many commit id characters the tag gets, or None for no commit id."""
        if self.commit_id is False:
            return None
        if self.commit_id_length is not None:
            return self.commit_id_length
        return DEFAULT_COMMIT_ID_LENGTH if self.commit_id else None


class History(KilnModel):
    """How many finished BuildRuns of the rule are kept; older ones are deleted."""

    succeeded: int = Field(10, ge=0, le=1000, description="Succeeded BuildRuns to keep.")
    failed: int = Field(10, ge=0, le=1000, description="Failed and cancelled BuildRuns to keep.")


def _check_build_arg_names(args: dict[str, str]) -> dict[str, str]:
    bad = sorted(name for name in args if not name or "=" in name or any(c.isspace() for c in name))
    if bad:
        raise ValueError(f"invalid build argument names (empty, or with '=' or spaces): {bad}")
    return args


def _check_relative_path(path: str) -> str:
    if ".." in path.split("/"):
        raise ValueError("must not contain '..': the path stays inside the repository")
    return path


BuildArgs = Annotated[dict[str, str], AfterValidator(_check_build_arg_names)]
RepoPath = Annotated[
    str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_check_relative_path)
]


class BuildRuleSettings(KilnModel):
    """What a BuildRule builds, without the Repository it belongs to: a BuildRule's spec, and an
    entry of a Namespace's spec.repositoryTemplate.buildRules."""

    source: RefSource = Field(description="Which branches or tags trigger the rule.")
    context_dir: RepoPath = Field(
        "/", description="Build context directory, relative to the repository root (`/` is the root)."
    )
    dockerfile: RepoPath = Field("Dockerfile", description="Path of the Dockerfile, relative to contextDir.")
    tags: list[TagSpec] = Field(
        min_length=MIN_TAGS,
        max_length=MAX_TAGS,
        description=f"The image tags to push, {MIN_TAGS} to {MAX_TAGS}.",
    )
    platforms: UniqueList[Platform] = Field(
        default_factory=lambda: [Platform.LINUX_AMD64],
        min_length=1,
        description="Platforms to build; several give a multi-platform image per tag.",
    )
    build_args: BuildArgs = Field(
        default_factory=dict,
        max_length=MAX_BUILD_ARGS,
        description=(
            f"Build arguments (Dockerfile ARG), name to value; at most {MAX_BUILD_ARGS}, names are "
            "case-sensitive."
        ),
    )
    run_policy: RunPolicy = Field(
        RunPolicy.SERIAL,
        description=(
            "When triggered while a BuildRun of the rule runs: `Parallel` runs both (within the tenant's "
            "maxConcurrentBuilds); `Serial` runs one at a time, the others wait in phase Pending with reason "
            "`Queued` and their place in line, oldest first; `SerialLatestOnly` is Serial, and a newer push "
            "supersedes every older waiting run (phase Cancelled, reason `Superseded`)."
        ),
    )
    timeout: Duration = Field(
        "1h",
        description=(
            "A build running longer fails with reason Timeout and its Pod is stopped, e.g. `90m`; counted "
            "from the start of its Job (time waiting in the queue does not count)."
        ),
    )
    paths: list[str] = Field(
        default_factory=list,
        description="Glob patterns; when set, a push builds only if a changed file matches one of them.",
    )
    ignore_paths: list[str] = Field(
        default_factory=list,
        description="Glob patterns; a push whose changed files all match these does not build.",
    )
    history: History = Field(
        default_factory=History,
        description=(
            "How many finished BuildRuns of the rule are kept; older ones are deleted with their Jobs and "
            "log archives. Waiting and running BuildRuns are never deleted."
        ),
    )


class BuildRuleSpec(BuildRuleSettings):
    """Desired state of a BuildRule."""

    repository: ObjectName = Field(description="Name of the Repository, in the same Kubernetes namespace.")


class BuildRuleStatus(KilnModel):
    """Observed state of a BuildRule, written by the operator."""

    conditions: list[Condition] = conditions_field("Valid")
    manual_build: ManualBuild | None = Field(
        None,
        description=(
            "`Allowed` or `Refused`: a rule with a pattern, a build time or a commit id can only be built "
            "by pushes."
        ),
    )
    manual_build_reason: str | None = Field(None, description="Why manual builds are refused.")
    tag_summary: str | None = Field(
        None,
        description=(
            "The tag templates in one line, for `kubectl get`: each template's parts joined with `-`, the "
            "commit id as `<commit:N>`, e.g. `${imageTag}-yyyyMMddHHmm-<commit:30>, latest`."
        ),
    )
    last_build_run: str | None = Field(None, description="Name of the most recently created BuildRun.")
    observed_generation: int | None = observed_generation_field()
    kopf: dict[str, Any] | None = kopf_state_field()


class BuildRule(KilnObject):
    """Which refs of a Repository are built, from which Dockerfile, for which platforms, with which tags."""

    INFO: ClassVar[KindInfo] = BUILD_RULE

    spec: BuildRuleSpec = Field(description="Desired state of the BuildRule.")
    status: BuildRuleStatus | None = Field(None, description="Observed state, written by the operator.")

    def to_rule(self) -> Rule:
        """The rules engine's view of this BuildRule, named by metadata.name (or generateName)."""
        name = self.metadata.get("name") or self.metadata.get("generateName") or ""
        return buildrule_to_rule(str(name), self.spec)


def buildrule_to_rule(name: str, spec: BuildRuleSpec) -> Rule:
    """The rules engine's view of a BuildRule (`name` is its metadata.name)."""
    return Rule(
        name=name,
        repository=spec.repository,
        source=RefSelector(type=spec.source.type, name=spec.source.name, pattern=spec.source.pattern),
        tags=tuple(
            TagTemplate(
                tag=t.tag or "", build_time=t.build_time, commit_id_length=t.effective_commit_id_length
            )
            for t in spec.tags
        ),
    )
