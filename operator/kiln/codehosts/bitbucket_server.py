"""Bitbucket Server / Data Center (REST 1.0: `/rest/api/1.0`, `/rest/build-status/1.0`) on plain
HTTPS.

The token is an HTTP access token, sent as `Authorization: Bearer`. Hooks subscribe to
`repo:refs_changed` (branch and tag pushes) with `configuration.secret`: the server then signs each
delivery `X-Hub-Signature: sha256=<HMAC>`, which Kiln's receiver checks. Build statuses go to the
build-status 1.0 resource, whose states are INPROGRESS, SUCCESSFUL and FAILED only: a cancelled
build is reported FAILED (its description says cancelled). They need a `url`: a build without a
log URL links to the repository's web page (`links.self`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kiln.codehosts import bitbucket
from kiln.codehosts.base import CommitState, CommitStatus, Unauthorized
from kiln.codehosts.http import JsonRepository, segment
from kiln.rules.refs import full_ref
from kiln.rules.types import RefType

PUSH_EVENT = "repo:refs_changed"
NAME = "kiln"
# Bitbucket Cloud's build states but STOPPED, which build-status 1.0 lacks
STATES = {**bitbucket.STATES, CommitState.CANCELLED: "FAILED"}


def message_of(body: Any) -> str | None:
    """Bitbucket Server's error body: {"errors": [{"context": ..., "message": "...", "exceptionName": ...}]}."""
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    return first.get("message") if isinstance(first, dict) else None


class BitbucketServerClient(JsonRepository):
    """The CodeHost of one Bitbucket Server repository (`PROJECT/slug`)."""

    REPOSITORY = "/api/1.0/projects/{}/repos/{}"
    HOOKS = "webhooks"
    PAGINATION = "start"
    message_of = staticmethod(message_of)

    def check_access(self) -> None:
        """The repository must be visible, and its webhooks listable: that takes REPO_ADMIN, the
        permission every webhook call needs (the server answers 401 without it)."""
        self._http.get(self._repo)
        try:
            self._http.get(self._hooks, {"limit": 1})
        except Unauthorized as refused:
            message = f"the token may not administer webhooks of {self.repository} (needs REPO_ADMIN): {refused.message}"
            raise Unauthorized(message, refused.status) from None

    def set_commit_status(self, status: CommitStatus) -> None:
        """A build result keyed by `key` (posting the same key again replaces it)."""
        body = bitbucket.build_status(status, STATES[status.state], status.url or self.web_url)
        self._http.post(f"/build-status/1.0/commits/{segment(status.commit)}", body)

    @cached_property
    def web_url(self) -> str:
        """The repository's web page, the link of a build status whose build has no log URL."""
        return str(self._repository["links"]["self"][0]["href"])

    def _hook_body(self, url: str, secret: str) -> dict[str, Any]:
        return {
            "name": NAME,
            "url": url,
            "active": True,
            "events": [PUSH_EVENT],
            "configuration": {"secret": secret},
        }

    def _ref(self, kind: RefType, item: Any) -> tuple[str, str]:
        """By full ref id; a tag's `latestCommit` is the commit (its `hash` is the tag object of an
        annotated tag)."""
        return item.get("id") or full_ref(kind, item["displayId"]), item["latestCommit"]
