"""GitLab: `X-Gitlab-Token` carries the shared secret token; newer GitLab can also sign deliveries with a
signing token (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`
over `{id}.{timestamp}.{body}`). Events `Push Hook` and `Tag Push Hook`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta

from pydantic import Field

from kiln.api.constants import Provider
from kiln.webhooks.config import GitLabSecret
from kiln.webhooks.errors import BadSignature, MissingSignature
from kiln.webhooks.events import ParsedDelivery
from kiln.webhooks.headers import Headers
from kiln.webhooks.normalize import (
    RefUpdate,
    changed_files,
    head_commit,
    ref_update_outcome,
    unhandled_event,
)
from kiln.webhooks.payloads import GitCommit, List, Model, Sha, load
from kiln.webhooks.provider import ProviderSpec, json_body
from kiln.webhooks.verify import check_fresh, hmac_sha256, parse_epoch, secure_equals

PROVIDER = Provider.GITLAB
TOKEN_HEADER = "X-Gitlab-Token"
EVENT_HEADER = "X-Gitlab-Event"
DELIVERY_HEADER = "Idempotency-Key"  # GitLab 17.4+
EVENT_UUID_HEADER = "X-Gitlab-Event-UUID"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_VERSION = "v1"
TIMESTAMP_TOLERANCE = timedelta(minutes=5)
PUSH_EVENT = "Push Hook"
PUSH_EVENTS = frozenset({PUSH_EVENT, "Tag Push Hook"})


def _digest(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac_sha256(key, f"{webhook_id}.{timestamp}.".encode("utf-8", "surrogatepass") + body)


def signature(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` (without the `v1,` prefix)."""
    return base64.b64encode(_digest(key, webhook_id, timestamp, body)).decode()


def _verify_token(headers: Headers, token: str) -> None:
    given = headers.value(TOKEN_HEADER)
    if given is None:
        raise MissingSignature(f"missing token header {TOKEN_HEADER}")
    if not secure_equals(given, token):
        raise BadSignature(f"{TOKEN_HEADER} does not match")


def _verify_signing(headers: Headers, body: bytes, key: bytes, now: datetime) -> None:
    values = {name: headers.value(name) for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise MissingSignature(f"missing signing header(s) {', '.join(missing)}")
    webhook_id, timestamp, header = (values[name] or "" for name in values)
    seconds = parse_epoch(timestamp, TIMESTAMP_HEADER)
    expected = _digest(key, webhook_id, timestamp, body)
    # Several space-separated `v1,<base64>` entries may be sent (key rotation); one match suffices.
    matched = False
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        matched |= secure_equals(given, expected)  # no early exit: same work whichever entry matches
    if not matched:
        raise BadSignature(f"no {SIGNATURE_HEADER} entry matches the body")
    check_fresh(seconds, now, TIMESTAMP_TOLERANCE, TIMESTAMP_HEADER)


def verify(headers: Headers, body: bytes, secret: GitLabSecret, now: datetime) -> None:
    if secret.token:
        _verify_token(headers, secret.token)
    key = secret.signing_key
    if key is not None:
        _verify_signing(headers, body, key, now)


class GitLabProject(Model):
    path_with_namespace: str
    git_http_url: str


class GitLabPush(Model):
    ref: str
    before: Sha
    after: Sha
    checkout_sha: Sha | None = None
    user_username: str | None = None
    user_name: str | None = None
    project: GitLabProject
    commits: List[GitCommit] = Field(default_factory=list)
    total_commits_count: int | None = None

    def head(self) -> GitCommit | None:
        # Commits are listed oldest first; the pushed head is the one matching the new ref value.
        wanted = {self.after, self.checkout_sha}
        return next((c for c in reversed(self.commits) if c.id in wanted), None)

    def ref_update(self, delivery_id: str | None) -> RefUpdate:
        # GitLab lists at most 20 commits: a shorter list than the count means the files are partial.
        complete = self.total_commits_count is None or self.total_commits_count <= len(self.commits)
        head = self.head()
        return RefUpdate(
            provider=PROVIDER,
            delivery_id=delivery_id,
            repository=self.project.path_with_namespace,
            clone_url=self.project.git_http_url,
            ref=self.ref,
            before=self.before,
            after=self.after,
            created=False,  # derived from the null `before` by the normalizer
            deleted=False,  # derived from the null `after` by the normalizer
            sender=self.user_username or self.user_name,
            head=head_commit(head),
            changed_files=changed_files(self.commits, complete=complete) if self.commits else None,
            # An annotated tag's `after` is the tag object; `checkout_sha` is the commit it names.
            commit=self.checkout_sha,
        )


def decode(headers: Headers, body: bytes, now: datetime) -> ParsedDelivery:
    delivery_id = headers.first(DELIVERY_HEADER, EVENT_UUID_HEADER)
    event = headers.require(EVENT_HEADER)
    if event not in PUSH_EVENTS:
        return unhandled_event(PROVIDER, delivery_id, event)
    push = load(GitLabPush, json_body(headers, body))
    return ParsedDelivery.single(ref_update_outcome(push.ref_update(delivery_id), now))


SPEC = ProviderSpec(PROVIDER, GitLabSecret, verify, decode)
parse = SPEC.parse
