"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, events `push` and `ping`.

The body is JSON or, when the hook's content type is form, `payload=<url-encoded JSON>`; the signature
covers the raw bytes as sent, so it is checked before the form is decoded.
"""

from __future__ import annotations

import urllib.parse
from datetime import datetime

from pydantic import Field

from kiln.api.constants import Provider
from kiln.rules.refs import REF_PREFIXES
from kiln.rules.types import RefType
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.errors import MalformedPayload, UnsupportedMediaType
from kiln.webhooks.events import ParsedDelivery, Ping
from kiln.webhooks.headers import Headers
from kiln.webhooks.normalize import (
    RefUpdate,
    changed_files,
    head_commit,
    ref_update_outcome,
    unhandled_event,
)
from kiln.webhooks.payloads import ChangedPaths, EpochSeconds, GitCommit, List, Model, Sha, load
from kiln.webhooks.provider import JSON_MEDIA_TYPE, ProviderSpec
from kiln.webhooks.verify import verify_hex_signature

PROVIDER = Provider.GITHUB
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
PUSH_EVENT = "push"
PING_EVENT = "ping"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# GitHub lists at most 2048 commits in a push payload; a full list may have been cut.
MAX_LISTED_COMMITS = 2048
_TAG_PREFIX = REF_PREFIXES[RefType.TAG]


class GitHubRepository(Model):
    full_name: str
    clone_url: str
    pushed_at: EpochSeconds = None  # epoch seconds in push payloads, ISO 8601 elsewhere
    # Gitee: `full_name` may be the display name (in Gitee's documented example, the owner's display
    # name in Chinese); the owner/name path is `path_with_namespace`. GitHub sends no such field.
    path_with_namespace: str | None = None

    @property
    def path(self) -> str:
        return self.path_with_namespace or self.full_name


class GitHubAccount(Model):
    login: str | None = None
    name: str | None = None


class GitHubStylePush(Model):
    """A push payload in GitHub's format (Gitee sends the same shape)."""

    ref: str
    before: Sha
    after: Sha
    created: bool = False
    deleted: bool = False
    # only their paths are read: the head commit's id, message, time and author are `head_commit`'s
    commits: List[ChangedPaths] = Field(default_factory=list)  # Gitee sends null for tags and new branches
    head_commit: GitCommit | None = None
    repository: GitHubRepository
    sender: GitHubAccount | None = None
    pusher: GitHubAccount | None = None

    def commits_complete(self) -> bool:
        return len(self.commits) < MAX_LISTED_COMMITS

    def ref_update(self, provider: Provider, delivery_id: str | None) -> RefUpdate:
        head = self.head_commit
        sender = (self.sender and self.sender.login) or (self.pusher and self.pusher.name) or None
        commits = self.commits  # new refs and tags: the normalizer says "unknown" whatever it holds
        return RefUpdate(
            provider=provider,
            delivery_id=delivery_id,
            repository=self.repository.path,
            clone_url=self.repository.clone_url,
            ref=self.ref,
            before=self.before,
            after=self.after,
            created=self.created,
            deleted=self.deleted,
            sender=sender,
            head=head_commit(head),
            changed_files=changed_files(commits, complete=self.commits_complete()) if commits else None,
            pushed_at=self.repository.pushed_at,
            # A tag's `after` is the tag object when the tag is annotated; `head_commit` is always
            # the commit it names (since GitHub's 2021-10-01 change). A branch's `after` is a commit.
            commit=head.id if head and self.ref.startswith(_TAG_PREFIX) else None,
        )


class GitHubPingRepository(Model):
    full_name: str | None = None


class GitHubPing(Model):
    zen: str | None = None
    hook_id: int | None = None
    repository: GitHubPingRepository | None = None


def verify(headers: Headers, body: bytes, secret: SharedSecret, now: datetime) -> None:
    verify_hex_signature(headers, SIGNATURE_HEADER, body, secret.key)


def _json_document(headers: Headers, body: bytes) -> bytes | str:
    media_type = headers.media_type()
    if media_type in (None, JSON_MEDIA_TYPE):
        return body
    if media_type != FORM_MEDIA_TYPE:
        raise UnsupportedMediaType(
            f"unsupported content type {media_type!r}, expected {JSON_MEDIA_TYPE} or {FORM_MEDIA_TYPE}"
        )
    try:
        fields = urllib.parse.parse_qs(
            body.decode("ascii"), strict_parsing=True, errors="strict", max_num_fields=16
        )
    except ValueError:  # includes UnicodeDecodeError
        raise MalformedPayload("the form body is not valid application/x-www-form-urlencoded") from None
    values = fields.get("payload", [])
    if len(values) != 1:
        raise MalformedPayload("the form body does not hold exactly one payload field")
    return values[0]


def decode(headers: Headers, body: bytes, now: datetime) -> ParsedDelivery:
    delivery_id = headers.value(DELIVERY_HEADER)
    event = headers.require(EVENT_HEADER)
    if event == PING_EVENT:
        ping = load(GitHubPing, _json_document(headers, body))
        return ParsedDelivery.single(
            Ping(
                PROVIDER,
                delivery_id,
                hook_id=str(ping.hook_id) if ping.hook_id is not None else None,
                zen=ping.zen,
                repository=ping.repository.full_name if ping.repository else None,
            )
        )
    if event != PUSH_EVENT:
        return unhandled_event(PROVIDER, delivery_id, event)
    push = load(GitHubStylePush, _json_document(headers, body))
    return ParsedDelivery.single(ref_update_outcome(push.ref_update(PROVIDER, delivery_id), now))


SPEC = ProviderSpec(PROVIDER, SharedSecret, verify, decode)
parse = SPEC.parse
