"""`kiln webhook post-receive`: a git server's post-receive hook that delivers each pushed ref to a
webhook URL as a signed GitHub push, exactly as GitHub would (`make demo` installs it in its bare
repository). Git runs it in the bare repository with `<old> <new> <ref>` lines on stdin; what it
prints reaches the pusher as `remote:` lines. A failed delivery is reported, never fatal: the
push has happened by then.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # imported when run: `kiln --help` stays fast
    from kiln.webhooks.git_push import GitPush, PushedCommit

# GitHub lists at most this many commits of a push; more would only make the payload large.
MAX_COMMITS = 20
TIMEOUT_SECONDS = 15
_FIELD = "%x00"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def pushed_commit(sha: str) -> PushedCommit:
    """The commit `sha` (a commit, or a tag naming one) as GitHub lists it, with its changed files."""
    from kiln.webhooks.git_push import PushedCommit

    fields = _FIELD.join(["%H", "%an", "%ae", "%cI", "%B"])
    commit_id, name, email, date, message = _git(
        "show", "-s", f"--format={fields}", f"{sha}^{{commit}}"
    ).split("\0", 4)
    changes: dict[str, list[str]] = {"A": [], "D": [], "M": []}
    for line in _git("diff-tree", "--no-commit-id", "--name-status", "-r", "--root", commit_id).splitlines():
        status, _, path = line.partition("\t")
        changes.get(status[:1], changes["M"]).append(path.split("\t")[-1])  # renames: the new path
    return PushedCommit(
        id=commit_id,
        message=message.rstrip("\n"),
        timestamp=datetime.fromisoformat(date),
        author_name=name,
        author_email=email,
        added=tuple(changes["A"]),
        removed=tuple(changes["D"]),
        modified=tuple(changes["M"]),
    )


def ref_push(old: str, new: str, ref: str, repository: str, clone_url: str, now: datetime) -> GitPush:
    """What one `<old> <new> <ref>` line pushed: the commits old..new (the head alone for a new
    ref), oldest first."""
    from kiln.webhooks.git_push import ZERO_SHA, GitPush

    if new == ZERO_SHA:
        commits: tuple[PushedCommit, ...] = ()
    elif old == ZERO_SHA:
        commits = (pushed_commit(new),)
    else:
        ids = _git("rev-list", "--reverse", f"--max-count={MAX_COMMITS}", f"{old}..{new}").split()
        commits = tuple(pushed_commit(i) for i in ids)
    head = pushed_commit(new) if new != ZERO_SHA else None
    pusher = os.environ.get("GIT_PUSHER") or os.environ.get("USER") or "git"
    return GitPush(ref, old, new, repository, clone_url, pusher, now, commits, head)


def _updates(lines: Iterable[str]) -> list[tuple[str, str, str]]:
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    return updates


def _deliver(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {"reason": raw.decode(errors="replace")[:200]}
    return status, answer if isinstance(answer, dict) else {"reason": str(answer)}


def run(args: argparse.Namespace, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    from kiln.webhooks import SharedSecret, sign
    from kiln.webhooks.git_push import github_push_payload

    try:
        with open(args.secret_file, encoding="utf-8") as handle:
            secret = handle.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        print(f"kiln: error: cannot read the webhook secret from {args.secret_file}: {error}", file=out)
        return 2
    failed = False
    for old, new, ref in _updates(stdin):
        push = ref_push(old, new, ref, args.repository, args.clone_url, datetime.now(UTC))
        body = json.dumps(github_push_payload(push)).encode()
        try:
            status, answer = _deliver(args.url, body, sign("github", body, SharedSecret(secret)))
        except OSError as error:
            print(f"kiln: {ref}: not delivered to {args.url}: {error}", file=out)
            failed = True
            continue
        print(f"kiln: {ref}: {status} {answer.get('outcome', '')}: {answer.get('reason', '')}", file=out)
        for run_ in answer.get("buildRuns") or []:
            print(f"kiln:   BuildRun {run_.get('namespace')}/{run_.get('name')} {run_.get('tags')}", file=out)
        failed = failed or status >= 300
    return 1 if failed else 0


def add_parser(webhook_sub: Any) -> None:
    hook = webhook_sub.add_parser(
        "post-receive",
        help="a git post-receive hook: deliver each pushed ref to --url as a signed GitHub push",
    )
    hook.add_argument(
        "--url", required=True, help="the hook URL, e.g. http://127.0.0.1:18000/hooks/github/demo/app"
    )
    hook.add_argument("--secret-file", required=True, help="file holding the webhook secret")
    hook.add_argument(
        "--repository", required=True, help="the code repository's owner/name, as GitHub names it"
    )
    hook.add_argument(
        "--clone-url", required=True, help="its HTTPS clone URL (the Repository's spec.source.url)"
    )
    hook.set_defaults(handler=run)
