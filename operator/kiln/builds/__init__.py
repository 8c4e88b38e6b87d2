"""Builds: BuildRun -> build Job manifests, and the build's output -> result, progress, failure.

Pure: nothing here does I/O or talks to the cluster. The BuildRun controller gathers a
`BuildInputs` (the BuildRun, its BuildRule and Repository, the tenant's registry and quota),
calls `job_manifest()` with the operator's `BuildConfig`, applies the `JobPlan`'s manifests, and
reads the outcome back with `parse_termination_message()`, `parse_progress()` and
`failure_message()`.

Two strategies: BuildKit (`buildctl-daemonless.sh`, rootless by default) and buildah (vfs,
chroot isolation, unprivileged).
"""

from __future__ import annotations

from kiln.builds.buildah import BuildahCommands, buildah_commands
from kiln.builds.buildkit import buildctl_args, cache_ref
from kiln.builds.config import BUILDAH_VERSION, BUILDKIT_VERSION, BuildConfig, BuildkitMode, Strategy
from kiln.builds.inputs import BuildInputs
from kiln.builds.job import JobPlan, job_manifest, job_name, owner_reference
from kiln.builds.results import (
    BuildFailure,
    BuildResult,
    Progress,
    failure_message,
    parse_failure,
    parse_progress,
    parse_termination_message,
)

__all__ = [
    "BUILDAH_VERSION",
    "BUILDKIT_VERSION",
    "BuildConfig",
    "BuildFailure",
    "BuildInputs",
    "BuildResult",
    "BuildahCommands",
    "BuildkitMode",
    "JobPlan",
    "Progress",
    "Strategy",
    "buildah_commands",
    "buildctl_args",
    "cache_ref",
    "failure_message",
    "job_manifest",
    "job_name",
    "owner_reference",
    "parse_failure",
    "parse_progress",
    "parse_termination_message",
]
