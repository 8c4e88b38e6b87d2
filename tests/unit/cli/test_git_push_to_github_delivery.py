"""`kiln webhook post-receive`: real git pushes -> GitHub push payloads that the receiver's own
GitHub parser reads back with the right ref, commit and changed files."""

from __future__ import annotations

import io
import json
import subprocess
from argparse import Namespace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiln.cli.post_receive import ref_push, run
from kiln.webhooks import SharedSecret, sign
from kiln.webhooks.dispatch import dispatch
from kiln.webhooks.events import PushEvent
from kiln.webhooks.git_push import ZERO_SHA, github_push_payload

REPOSITORY, CLONE_URL = "demo/app", "https://git.example.com/demo/app.git"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev",
           "GIT_COMMITTER_EMAIL": "dev@example.com", "PATH": "/usr/bin:/bin", "HOME": str(repo)}  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("hello\n")
    git(tmp_path, "add", "README.md")
    git(tmp_path, "commit", "-q", "-m", "initial")
    monkeypatch.chdir(tmp_path)  # the hook runs in the repository
    return tmp_path


def delivered(old: str, new: str, ref: str) -> PushEvent:
    body = github_push_payload(ref_push(old, new, ref, REPOSITORY, CLONE_URL, NOW))
    raw = json.dumps(body).encode()
    parsed = dispatch("github", sign("github", raw, SharedSecret("s")), raw, SharedSecret("s"), NOW)
    (event,) = parsed.events
    return event


def test_branch_push_to_its_ref_head_commit_and_changed_files(repo: Path) -> None:
    old = git(repo, "rev-parse", "HEAD")
    (repo / "Dockerfile").write_text("FROM scratch\n")
    (repo / "README.md").write_text("hello again\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Add the Dockerfile")
    (repo / "README.md").unlink()
    git(repo, "commit", "-qam", "Drop the README")
    new = git(repo, "rev-parse", "HEAD")
    event = delivered(old, new, "refs/heads/main")
    assert (event.ref, event.commit, event.repository, event.clone_url) == (
        "refs/heads/main",
        new,
        REPOSITORY,
        CLONE_URL,
    )
    assert event.changed_files is not None and sorted(event.changed_files) == ["Dockerfile", "README.md"]
    assert event.message == "Drop the README" and event.author is not None and event.author.name == "Dev"


def test_new_branch_to_unknown_changed_files(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    event = delivered(ZERO_SHA, head, "refs/heads/release-v1")
    assert (event.ref, event.commit, event.created, event.changed_files) == (
        "refs/heads/release-v1",
        head,
        True,
        None,
    )


def test_annotated_tag_to_the_commit_it_names(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "v1", "-m", "Release 1")
    tag_object = git(repo, "rev-parse", "v1")
    assert tag_object != head
    event = delivered(ZERO_SHA, tag_object, "refs/tags/v1")
    assert (event.ref, event.commit) == ("refs/tags/v1", head)


def test_deleted_branch_to_nothing_to_build(repo: Path) -> None:
    body = github_push_payload(
        ref_push(git(repo, "rev-parse", "HEAD"), ZERO_SHA, "refs/heads/x", REPOSITORY, CLONE_URL, NOW)
    )
    raw = json.dumps(body).encode()
    parsed = dispatch("github", sign("github", raw, SharedSecret("s")), raw, SharedSecret("s"), NOW)
    assert parsed.events == () and [i.ref for i in parsed.ignored] == ["refs/heads/x"]


def test_unreachable_url_is_reported_and_fails_the_hook(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    head = git(repo, "rev-parse", "HEAD")
    out = io.StringIO()
    args = Namespace(url="http://127.0.0.1:9/hooks/github/demo/app", secret_file=str(secret),
                     repository=REPOSITORY, clone_url=CLONE_URL)  # fmt: skip
    assert run(args, io.StringIO(f"{ZERO_SHA} {head} refs/heads/main\n"), out) == 1
    assert (
        "kiln: refs/heads/main: not delivered to http://127.0.0.1:9/hooks/github/demo/app" in out.getvalue()
    )


def test_unreadable_secret_file_to_an_error_naming_it(repo: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    args = Namespace(url="http://127.0.0.1:9/", secret_file=str(tmp_path / "missing"), repository=REPOSITORY,
                     clone_url=CLONE_URL)  # fmt: skip
    assert run(args, io.StringIO(""), out) == 2
    assert "cannot read the webhook secret from" in out.getvalue()
