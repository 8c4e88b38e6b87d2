"""Turning one provider-reported ref update into a `PushEvent` or an `Ignored`.

Every provider funnels through `ref_update_outcome`, so deletions, non-branch/tag refs, refs and
commits a BuildRun cannot hold, `[skip ci]`, changed files and timestamp handling behave the same
everywhere; and every delivery through `settle_refs`, which merges a ref listed twice and cuts a
delivery down to the refs one delivery may build. `kiln webhook inspect` parses with the same
functions, so what it shows is what the receiver decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from kiln.api.buildrun import COMMIT_PATTERN
from kiln.api.constants import Provider
from kiln.rules.refs import ref_name_problem, split_ref
from kiln.rules.types import RefType
from kiln.webhooks.events import (
    DEFAULT_MAX_REFS,
    Author,
    Ignored,
    ParsedDelivery,
    PushEvent,
    RefOutcome,
)
from kiln.webhooks.payloads import ChangedPaths, GitCommit, usable_time

_ZERO_SHA = re.compile(r"^0+$")
_SKIP_CI = re.compile(r"\[(skip ci|ci skip)\]", re.IGNORECASE)
_COMMIT = re.compile(COMMIT_PATTERN)
# A BuildRun's spec.source.ref holds at most this many characters (kiln.api.buildrun.PushedSource).
MAX_REF_LENGTH = 1024


def is_null_sha(sha: str | None) -> bool:
    """Providers report the missing side of a created or deleted ref as all zeros (or not at all)."""
    return sha is None or bool(_ZERO_SHA.match(sha))


def changed_files(commits: Iterable[ChangedPaths], *, complete: bool) -> tuple[str, ...] | None:
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
    clone_url: str | None
    ref: str
    before: str | None
    after: str
    created: bool
    deleted: bool
    sender: str | None
    head: HeadCommit | None = None
    changed_files: tuple[str, ...] | None = None
    pushed_at: datetime | None = None  # when the provider says the push happened, if it does
    # The commit the ref now names, when the provider reports it apart from `after`: an annotated
    # tag's `after` is the tag object (GitHub `head_commit.id`, GitLab `checkout_sha`).
    commit: str | None = None


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


def ref_problem(ref: str) -> str | None:
    """Why a branch or tag ref cannot become a BuildRun (git's ref-name rules, Kiln's length), or None."""
    return _ref_problem(ref, split_ref(ref))


def _ref_problem(ref: str, split: tuple[RefType, str] | None) -> str | None:
    if len(ref) > MAX_REF_LENGTH:
        return f"the ref is {len(ref)} characters long; a BuildRun holds refs of at most {MAX_REF_LENGTH}"
    problem = ref_name_problem(split[1]) if split else "it is neither a branch nor a tag"
    return f"not a valid git ref name: {problem}" if problem else None


def commit_problem(commit: str) -> str | None:
    """Why a (lower-case hex) object id cannot be a BuildRun's commit, or None."""
    if _COMMIT.fullmatch(commit):
        return None
    if len(commit) == 64:
        return (
            f"commit {commit[:12]}... is a SHA-256 object id; a BuildRun records 40-hex SHA-1 commit "
            "ids, so Kiln does not build SHA-256 repositories yet"
        )
    return f"{commit[:64]!r} is not a 40-hex commit id"


def ref_update_outcome(update: RefUpdate, now: datetime) -> PushEvent | Ignored:
    def ignored(reason: str) -> Ignored:
        return Ignored(update.provider, update.delivery_id, reason, ref=update.ref)

    split = split_ref(update.ref)
    if split is None:
        return ignored("ref is neither a branch nor a tag")
    if update.deleted or is_null_sha(update.after):
        return ignored("ref deleted")
    commit = update.commit if update.commit and not is_null_sha(update.commit) else update.after
    problem = _ref_problem(update.ref, split) or commit_problem(commit)
    if problem is not None:
        return ignored(problem)
    message = update.head.message if update.head else None
    skip = _SKIP_CI.search(message or "")
    if skip:
        return ignored(f"{skip.group(0).lower()} in the head commit message")
    head_time = update.head.timestamp if update.head else None
    # The push time is what rules mean by "pushed at"; the head commit's time is the next best thing
    # (a tag can point at an old commit); failing both, the delivery's arrival. A time off the
    # calendar (payloads.on_the_calendar) counts as none.
    pushed_at = usable_time(update.pushed_at) or usable_time(head_time) or now
    created = update.created or is_null_sha(update.before)
    return PushEvent(
        provider=update.provider,
        delivery_id=update.delivery_id,
        clone_url=update.clone_url,
        repository=update.repository,
        ref=update.ref,
        ref_type=split[0],
        commit=commit,
        before=None if is_null_sha(update.before) else update.before,
        pushed_at=pushed_at,
        message=message,
        author=update.head.author if update.head else None,
        # A new ref's or a tag's "changes" are unknown: the payload lists the head commit's own diff
        # (or nothing), not what the ref brings. Unknown files never make a path filter skip.
        changed_files=None if created or split[0] is RefType.TAG else update.changed_files,
        created=created,
        deleted=False,
        sender=update.sender,
    )


def settle_refs(delivery: ParsedDelivery, max_refs: int = DEFAULT_MAX_REFS) -> ParsedDelivery:
    """The delivery with each ref built once and at most `max_refs` refs to build.

    An outcome listed again as it was is merged into the first. A ref to build listed again with
    another change is Ignored (only its first change is built: both would get one BuildRun name).
    PushEvents past the first `max_refs` are cut: their refs are in `cut`, in payload order.
    """
    if max_refs < 1:
        raise ValueError("max_refs must be at least 1")
    if len(delivery.outcomes) == 1:
        # one ref (GitHub, GitLab, Gitee): nothing to merge or cut, and hashing a PushEvent is not free
        return ParsedDelivery(delivery.provider, delivery.delivery_id, delivery.outcomes, (), max_refs)
    seen: set[RefOutcome] = set()
    building: dict[str, PushEvent] = {}
    outcomes: list[RefOutcome] = []
    cut: list[str] = []
    for outcome in delivery.outcomes:
        if outcome in seen:
            continue
        seen.add(outcome)
        if isinstance(outcome, PushEvent):
            if outcome.ref in building:
                reason = "listed again in the delivery with another change: only the first is built"
                outcome = Ignored(delivery.provider, delivery.delivery_id, reason, ref=outcome.ref)
            elif len(building) >= max_refs:
                cut.append(outcome.ref)
                continue
            else:
                building[outcome.ref] = outcome
        outcomes.append(outcome)
    return ParsedDelivery(delivery.provider, delivery.delivery_id, tuple(outcomes), tuple(cut), max_refs)
