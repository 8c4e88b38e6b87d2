"""Provider-neutral results of parsing a webhook delivery.

A delivery yields a `ParsedDelivery` holding one outcome per ref it reports: a `PushEvent` to build,
an `Ignored` with the reason, or a `Ping`. GitHub, GitLab and Gitee report one ref per delivery;
Bitbucket (Cloud and Server) may report several in one delivery, hence the tuple.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from kiln.api.constants import Provider
from kiln.rules.types import Push, RefType

JSON: TypeAlias = "str | int | float | bool | list[JSON] | dict[str, JSON] | None"


def printable(text: str) -> str:
    """`text` with every character a terminal or a log would not show as itself (controls, bidi
    controls, lone surrogates, other invisible format characters) escaped as repr() escapes it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# How many refs one delivery may build (Bitbucket deliveries list any number of changes); the rest
# are cut and named in the answer. A parameter of the parsing and deciding functions.
DEFAULT_MAX_REFS = 100


@dataclass(frozen=True, slots=True)
class Author:
    """The head commit's author as the provider reports it (either part may be missing)."""

    name: str | None = None
    email: str | None = None

    def to_json(self) -> dict[str, JSON]:
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True, slots=True)
class PushEvent:
    """A branch or tag update to build: normalized across providers."""

    provider: Provider
    delivery_id: str | None
    clone_url: str | None  # only echoed; Bitbucket Server payloads may carry none
    repository: str
    ref: str
    ref_type: RefType
    commit: str
    before: str | None  # None when the ref was created
    pushed_at: datetime  # always timezone-aware
    message: str | None
    author: Author | None
    changed_files: tuple[str, ...] | None  # None when the payload does not list them completely
    created: bool
    deleted: bool
    sender: str | None

    @property
    def short_ref(self) -> str:
        """The ref without refs/heads/ or refs/tags/."""
        return self.ref.split("/", 2)[2]

    def to_push(self) -> Push:
        """What the rules engine needs of this push."""
        return Push(ref=self.ref, commit=self.commit, pushed_at=self.pushed_at)

    def to_json(self) -> dict[str, JSON]:
        return {
            "provider": self.provider.value,
            "delivery_id": self.delivery_id,
            "clone_url": self.clone_url,
            "repository": self.repository,
            "ref": self.ref,
            "ref_type": self.ref_type.value.lower(),  # `branch` | `tag`, as the hosts say
            "commit": self.commit,
            "before": self.before,
            "pushed_at": self.pushed_at.isoformat(),
            "message": self.message,
            "author": self.author.to_json() if self.author else None,
            "changed_files": list(self.changed_files) if self.changed_files is not None else None,
            "created": self.created,
            "deleted": self.deleted,
            "sender": self.sender,
        }


@dataclass(frozen=True, slots=True)
class Ping:
    """The provider checking the endpoint (GitHub `ping`, Bitbucket Server `diagnostics:ping`)."""

    provider: Provider
    delivery_id: str | None
    hook_id: str | None = None
    zen: str | None = None
    repository: str | None = None

    def to_json(self) -> dict[str, JSON]:
        return {
            "provider": self.provider.value,
            "delivery_id": self.delivery_id,
            "hook_id": self.hook_id,
            "zen": self.zen,
            "repository": self.repository,
        }


@dataclass(frozen=True, slots=True)
class Ignored:
    """A verified delivery (or one ref of it) that triggers nothing, and why."""

    provider: Provider
    delivery_id: str | None
    reason: str
    ref: str | None = None

    def to_json(self) -> dict[str, JSON]:
        return {
            "provider": self.provider.value,
            "delivery_id": self.delivery_id,
            "reason": self.reason,
            "ref": self.ref,
        }


RefOutcome: TypeAlias = PushEvent | Ping | Ignored


@dataclass(frozen=True, slots=True)
class ParsedDelivery:
    """Everything one delivery reported, in payload order; `cut`: refs that would have been built
    but exceed the `max_refs` one delivery may build (`normalize.settle_refs`)."""

    provider: Provider
    delivery_id: str | None
    outcomes: tuple[RefOutcome, ...]
    cut: tuple[str, ...] = ()
    max_refs: int = DEFAULT_MAX_REFS

    @classmethod
    def single(cls, outcome: RefOutcome) -> ParsedDelivery:
        return cls(outcome.provider, outcome.delivery_id, (outcome,))

    @property
    def events(self) -> tuple[PushEvent, ...]:
        return tuple(o for o in self.outcomes if isinstance(o, PushEvent))

    @property
    def ignored(self) -> tuple[Ignored, ...]:
        return tuple(o for o in self.outcomes if isinstance(o, Ignored))

    @property
    def ping(self) -> Ping | None:
        return next((o for o in self.outcomes if isinstance(o, Ping)), None)
