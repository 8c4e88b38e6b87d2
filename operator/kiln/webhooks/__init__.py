"""The webhook core, sans I/O (in the style of gidgethub): deliveries in, decisions out.

`dispatch(provider, headers, body, secret, now)` verifies the raw body, then parses it into a
`ParsedDelivery` of `PushEvent` / `Ping` / `Ignored` outcomes (one `RefOutcome` per ref), or raises a
`WebhookError` subclass whose `status` is the HTTP status to answer with. `decisions.decide` turns a
delivery and a view of the cluster (`entries`) into a reply or the BuildRun manifests to create;
`inspect` does the same offline. Nothing here does I/O, logs or holds a lock: the HTTP server, its
watch-fed cache and its metrics are `kiln.receiver`.
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
from kiln.webhooks.events import (
    DEFAULT_MAX_REFS,
    Author,
    Ignored,
    ParsedDelivery,
    Ping,
    PushEvent,
    RefOutcome,
)
from kiln.webhooks.inspect import Inspection, inspect_delivery, inspect_result, planned_builds
from kiln.webhooks.signing import sign

parse_github = github.parse
parse_gitlab = gitlab.parse
parse_gitee = gitee.parse
parse_bitbucket = bitbucket.parse
parse_bitbucket_server = bitbucket_server.parse

__all__ = [
    "DEFAULT_MAX_REFS",
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
    "ParsedDelivery",
    "PayloadTooLarge",
    "Ping",
    "Provider",
    "PushEvent",
    "RefOutcome",
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
    "planned_builds",
    "provider_spec",
    "sign",
]
