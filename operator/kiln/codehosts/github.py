"""GitHub (github.com and Enterprise Server) through PyGithub.

Retries live in urllib3 under PyGithub (`_Retry`): 429s and 5xx answers are retried, waiting as
GitHub's "Rate limits for the REST API" asks, and the last answer (not a bare `MaxRetryError`) comes
back to PyGithub, so a call that still fails raises the host's own error message.
"""

from __future__ import annotations

import time
from typing import Any, Self

import requests
from github import Auth, Github, GithubException, RateLimitExceededException
from github.GithubObject import NotSet
from github.Hook import Hook as GitHubHook
from github.Repository import Repository
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from kiln.codehosts.base import (
    ATTEMPTS,
    MAX_WAIT_SECONDS,
    TIMEOUT_SECONDS,
    CodeHostError,
    CommitState,
    CommitStatus,
    Hook,
    LibraryClient,
    NotFound,
    Unauthorized,
    error_for,
)

PER_PAGE = 100  # the largest page GitHub serves
HOOK_NAME = "web"  # the only name of a repository webhook
HOOK_EVENTS = ["push"]  # GitHub's push event covers branch and tag pushes alike
MAX_DESCRIPTION = 140  # GitHub refuses a longer status description (422)
STATES = {
    CommitState.QUEUED: "pending",
    CommitState.RUNNING: "pending",
    CommitState.SUCCEEDED: "success",
    CommitState.FAILED: "failure",
    CommitState.CANCELLED: "error",  # GitHub has no cancelled state
}
# 403 and 429 are GitHub's rate-limit answers (a 403 is retried only when it is one); 5xx are transient.
RATE_LIMITED = frozenset({403, 429})
RETRIED = RATE_LIMITED | frozenset(range(500, 600))
BACKOFF_FACTOR = 0.25  # seconds: waits of 0, 0.5, 1 between attempts when the host names no wait


