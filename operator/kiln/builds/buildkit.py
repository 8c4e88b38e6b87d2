"""The BuildKit strategy: `buildctl-daemonless.sh build` with the Dockerfile frontend.

Modelled on BuildKit's Kubernetes examples (examples/kubernetes/job.rootless.yaml and
job.privileged.yaml of the pinned release): an ephemeral daemon in the build container, the
source in an emptyDir, the registry credentials as a DOCKER_CONFIG directory.
"""

from __future__ import annotations

import posixpath

from kiln.builds.config import BuildConfig, BuildkitMode, Strategy
from kiln.builds.inputs import BuildInputs
from kiln.builds.parts import BUILD_CONTAINER, BuilderSpec, Manifest
from kiln.builds.scripts import METADATA_FILE, REGISTRY_AUTH_DIR, buildkit_script, buildkitd_toml

# uid/gid of `user` in moby/buildkit:*-rootless (the image's Dockerfile: `adduser -D -u 1000 user`)
ROOTLESS_USER = 1000
ROOTLESS_HOME = "/home/user"
# Where buildkitd reads its configuration (docs/buildkitd.toml.md; cmd/buildkitd defaultConfigPath:
# $HOME/.config/buildkit when rootless, /etc/buildkit otherwise).
CONFIG_DIRS = {
    BuildkitMode.ROOTLESS: f"{ROOTLESS_HOME}/.config/buildkit",
    BuildkitMode.PRIVILEGED: "/etc/buildkit",
}
# The daemon's state, an emptyDir: the image's VOLUME does not work with rootless on every node
# (nosuid,nodev mounts), as the rootless example notes.
STATE_DIRS = {
    BuildkitMode.ROOTLESS: f"{ROOTLESS_HOME}/.local/share/buildkit",
    BuildkitMode.PRIVILEGED: "/var/lib/buildkit",
}
CONFIG_FILE = "buildkitd.toml"
# The tag of a rule's cache in its cache repository (buildah writes its own tags there).
CACHE_TAG = "buildkit"
# Kubernetes 1.20 has no securityContext.appArmorProfile (1.30+): the annotation is the way there.
APPARMOR_ANNOTATION = f"container.apparmor.security.beta.kubernetes.io/{BUILD_CONTAINER}"


def _rootless_security() -> Manifest:
    return {
        "runAsUser": ROOTLESS_USER,
        "runAsGroup": ROOTLESS_USER,
        "privileged": False,
        # rootlesskit maps the user namespace with the setuid newuidmap and newgidmap
        "allowPrivilegeEscalation": True,
        # for unshare and mount, which the runtime's default profile refuses
        "seccompProfile": {"type": "Unconfined"},
    }


def _insecure(attrs: str, insecure: bool) -> str:
    return f"{attrs},registry.insecure=true" if insecure else attrs


def cache_ref(inputs: BuildInputs, config: BuildConfig) -> str:
    """The registry cache the build imports and exports: per tenant and rule."""
    return f"{inputs.cache_repository(config)}:{CACHE_TAG}"


def _frontend_args(inputs: BuildInputs) -> list[str]:
    dockerfile_dir, dockerfile_name = posixpath.split(inputs.dockerfile)
    args = [
        "build",
        "--frontend",
        "dockerfile.v0",
        "--local",
        f"context={inputs.context_dir}",
        "--local",
        f"dockerfile={dockerfile_dir}",
        "--opt",
        f"filename={dockerfile_name}",
        "--opt",
        f"platform={','.join(inputs.platforms)}",
    ]
    for name, value in inputs.build_args:
        # buildctl splits an --opt at its first '=' only, so the value is passed as it is
        args += ["--opt", f"build-arg:{name}={value}"]
    return args


def _image_output(refs: tuple[str, ...], insecure: bool, extra: str = "") -> str:
    # --output is CSV: the comma-separated names are one quoted field
    return _insecure(f'type=image,"name={",".join(refs)}",push=true{extra}', insecure)


def buildctl_args(inputs: BuildInputs, config: BuildConfig) -> list[str]:
    """The arguments of `buildctl-daemonless.sh` (i.e. of `buildctl`), starting with `build`."""
    insecure = config.is_insecure(inputs.registry_host)
    args = [*_frontend_args(inputs), "--output", _image_output(inputs.image_refs, insecure)]
    if inputs.no_cache:
        args += ["--opt", "no-cache="]
    else:
        ref = cache_ref(inputs, config)
        # ignore-error: a cache that cannot be written does not fail a build whose image is pushed
        args += ["--export-cache", _insecure(f"type=registry,ref={ref},mode=max,ignore-error=true", insecure)]
        args += ["--import-cache", _insecure(f"type=registry,ref={ref}", insecure)]
    args += ["--metadata-file", METADATA_FILE, "--progress", "plain"]
    return args


def accelerated_args(inputs: BuildInputs, config: BuildConfig) -> list[str] | None:
    """The second `buildctl build`, pushing the eStargz variant of every tag (docs/stargz-estargz.md:
    compression=estargz with force-compression and OCI media types), or None when the Repository
    asks for none. It runs in the same daemon right after the first, so every step is a cache hit
    of it (with noCache too: the first build's fresh results are what it reuses)."""
    refs = inputs.accelerated_refs
    if not refs:
        return None
    estargz = ",compression=estargz,force-compression=true,oci-mediatypes=true"
    output = _image_output(refs, config.is_insecure(inputs.registry_host), estargz)
    return [*_frontend_args(inputs), "--output", output, "--progress", "plain"]


def builder(inputs: BuildInputs, config: BuildConfig) -> BuilderSpec:
    """The build container of the configured BuildKit mode."""
    mode = config.buildkit_mode
    rootless = mode is BuildkitMode.ROOTLESS
    toml = buildkitd_toml(config.insecure_registries, config.mirrors_for(inputs.pool))
    env = {"DOCKER_CONFIG": REGISTRY_AUTH_DIR}
    if rootless:
        # no PID namespace of its own for each RUN step: Kubernetes cannot unmask /proc for one
        env["BUILDKITD_FLAGS"] = "--oci-worker-no-process-sandbox"
    return BuilderSpec(
        image=config.image_for(Strategy.BUILDKIT),
        command=(
            "/bin/sh",
            "-c",
            buildkit_script(accelerated_args(inputs, config)),
            "kiln-build",
            *buildctl_args(inputs, config),
        ),
        env=env,
        user=ROOTLESS_USER if rootless else 0,
        security_context=_rootless_security() if rootless else {"privileged": True},
        scratch={"buildkitd": STATE_DIRS[mode]},
        config_files={CONFIG_FILE: toml} if toml else {},
        config_mount=CONFIG_DIRS[mode] if toml else None,
        # the Secret files are group-readable: the fsGroup lets uid 1000 read them
        pod_security_context={"fsGroup": ROOTLESS_USER} if rootless else {},
        pod_annotations={APPARMOR_ANNOTATION: "unconfined"} if rootless else {},
    )
