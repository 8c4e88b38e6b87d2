"""What the operator's settings tell the Job builders: strategy, images, registries, cache naming.

A plain record with defaults that work against public registries; the operator fills it from its
settings (and the local harness passes its own builder image and insecure registry).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The BuildKit release the default images and the buildctl command line are written for; the
# command line is checked against this tag's flags in tests/unit/builds/test_buildkit_flags.py.
BUILDKIT_VERSION = "v0.32.2"
# The buildah release the buildah strategy is written for (Debian bookworm's buildah 1.28.2).
BUILDAH_VERSION = "v1.28"

# host[:port] of a registry (no scheme, no path), e.g. `127.0.0.1:5000` or `registry.local`.
_REGISTRY_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_CACHE_TEMPLATE_FIELDS = re.compile(r"\{([^{}]*)\}")


class Strategy(enum.StrEnum):
    """The program that builds the image inside the Job's container."""

    BUILDKIT = "buildkit"
    BUILDAH = "buildah"


class BuildkitMode(enum.StrEnum):
    """How the BuildKit daemon runs: BuildKit's two Kubernetes examples."""

    # moby/buildkit:*-rootless as uid 1000, seccomp and AppArmor unconfined, not privileged
    ROOTLESS = "rootless"
    # moby/buildkit:* as root in a privileged container: only for clusters that allow it
    PRIVILEGED = "privileged"


@dataclass(frozen=True, slots=True)
class Proxy:
    """The HTTP proxy a pool's builds (checkout and build) go out through."""

    http: str | None = None
    https: str | None = None
    no_proxy: str | None = None

    @property
    def env(self) -> dict[str, str]:
        """Both spellings: curl and git read the lower-case ones, Go programs (BuildKit) either."""
        values = {"HTTP_PROXY": self.http, "HTTPS_PROXY": self.https, "NO_PROXY": self.no_proxy}
        env: dict[str, str] = {}
        for name, value in values.items():
            if value:
                env[name] = env[name.lower()] = value
        return env


@dataclass(frozen=True, slots=True)
class BuildPool:
    """A named set of nodes builds can be sent to (the seed's "servers deployed outside the mainland"):
    where its pods are scheduled, and how they reach the outside."""

    node_selector: tuple[tuple[str, str], ...] = ()
    # Kubernetes tolerations, as the pod spec has them
    tolerations: tuple[Mapping[str, Any], ...] = ()
    proxy: Proxy | None = None
    # (registry, mirror) pairs added to (and overriding) the operator-wide registry_mirrors
    registry_mirrors: tuple[tuple[str, str], ...] = ()


def _check_mirrors(field: str, mirrors: tuple[tuple[str, str], ...], where: str = "") -> None:
    bad = [
        f"{registry}={mirror}"
        for registry, mirror in mirrors
        if not _REGISTRY_HOST.fullmatch(registry) or not _REGISTRY_HOST.fullmatch(mirror.split("/", 1)[0])
    ]
    if bad:
        raise ValueError(
            f"{field}: {where}{bad} are not registry=mirror (host[:port], the mirror with an optional path)"
        )


def _check_image(field: str, image: str) -> None:
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"{field}: {image!r} is not an image reference")


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """Operator-wide settings of build Jobs."""

    # the strategy of a build that does not ask for one
    strategy: Strategy = Strategy.BUILDKIT
    buildkit_mode: BuildkitMode = BuildkitMode.ROOTLESS
    # image of the rootless mode (needs buildctl-daemonless.sh, rootlesskit and uid 1000 `user`)
    buildkit_image: str = f"moby/buildkit:{BUILDKIT_VERSION}-rootless"
    # image of the privileged mode (runs as root)
    buildkit_privileged_image: str = f"moby/buildkit:{BUILDKIT_VERSION}"
    # any image with buildah 1.28 or newer, bash and the coreutils (the harness passes its own)
    buildah_image: str = f"quay.io/buildah/stable:{BUILDAH_VERSION}"
    # any image with git and a POSIX shell: the init container that checks the commit out
    clone_image: str = "alpine/git:v2.45.1"
    image_pull_policy: str = "IfNotPresent"
    # registries spoken to over plain HTTP (host[:port]), e.g. the local `127.0.0.1:5000`
    insecure_registries: tuple[str, ...] = ()
    # name of a rule's cache repository beside the image, in the tenant's registry namespace;
    # `{image}` is the image repository name and `{rule}` the BuildRule name, both required so
    # no two rules (or tenants, whose namespaces differ) share a cache
    cache_repository: str = "{image}-kiln-cache-{rule}"
    # (prefix, replacement) pairs applied to clone URLs, as git's url.<replacement>.insteadOf: a
    # mirror or proxy of the code hosts, e.g. in a cluster without their network
    git_url_rewrites: tuple[tuple[str, str], ...] = ()
    # (registry, mirror) pairs: base images of `registry` (e.g. `docker.io`) are pulled from
    # `mirror` (host[:port][/path], e.g. an in-cluster registry) first, the registry itself after
    registry_mirrors: tuple[tuple[str, str], ...] = ()
    # named build pools a Repository's spec.build.pool picks; unset pool: none of these
    pools: Mapping[str, BuildPool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("buildkit_image", "buildkit_privileged_image", "buildah_image", "clone_image"):
            _check_image(name, getattr(self, name))
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise ValueError(f"image_pull_policy: {self.image_pull_policy!r} is not a Kubernetes pull policy")
        bad = [host for host in self.insecure_registries if not _REGISTRY_HOST.fullmatch(host)]
        if bad:
            raise ValueError(f"insecure_registries: {bad} are not host[:port] (no scheme, no path)")
        empty = [pair for pair in self.git_url_rewrites if not all(pair)]
        if empty:
            raise ValueError(
                f"git_url_rewrites: {empty} need a prefix and a replacement (prefix=replacement)"
            )
        _check_mirrors("registry_mirrors", self.registry_mirrors)
        for name, pool in self.pools.items():
            _check_mirrors("pools", pool.registry_mirrors, f"{name}.registryMirrors: ")
        fields = _CACHE_TEMPLATE_FIELDS.findall(self.cache_repository)
        if sorted(fields) != ["image", "rule"]:
            raise ValueError(
                f"cache_repository: {self.cache_repository!r} must use {{image}} and {{rule}} once each "
                "and no other field"
            )

    def image_for(self, strategy: Strategy) -> str:
        """The image of the build container of `strategy` (in this config's BuildKit mode)."""
        if strategy is Strategy.BUILDAH:
            return self.buildah_image
        if self.buildkit_mode is BuildkitMode.PRIVILEGED:
            return self.buildkit_privileged_image
        return self.buildkit_image

    def mirrors_for(self, pool: str | None) -> dict[str, str]:
        """Registry -> mirror for a build in `pool` (the operator-wide ones, the pool's over them)."""
        mirrors = dict(self.registry_mirrors)
        if pool is not None and pool in self.pools:
            mirrors.update(self.pools[pool].registry_mirrors)
        return mirrors

    def is_insecure(self, host: str) -> bool:
        """Whether the registry `host` (host[:port]) is spoken to over plain HTTP."""
        return host in self.insecure_registries
