"""The shape every provider module fills in: verify the raw bytes, then decode them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from kiln.api.constants import Provider
from kiln.webhooks.config import WebhookSecret
from kiln.webhooks.errors import PayloadTooLarge, UnsupportedMediaType
from kiln.webhooks.events import ParsedDelivery
from kiln.webhooks.headers import Headers

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

    def parse(self, headers: Mapping[str, str], body: bytes, secret: S, now: datetime) -> ParsedDelivery:
        """Verify the delivery, then decode it. Raises a WebhookError subclass on any failure."""
        view = Headers.of(headers)
        self.check(view, body, secret, now)
        return self.decode(view, body, now)

    def parse_unverified(self, headers: Mapping[str, str], body: bytes, now: datetime) -> ParsedDelivery:
        """Decode without verifying: only for inspecting deliveries offline (`kiln webhook inspect`)."""
        _check_request(body, now)
        return self.decode(Headers.of(headers), body, now)