class _Retry(Retry):
    """urllib3's Retry, waiting as GitHub asks: `Retry-After` when given, else until
    `x-ratelimit-reset` when `x-ratelimit-remaining` is 0 (PyGithub's GithubRetry reads neither on a
    429). A 403 or 429 that names no wait is not retried: a 403 is then a refusal, and a secondary
    limit without a hint wants a minute or more. Nor is any wait past MAX_WAIT_SECONDS made; in both
    cases the answer itself is returned, so PyGithub raises it with the host's message."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Self:
        if response is not None and response.status in RETRIED and not self._worth_waiting(response):
            # urllib3 hands the answer back instead of raising this, since raise_on_status is off
            raise MaxRetryError(_pool, url or "", ResponseError(f"{response.status} is not waited for"))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = self._requested_wait(response) if response is not None else None
        seconds = self.get_backoff_time() if wait is None else wait
        if seconds > 0:
            time.sleep(seconds)

    def _worth_waiting(self, response: BaseHTTPResponse) -> bool:
        wait = self._requested_wait(response)
        if wait is None:
            return response.status not in RATE_LIMITED
        return wait <= MAX_WAIT_SECONDS

    def _requested_wait(self, response: BaseHTTPResponse) -> float | None:
        """Seconds the host asked to wait before the next request, or None when it named none."""
        headers = response.headers
        retry_after = headers.get("Retry-After")
        if retry_after:
            try:
                return self.parse_retry_after(retry_after)
            except InvalidHeader:
                return None
        reset = headers.get("x-ratelimit-reset", "")
        if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
            return max(0.0, int(reset) - time.time()) + 1  # the reset comes at some point of its second
        return None


def _retry() -> _Retry:
    return _Retry(
        total=ATTEMPTS - 1,
        status_forcelist=RETRIED,
        allowed_methods=None,  # 429s and 5xx of writes too: base.py's contract is per call
        backoff_factor=BACKOFF_FACTOR,
        backoff_max=MAX_WAIT_SECONDS,
        raise_on_status=False,
    )


def _message(error: GithubException) -> str:
    """The host's `message`, with the validation errors' own messages (422s) after it."""
    data = error.data
    if not isinstance(data, dict):
        return error.message or f"HTTP {error.status}"
    message = str(data.get("message") or error.message or f"HTTP {error.status}")
    details = [
        str(item.get("message") or item.get("code"))
        for item in data.get("errors") or []
        if isinstance(item, dict) and (item.get("message") or item.get("code"))
    ]
    return f"{message}: {'; '.join(details)}" if details else message


def _rate_limited(error: GithubException) -> bool:
    headers = {name.lower(): value for name, value in (error.headers or {}).items()}
    return (
        isinstance(error, RateLimitExceededException)
        or "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
    )


def _hook(hook: GitHubHook) -> Hook:
    return Hook(id=str(hook.id), url=str(hook.config.get("url", "")))


def _hook_config(url: str, secret: str) -> dict[str, str]:
    # JSON bodies signed with the secret: what Kiln's receiver verifies (X-Hub-Signature-256)
    return {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}


def _description(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


class GitHubClient(LibraryClient):
    """One repository on GitHub (`base_url` https://api.github.com) or GitHub Enterprise Server
    (https://host/api/v3), with a token of a user who administers it."""

    NO_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError)
    FAILED = (requests.RequestException,)

    def __init__(self, base_url: str, repository_path: str, token: str) -> None:
        super().__init__(base_url, repository_path, token)
        # lazy: an object named by its URL (repository, hook, commit) is not fetched before it is
        # used, so each call below is one request (per page) and not a GET first. PyGithub's
        # default spacing of one client's requests (0.25 s; 1 s after a write) is kept: it is what
        # GitHub asks of clients to stay clear of its secondary rate limits.
        self._github = Github(
            base_url=base_url,
            auth=Auth.Token(token),
            timeout=int(TIMEOUT_SECONDS),  # PyGithub insists on an int
            retry=_retry(),
            per_page=PER_PAGE,
            lazy=True,
        )

    def check_access(self) -> None:
        with self._translated():
            permissions = self._repository().permissions
        if permissions is None or not permissions.admin:
            raise Unauthorized(
                f"the token may not manage the webhooks of {self._path}: that needs the admin role on it",
                403,
            )

    def hooks(self) -> list[Hook]:
        with self._translated():
            return [_hook(hook) for hook in self._repository().get_hooks()]

    def create_hook(self, url: str, secret: str) -> Hook:
        with self._translated():
            created = self._repository().create_hook(
                HOOK_NAME, _hook_config(url, secret), events=HOOK_EVENTS, active=True
            )
        return _hook(created)

    def update_hook(self, hook_id: str, url: str, secret: str) -> Hook:
        hook = self._repository().get_hook(self._hook_number(hook_id))
        with self._translated():
            hook.edit(HOOK_NAME, _hook_config(url, secret), events=HOOK_EVENTS, active=True)
        return _hook(hook)

    def delete_hook(self, hook_id: str) -> None:
        try:
            hook = self._repository().get_hook(self._hook_number(hook_id))
            with self._translated():
                hook.delete()
        except NotFound:
            return

    def set_commit_status(self, status: CommitStatus) -> None:
        commit = self._repository().get_commit(status.commit)
        with self._translated():
            commit.create_status(
                STATES[status.state],
                target_url=status.url or NotSet,
                description=_description(status.description),
                context=status.key,
            )

    def refs(self) -> dict[str, str]:
        repository = self._repository()
        with self._translated():
            refs = {f"refs/heads/{branch.name}": branch.commit.sha for branch in repository.get_branches()}
            # the tags list names each tag's commit, an annotated tag's too (the git refs API gives
            # the tag object and would need one more request per annotated tag)
            refs.update({f"refs/tags/{tag.name}": tag.commit.sha for tag in repository.get_tags()})
        return refs

    def _repository(self) -> Repository:
        # a fresh lazy object per call: a completed one would keep stale attributes (permissions)
        return self._github.get_repo(self._path)

    def _hook_number(self, hook_id: str) -> int:
        if not hook_id.isdigit():  # GitHub's hook ids are numbers: no such hook can exist
            raise NotFound(f"no webhook {hook_id!r} on {self._path}", 404)
        return int(hook_id)

    def _library_error(self, error: Exception) -> CodeHostError | None:
        if isinstance(error, GithubException):
            message = self._redact(_message(error))
            return error_for(message, error.status, rate_limited=_rate_limited(error))
        return super()._library_error(error)
