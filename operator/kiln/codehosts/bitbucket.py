"""Bitbucket Cloud (REST 2.0, https://developer.atlassian.com/cloud/bitbucket/rest/) on plain HTTPS.

The token is sent as `Authorization: Bearer` (an access token or OAuth token). Hooks subscribe to
`repo:push` (branch and tag pushes) with a secret: Bitbucket then signs each delivery
`X-Hub-Signature: sha256=<HMAC>`, which Kiln's receiver checks. Build statuses need a `url`: a
build without a log URL links to the repository's web page (`links.html.href`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kiln.codehosts.base import CommitState, CommitStatus, Hook, Unauthorized
from kiln.codehosts.http import JsonHttp, segment
from kiln.rules.refs import full_ref
from kiln.rules.types import RefType

PUSH_EVENT = "repo:push"
DESCRIPTION = "kiln"
_STATES = {
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


class BitbucketClient:
    """The CodeHost of one Bitbucket Cloud repository (`workspace/slug`)."""

    def __init__(self, base_url: str, repository_path: str, token: str) -> None:
        workspace, slug = repository_path.split("/", 1)
        self.repository = repository_path
        self._repo = f"/repositories/{segment(workspace)}/{segment(slug)}"
        self._http = JsonHttp(
            base_url, headers={"Authorization": f"Bearer {token}"}, secrets=[token], message_of=message_of
        )

    def check_access(self) -> None:
        """The repository must be visible and the caller's effective permission on it `admin`
        (webhooks need it), as `GET /user/permissions/repositories` reports it."""
        full_name = self._repository.get("full_name") or self.repository
        query = {"q": f'repository.full_name="{full_name}"'}
        granted = {
            p.get("permission") for p in self._http.next_pages("/user/permissions/repositories", query)
        }
        if "admin" not in granted:
            raise Unauthorized(f"the token has no admin permission on Bitbucket repository {full_name}", 403)

    def hooks(self) -> list[Hook]:
        return [_hook(h) for h in self._http.next_pages(f"{self._repo}/hooks")]

    def create_hook(self, url: str, secret: str) -> Hook:
        return _hook(self._http.post(f"{self._repo}/hooks", _hook_body(url, secret)))

    def update_hook(self, hook_id: str, url: str, secret: str) -> Hook:
        return _hook(self._http.put(f"{self._repo}/hooks/{segment(hook_id)}", _hook_body(url, secret)))

    def delete_hook(self, hook_id: str) -> None:
        self._http.delete(f"{self._repo}/hooks/{segment(hook_id)}", missing_ok=True)

    def set_commit_status(self, status: CommitStatus) -> None:
        """A build status keyed by `key` (posting the same key again overwrites it)."""
        body = {
            "key": status.key,
            "state": _STATES[status.state],
            "name": status.key,
            "url": status.url or self.web_url,
            "description": status.description,
        }
        self._http.post(f"{self._repo}/commit/{segment(status.commit)}/statuses/build", body)

    def refs(self) -> dict[str, str]:
        """Branches and tags; a tag's `target` is the commit, annotated or not."""
        found: dict[str, str] = {}
        for kind, what in ((RefType.BRANCH, "branches"), (RefType.TAG, "tags")):
            for ref in self._http.next_pages(f"{self._repo}/refs/{what}"):
                found[full_ref(kind, ref["name"])] = ref["target"]["hash"]
        return found

    @cached_property
    def web_url(self) -> str:
        """The repository's web page, the link of a build status whose build has no log URL."""
        return str(self._repository["links"]["html"]["href"])

    @cached_property
    def _repository(self) -> Any:
        return self._http.get(self._repo)


def _hook_body(url: str, secret: str) -> dict[str, Any]:
    return {"description": DESCRIPTION, "url": url, "active": True, "secret": secret, "events": [PUSH_EVENT]}


def _hook(body: Any) -> Hook:
    return Hook(str(body["uuid"]), str(body["url"]))
