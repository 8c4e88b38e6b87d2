"""Bitbucket Cloud: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>` (GitHub's legacy header
name, but SHA-256), event `repo:push`. One delivery may report several ref changes.
"""

from __future__ import annotations

import email.utils
from datetime import datetime

from kiln.api.constants import Provider
from kiln.rules.refs import full_ref, ref_type_named
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.events import Author, Ignored, ParsedDelivery, RefOutcome
from kiln.webhooks.headers import Headers
from kiln.webhooks.normalize import (
    HeadCommit,
    RefUpdate,
    multi_ref_delivery,
    ref_update_outcome,
    unhandled_event,
)
from kiln.webhooks.payloads import List, Model, PushTime, Sha, load
from kiln.webhooks.provider import ProviderSpec, json_body
from kiln.webhooks.verify import verify_hex_signature

PROVIDER = Provider.BITBUCKET
SIGNATURE_HEADER = "X-Hub-Signature"
EVENT_HEADER = "X-Event-Key"
DELIVERY_HEADER = "X-Request-UUID"
# X-Hook-UUID identifies the webhook, not the delivery: only a fallback.
HOOK_HEADER = "X-Hook-UUID"
PUSH_EVENT = "repo:push"
CLOUD_URL = "https://bitbucket.org"


class Link(Model):
    href: str


class Account(Model):
    nickname: str | None = None
    username: str | None = None  # removed from Cloud payloads in 2019, still in older samples
    display_name: str | None = None

    @property
    def handle(self) -> str | None:
        return self.nickname or self.username or self.display_name


class CommitAuthor(Model):
    raw: str | None = None  # "Name <email>"
    user: Account | None = None

    def author(self) -> Author:
        name, address = email.utils.parseaddr(self.raw or "")
        return Author(name or (self.user.display_name if self.user else None), address or None)


class Target(Model):
    """The commit a ref names: for a tag, annotated or not, Bitbucket gives the commit here (and the
    annotation's message, tagger and date beside it, on the ref)."""

    hash: Sha
    message: str | None = None
    date: PushTime = None
    author: CommitAuthor | None = None


class RefState(Model):
    type: str
    name: str
    target: Target


class Change(Model):
    new: RefState | None = None
    old: RefState | None = None
    created: bool = False
    closed: bool = False


class Push(Model):
    changes: List[Change]


class RepositoryLinks(Model):
    html: Link | None = None


class Repository(Model):
    full_name: str
    links: RepositoryLinks | None = None

    @property
    def clone_url(self) -> str:
        # Cloud payloads carry no clone link; the HTTPS clone URL is the web URL plus `.git`.
        web = self.links.html.href if self.links and self.links.html else f"{CLOUD_URL}/{self.full_name}"
        return web.rstrip("/") + ".git"


class RepoPush(Model):
    push: Push
    repository: Repository
    actor: Account | None = None


def verify(headers: Headers, body: bytes, secret: SharedSecret, now: datetime) -> None:
    verify_hex_signature(headers, SIGNATURE_HEADER, body, secret.key)


def _outcome(change: Change, payload: RepoPush, delivery_id: str | None, now: datetime) -> RefOutcome:
    state = change.new or change.old
    if state is None:
        return Ignored(PROVIDER, delivery_id, "change without a ref")
    kind = ref_type_named(state.type)
    if kind is None:
        return Ignored(PROVIDER, delivery_id, "ref is neither a branch nor a tag", ref=state.name)
    ref = full_ref(kind, state.name)
    new, old = change.new, change.old
    if new is None:  # `closed`: the branch or tag was deleted
        return Ignored(PROVIDER, delivery_id, "ref deleted", ref=ref)
    target = new.target
    update = RefUpdate(
        provider=PROVIDER,
        delivery_id=delivery_id,
        repository=payload.repository.full_name,
        clone_url=payload.repository.clone_url,
        ref=ref,
        before=old.target.hash if old else None,
        after=target.hash,
        created=change.created or old is None,
        deleted=change.closed,
        sender=payload.actor.handle if payload.actor else None,
        head=HeadCommit(
            message=target.message,
            author=target.author.author() if target.author else None,
            timestamp=target.date,
        ),
        changed_files=None,  # Bitbucket does not list files in push payloads
    )
    return ref_update_outcome(update, now)


def decode(headers: Headers, body: bytes, now: datetime) -> ParsedDelivery:
    delivery_id = headers.first(DELIVERY_HEADER, HOOK_HEADER)
    event = headers.require(EVENT_HEADER)
    if event != PUSH_EVENT:
        return unhandled_event(PROVIDER, delivery_id, event)
    payload = load(RepoPush, json_body(headers, body))
    outcomes = [_outcome(change, payload, delivery_id, now) for change in payload.push.changes]
    return multi_ref_delivery(PROVIDER, delivery_id, outcomes)


SPEC = ProviderSpec(PROVIDER, SharedSecret, verify, decode)
parse = SPEC.parse
