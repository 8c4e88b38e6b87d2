"""What the clients share in kiln.codehosts.base: an answer's HTTP status to Kiln's error class,
and a secret redacted from a message in every form a URL carries it."""

from __future__ import annotations

import pytest

from kiln.codehosts.base import (
    REDACTED,
    CodeHostError,
    NotFound,
    Unauthorized,
    Unreachable,
    error_for,
    redact,
)


@pytest.mark.parametrize(
    ("status", "rate_limited", "error"),
    [
        (401, False, Unauthorized),
        (403, False, Unauthorized),  # a refusal of the token
        (403, True, CodeHostError),  # a rate limit: neither refused nor unreachable
        (429, True, CodeHostError),
        (404, False, NotFound),
        (422, False, CodeHostError),
        (500, False, Unreachable),
        (503, True, Unreachable),  # a 5xx is the host's trouble, whatever its headers say
        (None, False, CodeHostError),
    ],
)
def test_status_to_error_class(status: int | None, rate_limited: bool, error: type[CodeHostError]) -> None:
    found = error_for("the host's words", status, rate_limited=rate_limited)
    assert type(found) is error
    assert (found.message, found.status) == ("the host's words", status)


def test_secret_as_it_is_and_url_quoted_to_redacted() -> None:
    secret = "to k/en+1"
    text = f"GET /x?access_token=to+k%2Fen%2B1 path /to%20k%2Fen%2B1 said {secret}"
    assert redact(text, [secret, ""]) == f"GET /x?access_token={REDACTED} path /{REDACTED} said {REDACTED}"
