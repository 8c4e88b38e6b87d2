"""What Kiln asks of a code host, whatever the host: one small interface, one client per provider.

A client is made for one repository (its clone URL) with one token. Every call goes over HTTPS with
a timeout; 5xx and 429 answers are retried with backoff (honouring Retry-After and the host's
rate-limit reset headers); what is still an error after that raises a `CodeHostError` carrying the
host's own message, never the token. `error_for`, `redact` and `LibraryClient` are how the clients
keep those promises alike.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Protocol
from urllib.parse import quote, quote_plus

# Seconds one HTTP request may take; attempts of one call (the first and the retries).
TIMEOUT_SECONDS = 10.0
ATTEMPTS = 4
# A Retry-After or rate-limit reset further away than this is not waited for: the call fails and
# the controller's own backoff takes over.
MAX_WAIT_SECONDS = 30.0
# what stands in a message where a secret (the token) was
REDACTED = "***"


class CodeHostError(Exception):
    """A call the code host refused or could not answer. `status` is the HTTP status (None when the
    host was not reached); the message is the host's own (never holding the token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Unauthorized(CodeHostError):
    """The token is missing, wrong, expired or lacks the scope (401, or 403 not from rate limiting)."""


class NotFound(CodeHostError):
    """The repository (or hook) does not exist, or the token may not see it (404)."""


class Unreachable(CodeHostError):
    """No answer: DNS, connection or TLS failure, timeout, or 5xx after every retry."""


def error_for(message: str, status: int | None, *, rate_limited: bool = False) -> CodeHostError:
    """The error of a call the host answered with HTTP `status` (None: no status known):
    Unauthorized for 401 and for a 403 that is not `rate_limited`, NotFound for 404, Unreachable
    for 5xx; a plain CodeHostError otherwise (a rate limit, a request the host refused as invalid)."""
    if status == 401 or (status == 403 and not rate_limited):
        return Unauthorized(message, status)
    if status == 404:
        return NotFound(message, status)
    if status is not None and status >= 500:
        return Unreachable(message, status)
    return CodeHostError(message, status)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret replaced by REDACTED, as it is and URL-quoted (the forms a path or a
    query string carries it in)."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    return text


class LibraryClient:
    """What the clients on a vendor library over requests (PyGithub, python-gitlab) share: the API's
    base URL, the repository's path and the token, and `_translated`, which raises what the library
    or requests raise as Kiln's errors, with the host's message and no token (nor the library's
    exception, which may quote the host's body, as the cause). A subclass names requests' failures
    (`NO_ANSWER`: no answer came; `FAILED`: any other) and translates its library's own errors in
    `_library_error`."""

    NO_ANSWER: ClassVar[tuple[type[Exception], ...]]
    FAILED: ClassVar[tuple[type[Exception], ...]]

    def __init__(self, base_url: str, repository_path: str, token: str) -> None:
        self._base_url = base_url
        self._path = repository_path
        self._token = token

    def _redact(self, text: str) -> str:
        return redact(text, [self._token])

    def _library_error(self, error: Exception) -> CodeHostError | None:
        """`error` as Kiln's error; None for an exception that is neither the library's nor requests'."""
        if isinstance(error, self.NO_ANSWER):
            return Unreachable(self._redact(f"no answer from {self._base_url}: {error}"))
        if isinstance(error, self.FAILED):
            return CodeHostError(self._redact(f"request to {self._base_url} failed: {error}"))
        return None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except CodeHostError:
            raise
        except Exception as error:
            translated = self._library_error(error)
            if translated is None:
                raise
            raise translated from None


class CommitState(enum.StrEnum):
    """A build's state as reported on its commit; each client maps it onto its host's words."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Hook:
    """A push webhook as the host has it."""

    id: str
    url: str


@dataclass(frozen=True, slots=True)
class CommitStatus:
    """One build's report on a commit. `key` tells builds apart on the same commit (the BuildRule:
    GitHub's and GitLab's `context`/`name`, Bitbucket's `key`); `url` links to the build's log."""

    commit: str
    state: CommitState
    key: str
    description: str
    url: str | None = None


class CodeHost(Protocol):
    """The calls Kiln makes on one repository of a code host."""

    def check_access(self) -> None:
        """Raise Unauthorized, NotFound or Unreachable unless the token may administer the repository's hooks."""

    def hooks(self) -> list[Hook]:
        """The repository's webhooks (every page)."""

    def create_hook(self, url: str, secret: str) -> Hook:
        """Register a webhook for pushes of branches and tags, delivering to `url`, verified with `secret`."""

    def update_hook(self, hook_id: str, url: str, secret: str) -> Hook:
        """Set the hook's URL, secret and events (as create_hook makes them)."""

    def delete_hook(self, hook_id: str) -> None:
        """Remove the hook; a hook that is already gone is not an error."""

    def set_commit_status(self, status: CommitStatus) -> None:
        """Report a build's state on its commit."""

    def refs(self) -> dict[str, str]:
        """Every branch head and tag: full ref name (`refs/heads/main`, `refs/tags/v1`) -> commit id
        (an annotated tag's commit, not the tag object)."""
