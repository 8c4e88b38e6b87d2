"""Choosing the parser for the provider named in the webhook URL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kiln.api.constants import Provider
from kiln.webhooks import bitbucket, bitbucket_server, gitee, github, gitlab
from kiln.webhooks.config import WebhookSecret
from kiln.webhooks.errors import UnknownProvider
from kiln.webhooks.events import DEFAULT_MAX_REFS, ParsedDelivery
from kiln.webhooks.provider import MAX_BODY_BYTES, ProviderSpec

__all__ = ["MAX_BODY_BYTES", "PROVIDERS", "dispatch", "provider_spec"]

PROVIDERS: Mapping[Provider, ProviderSpec[Any]] = {
    spec.provider: spec
    for spec in (github.SPEC, gitlab.SPEC, gitee.SPEC, bitbucket.SPEC, bitbucket_server.SPEC)
}


# by plain name: a dict lookup, where Provider(name) costs an enum call (three per delivery)
_BY_NAME: Mapping[str, ProviderSpec[Any]] = {provider.value: spec for provider, spec in PROVIDERS.items()}


def provider_spec(provider: str) -> ProviderSpec[Any]:
    """The parser for a provider name; UnknownProvider (404) when there is none."""
    spec = _BY_NAME.get(provider)
    if spec is None:
        raise UnknownProvider(f"unknown webhook provider {provider[:40]!r}")
    return spec


def check_secret(spec: ProviderSpec[Any], secret: WebhookSecret) -> None:
    # A secret of the wrong kind is a configuration bug, not a bad request: TypeError, not WebhookError.
    if not isinstance(secret, spec.secret_type):
        raise TypeError(
            f"{spec.provider} webhooks need a {spec.secret_type.__name__}, not a {type(secret).__name__}"
        )


def dispatch(
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: WebhookSecret,
    now: datetime,
    *,
    max_refs: int = DEFAULT_MAX_REFS,
) -> ParsedDelivery:
    """Verify and parse a delivery for `provider` (at most `max_refs` refs to build; the rest are
    `cut`). Raises a WebhookError subclass on any failure."""
    spec = provider_spec(provider)
    check_secret(spec, secret)
    return spec.parse(headers, body, secret, now, max_refs=max_refs)
