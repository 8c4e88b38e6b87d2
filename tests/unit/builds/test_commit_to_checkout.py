"""Pushed commit -> checked-out source: the clone script run with git against a local repository.

The script checks out a commit only if it is on the ref (its head or in its history), whatever
the server would send by id. The local servers cover what code hosts do: protocol v2 sends any
object by id (as GitHub does, fork commits included); `protocol.version=0` behaves as git daemon
does and refuses a commit by id that no ref advertises; either may ignore filters (the default),
support them (`uploadpack.allowFilter`) or refuse them.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kiln.builds.scripts import clone_script, credential_helper, credential_scope

GIT_V0 = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.version", "GIT_CONFIG_VALUE_0": "0"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "a",
    "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "a",
    "GIT_COMMITTER_EMAIL": "a@example.com",
}
FILTERS = {"uploadpack.allowFilter": "true"}
NO_FILTERS = {"uploadpack.allowFilter": "true", "uploadpackfilter.allow": "false"}
# id: (the client's environment, the server repository's config)
SERVERS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "v2": ({}, {}),
    "v2-filters": ({}, FILTERS),
    "v2-refuses-filters": ({}, NO_FILTERS),
    "v0": (GIT_V0, {}),
    "v0-filters": (GIT_V0, FILTERS),
    "v0-refuses-filters": (GIT_V0, NO_FILTERS),
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


@dataclass(frozen=True)
class Origin:
    bare: Path
    commits: list[str]  # main's, oldest first: the last one is its head
    feature: str  # the head of `feature`, branched off commits[1]: on no other branch
    dangling: str  # a child of main's head that no ref reaches, as a fork's commit on GitHub

    @property
    def url(self) -> str:
        return f"file://{self.bare}"


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    """A bare repository with `main` (three commits), `feature` off its second commit, the
    annotated tag `v1` on that second commit, and a dangling commit."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")

    def commit(content: str) -> str:
        (work / "file").write_text(content)
        git(work, "add", "file")
        git(work, "commit", "-q", "-m", content.strip())
        return git(work, "rev-parse", "HEAD")

    commits = [commit(f"{n}\n") for n in range(3)]
    git(work, "tag", "-a", "-m", "v1", "v1", commits[1])
    git(work, "checkout", "-q", "-b", "feature", commits[1])
    feature = commit("feature\n")
    git(work, "checkout", "-q", "main")
    dangling = commit("fork\n")
    git(work, "reset", "-q", "--hard", commits[-1])
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    # the dangling commit in the server's object store, as GitHub keeps a fork network's
    git(work, "push", "-q", str(bare), f"{dangling}:refs/heads/tmp")
    git(bare, "update-ref", "-d", "refs/heads/tmp")
    return Origin(bare, commits, feature, dangling)


@pytest.fixture(params=list(SERVERS))
def server(request: pytest.FixtureRequest, origin: Origin) -> dict[str, str]:
    """Configures `origin` as the server `request.param` names; the client's environment."""
    env, config = SERVERS[request.param]
    for key, value in config.items():
        git(origin.bare, "config", key, value)
    return env


