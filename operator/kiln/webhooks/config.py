"""Per-provider secret configuration used to verify deliveries.

Secret values are kept out of `repr()` so that logging a config (or an object holding one) leaks nothing.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from kiln.api.constants import GiteeMode


@dataclass(frozen=True, slots=True)
class SharedSecret:
    """The HMAC key of GitHub, Bitbucket Cloud and Bitbucket Server webhooks."""

    value: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError("the webhook secret must not be empty")

    @property
    def key(self) -> bytes:
        return self.value.encode()


@dataclass(frozen=True, slots=True)
class GiteeSecret:
    """Gitee's WebHook password or signing key; which one is configured per Repository."""

    value: str = field(repr=False)
    mode: GiteeMode = GiteeMode.PASSWORD

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError("the Gitee webhook secret must not be empty")


SIGNING_KEY_PREFIX = "whsec_"


@dataclass(frozen=True, slots=True)
class GitLabSecret:
    """GitLab's secret token (X-Gitlab-Token) and/or signing token (`whsec_<base64>`, webhook-signature).

    At least one is required. When a signing token is configured, signed headers are required on every
    delivery: otherwise a stolen plain token would be enough to bypass the signature.
    """

    token: str | None = field(default=None, repr=False)
    signing_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.token and not self.signing_token:
            raise ValueError("a GitLab webhook needs a secret token or a signing token")
        if self.signing_token is not None:
            _ = self.signing_key  # fail at configuration time, not on the first delivery

    @property
    def signing_key(self) -> bytes | None:
        """The HMAC key: the base64-decoded part of the signing token."""
        if not self.signing_token:
            return None
        encoded = self.signing_token.removeprefix(SIGNING_KEY_PREFIX)
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the GitLab signing token is not whsec_<base64>") from None
        if not key:
            raise ValueError("the GitLab signing token is empty")
        return key


WebhookSecret = SharedSecret | GitLabSecret | GiteeSecret
