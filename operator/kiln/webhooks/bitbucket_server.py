"""Bitbucket Server / Data Center: `X-Hub-Signature: sha256=<hex>`, events `repo:refs_changed` and
`diagnostics:ping` (the "Test connection" button). One delivery may report several ref changes.

Older (7.x) payloads carry only `changes[]`; 8.x adds the pushed `commits[]` and `toCommit`, which
give the head commit's message and author when present. A change may carry `ref` (id, displayId,
type), `refId`, or both.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from kiln.api.constants import Provider
from kiln.rules.refs import REF_PREFIXES, full_ref, ref_type_named
from kiln.rules.types import RefType
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.events import Author, Ignored, ParsedDelivery, Ping, RefOutcome
from kiln.webhooks.headers import Headers
from kiln.webhooks.normalize import (
    HeadCommit,
    RefUpdate,
    multi_ref_delivery,
    ref_update_outcome,
    unhandled_event,
)
from kiln.webhooks.payloads import EpochMillis, List, Model, PushTime, Sha, load
from kiln.webhooks.provider import ProviderSpec, json_body
from kiln.webhooks.verify import verify_hex_signature

PROVIDER = Provider.BITBUCKET_SERVER
SIGNATURE_HEADER = "X-Hub-Signature"
EVENT_HEADER = "X-Event-Key"
DELIVERY_HEADER = "X-Request-Id"
PUSH_EVENT = "repo:refs_changed"
PING_EVENT = "diagnostics:ping"
TAG_PREFIX = REF_PREFIXES[RefType.TAG]


class CamelModel(Model):
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", frozen=True)


class Ref(CamelModel):
    id: str | None = None
    display_id: str | None = None
    type: str | None = None

    def full(self) -> str | None:
        if self.id:
            return self.id
        kind = ref_type_named(self.type or "")
        return full_ref(kind, self.display_id) if kind and self.display_id else None


class Change(CamelModel):
    ref: Ref | None = None
    ref_id: str | None = None
    from_hash: Sha
    to_hash: Sha
    type: str | None = None  # ADD, UPDATE or DELETE


class Person(CamelModel):
    name: str | None = None
    email_address: str | None = None


class Commit(CamelModel):
    id: Sha
    message: str | None = None
    author: Person | None = None
    author_timestamp: EpochMillis = None
    committer_timestamp: EpochMillis = None

    def head(self) -> HeadCommit:
        author = Author(self.author.name, self.author.email_address) if self.author else None
        return HeadCommit(self.message, author, self.committer_timestamp or self.author_timestamp)


class CloneLink(CamelModel):
    href: str
    name: str | None = None


class Links(CamelModel):
    clone: List[CloneLink] = Field(default_factory=list)


class Project(CamelModel):
    key: str


class Repository(CamelModel):
    slug: str
    project: Project
    links: Links | None = None

    @property
    def full_name(self) -> str:
        return f"{self.project.key}/{self.slug}"

    def clone_url(self) -> str | None:
        """The HTTP(S) clone link (Bitbucket names it "http" whatever the scheme), if the payload
        has one: 7.x servers and the 8.x documentation send none. It is only echoed: the Repository
        is matched by project key and slug."""
        links = self.links.clone if self.links else []
        return next((link.href for link in links if link.name == "http"), None)


class Actor(CamelModel):
    name: str | None = None
    slug: str | None = None


class RefsChanged(CamelModel):
    date: PushTime = None  # when the push happened
    actor: Actor | None = None
    repository: Repository
    changes: List[Change]
    commits: List[Commit] = Field(default_factory=list)  # 8.x
    to_commit: Commit | None = None  # 8.x


def verify(headers: Headers, body: bytes, secret: SharedSecret, now: datetime) -> None:
    verify_hex_signature(headers, SIGNATURE_HEADER, body, secret.key)


def _outcome(
    change: Change, payload: RefsChanged, clone_url: str | None, delivery_id: str | None, now: datetime
) -> RefOutcome:
    ref = change.ref_id or (change.ref.full() if change.ref else None)
    if ref is None:
        return Ignored(PROVIDER, delivery_id, "change without a ref")
    listed = (*payload.commits, *([payload.to_commit] if payload.to_commit else []))
    head = next((c for c in listed if c.id == change.to_hash), None)
    commit = None
    if head is None and payload.to_commit and len(payload.changes) == 1 and ref.startswith(TAG_PREFIX):
        # An annotated tag's toHash is the tag object; 8.x names the commit it points at in
        # toCommit (7.x payloads do not: the tag object's id is then all there is).
        head = payload.to_commit
        commit = head.id
    actor = payload.actor
    update = RefUpdate(
        provider=PROVIDER,
        delivery_id=delivery_id,
        repository=payload.repository.full_name,
        clone_url=clone_url,
        ref=ref,
        before=change.from_hash,
        after=change.to_hash,
        created=change.type == "ADD",
        deleted=change.type == "DELETE",
        sender=(actor.name or actor.slug) if actor else None,
        head=head.head() if head else None,
        changed_files=None,  # Bitbucket Server does not list files in push payloads
        pushed_at=payload.date,
        commit=commit,
    )
    return ref_update_outcome(update, now)


def decode(headers: Headers, body: bytes, now: datetime) -> ParsedDelivery:
    delivery_id = headers.value(DELIVERY_HEADER)
    event = headers.require(EVENT_HEADER)
    if event == PING_EVENT:
        return ParsedDelivery.single(Ping(PROVIDER, delivery_id))
    if event != PUSH_EVENT:
        return unhandled_event(PROVIDER, delivery_id, event)
    payload = load(RefsChanged, json_body(headers, body))
    clone_url = payload.repository.clone_url()
    outcomes = [_outcome(change, payload, clone_url, delivery_id, now) for change in payload.changes]
    return multi_ref_delivery(PROVIDER, delivery_id, outcomes)


SPEC = ProviderSpec(PROVIDER, SharedSecret, verify, decode)
parse = SPEC.parse
