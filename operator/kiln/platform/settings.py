"""Operator settings, read once from the environment (the Helm chart sets them).

Every setting has a default that works in the local harness; the names are `KILN_*`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from kiln.api.common import positive_quantity

# The cloud metadata address is never reachable from a build, whatever the settings say.
METADATA_CIDR = "169.254.169.254/32"


class SettingsError(ValueError):
    """A KILN_* environment variable has a value the operator cannot use."""


def _cidrs(name: str, raw: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_network(part.strip())) for part in raw.split(",") if part.strip())
    except ValueError as error:
        raise SettingsError(
            f"{name}: {error} (expected comma-separated CIDRs such as 10.96.0.0/12)"
        ) from error


def _quantity(name: str, raw: str) -> str:
    try:
        return str(positive_quantity(raw))
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


def _int(name: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}: {value} is below the minimum {minimum}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """What the operator needs to know about the cluster it runs in."""

    # where the operator runs; the webhook CA Secret and (by default) registry push Secrets live here
    operator_namespace: str = "kiln-system"
    # pod and service ranges build pods may never reach (plus METADATA_CIDR)
    cluster_cidrs: tuple[str, ...] = ("10.244.0.0/16", "10.96.0.0/12")
    # defaults for a tenant whose spec.quota leaves a field unset
    default_max_concurrent_builds: int = 4
    default_build_cpu: str = "2"
    default_build_memory: str = "4Gi"
    # the admission webhook server: where it listens and the host the apiserver calls
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 9443
    webhook_host: str | None = None

    @property
    def blocked_egress_cidrs(self) -> tuple[str, ...]:
        """Destinations a build pod's NetworkPolicy excludes from its egress."""
        return (*self.cluster_cidrs, METADATA_CIDR)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            operator_namespace=env.get("KILN_OPERATOR_NAMESPACE", defaults.operator_namespace),
            cluster_cidrs=_cidrs("KILN_CLUSTER_CIDRS", env["KILN_CLUSTER_CIDRS"])
            if "KILN_CLUSTER_CIDRS" in env
            else defaults.cluster_cidrs,
            default_max_concurrent_builds=_int(
                "KILN_DEFAULT_MAX_CONCURRENT_BUILDS",
                env.get("KILN_DEFAULT_MAX_CONCURRENT_BUILDS", str(defaults.default_max_concurrent_builds)),
                1,
            ),
            default_build_cpu=_quantity(
                "KILN_DEFAULT_BUILD_CPU", env.get("KILN_DEFAULT_BUILD_CPU", defaults.default_build_cpu)
            ),
            default_build_memory=_quantity(
                "KILN_DEFAULT_BUILD_MEMORY",
                env.get("KILN_DEFAULT_BUILD_MEMORY", defaults.default_build_memory),
            ),
            webhook_listen=env.get("KILN_WEBHOOK_LISTEN", defaults.webhook_listen),
            webhook_port=_int("KILN_WEBHOOK_PORT", env.get("KILN_WEBHOOK_PORT", "9443"), 1),
            webhook_host=env.get("KILN_WEBHOOK_HOST") or None,
        )
