"""BuildRun -> the Job that builds it (and the ConfigMap it reads), one builder per strategy.

The common parts live here: metadata, owner reference, deadline, service account, the init
container that checks the exact commit out, the volumes; the strategy modules describe only
their build container (buildkit.builder, buildah.builder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiln.api.common import parse_duration
from kiln.api.constants import BUILDER_SERVICE_ACCOUNT
from kiln.builds import buildah, buildkit
from kiln.builds.config import BuildConfig, Strategy
from kiln.builds.inputs import SOURCE_DIR, BuildInputs, build_run_owner
from kiln.builds.parts import (
    BUILD_CONFIG_VOLUME,
    BUILD_CONTAINER,
    CLONE_CONTAINER,
    GIT_CREDENTIALS_VOLUME,
    SECRET_FILE_MODE,
    WORKSPACE_VOLUME,
    BuilderSpec,
    Manifest,
    container,
    mount,
    registry_auth_mount,
    registry_auth_volume,
    workspace_mount,
)
from kiln.builds.scripts import (
    GIT_TOKEN_DIR,
    GIT_TOKEN_FILE,
    GIT_TOKEN_USERNAMES,
    clone_script,
    credential_helper,
)

Builder = Callable[[BuildInputs, BuildConfig], BuilderSpec]
BUILDERS: dict[Strategy, Builder] = {
    Strategy.BUILDKIT: buildkit.builder,
    Strategy.BUILDAH: buildah.builder,
}


@dataclass(frozen=True, slots=True)
class JobPlan:
    """The objects one build needs, to be created in this order: the ConfigMap (if any), the Job."""

    job: Manifest
    config_map: Manifest | None
    strategy: Strategy

    @property
    def manifests(self) -> list[Manifest]:
        return [m for m in (self.config_map, self.job) if m is not None]


def job_name(inputs: BuildInputs) -> str:
    """The Job is named as its BuildRun (a DNS label of at most 63 characters: a valid Job name)."""
    return inputs.run_name


def config_map_name(inputs: BuildInputs) -> str:
    return f"{inputs.run_name}-build-config"


def owner_reference(inputs: BuildInputs) -> Manifest:
    """The BuildRun controls the Job: deleting the BuildRun deletes the Job and its pod."""
    return build_run_owner(inputs.run_name, inputs.build_run_uid)


def _metadata(inputs: BuildInputs, name: str) -> Manifest:
    return {
        "name": name,
        "namespace": inputs.namespace,
        "labels": inputs.labels,
        "ownerReferences": [owner_reference(inputs)],
    }


def _clone_container(inputs: BuildInputs, config: BuildConfig, user: int) -> Manifest:
    source = inputs.repository.spec.source
    credentials = source.credentials_secret_ref
    helper = credential_helper(GIT_TOKEN_USERNAMES[source.provider]) if credentials else None
    spec = inputs.build_run.spec.source
    script = clone_script(source.url, spec.ref, spec.commit, SOURCE_DIR, helper, config.git_url_rewrites)
    mounts = [workspace_mount(read_only=False)]
    if credentials:
        mounts.append(mount(GIT_CREDENTIALS_VOLUME, GIT_TOKEN_DIR, read_only=True))
    return container(
        CLONE_CONTAINER,
        config.clone_image,
        config,
        inputs,
        command=("/bin/sh", "-c", script),
        # HOME: git reads its config there, and the user may have no home in the image
        env={"HOME": "/tmp", "GIT_TERMINAL_PROMPT": "0", **_proxy_env(inputs, config)},
        mounts=mounts,
        security_context={
            "runAsUser": user,
            "runAsGroup": user,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    )


def _proxy_env(inputs: BuildInputs, config: BuildConfig) -> dict[str, str]:
    pool = config.pools.get(inputs.pool) if inputs.pool else None
    return pool.proxy.env if pool is not None and pool.proxy is not None else {}


def _volumes(inputs: BuildInputs, spec: BuilderSpec, config_map: str | None) -> list[Manifest]:
    volumes: list[Manifest] = [{"name": WORKSPACE_VOLUME, "emptyDir": {}}]
    credentials = inputs.repository.spec.source.credentials_secret_ref
    if credentials:
        volumes.append(
            {
                "name": GIT_CREDENTIALS_VOLUME,
                "secret": {
                    "secretName": credentials.name,
                    "defaultMode": SECRET_FILE_MODE,
                    "items": [{"key": credentials.key, "path": GIT_TOKEN_FILE.rsplit("/", 1)[1]}],
                },
            }
        )
    volumes.append(registry_auth_volume())
    volumes += [{"name": name, "emptyDir": {}} for name in spec.scratch]
    if config_map:
        volumes.append({"name": BUILD_CONFIG_VOLUME, "configMap": {"name": config_map}})
    return volumes


def _build_container(inputs: BuildInputs, config: BuildConfig, spec: BuilderSpec) -> Manifest:
    mounts = [workspace_mount(read_only=True), registry_auth_mount()]
    mounts += [mount(name, path) for name, path in spec.scratch.items()]
    if spec.config_mount:
        mounts.append(
            mount(BUILD_CONFIG_VOLUME, spec.config_mount, read_only=True, sub_path=spec.config_subpath)
        )
    return container(
        BUILD_CONTAINER,
        spec.image,
        config,
        inputs,
        command=spec.command,
        env={**spec.env, **_proxy_env(inputs, config)},
        mounts=mounts,
        security_context=spec.security_context,
    )


def job_manifest(inputs: BuildInputs, config: BuildConfig, strategy: Strategy | None = None) -> JobPlan:
    """The Job building `inputs.build_run` with `strategy` (default: the config's), and its ConfigMap."""
    strategy = strategy or config.strategy
    spec = BUILDERS[strategy](inputs, config)
    config_map: Manifest | None = None
    if spec.config_files:
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(inputs, config_map_name(inputs)),
            "data": dict(spec.config_files),
        }
    pod_metadata: Manifest = {"labels": inputs.labels}
    if spec.pod_annotations:
        pod_metadata["annotations"] = dict(spec.pod_annotations)
    pod_spec: Manifest = {
        "restartPolicy": "Never",
        "serviceAccountName": BUILDER_SERVICE_ACCOUNT,
        # builds never talk to the Kubernetes API, nor need the namespace's services in their env
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "initContainers": [_clone_container(inputs, config, spec.user)],
        "containers": [_build_container(inputs, config, spec)],
        "volumes": _volumes(inputs, spec, config_map_name(inputs) if config_map else None),
    }
    if spec.pod_security_context:
        pod_spec["securityContext"] = dict(spec.pod_security_context)
    pool = config.pools.get(inputs.pool) if inputs.pool else None
    if pool is not None and pool.node_selector:
        pod_spec["nodeSelector"] = dict(pool.node_selector)
    if pool is not None and pool.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in pool.tolerations]
    job: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(inputs, job_name(inputs)),
        "spec": {
            # a failed build is reported, not retried: a retry is a new BuildRun
            "backoffLimit": 0,
            # the rule's timeout; no ttlSecondsAfterFinished: the operator keeps the BuildRun history
            "activeDeadlineSeconds": int(parse_duration(inputs.build_rule.spec.timeout).total_seconds()),
            "template": {"metadata": pod_metadata, "spec": pod_spec},
        },
    }
    return JobPlan(job=job, config_map=config_map, strategy=strategy)
