"""Offline inspection of a delivery, for `kiln webhook inspect` (and debugging endpoints).

`inspect_result` is the hook for callers that go further (the CLI adds the builds the rules engine
would start for `Inspection.events`); `inspect_delivery` is its JSON-able summary. Neither raises for
anything a delivery contains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kiln.webhooks.config import WebhookSecret
from kiln.webhooks.dispatch import check_secret, provider_spec
from kiln.webhooks.errors import Unauthorized, WebhookError
from kiln.webhooks.events import JSON, Ignored, ParsedDelivery, Ping, PushEvent


@dataclass(frozen=True, slots=True)
class Inspection:
    """`verified`: None when no secret was given (or verification was not reached), else whether it passed."""

    provider: str
    verified: bool | None
    delivery: ParsedDelivery | None = None
    error: WebhookError | None = None

    @property
    def events(self) -> tuple[PushEvent, ...]:
        return self.delivery.events if self.delivery else ()

    @property
    def ignored(self) -> tuple[Ignored, ...]:
        return self.delivery.ignored if self.delivery else ()

    @property
    def ping(self) -> Ping | None:
        return self.delivery.ping if self.delivery else None

    def ignored_reason(self) -> str | None:
        several = self.delivery is not None and len(self.delivery.outcomes) > 1
        reasons = [f"{i.ref}: {i.reason}" if several and i.ref else i.reason for i in self.ignored]
        return "; ".join(reasons) or None

    def to_dict(self) -> dict[str, JSON]:
        events = [event.to_json() for event in self.events]
        return {
            "provider": self.provider,
            "verified": self.verified,
            "event": events[0] if events else None,
            "events": list[JSON](events),
            "ping": self.ping.to_json() if self.ping else None,
            "ignored": self.ignored_reason(),
            "error": self.error.reason if self.error else None,
            "status": self.error.status if self.error else None,
        }


def inspect_result(
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: WebhookSecret | None,
    now: datetime,
) -> Inspection:
    """Verify (when `secret` is given) and parse; errors are returned, not raised."""
    verified: bool | None = None
    try:
        spec = provider_spec(provider)
        if secret is not None:
            check_secret(spec, secret)  # a TypeError here is the caller's bug: let it surface
            try:
                spec.check(headers, body, secret, now)
            except Unauthorized:
                verified = False
                raise
            verified = True
        delivery = spec.parse_unverified(headers, body, now)
    except WebhookError as error:
        return Inspection(provider, verified, error=error)
    return Inspection(provider, verified, delivery=delivery)


def inspect_delivery(
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: WebhookSecret | None,
    now: datetime,
) -> dict[str, JSON]:
    """`{"verified", "event", "events", "ping", "ignored", "error", "status", "provider"}`, JSON-able."""
    return inspect_result(provider, headers, body, secret, now).to_dict()
