"""Turning one provider-reported ref update into a `PushEvent` or an `Ignored`.

Every provider funnels through `ref_update_outcome`, so deletions, non-branch/tag refs, `[skip ci]`
and timestamp handling behave the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kiln.api.constants import Provider
from kiln.rules.refs import split_ref
from kiln.webhooks.events import Author, Ignored, ParsedDelivery, PushEvent, RefOutcome
from kiln.webhooks.payloads import GitCommit

_ZERO_SHA = re.compile(r"^0+$")
_SKIP_CI = re.compile(r"\[(skip ci|ci skip)\]", re.IGNORECASE)


def is_null_sha(sha: str | None) -> bool:
    """Providers report the missing side of a created or deleted ref as all zeros (or not at all)."""
    return sha is None or bool(_ZERO_SHA.match(sha))


def aware(moment: datetime) -> datetime:
    """Treat a timestamp without offset as UTC: pushed_at must always be comparable."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def changed_files(commits: Iterable[GitCommit], *, complete: bool) -> tuple[str, ...] | None:
    """Sorted union of added, modified and removed paths; None when the payload's list is cut short,
    since a partial list could make a path filter skip a build that should happen."""
    if not complete:
        return None
    files: set[str] = set()
    for commit in commits:
        files |= commit.files
    return tuple(sorted(files))


@dataclass(frozen=True, slots=True)
class HeadCommit:
    message: str | None
    author: Author | None
    timestamp: datetime | None


def head_commit(commit: GitCommit | None) -> HeadCommit | None:
    """The head commit of a GitHub/GitLab/Gitee-style commit list entry."""
    if commit is None:
        return None
    author = Author(commit.author.name, commit.author.email) if commit.author else None
    return HeadCommit(message=commit.message, author=author, timestamp=commit.timestamp)


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """One ref update as the provider reported it."""

    provider: Provider
    delivery_id: str | None
    repository: str
    clone_url: str
    ref: str
    before: str | None
    after: str
    created: bool
    deleted: bool
    sender: str | None
    head: HeadCommit | None = None
    changed_files: tuple[str, ...] | None = None
    pushed_at: datetime | None = None  # when the provider says the push happened, if it does


def unhandled_event(provider: Provider, delivery_id: str | None, event: str) -> ParsedDelivery:
    # The name comes from the sender: cap it so a reason stays a short line.
    return ParsedDelivery.single(Ignored(provider, delivery_id, f"event {event[:80]!r} is not handled"))


def multi_ref_delivery(
    provider: Provider, delivery_id: str | None, outcomes: Sequence[RefOutcome]
) -> ParsedDelivery:
    """A Bitbucket delivery: one outcome per reported change (an Ignored when it reports none)."""
    if not outcomes:
        outcomes = [Ignored(provider, delivery_id, "push without ref changes")]
    return ParsedDelivery(provider, delivery_id, tuple(outcomes))


def ref_update_outcome(update: RefUpdate, now: datetime) -> PushEvent | Ignored:
    def ignored(reason: str) -> Ignored:
        return Ignored(update.provider, update.delivery_id, reason, ref=update.ref)

    split = split_ref(update.ref)
    if split is None:
        return ignored("ref is neither a branch nor a tag")
    if update.deleted or is_null_sha(update.after):
        return ignored("ref deleted")
    message = update.head.message if update.head else None
    skip = _SKIP_CI.search(message or "")
    if skip:
        return ignored(f"{skip.group(0).lower()} in the head commit message")
    head_time = update.head.timestamp if update.head else None
    # The push time is what rules mean by "pushed at"; the head commit's time is the next best thing
    # (a tag can point at an old commit); failing both, the delivery's arrival.
    pushed_at = update.pushed_at or head_time or now
    created = update.created or is_null_sha(update.before)
    return PushEvent(
        provider=update.provider,
        delivery_id=update.delivery_id,
        clone_url=update.clone_url,
        repository=update.repository,
        ref=update.ref,
        ref_type=split[0],
        commit=update.after,
        before=None if is_null_sha(update.before) else update.before,
        pushed_at=aware(pushed_at),
        message=message,
        author=update.head.author if update.head else None,
        changed_files=update.changed_files,
        created=created,
        deleted=False,
        sender=update.sender,
    )