def run_script(
    tmp_path: Path, script: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A clone script run as the init container runs it: sh, a bare PATH, no terminal prompts."""
    return subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        timeout=60,
        check=False,
    )


def clone(
    tmp_path: Path, url: str, ref: str, commit: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_script(tmp_path, clone_script(url, ref, commit, str(tmp_path / "dest"), None), env)


def assert_checked_out(tmp_path: Path, result: subprocess.CompletedProcess[str], commit: str) -> Path:
    assert result.returncode == 0, result.stderr
    dest = tmp_path / "dest"
    assert git(dest, "rev-parse", "HEAD") == commit
    assert git(dest, "status", "--porcelain") == ""
    # the ref's history, for the check: not shallow
    assert not (dest / ".git" / "shallow").exists()
    return dest


def assert_nothing_checked_out(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert sorted(p.name for p in dest.iterdir()) == [".git"]
    assert (
        subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD"], cwd=dest, check=False).returncode != 0
    )


def refused(origin: Origin, commit: str, ref: str = "refs/heads/main") -> str:
    return f"kiln: commit {commit} is not on {ref} of {origin.url} (not its head nor in its history)"


def test_checks_out_the_head(tmp_path: Path, origin: Origin, server: dict[str, str]) -> None:
    head = origin.commits[-1]
    result = clone(tmp_path, origin.url, "refs/heads/main", head, server)
    dest = assert_checked_out(tmp_path, result, head)
    assert (dest / "file").read_text() == "2\n"
    assert result.stdout == f"kiln: checked out {head} of refs/heads/main (its head)\n"


def test_checks_out_a_commit_in_the_history(
    request: pytest.FixtureRequest, tmp_path: Path, origin: Origin, server: dict[str, str]
) -> None:
    old, head = origin.commits[1], origin.commits[-1]
    result = clone(tmp_path, origin.url, "refs/heads/main", old, server)
    dest = assert_checked_out(tmp_path, result, old)
    assert (dest / "file").read_text() == "1\n"
    assert (
        result.stdout
        == f"kiln: checked out {old} of refs/heads/main (in its history, 1 behind its head {head})\n"
    )
    kind = request.node.callspec.params["server"]
    # a server refusing filters, or refusing the files by id afterwards: everything, in full
    assert ("blobless fetch of refs/heads/main" in result.stderr) == kind.endswith("refuses-filters")
    assert ("from the blobless fetch; fetching refs/heads/main in full" in result.stderr) == (
        kind == "v0-filters"
    )
    # where the server filters and sends files by id, only the checked-out commit's files came
    missing = git(dest, "rev-list", "--objects", "--missing=print", "refs/kiln/source").split("\n")
    assert (sum(line.startswith("?") for line in missing) == 2) == (kind == "v2-filters")


def test_refuses_a_commit_only_on_another_branch(
    tmp_path: Path, origin: Origin, server: dict[str, str]
) -> None:
    result = clone(tmp_path, origin.url, "refs/heads/main", origin.feature, server)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == refused(origin, origin.feature)
    assert "checked out" not in result.stdout
    assert_nothing_checked_out(tmp_path)
    # while `feature` itself has it
    result = clone(tmp_path / "again", origin.url, "refs/heads/feature", origin.feature, server)
    assert_checked_out(tmp_path / "again", result, origin.feature)


def test_refuses_a_commit_no_ref_reaches(tmp_path: Path, origin: Origin, server: dict[str, str]) -> None:
    """A fork's commit, say, which GitHub serves by id from the parent repository."""
    if not server:  # protocol v2 sends it by id: what the script used to take
        probe = tmp_path / "probe"
        git(tmp_path, "init", "-q", str(probe))
        git(probe, "fetch", "-q", origin.url, origin.dangling)
        assert git(probe, "cat-file", "-t", origin.dangling) == "commit"
    result = clone(tmp_path, origin.url, "refs/heads/main", origin.dangling, server)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == refused(origin, origin.dangling)
    assert_nothing_checked_out(tmp_path)


def test_refuses_a_commit_force_pushed_away(tmp_path: Path, origin: Origin, server: dict[str, str]) -> None:
    git(origin.bare, "update-ref", "refs/heads/main", origin.commits[1])
    result = clone(tmp_path, origin.url, "refs/heads/main", origin.commits[2], server)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == refused(origin, origin.commits[2])
    assert_nothing_checked_out(tmp_path)


@pytest.mark.parametrize("server", ["v2", "v0"], indirect=True)
def test_a_tag_has_the_history_of_its_commit(tmp_path: Path, origin: Origin, server: dict[str, str]) -> None:
    # v1 is an annotated tag on commits[1]
    result = clone(tmp_path / "tagged", origin.url, "refs/tags/v1", origin.commits[1], server)
    assert_checked_out(tmp_path / "tagged", result, origin.commits[1])
    assert "of refs/tags/v1 (its head)" in result.stdout
    result = clone(tmp_path / "before", origin.url, "refs/tags/v1", origin.commits[0], server)
    assert_checked_out(tmp_path / "before", result, origin.commits[0])
    result = clone(tmp_path / "after", origin.url, "refs/tags/v1", origin.commits[2], server)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == refused(origin, origin.commits[2], "refs/tags/v1")


def test_commit_gone_from_the_ref_fails_clearly(tmp_path: Path, origin: Origin) -> None:
    gone = "0123456789abcdef0123456789abcdef01234567"
    result = clone(tmp_path, origin.url, "refs/heads/main", gone, GIT_V0)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == refused(origin, gone)


def test_missing_ref_fails_clearly(tmp_path: Path, origin: Origin, server: dict[str, str]) -> None:
    result = clone(tmp_path, origin.url, "refs/heads/nope", origin.commits[0], server)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"kiln: cannot fetch refs/heads/nope from {origin.url}"
    # git's own error, first
    assert "couldn't find remote ref refs/heads/nope" in "\n".join(result.stderr.splitlines()[:-1])


def test_odd_values_stay_data(tmp_path: Path, origin: Origin) -> None:
    evil = tmp_path / "evil"
    result = clone(tmp_path, origin.url, f"refs/heads/$(touch {evil})';x", origin.commits[0], GIT_V0)
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


def test_clone_urls_are_rewritten_to_a_mirror(tmp_path: Path, origin: Origin) -> None:
    commits = origin.commits
    mirror = f"file://{origin.bare.parent}/"
    script = clone_script(
        "https://github.com/acme/origin.git",
        "refs/heads/main",
        commits[-1],
        str(tmp_path / "dest"),
        None,
        rewrites=[("https://github.com/acme/", mirror)],
    )
    result = run_script(tmp_path, script)
    assert result.returncode == 0, result.stderr
    assert git(tmp_path / "dest", "rev-parse", "HEAD") == commits[-1]
    assert git(tmp_path / "dest", "config", "--get", f"url.{mirror}.insteadOf") == "https://github.com/acme/"


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        ("https://github.com/acme/app.git", "https://github.com"),
        ("https://me@GitHub.com/acme/app.git", "https://github.com"),
        ("https://me:pw@git.example.com:8443/acme/app.git", "https://git.example.com:8443"),
        ("https://[::1]:8443/app.git", "https://[::1]:8443"),
        ("http://127.0.0.1:3000/app.git", "http://127.0.0.1:3000"),
        # hosts that could be read more than one way: no token
        ("https://a@b@github.com/app.git", None),
        ("https://mirror.example.com.helper=!sh/app.git", None),
        ("https://git%2eexample.com/app.git", None),
        ("https://github.com:/app.git", None),
        ("git@github.com:acme/app.git", None),
    ],
)
def test_credential_scope_is_the_url_host(url: str, scope: str | None) -> None:
    assert credential_scope(url) == scope


