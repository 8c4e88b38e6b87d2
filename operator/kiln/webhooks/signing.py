"""Producing the headers a provider would send with a body: for tests, the CLI and the benchmark."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kiln.api.constants import GiteeMode, Provider
from kiln.webhooks import bitbucket, bitbucket_server, gitee, github, gitlab
from kiln.webhooks.config import GiteeSecret, GitLabSecret, SharedSecret, WebhookSecret
from kiln.webhooks.dispatch import check_secret, provider_spec
from kiln.webhooks.verify import hex_signature

DEFAULT_EVENTS = {
    Provider.GITHUB: github.PUSH_EVENT,
    Provider.GITLAB: gitlab.PUSH_EVENT,
    Provider.GITEE: gitee.PUSH_EVENT,
    Provider.BITBUCKET: bitbucket.PUSH_EVENT,
    Provider.BITBUCKET_SERVER: bitbucket_server.PUSH_EVENT,
}

# (event, delivery id, signature) header names of the providers signing with a hex HMAC of the body.
_HEX_HMAC_HEADERS = {
    module.PROVIDER: (module.EVENT_HEADER, module.DELIVERY_HEADER, module.SIGNATURE_HEADER)
    for module in (github, bitbucket, bitbucket_server)
}


def sign(
    provider: str,
    body: bytes,
    secret: WebhookSecret,
    *,
    event: str | None = None,
    delivery_id: str | None = None,
    now: datetime | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Headers for `body` as `provider` would send them, signed with `secret`.

    `event` defaults to the provider's push event, `delivery_id` to a fresh UUID, `now` (used by the
    timestamped schemes of GitLab and Gitee) to the current time.
    """
    spec = provider_spec(provider)
    check_secret(spec, secret)
    event = event or DEFAULT_EVENTS[spec.provider]
    delivery_id = delivery_id or str(uuid.uuid4())
    now = now or datetime.now(UTC)
    headers = {"Content-Type": content_type}
    match secret:
        case SharedSecret():
            event_header, delivery_header, signature_header = _HEX_HMAC_HEADERS[spec.provider]
            headers[event_header] = event
            headers[delivery_header] = delivery_id
            headers[signature_header] = hex_signature(secret.key, body)
        case GitLabSecret():
            headers[gitlab.EVENT_HEADER] = event
            headers[gitlab.DELIVERY_HEADER] = delivery_id
            if secret.token:
                headers[gitlab.TOKEN_HEADER] = secret.token
            key = secret.signing_key
            if key is not None:
                timestamp = str(int(now.timestamp()))
                headers[gitlab.ID_HEADER] = delivery_id
                headers[gitlab.TIMESTAMP_HEADER] = timestamp
                signature = gitlab.signature(key, delivery_id, timestamp, body)
                headers[gitlab.SIGNATURE_HEADER] = f"{gitlab.SIGNATURE_VERSION},{signature}"
        case GiteeSecret():
            timestamp = str(int(now.timestamp() * 1000))
            headers[gitee.EVENT_HEADER] = event
            headers[gitee.TIMESTAMP_HEADER] = timestamp
            signed = secret.mode is GiteeMode.SIGNATURE
            headers[gitee.TOKEN_HEADER] = gitee.signature(secret.value, timestamp) if signed else secret.value
    return headers
