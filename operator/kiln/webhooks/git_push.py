"""A git push as GitHub delivers it: the push webhook a code host would send, made from what a git
server's post-receive hook knows (`kiln webhook post-receive`, used by `make demo`). Pure.

The fields are GitHub's documented push payload
(https://docs.github.com/en/webhooks/webhook-events-and-payloads#push), the ones a receiver reads
and the ones it echoes; the receiver's own GitHub parser reads them back in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kiln.rules.refs import REF_PREFIXES
from kiln.rules.types import RefType

ZERO_SHA = "0" * 40


@dataclass(frozen=True, slots=True)
class PushedCommit:
    """One commit the push brings, as `git show` tells it."""

    id: str
    message: str
    timestamp: datetime  # the committer date, timezone-aware
    author_name: str
    author_email: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GitPush:
    """One ref update: `before`/`after` as git gives them (all zeros for a created or deleted ref);
    `commits` oldest first, the head last; for an annotated tag `after` is the tag object and
    `head` the commit it names."""

    ref: str
    before: str
    after: str
    repository: str  # owner/name
    clone_url: str
    pusher: str
    pushed_at: datetime
    commits: tuple[PushedCommit, ...] = ()
    head: PushedCommit | None = None

    @property
    def created(self) -> bool:
        return self.before == ZERO_SHA

    @property
    def deleted(self) -> bool:
        return self.after == ZERO_SHA


def _commit(commit: PushedCommit, repository_url: str) -> dict[str, Any]:
    person = {"name": commit.author_name, "email": commit.author_email}
    return {
        "id": commit.id,
        "distinct": True,
        "message": commit.message,
        "timestamp": commit.timestamp.isoformat(),
        "url": f"{repository_url}/commit/{commit.id}",
        "author": person,
        "committer": person,
        "added": list(commit.added),
        "removed": list(commit.removed),
        "modified": list(commit.modified),
    }


def github_push_payload(push: GitPush) -> dict[str, Any]:
    """GitHub's `push` event for `push` (a tag push lists no commits, as GitHub's does)."""
    owner, _, name = push.repository.rpartition("/")
    html_url = push.clone_url.removesuffix(".git")
    is_tag = push.ref.startswith(REF_PREFIXES[RefType.TAG])
    commits: Sequence[PushedCommit] = () if is_tag or push.deleted else push.commits
    head = None if push.deleted else (push.head or (push.commits[-1] if push.commits else None))
    return {
        "ref": push.ref,
        "before": push.before,
        "after": push.after,
        "created": push.created,
        "deleted": push.deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"{html_url}/compare/{push.before[:12]}...{push.after[:12]}",
        "commits": [_commit(c, html_url) for c in commits],
        "head_commit": _commit(head, html_url) if head is not None else None,
        "repository": {
            "name": name,
            "full_name": push.repository,
            "owner": {"name": owner, "login": owner},
            "html_url": html_url,
            "clone_url": push.clone_url,
            "pushed_at": int(push.pushed_at.astimezone(UTC).timestamp()),
        },
        "pusher": {"name": push.pusher},
        "sender": {"login": push.pusher},
    }
