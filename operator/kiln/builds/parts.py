"""Pieces of a build pod that every strategy shares: the container skeleton, volumes, mounts.

A strategy module (buildkit, buildah) describes its build container as a `BuilderSpec`; the Job
builder (job.py) adds the common parts around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiln.api.constants import PUSH_SECRET
from kiln.builds.config import BuildConfig
from kiln.builds.inputs import WORKSPACE, BuildInputs
from kiln.builds.scripts import REGISTRY_AUTH_DIR, TERMINATION_LOG

Manifest = dict[str, Any]

BUILD_CONTAINER = "build"
CLONE_CONTAINER = "clone"
# volume names
WORKSPACE_VOLUME = "workspace"
GIT_CREDENTIALS_VOLUME = "git-credentials"
REGISTRY_AUTH_VOLUME = "registry-auth"
BUILD_CONFIG_VOLUME = "build-config"
# Secret files readable by their owner and the pod's fsGroup only.
SECRET_FILE_MODE = 0o440
# the key of a kubernetes.io/dockerconfigjson Secret
DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson"


@dataclass(frozen=True, slots=True)
class BuilderSpec:
    """A strategy's build container and what the pod needs for it."""

    image: str
    command: tuple[str, ...]
    security_context: Manifest
    # the uid (and gid) the build runs as; the clone runs as the same user, so the build owns
    # the source it reads
    user: int
    env: Mapping[str, str] = field(default_factory=dict)
    # extra emptyDir volumes: volume name -> mount path
    scratch: Mapping[str, str] = field(default_factory=dict)
    # configuration files (ConfigMap key -> content) and where the build container mounts them;
    # `config_subpath` mounts the one key as a file at `config_mount` instead of a directory
    config_files: Mapping[str, str] = field(default_factory=dict)
    config_mount: str | None = None
    config_subpath: str | None = None
    pod_security_context: Mapping[str, Any] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)


def resources(inputs: BuildInputs) -> Manifest:
    """Requests equal to limits: the tenant's per-build quota, reserved and never exceeded."""
    amounts = {"cpu": inputs.cpu, "memory": inputs.memory}
    return {"limits": dict(amounts), "requests": dict(amounts)}


def env_list(env: Mapping[str, str]) -> list[Manifest]:
    return [{"name": name, "value": value} for name, value in env.items()]


def mount(name: str, path: str, *, read_only: bool = False, sub_path: str | None = None) -> Manifest:
    m: Manifest = {"name": name, "mountPath": path}
    if read_only:
        m["readOnly"] = True
    if sub_path is not None:
        m["subPath"] = sub_path
    return m


def container(
    name: str,
    image: str,
    config: BuildConfig,
    inputs: BuildInputs,
    *,
    command: Sequence[str],
    env: Mapping[str, str],
    mounts: Sequence[Manifest],
    security_context: Manifest,
) -> Manifest:
    """A container of the build pod: the tenant's resources, and a termination message that is
    the build's own result or, if the container fails without writing one, its last log lines."""
    c: Manifest = {
        "name": name,
        "image": image,
        "imagePullPolicy": config.image_pull_policy,
        "command": list(command),
        "resources": resources(inputs),
        "securityContext": security_context,
        "volumeMounts": list(mounts),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if env:
        c["env"] = env_list(env)
    return c


def workspace_mount(*, read_only: bool) -> Manifest:
    return mount(WORKSPACE_VOLUME, WORKSPACE, read_only=read_only)


def registry_auth_volume() -> Manifest:
    """The tenant's push Secret as `config.json`; optional, so a tenant without push credentials
    still builds (and pushes to a registry that needs none)."""
    return {
        "name": REGISTRY_AUTH_VOLUME,
        "secret": {
            "secretName": PUSH_SECRET,
            "optional": True,
            "defaultMode": SECRET_FILE_MODE,
            "items": [{"key": DOCKER_CONFIG_JSON_KEY, "path": "config.json"}],
        },
    }


def registry_auth_mount() -> Manifest:
    return mount(REGISTRY_AUTH_VOLUME, REGISTRY_AUTH_DIR, read_only=True)
