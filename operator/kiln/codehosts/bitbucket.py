"""Bitbucket Cloud (REST 2.0, https://developer.atlassian.com/cloud/bitbucket/rest/) on plain HTTPS.

The token is sent as `Authorization: Bearer` (an access token or OAuth token). Hooks subscribe to
`repo:push` (branch and tag pushes) with a secret: Bitbucket then signs each delivery
`X-Hub-Signature: sha256=<HMAC>`, which Kiln's receiver checks. Build statuses need a `url`: a
build without a log URL links to the repository's web page (`links.html.href`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

from kiln.codehosts.base import CommitState, CommitStatus, Unauthorized
from kiln.codehosts.http import JsonRepository, segment
from kiln.rules.refs import full_ref
from kiln.rules.types import RefType

PUSH_EVENT = "repo:push"
DESCRIPTION = "kiln"
# CommitState -> a build status's state
STATES = {
    CommitState.QUEUED: "INPROGRESS",
    CommitState.RUNNING: "INPROGRESS",
    CommitState.SUCCEEDED: "SUCCESSFUL",
    CommitState.FAILED: "FAILED",
    CommitState.CANCELLED: "STOPPED",
}


def message_of(body: Any) -> str | None:
    """Bitbucket Cloud's error body: {"type": "error", "error": {"message": "...", "detail": ...}}."""
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("message") if isinstance(error, dict) else None


def build_status(status: CommitStatus, state: str, url: str) -> dict[str, Any]:
    """A build status as Bitbucket Cloud and Bitbucket Server take it: keyed and named by the
    status's key, linking to `url`."""
    return {
        "key": status.key,
        "state": state,
        "name": status.key,
        "url": url,
        "description": status.description,
    }


class BitbucketClient(JsonRepository):
    """The CodeHost of one Bitbucket Cloud repository (`workspace/slug`); its hooks' ids are
    braced UUIDs (`{...}`)."""

    REPOSITORY = "/repositories/{}/{}"
    HOOK_ID = "uuid"
    REFS: ClassVar[Mapping[RefType, str]] = {RefType.BRANCH: "refs/branches", RefType.TAG: "refs/tags"}
    PAGINATION = "next"
    message_of = staticmethod(message_of)

    def check_access(self) -> None:
        """The repository must be visible and the caller's effective permission on it `admin`
        (webhooks need it), as `GET /user/permissions/repositories` reports it."""
        full_name = self._repository.get("full_name") or self.repository
        query = {"q": f'repository.full_name="{full_name}"'}
        granted = {p.get("permission") for p in self._pages("/user/permissions/repositories", query)}
        if "admin" not in granted:
            raise Unauthorized(f"the token has no admin permission on Bitbucket repository {full_name}", 403)

    def set_commit_status(self, status: CommitStatus) -> None:
        """A build status keyed by `key` (posting the same key again overwrites it)."""
        body = build_status(status, STATES[status.state], status.url or self.web_url)
        self._http.post(f"{self._repo}/commit/{segment(status.commit)}/statuses/build", body)

    @cached_property
    def web_url(self) -> str:
        """The repository's web page, the link of a build status whose build has no log URL."""
        return str(self._repository["links"]["html"]["href"])

    def _hook_body(self, url: str, secret: str) -> dict[str, Any]:
        return {
            "description": DESCRIPTION,
            "url": url,
            "active": True,
            "secret": secret,
            "events": [PUSH_EVENT],
        }

    def _ref(self, kind: RefType, item: Any) -> tuple[str, str]:
        """A tag's `target` is the commit, annotated or not."""
        return full_ref(kind, item["name"]), item["target"]["hash"]
