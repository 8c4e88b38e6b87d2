"""Gitee: `X-Gitee-Token` is either the WebHook password itself or, in signature mode,
base64(HMAC-SHA256(key=secret, msg=f"{X-Gitee-Timestamp}\\n{secret}")), possibly URL-encoded.

Gitee's signature covers only the timestamp, not the body; the timestamp window limits replays.
The body repeats `password`/`sign`: the models below never read them, so they go nowhere.
Gitee documents no delivery id header, so `delivery_id` is None.
"""

from __future__ import annotations

import base64
import urllib.parse
from datetime import datetime, timedelta

from kiln.api.constants import GiteeMode, Provider
from kiln.webhooks.config import GiteeSecret
from kiln.webhooks.errors import BadSignature, MissingSignature
from kiln.webhooks.events import ParsedDelivery
from kiln.webhooks.github import GitHubStylePush
from kiln.webhooks.headers import Headers
from kiln.webhooks.normalize import ref_update_outcome, unhandled_event
from kiln.webhooks.payloads import load
from kiln.webhooks.provider import ProviderSpec, json_body
from kiln.webhooks.verify import check_fresh, hmac_sha256, parse_epoch, secure_equals

PROVIDER = Provider.GITEE
TOKEN_HEADER = "X-Gitee-Token"
TIMESTAMP_HEADER = "X-Gitee-Timestamp"
EVENT_HEADER = "X-Gitee-Event"
TIMESTAMP_TOLERANCE = timedelta(hours=1)
PUSH_EVENT = "Push Hook"
PUSH_EVENTS = frozenset({PUSH_EVENT, "Tag Push Hook"})


def signature(secret: str, timestamp_ms: str) -> str:
    """The signature-mode token for a timestamp (milliseconds since the epoch, as sent)."""
    key = secret.encode("utf-8", "surrogatepass")
    message = f"{timestamp_ms}\n{secret}".encode("utf-8", "surrogatepass")
    return base64.b64encode(hmac_sha256(key, message)).decode()


def verify(headers: Headers, body: bytes, secret: GiteeSecret, now: datetime) -> None:
    token = headers.value(TOKEN_HEADER)
    if token is None:
        raise MissingSignature(f"missing token header {TOKEN_HEADER}")
    timestamp_ms: int | None = None
    if secret.mode is GiteeMode.SIGNATURE:
        timestamp = headers.value(TIMESTAMP_HEADER)
        if timestamp is None:
            raise MissingSignature(f"missing header {TIMESTAMP_HEADER}, needed to check the signature")
        timestamp_ms = parse_epoch(timestamp, TIMESTAMP_HEADER)
        expected = signature(secret.value, timestamp)
    else:
        expected = secret.value
    # Gitee's docs URL-encode the signature (base64 has + / =); deliveries may carry either form.
    matched = False
    for candidate in {token, urllib.parse.unquote(token)}:
        matched |= secure_equals(candidate, expected)
    if not matched:
        raise BadSignature(f"{TOKEN_HEADER} does not match")
    if timestamp_ms is not None:
        check_fresh(timestamp_ms / 1000, now, TIMESTAMP_TOLERANCE, TIMESTAMP_HEADER)


class GiteePush(GitHubStylePush):
    """Gitee copies GitHub's push format, but lists at most ten commits."""

    commits_more_than_ten: bool | None = None

    def commits_complete(self) -> bool:
        return not self.commits_more_than_ten


def decode(headers: Headers, body: bytes, now: datetime) -> ParsedDelivery:
    event = headers.require(EVENT_HEADER)
    if event not in PUSH_EVENTS:
        return unhandled_event(PROVIDER, None, event)
    push = load(GiteePush, json_body(headers, body))
    return ParsedDelivery.single(ref_update_outcome(push.ref_update(PROVIDER, None), now))


SPEC = ProviderSpec(PROVIDER, GiteeSecret, verify, decode)
parse = SPEC.parse
