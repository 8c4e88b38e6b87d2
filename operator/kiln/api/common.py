"""Pieces shared by the kinds: the model base, conditions, references, durations and quantities."""

from __future__ import annotations

import enum
import re
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

from kiln.api.constants import API_VERSION, KindInfo


def parse_time(value: object) -> datetime | None:
    """An API server timestamp (`2026-01-02T03:04:05Z`, or any ISO 8601 time with a zone), or None
    when there is none, it is garbled or it has no zone (it could not be compared with one)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class KilnModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python.

    Unknown fields are refused (not ignored) so a typo in a manifest is reported by `validate()`
    instead of silently doing nothing (the API server would prune it).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-compatible camelCase dict to send to the API server (unset optionals omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ConditionStatus(enum.StrEnum):
    """Status of a condition, as in Kubernetes."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Visibility(enum.StrEnum):
    """Who may pull a repository's images."""

    PUBLIC = "Public"
    PRIVATE = "Private"


# Kubernetes' own Condition.reason pattern (metav1.Condition): one CamelCase word.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(KilnModel):
    """One aspect of the object's current state (the Kubernetes conditions convention)."""

    type: str = Field(description="Type of the condition, e.g. `Ready`, `Valid` or `Succeeded`.")
    status: ConditionStatus = Field(description="`True`, `False` or `Unknown`.")
    reason: str | None = Field(
        None,
        pattern=REASON_PATTERN,
        max_length=1024,
        description="One CamelCase word saying why the condition has its status, e.g. `BuildFailed`.",
    )
    message: str | None = Field(None, description="Human-readable details.")
    last_transition_time: datetime | None = Field(
        None, description="When the status last changed (RFC 3339)."
    )
    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation the condition was computed from."
    )


def conditions_field(types: str) -> Any:
    """A `conditions` field: a list keyed by `type` (so server-side apply merges by type)."""
    return Field(
        default_factory=list,
        description=f"Current state, one entry per condition type ({types}).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


def observed_generation_field() -> Any:
    """The `status.observedGeneration` field every kind has."""
    return Field(None, ge=0, description="The metadata.generation the status was last computed from.")


def kopf_state_field() -> Any:
    """`status.kopf`: the operator framework's bookkeeping, kept in status (not annotations) so
    objects kept in Git show no drift."""
    return Field(
        None,
        description="Operator bookkeeping (handler progress and the last handled spec); not for users.",
    )


# A DNS-1123 label: Kubernetes object names of namespaces, and what Secret names usually are.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A DNS-1123 subdomain: most Kubernetes object names (Secrets, BuildRules, ...).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

PoolName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]


class SecretKeySelector(KilnModel):
    """A key of a Secret in the object's own Kubernetes namespace."""

    name: ObjectName = Field(description="Name of the Secret.")
    key: str = Field("token", min_length=1, description="Key in the Secret's data.")


class SecretReference(KilnModel):
    """A Secret by name and, optionally, Kubernetes namespace."""

    name: ObjectName = Field(description="Name of the Secret.")
    namespace: str | None = Field(
        None,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Kubernetes namespace of the Secret; default: the operator's namespace (`kiln-system`).",
    )


H = TypeVar("H", bound=Hashable)


def _unique(items: list[H]) -> list[H]:
    duplicates = sorted({str(item) for item in items if items.count(item) > 1})
    if duplicates:
        raise ValueError(f"duplicate entries: {', '.join(duplicates)}")
    return items


# A list without duplicates. Not `set[...]`: its JSON schema says `uniqueItems`, which CRDs forbid;
# `x-kubernetes-list-type: set` is the Kubernetes spelling (the API server then refuses duplicates).
UniqueList = Annotated[
    list[H], AfterValidator(_unique), Field(json_schema_extra={"x-kubernetes-list-type": "set"})
]

# Go-style durations restricted to hours, minutes and seconds, e.g. `1h`, `90m`, `1h30m`, `45s`.
DURATION_PATTERN = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as `1h30m` (hours, minutes, seconds, in that order)."""
    if not text or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: use e.g. 1h, 90m, 1h30m or 45s")
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in re.findall(r"([0-9]+)([hms])", text))
    return timedelta(seconds=seconds)


def _positive_duration(text: str) -> str:
    if parse_duration(text) <= timedelta(0):
        raise ValueError("duration must be greater than zero")
    return text


Duration = Annotated[
    str, StringConstraints(min_length=2, pattern=DURATION_PATTERN), AfterValidator(_positive_duration)
]

# Kubernetes resource quantity (e.g. `500m`, `4`, `8Gi`), the pattern of apimachinery's resource.Quantity.
QUANTITY_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"


def positive_quantity(value: object) -> int | str:
    """A resource amount a build can be given: a quantity without sign, greater than zero."""
    # Checked before the int|str union so a bad value gives one error, not one per union member.
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"quantity {value} must be greater than zero")
        return value
    if not isinstance(value, str) or not re.fullmatch(QUANTITY_PATTERN, value):
        raise ValueError(f"invalid quantity {value!r}: use e.g. 4, 500m or 8Gi")
    if value[0] in "+-":
        raise ValueError(f"quantity {value!r} must be written without a sign")
    if not re.search(r"[1-9]", value.split("e")[0].split("E")[0]):
        raise ValueError(f"quantity {value!r} must be greater than zero")
    return value


# Integer or string like Kubernetes' own quantities; the CRD marks it x-kubernetes-int-or-string.
Quantity = Annotated[int | str, BeforeValidator(positive_quantity)]


class KilnObject(KilnModel):
    """Base of the four top-level kinds: apiVersion, kind, metadata; subclasses add spec and status."""

    INFO: ClassVar[KindInfo]

    api_version: str = Field(API_VERSION, description=f"Always `{API_VERSION}`.")
    kind: str = Field(description="The kind, e.g. `BuildRule`.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard Kubernetes object metadata.")

    @field_validator("api_version")
    @classmethod
    def _check_api_version(cls, value: str) -> str:
        if value != API_VERSION:
            raise ValueError(f"must be {API_VERSION}")
        return value

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, value: str) -> str:
        if value != cls.INFO.kind:
            raise ValueError(f"must be {cls.INFO.kind}")
        return value
