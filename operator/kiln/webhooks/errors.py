"""Typed errors raised while verifying or parsing a webhook delivery.

Each error carries the HTTP status the receiving endpoint should answer with, so the HTTP layer maps
errors to responses without knowing provider details. Messages never contain secrets or body content.
"""

from __future__ import annotations

from typing import ClassVar


class WebhookError(Exception):
    """Base class: `status` is the HTTP status to answer with, `reason` a short, safe explanation."""

    status: ClassVar[int] = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class UnknownProvider(WebhookError):
    """No parser for the provider named in the URL."""

    status = 404


class Unauthorized(WebhookError):
    """The delivery could not be authenticated (base of the 401 errors)."""

    status = 401


class MissingSignature(Unauthorized):
    """The signature or token header (or a header the signature depends on) is absent."""


class BadSignature(Unauthorized):
    """A signature or token is present but does not match."""


class StaleTimestamp(Unauthorized):
    """The signed timestamp is outside the accepted window (replay protection)."""


class MissingHeader(WebhookError):
    """A non-authentication header the parser needs (e.g. the event name) is absent."""

    status = 400

    def __init__(self, header: str) -> None:
        super().__init__(f"missing header {header}")
        self.header = header


class MalformedPayload(WebhookError):
    """The body (after successful verification) is not the expected JSON document."""

    status = 400


class UnsupportedMediaType(WebhookError):
    """The body's Content-Type is not one the provider's parser understands."""

    status = 415


class PayloadTooLarge(WebhookError):
    """The body exceeds MAX_BODY_BYTES."""

    status = 413
