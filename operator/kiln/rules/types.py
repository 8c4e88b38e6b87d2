"""Small typed records the rules engine works on.

They are independent of the Kubernetes API models: `kiln.api` converts a BuildRule spec into a
`Rule` (so the engine stays pure and the CLI can run it without a cluster).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class RefType(enum.StrEnum):
    """Which refs a rule considers: Branch -> refs/heads/*, Tag -> refs/tags/*."""

    BRANCH = "Branch"
    TAG = "Tag"


@dataclass(frozen=True, slots=True)
class RefSelector:
    """Exactly one of `name` (exact short ref name) or `pattern` (full-match regular expression)."""

    type: RefType
    name: str | None = None
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class TagTemplate:
    """One image tag: template text with ${group}/${ref}, an optional build-time format and an
    optional commit id length."""

    tag: str = ""
    build_time: str | None = None
    commit_id_length: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A build rule as the engine sees it."""

    name: str
    repository: str
    source: RefSelector
    tags: tuple[TagTemplate, ...]


@dataclass(frozen=True, slots=True)
class Push:
    """What the engine needs of a push: the full ref, the commit id and when it was pushed."""

    ref: str
    commit: str
    pushed_at: datetime


@dataclass(frozen=True, slots=True)
class Problem:
    """A validation problem, naming the field as a path into the BuildRule (e.g. `spec.tags[0].tag`)."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class RefMatch:
    """A successful match of a ref against a rule: the short name and the named groups captured."""

    short_name: str
    groups: dict[str, str] = field(default_factory=dict)
