"""GitLab (gitlab.com and self-managed) through python-gitlab.

python-gitlab retries 429s and transient errors itself (`obey_rate_limit`, `retry_transient_errors`),
sleeping for whatever `Retry-After` or `RateLimit-Reset` says; `_refuse_long_waits` stops it before
a wait past MAX_WAIT_SECONDS, and `_Gitlab` bounds its attempts to ATTEMPTS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import gitlab
import requests
from gitlab.const import RETRYABLE_TRANSIENT_ERROR_CODES
from gitlab.exceptions import GitlabError
from gitlab.v4.objects import Project

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

PER_PAGE = 100  # the largest page GitLab serves
MAINTAINER = 40  # the access level that may manage a project's webhooks
STATES = {
    CommitState.QUEUED: "pending",
    CommitState.RUNNING: "running",
    CommitState.SUCCEEDED: "success",
    CommitState.FAILED: "failed",
    CommitState.CANCELLED: "canceled",
}
RETRIED = frozenset({429, *RETRYABLE_TRANSIENT_ERROR_CODES})  # what python-gitlab retries
# GitLab refuses to post a pending or running status again: 400 "Cannot transition status via :run
# from :running (Reason(s): ...)"; the status is already what was asked.
SAME_STATE = re.compile(r"Cannot transition status via :\w+ from :(?P<current>\w+)")


class _WaitTooLong(Exception):
    """A 429 or transient error whose requested wait is longer than Kiln waits."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        found = (body.get("message") or body.get("error")) if isinstance(body, dict) else None
        self.message = _text(found) if found else f"HTTP {response.status_code} {response.reason}"


def _requested_wait(headers: Mapping[str, str]) -> float | None:
    """The seconds python-gitlab will sleep for these headers (Retry-After first), or None for none."""
    retry_after = headers.get("Retry-After", "")
    if retry_after.isdigit():
        return float(retry_after)
    reset = headers.get("RateLimit-Reset", "")
    return max(0.0, int(reset) - time.time()) if reset.isdigit() else None


def _refuse_long_waits(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A requests response hook: raise rather than let python-gitlab sleep past MAX_WAIT_SECONDS."""
    wait = _requested_wait(response.headers) if response.status_code in RETRIED else None
    if wait is not None and wait > MAX_WAIT_SECONDS:
        raise _WaitTooLong(response)


class _Gitlab(gitlab.Gitlab):
    """python-gitlab whose retries stop at ATTEMPTS: its `max_retries` is an argument of each
    request (10 by default), which no constructor argument sets."""

    def http_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("max_retries", ATTEMPTS - 1)
        return super().http_request(*args, **kwargs)


def _text(message: Any) -> str:
    """GitLab's `message` or `error`: a string, or the fields' validation errors
    (`{"url": ["is blocked: ..."]}`)."""
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    if isinstance(message, dict):
        return "; ".join(
            f"{field} {', '.join(map(str, problems)) if isinstance(problems, list) else problems}"
            for field, problems in message.items()
        )
    if isinstance(message, list):
        return "; ".join(map(str, message))
    return str(message)


def _access_level(permissions: Any) -> int:
    """The highest of the project's and the group's access level; 0 when GitLab shows neither."""
    if not isinstance(permissions, dict):
        return 0
    levels = [
        access.get("access_level") or 0
        for access in (permissions.get("project_access"), permissions.get("group_access"))
        if isinstance(access, dict)
    ]
    return max(levels, default=0)


def _hook(attributes: Mapping[str, Any]) -> Hook:
    return Hook(id=str(attributes["id"]), url=str(attributes["url"]))


def _hook_data(url: str, secret: str) -> dict[str, Any]:
    # the token comes back in X-Gitlab-Token: what Kiln's receiver compares
    return {
        "url": url,
        "token": secret,
        "push_events": True,
        "tag_push_events": True,
        "enable_ssl_verification": True,
    }


class GitLabClient(LibraryClient):
    """One project on GitLab (`base_url` https://host; python-gitlab adds /api/v4), named by its full
    path, with a token of a Maintainer or Owner."""

    NO_ANSWER = (requests.ConnectionError, requests.Timeout)
    FAILED = (requests.RequestException,)

    def __init__(self, base_url: str, repository_path: str, token: str) -> None:
        super().__init__(base_url, repository_path, token)
        session = requests.Session()
        session.hooks["response"].append(_refuse_long_waits)
        self._gitlab = _Gitlab(
            url=base_url,
            private_token=token,
            timeout=TIMEOUT_SECONDS,
            retry_transient_errors=True,
            per_page=PER_PAGE,
            # follow pagination links at the address Kiln was given, not the server's external_url
            # (they differ behind a proxy)
            keep_base_url=True,
            session=session,
        )

    def check_access(self) -> None:
        with self._translated():
            project = self._gitlab.projects.get(self._path)
            if _access_level(project.permissions) >= MAINTAINER:
                return
            # GitLab may show no access at all where it is inherited from a parent group: ask for
            # the hooks themselves, which only a Maintainer may list (403 otherwise)
            try:
                project.hooks.list(page=1, per_page=1)
            except GitlabError as error:
                if error.response_code != 403:
                    raise
                raise Unauthorized(
                    f"the token may not manage the webhooks of {self._path}: that needs the Maintainer role",
                    403,
                ) from None

    def hooks(self) -> list[Hook]:
        with self._translated():
            return [_hook(hook.attributes) for hook in self._project().hooks.list(iterator=True)]

    def create_hook(self, url: str, secret: str) -> Hook:
        with self._translated():
            created = self._project().hooks.create(_hook_data(url, secret))
        return _hook(created.attributes)

    def update_hook(self, hook_id: str, url: str, secret: str) -> Hook:
        with self._translated():
            updated = self._project().hooks.update(hook_id, _hook_data(url, secret))
        return _hook(updated)

    def delete_hook(self, hook_id: str) -> None:
        try:
            with self._translated():
                self._project().hooks.delete(hook_id)
        except NotFound:
            return

    def set_commit_status(self, status: CommitStatus) -> None:
        state = STATES[status.state]
        data = {"state": state, "name": status.key, "description": status.description}
        if status.url:
            data["target_url"] = status.url
        try:
            with self._translated():
                self._project().commits.get(status.commit, lazy=True).statuses.create(data)
        except CodeHostError as error:
            same = SAME_STATE.search(error.message) if error.status == 400 else None
            if same is None or same["current"] != state:
                raise

    def refs(self) -> dict[str, str]:
        project = self._project()
        with self._translated():
            refs = {f"refs/heads/{b.name}": b.commit["id"] for b in project.branches.list(iterator=True)}
            # a tag's `commit` is the commit it names; `target` is an annotated tag's tag object
            refs.update({f"refs/tags/{t.name}": t.commit["id"] for t in project.tags.list(iterator=True)})
        return refs

    def _project(self) -> Project:
        # lazy: no GET of the project; its URL-encoded path names it in every request
        return self._gitlab.projects.get(self._path, lazy=True)

    def _library_error(self, error: Exception) -> CodeHostError | None:
        if isinstance(error, GitlabError):
            return error_for(self._redact(_text(error.error_message)), error.response_code)
        if isinstance(error, _WaitTooLong):
            return error_for(self._redact(error.message), error.status)
        return super()._library_error(error)
