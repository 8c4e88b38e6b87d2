"""Operator settings, read once from the environment (the Helm chart sets them).

Every setting has a default that works in the local harness; the variables are `KILN_<FIELD>`, e.g.
`KILN_CLUSTER_CIDRS`. pydantic-settings reads and types them; a bad value is a `SettingsError`
naming the variable.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kiln.api.common import KilnModel, PoolName, positive_quantity
from kiln.api.validation import problems_of
from kiln.builds import BuildConfig, BuildkitMode, Strategy
from kiln.builds.config import BuildPool, Proxy

ENV_PREFIX = "KILN_"
# The cloud metadata address is never reachable from a build, whatever the settings say.
METADATA_CIDR = "169.254.169.254/32"


def _worded(field: str, message: str) -> str:
    """`KILN_BUILD_POOLS: overseas.nodeSelector: ...`: the variable, then where inside its value."""
    name, _, inside = field.partition(".")
    return f"{ENV_PREFIX}{name.upper()}: " + (f"{inside}: " if inside else "") + message


class SettingsError(ValueError):
    """A KILN_* environment variable has a value the operator cannot use."""


def _comma_separated(value: Any) -> Any:
    return (
        tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value
    )


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value) if value.strip() else {}
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None


def _quantity(value: Any) -> str:
    return str(positive_quantity(value))


QuantityText = Annotated[str, BeforeValidator(_quantity)]  # kept as written, e.g. `500m`
CommaSeparated = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_separated)]
_BUILDS = BuildConfig()  # the build settings' defaults are the builders' own
# BuildConfig's field names whose setting is named otherwise
_BUILD_FIELDS = {
    "strategy": "build_strategy",
    "image_pull_policy": "build_image_pull_policy",
    "pools": "build_pools",
}


class ProxySetting(KilnModel):
    """A build pool's HTTP proxy (the proxy must be reachable from build pods: the tenant's egress
    policy blocks the cluster's own pod and service ranges)."""

    http: str | None = None
    https: str | None = None
    no_proxy: str | None = None


class BuildPoolSetting(KilnModel):
    """One entry of KILN_BUILD_POOLS (JSON, camelCase keys as in a pod spec)."""

    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    proxy: ProxySetting | None = None
    # registry -> mirror, over the operator-wide KILN_REGISTRY_MIRRORS
    registry_mirrors: dict[str, str] = Field(default_factory=dict)

    def pool(self) -> BuildPool:
        proxy = self.proxy
        return BuildPool(
            node_selector=tuple(sorted(self.node_selector.items())),
            tolerations=tuple(self.tolerations),
            proxy=Proxy(proxy.http, proxy.https, proxy.no_proxy) if proxy else None,
            registry_mirrors=tuple(sorted(self.registry_mirrors.items())),
        )


