"""Verification primitives shared by the providers.

All comparisons of attacker-supplied values with secrets go through `hmac.compare_digest`, on bytes:
compare_digest rejects non-ASCII `str`, and header values may hold anything.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime, timedelta

from kiln.webhooks.errors import BadSignature, MissingSignature, StaleTimestamp
from kiln.webhooks.headers import Headers

_DIGITS = re.compile(r"[0-9]{1,20}")


def as_bytes(value: str | bytes) -> bytes:
    # surrogatepass: header values decoded with surrogateescape must not raise here.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def secure_equals(given: str | bytes, expected: str | bytes) -> bool:
    return hmac.compare_digest(as_bytes(given), as_bytes(expected))


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")  # one call into OpenSSL, no HMAC object


def hex_signature(key: bytes, body: bytes) -> str:
    """The `sha256=<hex>` value GitHub (X-Hub-Signature-256) and Bitbucket (X-Hub-Signature) send."""
    return "sha256=" + hmac_sha256(key, body).hex()


def verify_hex_signature(headers: Headers, header: str, body: bytes, key: bytes) -> None:
    """Check a `sha256=<hex HMAC-SHA256(key, body)>` header against the raw body."""
    given = headers.value(header)
    if given is None:
        raise MissingSignature(f"missing signature header {header}")
    algorithm, _, digest = given.partition("=")
    if algorithm.strip().lower() != "sha256":
        raise BadSignature(f"{header} is not a sha256 signature")
    expected = hex_signature(key, body).removeprefix("sha256=")
    if not secure_equals(digest.strip().lower(), expected):
        raise BadSignature(f"{header} does not match the body")


def parse_epoch(value: str, header: str) -> int:
    """A non-negative decimal integer header (seconds or milliseconds since the epoch)."""
    # int() would also accept '+1', ' 1', '1_0' and non-ASCII digits.
    if not _DIGITS.fullmatch(value):
        raise BadSignature(f"{header} is not an integer timestamp")
    return int(value)


def check_fresh(seconds: float, now: datetime, tolerance: timedelta, header: str) -> None:
    """Reject timestamps further than `tolerance` from `now`, in either direction (replay protection)."""
    if abs(now.timestamp() - seconds) > tolerance.total_seconds():
        raise StaleTimestamp(f"{header} is more than {tolerance} away from the current time")
