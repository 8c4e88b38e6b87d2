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

from kiln.codehosts.base import CommitState, CommitStatus, Unauthorized
from kiln.codehosts.http import JsonRepository
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


class GiteeClient(JsonRepository):
    """The CodeHost of one Gitee repository (`owner/repo`)."""

    REPOSITORY = "/repos/{}/{}"
    TOKEN_PARAMETER = "access_token"
    UPDATE = "PATCH"
    PAGINATION = "numbered"
    message_of = staticmethod(message_of)

    def check_access(self) -> None:
        """The repository must be visible and the token's user one of its admins (`permission.admin`),
        whom Gitee lets manage WebHooks."""
        repository = self._http.get(self._repo)
        if not (repository.get("permission") or {}).get("admin"):
            raise Unauthorized(
                f"the token has no admin permission on Gitee repository {self.repository}", 403
            )

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

    def _hook_body(self, url: str, secret: str) -> dict[str, Any]:
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

    def _ref(self, kind: RefType, item: Any) -> tuple[str, str]:
        """A tag's `commit.sha` is the commit it names, annotated or not."""
        return full_ref(kind, item["name"]), item["commit"]["sha"]
