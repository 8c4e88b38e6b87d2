"""The shape every provider module fills in: verify the raw bytes, then decode them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from kiln.api.constants import Provider
from kiln.webhooks.config import WebhookSecret
from kiln.webhooks.errors import PayloadTooLarge, UnsupportedMediaType
from kiln.webhooks.events import DEFAULT_MAX_REFS, ParsedDelivery
from kiln.webhooks.headers import Headers
from kiln.webhooks.normalize import settle_refs
from kiln.webhooks.payloads import on_the_calendar

MAX_BODY_BYTES = 25 * 1024 * 1024

JSON_MEDIA_TYPE = "application/json"

S = TypeVar("S", bound=WebhookSecret)


def json_body(headers: Headers, body: bytes) -> bytes:
    """The body, provided it is declared as JSON (an absent Content-Type is taken to mean JSON)."""
    media_type = headers.media_type()
    if media_type not in (None, JSON_MEDIA_TYPE):
        raise UnsupportedMediaType(f"unsupported content type {media_type!r}, expected {JSON_MEDIA_TYPE}")
    return body


def _check_request(body: bytes, now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not on_the_calendar(now):  # it may become a push time: tags render it in UTC+8
        raise ValueError("now must be between 0001-01-02 and 9999-12-30 (UTC)")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body larger than {MAX_BODY_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class ProviderSpec(Generic[S]):
    """A provider's verifier (over the raw bytes) and decoder (run only after verification)."""

    provider: Provider
    secret_type: type[S]
    verify: Callable[[Headers, bytes, S, datetime], None]
    decode: Callable[[Headers, bytes, datetime], ParsedDelivery]

    def check(self, headers: Mapping[str, str], body: bytes, secret: S, now: datetime) -> None:
        """Size limit, then authentication over the raw bytes; raises a WebhookError subclass."""
        _check_request(body, now)
        self.verify(Headers.of(headers), body, secret, now)

    def parse(
        self,
        headers: Mapping[str, str],
        body: bytes,
        secret: S,
        now: datetime,
        *,
        max_refs: int = DEFAULT_MAX_REFS,
    ) -> ParsedDelivery:
        """Verify the delivery, then decode it (each ref once, at most `max_refs` to build). Raises a
        WebhookError subclass on any failure."""
        view = Headers.of(headers)
        self.check(view, body, secret, now)
        return settle_refs(self.decode(view, body, now), max_refs)

    def parse_unverified(
        self, headers: Mapping[str, str], body: bytes, now: datetime, *, max_refs: int = DEFAULT_MAX_REFS
    ) -> ParsedDelivery:
        """Decode without verifying: only for inspecting deliveries offline (`kiln webhook inspect`)."""
        _check_request(body, now)
        return settle_refs(self.decode(Headers.of(headers), body, now), max_refs)