def test_git_asks_the_helper_for_the_repository_host_only(tmp_path: Path) -> None:
    """git given the helper as clone_script gives it: for the clone URL's scheme://host[:port]."""
    token = tmp_path / "token"
    token.write_text("t0ken")
    helper = credential_helper("x-access-token", str(token))
    scope = credential_scope("https://me@github.com/acme/app.git")

    def fill(request: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "git",
                "-c",
                "credential.helper=",
                "-c",
                f"credential.{scope}.helper={helper}",
                "credential",
                "fill",
            ],
            input=request,
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"},
        )

    for request in (
        "host=github.com\n",
        "host=GitHub.com\nusername=me\n",
        "host=github.com\npath=acme/app.git\n",
    ):
        out = fill(f"protocol=https\n{request}\n")
        assert out.returncode == 0, out.stderr
        assert "password=t0ken\n" in out.stdout
    # a mirror, another port, plain http, a look-alike: no helper, and git may not prompt
    for request in (
        "protocol=https\nhost=mirror.example.com\n",
        "protocol=https\nhost=github.com:8443\n",
        "protocol=http\nhost=github.com\n",
        "protocol=https\nhost=github.com.example.com\n",
    ):
        out = fill(f"{request}\n")
        assert out.returncode != 0 and "t0ken" not in out.stdout, request


class _AuthRecorder(BaseHTTPRequestHandler):
    """Answers every request 401 (basic auth wanted), recording the Authorization header."""

    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="kiln-test"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_host() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """An HTTP server on 127.0.0.1 wanting basic auth: its http://host:port and the requests seen."""
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (_AuthRecorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize("rewritten", [False, True], ids=["the-repository-host", "a-mirror"])
def test_the_clone_sends_the_token_to_the_repository_host_only(
    tmp_path: Path, http_host: tuple[str, list[tuple[str, str | None]]], rewritten: bool
) -> None:
    host, seen = http_host
    token = tmp_path / "token"
    token.write_text("t0ken")
    helper = credential_helper("x-access-token", str(token))
    if rewritten:  # github.com is cloned through a mirror: the mirror gets no token
        url, rewrites = "https://github.com/acme/app.git", [("https://github.com/", f"{host}/mirror/")]
    else:
        url, rewrites = f"{host}/acme/app.git", []
    script = clone_script(url, "refs/heads/main", "0" * 40, str(tmp_path / "dest"), helper, rewrites)
    assert "t0ken" not in script
    result = run_script(tmp_path, script)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"kiln: cannot fetch refs/heads/main from {url}"
    assert seen and all(path.startswith("/mirror/" if rewritten else "/acme/") for path, _ in seen)
    sent = {auth for _, auth in seen} - {None}
    basic = "Basic " + base64.b64encode(b"x-access-token:t0ken").decode()
    assert sent == (set() if rewritten else {basic})
    assert "t0ken" not in (tmp_path / "dest" / ".git" / "config").read_text()
