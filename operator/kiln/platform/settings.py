"""Operator settings, read once from the environment (the Helm chart sets them).

Every setting has a default that works in the local harness; the variables are `KILN_<FIELD>`, e.g.
`KILN_CLUSTER_CIDRS`. pydantic-settings reads and types them; a bad value is a `SettingsError`
naming the variable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kiln.api.common import positive_quantity
from kiln.api.validation import problems_of

ENV_PREFIX = "KILN_"
# The cloud metadata address is never reachable from a build, whatever the settings say.
METADATA_CIDR = "169.254.169.254/32"


class SettingsError(ValueError):
    """A KILN_* environment variable has a value the operator cannot use."""


def _comma_separated(value: Any) -> Any:
    return (
        tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value
    )


def _quantity(value: Any) -> str:
    return str(positive_quantity(value))


Quantity = Annotated[str, BeforeValidator(_quantity)]


class Settings(BaseSettings):
    """What the operator needs to know about the cluster it runs in."""

    # other KILN_* variables (the harness's KILN_WORK, say) are not settings
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # where the operator runs; the webhook CA Secret and (by default) registry push Secrets live here
    operator_namespace: str = "kiln-system"
    # pod and service ranges build pods may never reach (plus METADATA_CIDR); comma-separated
    cluster_cidrs: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_separated)] = (
        "10.244.0.0/16",
        "10.96.0.0/12",
    )
    # defaults for a tenant whose spec.quota leaves a field unset
    default_max_concurrent_builds: int = Field(4, ge=1)
    default_build_cpu: Quantity = "2"
    default_build_memory: Quantity = "4Gi"
    # the admission webhook server: where it listens and the host the apiserver calls
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(9443, ge=1, le=65535)
    webhook_host: str | None = None

    @field_validator("cluster_cidrs")
    @classmethod
    def _normalised_cidrs(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(str(ipaddress.ip_network(cidr)) for cidr in cidrs)
        except ValueError as error:
            raise ValueError(f"{error} (expected comma-separated CIDRs such as 10.96.0.0/12)") from None

    @field_validator("webhook_host")
    @classmethod
    def _host_or_none(cls, host: str | None) -> str | None:
        return host or None

    @property
    def blocked_egress_cidrs(self) -> tuple[str, ...]:
        """Destinations a build pod's NetworkPolicy excludes from its egress."""
        return (*self.cluster_cidrs, METADATA_CIDR)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from `env` (default: the process environment); SettingsError names each bad variable."""
        try:
            if env is None:
                return cls()
            # validation alone, from the given mapping: the process environment is not read
            values = {
                k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)
            }
            return cls.model_validate(values)
        except ValidationError as error:
            raise SettingsError(
                "; ".join(f"{ENV_PREFIX}{p.field.upper()}: {p.message}" for p in problems_of(error))
            ) from None
