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

from kiln.codehosts.base import CommitState, CommitStatus, Hook, Unauthorized
from kiln.codehosts.http import JsonHttp, segment
from kiln.rules.refs import full_ref
from kiln.rules.types import RefType

PUSH_EVENT = "repo:refs_changed"
NAME = "kiln"
_STATES = {
    CommitState.QUEUED: "INPROGRESS",
    CommitState.RUNNING: "INPROGRESS",
    CommitState.SUCCEEDED: "SUCCESSFUL",
    CommitState.FAILED: "FAILED",
    CommitState.CANCELLED: "FAILED",
}


def message_of(body: Any) -> str | None:
    """Bitbucket Server's error body: {"errors": [{"context": ..., "message": "...", "exceptionName": ...}]}."""
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    return first.get("message") if isinstance(first, dict) else None


class BitbucketServerClient:
    """The CodeHost of one Bitbucket Server repository (`PROJECT/slug`)."""

    def __init__(self, base_url: str, repository_path: str, token: str) -> None:
        project, slug = repository_path.split("/", 1)
        self.repository = repository_path
        self._repo = f"/api/1.0/projects/{segment(project)}/repos/{segment(slug)}"
        self._http = JsonHttp(
            base_url, headers={"Authorization": f"Bearer {token}"}, secrets=[token], message_of=message_of
        )

    def check_access(self) -> None:
        """The repository must be visible, and its webhooks listable: that takes REPO_ADMIN, the
        permission every webhook call needs (the server answers 401 without it)."""
        self._http.get(self._repo)
        try:
            self._http.get(f"{self._repo}/webhooks", {"limit": 1})
        except Unauthorized as refused:
            message = f"the token may not administer webhooks of {self.repository} (needs REPO_ADMIN): {refused.message}"
            raise Unauthorized(message, refused.status) from None

    def hooks(self) -> list[Hook]:
        return [_hook(h) for h in self._http.start_pages(f"{self._repo}/webhooks")]

    def create_hook(self, url: str, secret: str) -> Hook:
        return _hook(self._http.post(f"{self._repo}/webhooks", _hook_body(url, secret)))

    def update_hook(self, hook_id: str, url: str, secret: str) -> Hook:
        return _hook(self._http.put(f"{self._repo}/webhooks/{segment(hook_id)}", _hook_body(url, secret)))

    def delete_hook(self, hook_id: str) -> None:
        self._http.delete(f"{self._repo}/webhooks/{segment(hook_id)}", missing_ok=True)

    def set_commit_status(self, status: CommitStatus) -> None:
        """A build result keyed by `key` (posting the same key again replaces it)."""
        body = {
            "state": _STATES[status.state],
            "key": status.key,
            "name": status.key,
            "url": status.url or self.web_url,
            "description": status.description,
        }
        self._http.post(f"/build-status/1.0/commits/{segment(status.commit)}", body)

    def refs(self) -> dict[str, str]:
        """Branches and tags by full ref id; a tag's `latestCommit` is the commit (its `hash` is
        the tag object of an annotated tag)."""
        found: dict[str, str] = {}
        for kind, what in ((RefType.BRANCH, "branches"), (RefType.TAG, "tags")):
            for ref in self._http.start_pages(f"{self._repo}/{what}"):
                name = ref.get("id") or full_ref(kind, ref["displayId"])
                found[name] = ref["latestCommit"]
        return found

    @cached_property
    def web_url(self) -> str:
        """The repository's web page, the link of a build status whose build has no log URL."""
        return str(self._repository["links"]["self"][0]["href"])

    @cached_property
    def _repository(self) -> Any:
        return self._http.get(self._repo)


def _hook_body(url: str, secret: str) -> dict[str, Any]:
    return {
        "name": NAME,
        "url": url,
        "active": True,
        "events": [PUSH_EVENT],
        "configuration": {"secret": secret},
    }


def _hook(body: Any) -> Hook:
    return Hook(str(body["id"]), str(body["url"]))