def _pairs(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`prefix=replacement` settings as pairs (an entry without `=` keeps an empty replacement,
    which BuildConfig refuses with its name)."""
    return tuple((left, right) for left, _, right in (v.partition("=") for v in values))


class Settings(BaseSettings):
    """What the operator needs to know about the cluster it runs in."""

    # other KILN_* variables (the harness's KILN_WORK, say) are not settings
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # where the operator runs; the webhook CA Secret and (by default) registry push Secrets live here
    operator_namespace: str = "kiln-system"
    # pod and service ranges build pods may never reach (plus METADATA_CIDR); comma-separated
    cluster_cidrs: CommaSeparated = ("10.244.0.0/16", "10.96.0.0/12")
    # defaults for a tenant whose spec.quota leaves a field unset
    default_max_concurrent_builds: int = Field(4, ge=1)
    default_build_cpu: QuantityText = "2"
    default_build_memory: QuantityText = "4Gi"
    # the admission webhook server: where it listens and the host the apiserver calls
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(9443, ge=1, le=65535)
    webhook_host: str | None = None
    # in a cluster: the Service (in operator_namespace, port 443) the API server calls admission at;
    # unset: https://<webhook_host>:<webhook_port>, an operator outside the cluster
    webhook_service: str | None = None
    # builds (docs/builds.md): the strategy of every build, the BuildKit mode, the images, the
    # registries spoken to over plain HTTP and the name of each rule's cache repository
    build_strategy: Strategy = _BUILDS.strategy
    buildkit_mode: BuildkitMode = _BUILDS.buildkit_mode
    buildkit_image: str = _BUILDS.buildkit_image
    buildkit_privileged_image: str = _BUILDS.buildkit_privileged_image
    buildah_image: str = _BUILDS.buildah_image
    clone_image: str = _BUILDS.clone_image
    build_image_pull_policy: str = _BUILDS.image_pull_policy
    insecure_registries: CommaSeparated = _BUILDS.insecure_registries
    cache_repository: str = _BUILDS.cache_repository
    # prefix=replacement pairs for clone URLs (git's insteadOf), comma-separated
    git_url_rewrites: CommaSeparated = ()
    # registry=mirror pairs for base images (e.g. docker.io=mirror.local:5000), comma-separated
    registry_mirrors: CommaSeparated = ()
    # named build pools, JSON: {"overseas": {"nodeSelector": {...}, "tolerations": [...],
    # "proxy": {"http": ..., "https": ..., "noProxy": ...}, "registryMirrors": {...}}}
    build_pools: Annotated[dict[PoolName, BuildPoolSetting], NoDecode, BeforeValidator(_json)] = Field(
        default_factory=dict
    )
    # the receiver's external base URL, as code hosts reach it (e.g. https://kiln.example.com):
    # Repositories' status.webhook.url and the hooks the operator registers; unset: no registration
    receiver_url: str | None = None
    # host=url pairs: the REST API of the code host serving clone URLs of `host` is at `url` (a
    # proxy, an Enterprise API elsewhere); unset hosts use the host's own API (docs/codehosts.md)
    codehost_api_urls: CommaSeparated = ()
    # the build log page linked from commit statuses, with {namespace} and {name} of the BuildRun
    build_log_url: str | None = None
    # who may create Push and Resync BuildRuns (Kubernetes user names); unset: the service accounts
    # kiln-operator and kiln-receiver of the operator namespace (the Helm chart's, release `kiln`)
    trigger_users: CommaSeparated = ()
    # seconds between two listings of a Repository's heads on its code host, to build the pushes no
    # webhook delivered (kiln.webhooks.resync); 0: no resync
    resync_interval: int = Field(600, ge=0)
    # `namespace/name` of the webhook receiver's ServiceAccount: each Repository gets a Role and
    # RoleBinding letting it read exactly that Repository's webhook Secret (it has no other access
    # to Secrets); unset: none are made (a receiver running with wider credentials)
    receiver_service_account: str | None = None

    @field_validator("cluster_cidrs")
    @classmethod
    def _normalised_cidrs(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(str(ipaddress.ip_network(cidr)) for cidr in cidrs)
        except ValueError as error:
            raise ValueError(f"{error} (expected comma-separated CIDRs such as 10.96.0.0/12)") from None

    @field_validator("codehost_api_urls")
    @classmethod
    def _host_urls(cls, pairs: tuple[str, ...]) -> tuple[str, ...]:
        bad = [
            p for p in pairs if "=" not in p or not p.partition("=")[2].startswith(("http://", "https://"))
        ]
        if bad:
            raise ValueError(f"{list(bad)} are not host=http(s)://url")
        return pairs

    @field_validator("build_log_url")
    @classmethod
    def _log_url_fields(cls, template: str | None) -> str | None:
        if template:
            try:
                template.format(namespace="n", name="n")
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(f"may use only {{namespace}} and {{name}}: {error}") from None
        return template or None

    @property
    def codehost_api_url_map(self) -> dict[str, str]:
        """Clone URL host -> its REST API base URL (KILN_CODEHOST_API_URLS)."""
        return dict(_pairs(self.codehost_api_urls))

    @field_validator("webhook_host", "webhook_service", "receiver_url", "receiver_service_account")
    @classmethod
    def _unset_when_empty(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("receiver_service_account")
    @classmethod
    def _namespaced_name(cls, value: str | None) -> str | None:
        if value is not None:
            namespace, slash, name = value.partition("/")
            if not (namespace and slash and name) or "/" in name:
                raise ValueError(f"{value!r} is not namespace/name (e.g. kiln-system/kiln-receiver)")
        return value

    @property
    def build_config(self) -> BuildConfig:
        """The build Jobs' settings (raises ValueError for values the builders refuse)."""
        return BuildConfig(
            strategy=self.build_strategy,
            buildkit_mode=self.buildkit_mode,
            buildkit_image=self.buildkit_image,
            buildkit_privileged_image=self.buildkit_privileged_image,
            buildah_image=self.buildah_image,
            clone_image=self.clone_image,
            image_pull_policy=self.build_image_pull_policy,
            insecure_registries=self.insecure_registries,
            cache_repository=self.cache_repository,
            git_url_rewrites=_pairs(self.git_url_rewrites),
            registry_mirrors=_pairs(self.registry_mirrors),
            pools={name: pool.pool() for name, pool in self.build_pools.items()},
        )

    @property
    def push_trigger_users(self) -> frozenset[str]:
        """The identities whose Push and Resync BuildRuns admission accepts."""
        if self.trigger_users:
            return frozenset(self.trigger_users)
        account = f"system:serviceaccount:{self.operator_namespace}"
        return frozenset({f"{account}:kiln-operator", f"{account}:kiln-receiver"})

    @property
    def blocked_egress_cidrs(self) -> tuple[str, ...]:
        """Destinations a build pod's NetworkPolicy excludes from its egress."""
        return (*self.cluster_cidrs, METADATA_CIDR)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from `env` (default: the process environment); SettingsError names each bad variable."""
        try:
            if env is None:
                settings = cls()
            else:
                # validation alone, from the given mapping: the process environment is not read
                values = {
                    k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)
                }
                settings = cls.model_validate(values)
        except ValidationError as error:
            raise SettingsError("; ".join(_worded(p.field, p.message) for p in problems_of(error))) from None
        try:  # the builders' own checks, at start rather than at the first build
            settings.build_config  # noqa: B018
        except ValueError as error:
            field, _, message = str(error).partition(": ")
            raise SettingsError(f"{ENV_PREFIX}{_BUILD_FIELDS.get(field, field).upper()}: {message}") from None
        return settings
