"""Sans-I/O verification and parsing of Git provider webhooks (in the style of gidgethub).

`dispatch(provider, headers, body, secret, now)` verifies the raw body, then parses it into a
`ParsedDelivery` of `PushEvent` / `Ping` / `Ignored` outcomes, or raises a `WebhookError` subclass
whose `status` is the HTTP status to answer with. Nothing here does I/O or logs.
"""

from kiln.api.constants import GiteeMode, Provider
from kiln.webhooks import bitbucket, bitbucket_server, gitee, github, gitlab
from kiln.webhooks.config import GiteeSecret, GitLabSecret, SharedSecret, WebhookSecret
from kiln.webhooks.dispatch import MAX_BODY_BYTES, PROVIDERS, dispatch, provider_spec
from kiln.webhooks.errors import (
    BadSignature,
    MalformedPayload,
    MissingHeader,
    MissingSignature,
    PayloadTooLarge,
    StaleTimestamp,
    Unauthorized,
    UnknownProvider,
    UnsupportedMediaType,
    WebhookError,
)
from kiln.webhooks.events import Author, Ignored, Outcome, ParsedDelivery, Ping, PushEvent, RefKind
from kiln.webhooks.inspect import Inspection, inspect_delivery, inspect_result
from kiln.webhooks.signing import sign

parse_github = github.parse
parse_gitlab = gitlab.parse
parse_gitee = gitee.parse
parse_bitbucket = bitbucket.parse
parse_bitbucket_server = bitbucket_server.parse

__all__ = [
    "MAX_BODY_BYTES",
    "PROVIDERS",
    "Author",
    "BadSignature",
    "GitLabSecret",
    "GiteeMode",
    "GiteeSecret",
    "Ignored",
    "Inspection",
    "MalformedPayload",
    "MissingHeader",
    "MissingSignature",
    "Outcome",
    "ParsedDelivery",
    "PayloadTooLarge",
    "Ping",
    "Provider",
    "PushEvent",
    "RefKind",
    "SharedSecret",
    "StaleTimestamp",
    "Unauthorized",
    "UnknownProvider",
    "UnsupportedMediaType",
    "WebhookError",
    "WebhookSecret",
    "dispatch",
    "inspect_delivery",
    "inspect_result",
    "parse_bitbucket",
    "parse_bitbucket_server",
    "parse_gitee",
    "parse_github",
    "parse_gitlab",
    "provider_spec",
    "sign",
]
