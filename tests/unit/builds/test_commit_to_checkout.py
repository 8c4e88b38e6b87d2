"""Pushed commit -> checked-out source: the clone script run with git against a local repository.

`protocol.version=0` makes the local server behave as git daemon does: it refuses a commit by
id that no ref advertises, so the script has to fall back to fetching the ref.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kiln.builds.scripts import clone_script, credential_helper

GIT_V0 = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.version", "GIT_CONFIG_VALUE_0": "0"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "a",
    "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "a",
    "GIT_COMMITTER_EMAIL": "a@example.com",
}


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", **IDENTITY},
    )
    return out.stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, list[str]]:
    """A bare repository whose `main` has three commits (oldest first), the last one on top."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    commits = []
    for n in range(3):
        (work / "file").write_text(f"{n}\n")
        git(work, "add", "file")
        git(work, "commit", "-q", "-m", f"commit {n}")
        commits.append(git(work, "rev-parse", "HEAD"))
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare, commits


def clone(
    tmp_path: Path, url: str, ref: str, commit: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    dest = tmp_path / "dest"
    return subprocess.run(
        ["/bin/sh", "-c", clone_script(url, ref, commit, str(dest), None)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("env", [{}, GIT_V0], ids=["by-id", "through-the-ref"])
def test_checks_out_the_exact_commit(
    tmp_path: Path, origin: tuple[Path, list[str]], env: dict[str, str]
) -> None:
    bare, commits = origin
    old = commits[1]  # not the tip: only reachable from main
    result = clone(tmp_path, f"file://{bare}", "refs/heads/main", old, env)
    assert result.returncode == 0, result.stderr
    assert git(tmp_path / "dest", "rev-parse", "HEAD") == old
    assert (tmp_path / "dest" / "file").read_text() == "1\n"
    assert f"kiln: checked out {old} of refs/heads/main" in result.stdout
    assert ("fetching refs/heads/main" in result.stderr) == bool(env)


def test_commit_gone_from_the_ref_fails_clearly(tmp_path: Path, origin: tuple[Path, list[str]]) -> None:
    bare, _ = origin
    gone = "0123456789abcdef0123456789abcdef01234567"
    result = clone(tmp_path, f"file://{bare}", "refs/heads/main", gone, GIT_V0)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"kiln: commit {gone} is not in refs/heads/main of file://{bare} any more (force-pushed away or deleted)"
    )


def test_missing_ref_fails_clearly(tmp_path: Path, origin: tuple[Path, list[str]]) -> None:
    bare, commits = origin
    result = clone(tmp_path, f"file://{bare}", "refs/heads/nope", commits[0], GIT_V0)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"kiln: cannot fetch refs/heads/nope from file://{bare}"


def test_odd_values_stay_data(tmp_path: Path, origin: tuple[Path, list[str]]) -> None:
    bare, commits = origin
    evil = tmp_path / "evil"
    result = clone(tmp_path, f"file://{bare}", f"refs/heads/$(touch {evil})';x", commits[0], GIT_V0)
    assert result.returncode == 1
    assert not evil.exists()


def test_credential_helper_reads_the_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-t0ken\n")
    helper = credential_helper("x-access-token", str(token))
    assert "s3cr3t" not in helper
    assert helper.startswith("!")

    def ask(request: str, action: str = "get") -> str:
        # git runs a `!` helper as `sh -c '<helper> <action>'` with the request on stdin
        out = subprocess.run(
            ["/bin/sh", "-c", f"{helper[1:]} {action}"],
            input=request,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    assert ask("protocol=https\nhost=github.com\n\n") == "username=x-access-token\npassword=s3cr3t-t0ken\n"
    # a user name in the URL wins over the default one
    assert ask("protocol=https\nhost=h\nusername=me\n\n") == "password=s3cr3t-t0ken\n"
    assert ask("protocol=https\nhost=h\n\n", "store") == ""


def test_git_uses_the_credential_helper(tmp_path: Path) -> None:
    """git itself calls the helper the script passes with -c, and gets the token from the file."""
    token = tmp_path / "token"
    token.write_text("t0ken")
    helper = credential_helper("oauth2", str(token))
    out = subprocess.run(
        ["git", "-c", "credential.helper=", "-c", f"credential.helper={helper}", "credential", "fill"],
        input="protocol=https\nhost=gitlab.example.com\n\n",
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"},
    )
    assert "username=oauth2\n" in out.stdout and "password=t0ken\n" in out.stdout


def test_clone_urls_are_rewritten_to_a_mirror(tmp_path: Path, origin: tuple[Path, list[str]]) -> None:
    bare, commits = origin
    mirror = f"file://{bare.parent}/"
    script = clone_script(
        "https://github.com/acme/origin.git",
        "refs/heads/main",
        commits[-1],
        str(tmp_path / "dest"),
        None,
        rewrites=[("https://github.com/acme/", mirror)],
    )
    result = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert git(tmp_path / "dest", "rev-parse", "HEAD") == commits[-1]
    assert git(tmp_path / "dest", "config", "--get", f"url.{mirror}.insteadOf") == "https://github.com/acme/"
