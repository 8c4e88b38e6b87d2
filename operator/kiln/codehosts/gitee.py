"""Gitee (API v5, https://gitee.com/api/v5/swagger) on plain HTTPS.

The token goes as the `access_token` query parameter, the way every v5 operation documents it.
Hooks are registered in signature mode (`encryption_type` 1, the secret as `password`): Gitee then
sends `X-Gitee-Token` = an HMAC signature of the delivery's timestamp, which Kiln's receiver checks
for Repositories in the default `giteeMode: signature`.

Gitee v5 has no GitHub-style commit *status* endpoint; it has check runs bound to a commit
(`POST /repos/{owner}/{repo}/check-runs` with `head_sha`), which is what a build is reported as:
one check run per report, named by the status key (Gitee lists the latest run of each name).
"""

from __future__ import annotations

from typing import Any

from kiln.codehosts.base import CommitState, CommitStatus, Hook, Unauthorized
from kiln.codehosts.http import JsonHttp, segment
from kiln.rules.refs import full_ref
from kiln.rules.types import RefType

# CommitState -> a check run's (status, conclusion)
_CHECK_RUN: dict[CommitState, tuple[str, str | None]] = {
    CommitState.QUEUED: ("queued", None),
    CommitState.RUNNING: ("in_progress", None),
    CommitState.SUCCEEDED: ("completed", "success"),
    CommitState.FAILED: ("completed", "failure"),
    CommitState.CANCELLED: ("completed", "cancelled"),
}
# encryption_type: 0 sends the password as is, 1 signs with it as the key
SIGNATURE_MODE = 1


def message_of(body: Any) -> str | None:
    """Gitee's error body: {"message": "..."}."""
    return body.get("message") if isinstance(body, dict) else None


class GiteeClient:
    """The CodeHost of one Gitee repository (`owner/repo`)."""

    def __init__(self, base_url: str, repository_path: str, token: str) -> None:
        owner, name = repository_path.split("/", 1)
        self.repository = repository_path
        self._repo = f"/repos/{segment(owner)}/{segment(name)}"
        self._http = JsonHttp(
            base_url, params={"access_token": token}, secrets=[token], message_of=message_of
        )

    def check_access(self) -> None:
        """The repository must be visible and the token's user one of its admins (`permission.admin`),
        whom Gitee lets manage WebHooks."""
        repository = self._http.get(self._repo)
        if not (repository.get("permission") or {}).get("admin"):
            raise Unauthorized(
                f"the token has no admin permission on Gitee repository {self.repository}", 403
            )

    def hooks(self) -> list[Hook]:
        return [_hook(h) for h in self._http.numbered_pages(f"{self._repo}/hooks")]

    def create_hook(self, url: str, secret: str) -> Hook:
        return _hook(self._http.post(f"{self._repo}/hooks", _hook_body(url, secret)))

    def update_hook(self, hook_id: str, url: str, secret: str) -> Hook:
        return _hook(self._http.patch(f"{self._repo}/hooks/{segment(hook_id)}", _hook_body(url, secret)))

    def delete_hook(self, hook_id: str) -> None:
        self._http.delete(f"{self._repo}/hooks/{segment(hook_id)}", missing_ok=True)

    def set_commit_status(self, status: CommitStatus) -> None:
        """A check run on the commit: `name` tells builds apart, `details_url` links the log."""
        state, conclusion = _CHECK_RUN[status.state]
        body: dict[str, Any] = {
            "name": status.key,
            "head_sha": status.commit,
            "status": state,
            "output": {"title": status.key, "summary": status.description},
        }
        if conclusion is not None:
            body["conclusion"] = conclusion
        if status.url is not None:
            body["details_url"] = status.url
        self._http.post(f"{self._repo}/check-runs", body)

    def refs(self) -> dict[str, str]:
        """Branches and tags; a tag's `commit.sha` is the commit it names, annotated or not."""
        found = {full_ref(RefType.BRANCH, b["name"]): b["commit"]["sha"] for b in self._list("branches")}
        found.update({full_ref(RefType.TAG, t["name"]): t["commit"]["sha"] for t in self._list("tags")})
        return found

    def _list(self, what: str) -> list[Any]:
        return list(self._http.numbered_pages(f"{self._repo}/{what}"))


def _hook_body(url: str, secret: str) -> dict[str, Any]:
    """Push and tag-push events only, verified by signature."""
    return {
        "url": url,
        "encryption_type": SIGNATURE_MODE,
        "password": secret,
        "push_events": True,
        "tag_push_events": True,
        "issues_events": False,
        "note_events": False,
        "merge_requests_events": False,
    }


def _hook(body: Any) -> Hook:
    return Hook(str(body["id"]), str(body["url"]))
