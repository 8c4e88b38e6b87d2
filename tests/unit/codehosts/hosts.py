"""The five code hosts as the client tests drive them: for each, an `Adapter` saying how its
client is made and what its stand-in should see (request paths and pages, the host's words for
each refusal and each CommitState, how it stores a hook and how a delivery from it is verified).
The contract (test_client_contract.py) runs on every adapter; a test_<host>_client.py picks one."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from kiln.api.constants import GiteeMode, Provider
from kiln.codehosts import CodeHost, CodeHostError, CommitState, CommitStatus, client_for
from kiln.codehosts import github as github_client
from kiln.codehosts import http as codehost_http
from kiln.codehosts.base import ATTEMPTS, MAX_WAIT_SECONDS
from kiln.webhooks import bitbucket as bitbucket_receiver
from kiln.webhooks import bitbucket_server as bitbucket_server_receiver
from kiln.webhooks import gitee as gitee_receiver
from kiln.webhooks import github as github_receiver
from kiln.webhooks import gitlab as gitlab_receiver
from kiln.webhooks.config import GiteeSecret, GitLabSecret, SharedSecret
from kiln.webhooks.headers import Headers
from tests.standins import HostState, bitbucket, bitbucket_server, gitee, github, gitlab
from tests.standins._common import reader_token
from tests.standins.github import GitHubState
from tests.standins.gitlab import DEVELOPER, REPORTER, GitLabState

TOKEN = "kiln-test-token-0123456789abcdef"
SECRET = "hook-secret-5d1e"
RECEIVER = "https://kiln.example.com/hooks/acme/app"
OLD_URL = "https://old.example.com/hook"
SHA = "3" * 40
LOG = "https://kiln.example.com/logs/7"
BRANCHES = {"main": "a" * 40, "dev": "b" * 40, "feature/x": "c" * 40}
TAGS = {"v1": ("d" * 40, None), "v2": ("e" * 40, "f" * 40)}  # v2 annotated: its tag object is "f"s
# what refs() reads from them: every branch head, and each tag's commit (not an annotated tag's object)
REFS = {
    "refs/heads/main": "a" * 40,
    "refs/heads/dev": "b" * 40,
    "refs/heads/feature/x": "c" * 40,
    "refs/tags/v1": "d" * 40,
    "refs/tags/v2": "e" * 40,
}
# a rate limit asking for longer than Kiln waits, and what kiln.codehosts.http adds to its words
LONG_WAIT = int(MAX_WAIT_SECONDS) + 1
LONG_WAIT_NOTE = f" (the host asks to wait {LONG_WAIT}s, longer than {MAX_WAIT_SECONDS:g}s)"
# the waits between attempts when the host names none: kiln.codehosts.http's doubling backoff, and
# urllib3's under PyGithub, whose first retry comes at once
HTTP_BACKOFF = tuple(codehost_http.BACKOFF_SECONDS * 2**n for n in range(ATTEMPTS - 1))
GITHUB_BACKOFF = tuple(github_client.BACKOFF_FACTOR * 2**n for n in range(1, ATTEMPTS - 1))
# a moment inside the window the receivers accept a delivery's timestamp in
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# (method, path as sent, query parameters)
Request = tuple[str, str, dict[str, str]]


def get(path: str, **query: str) -> Request:
    return ("GET", path, query)


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase


@dataclass(frozen=True)
class Adapter:
    """One provider: its client and stand-in, and what the stand-in should see of each call. The
    defaults are what most hosts share (and kiln.codehosts.http's clients do)."""

    provider: Provider
    standin: ModuleType
    clone_url: str  # of `repository`, named as the host's API names it
    repository: str
    repo: str  # the repository's API path as the client sends it (still URL-encoded)
    # where a commit's status is posted; the query of the n-th page of a list the client reads
    status_path: Callable[[str], str]
    page: Callable[[int], dict[str, str]]
    # the host's words for a repository it does not have, for a token it does not know
    missing: str
    unauthorized: str
    # the words of the Unauthorized that check_access raises for a token that may not manage hooks
    not_admin: tuple[str, ...]
    # the stored hook's fields create_hook and update_hook set (url, secret, events, ...)
    stored_hook: Callable[[str, str], dict[str, Any]]
    # store a hook at OLD_URL listening to other events, as if made elsewhere; its id
    seed_hook: Callable[[HostState, str], str]
    # verify a delivery the host would make from the stored hook against the receiver (SECRET)
    deliver: Callable[[dict[str, Any]], None]
    # the host's word(s) for each CommitState, and the status it stores for one (given the API base)
    words: Mapping[CommitState, Any]
    stored_status: Callable[[CommitStatus, Any, str], dict[str, Any]]
    # a token that is also a word of `unauthorized`, and those words as the client reports them
    echoed: tuple[str, str]
    state_type: type[HostState] = HostState
    hooks_name: str = "hooks"  # the hooks' collection under the repository
    refs_under: str = ""  # where the branches and tags lists are under it
    update: str = "PUT"  # the method updating a hook
    # what check_access asks after the repository; and, of a caller it refuses, then
    access_after: tuple[Request, ...] = ()
    refusal_probe: tuple[Request, ...] = ()
    # the ways a token may see the repository but not manage its hooks: each lowers `state` and
    # gives the token to call with; the status of the Unauthorized that check_access raises then
    demotions: Mapping[str, Callable[[HostState], str]] = field(
        default_factory=lambda: {"reader": reader_token}
    )
    not_admin_status: int = 403
    # the host's words for a rate limit asking for LONG_WAIT, for a 5xx status
    rate_limited: str = "Too Many Requests" + LONG_WAIT_NOTE
    failed: Callable[[int], str] = _phrase
    # the waits between attempts when the host names none
    backoff: tuple[float, ...] = HTTP_BACKOFF
    # how the token goes along when not as a header (Gitee: the access_token query parameter)
    token_query: str | None = None

    @property
    def library(self) -> bool:
        """The client is on a vendor library (PyGithub, python-gitlab), whose errors it translates;
        else on kiln.codehosts.http, whose messages start with the request (`GET url: 404 ...`)."""
        return self.provider in (Provider.GITHUB, Provider.GITLAB)

    @property
    def missing_clone_url(self) -> str:
        """The clone URL of a repository the host does not have."""
        return self.clone_url.replace("/app.git", "/missing.git")

    @property
    def hooks(self) -> str:
        return f"{self.repo}/{self.hooks_name}"

    @property
    def branches(self) -> str:
        return f"{self.repo}/{self.refs_under}branches"

    @property
    def tags(self) -> str:
        return f"{self.repo}/{self.refs_under}tags"

    @property
    def access(self) -> list[Request]:
        """The requests of check_access for an admin."""
        return [get(self.repo), *self.access_after]

    @property
    def refused_access(self) -> list[Request]:
        """The requests of check_access for a caller it refuses."""
        return [*self.access, *self.refusal_probe]

    @property
    def id(self) -> str:
        return self.provider.value

    def new_state(self) -> HostState:
        return self.state_type(token=TOKEN, repository=self.repository, branches=BRANCHES, tags=TAGS)

    def client(self, base: str, token: str = TOKEN, clone_url: str | None = None) -> CodeHost:
        url = clone_url or self.clone_url
        return client_for(self.provider, url, token, api_urls={urlsplit(url).netloc: base})

    def hook(self, hook_id: str) -> str:
        """The API path of one hook: its id quoted as one path segment."""
        return f"{self.hooks}/{quote(hook_id, safe='')}"

    def sent(self, state: HostState, token: str = TOKEN) -> list[Request]:
        """The requests the host got, each carrying `token` where the host takes it from the query
        (asserted, and left out of the query)."""
        found = []
        for method, target in state.requests:
            parts = urlsplit(target)
            query = dict(parse_qsl(parts.query))
            if self.token_query is not None:
                assert query.pop(self.token_query) == token
            found.append((method, parts.path, query))
        return found

    def words_of(self, error: CodeHostError) -> str:
        """The host's own words in the error's message."""
        if self.library:
            return error.message
        said = re.fullmatch(r"[A-Z]+ http://127\.0\.0\.1:\d+/\S*: (\d{3}) (.*)", error.message, re.DOTALL)
        assert said is not None, error.message
        assert int(said[1]) == error.status
        return said[2]

    def assert_secret_free(self, error: CodeHostError, *secrets: str) -> None:
        """No secret in the error, nor a chained exception that could hold one: a vendor library's
        exception is translated (its context suppressed), kiln.codehosts.http raises its own."""
        for secret in secrets:
            assert secret not in str(error) and secret not in repr(error) and secret not in error.message
        assert error.__cause__ is None
        if self.library:
            assert error.__suppress_context__
        else:
            assert error.__context__ is None


def _hub_signed(header: str, key: str, body: bytes) -> Headers:
    """The headers of a delivery signed as GitHub and both Bitbucket products sign: HMAC-SHA256."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return Headers({header: f"sha256={digest}", "Content-Type": "application/json"})


def _demote(**fields: Any) -> Callable[[HostState], str]:
    """Lower the admin's own rights on the repository; the admin's token then calls."""

    def demote(state: HostState) -> str:
        for name, value in fields.items():
            setattr(state, name, value)
        return TOKEN

    return demote


def _linked_page(n: int) -> dict[str, str]:
    """GitHub's and GitLab's pages: the first as the library asks it, the next from `Link` rel="next"."""
    return {"per_page": "100"} if n == 1 else {"per_page": "100", "page": str(n)}


# --- GitHub -------------------------------------------------------------------------------------

GITHUB_REPO = "/api/v3/repos/acme/app"


def _github_seed(state: HostState, base: str) -> str:
    hook = github.add_hook(state, base, {"url": OLD_URL, "secret": "old"}, events=["issues"])
    return str(hook["id"])


def _github_deliver(stored: dict[str, Any]) -> None:
    # GitHub signs the body with the hook's secret, as its "Validating webhook deliveries" describes
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": stored["id"]}).encode()
    headers = _hub_signed("X-Hub-Signature-256", stored["config"]["secret"], body)
    github_receiver.verify(headers, body, SharedSecret(SECRET), NOW)


def _github_status(status: CommitStatus, word: Any, base: str) -> dict[str, Any]:
    stored = {"sha": status.commit, "state": word, "context": status.key, "description": status.description}
    return stored | ({"target_url": status.url} if status.url else {})  # no log URL, no link


GITHUB = Adapter(
    provider=Provider.GITHUB,
    standin=github,
    state_type=GitHubState,
    clone_url="https://github.com/acme/app.git",
    repository="acme/app",
    missing="Not Found",
    repo=GITHUB_REPO,
    update="PATCH",
    status_path=lambda sha: f"{GITHUB_REPO}/statuses/{sha}",
    page=_linked_page,
    unauthorized="Bad credentials",
    rate_limited="You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    demotions={
        "reader": reader_token,
        "read": _demote(role="read"),
        "write": _demote(role="write"),
        "maintain": _demote(role="maintain"),
    },
    not_admin=("admin",),
    stored_hook=lambda url, secret: {
        "name": "web",
        "active": True,
        "events": ["push"],  # pushes of branches and of tags
        "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
    },
    seed_hook=_github_seed,
    deliver=_github_deliver,
    words={
        CommitState.QUEUED: "pending",
        CommitState.RUNNING: "pending",
        CommitState.SUCCEEDED: "success",
        CommitState.FAILED: "failure",
        CommitState.CANCELLED: "error",  # GitHub has no cancelled state
    },
    stored_status=_github_status,
    backoff=GITHUB_BACKOFF,
    echoed=("credentials", "Bad ***"),
)

# --- GitLab -------------------------------------------------------------------------------------

GITLAB_PROJECT = "/api/v4/projects/group%2Fsub%2Fapp"  # the full path, URL-encoded
# the hooks of the project by its id, which check_access lists to prove access GitLab does not show
GITLAB_HOOKS_PROBE = get("/api/v4/projects/7/hooks", page="1", per_page="1")


def _gitlab_seed(state: HostState, base: str) -> str:
    return str(gitlab.add_hook(state, OLD_URL, token="old", tag_push_events=False)["id"])


def _gitlab_deliver(stored: dict[str, Any]) -> None:
    headers = Headers({"X-Gitlab-Token": stored["token"], "X-Gitlab-Event": "Push Hook"})
    gitlab_receiver.verify(headers, b"{}", GitLabSecret(token=SECRET), NOW)


def _gitlab_status(status: CommitStatus, word: Any, base: str) -> dict[str, Any]:
    stored = {"sha": status.commit, "state": word, "name": status.key, "description": status.description}
    return stored | ({"target_url": status.url} if status.url else {})  # no log URL, no link


GITLAB = Adapter(
    provider=Provider.GITLAB,
    standin=gitlab,
    state_type=GitLabState,
    clone_url="https://gitlab.example.com/group/sub/app.git",
    repository="group/sub/app",
    missing="404 Project Not Found",
    repo=GITLAB_PROJECT,
    status_path=lambda sha: f"{GITLAB_PROJECT}/statuses/{sha}",
    page=_linked_page,
    refs_under="repository/",
    refusal_probe=(GITLAB_HOOKS_PROBE,),  # asked, refused
    unauthorized="401 Unauthorized",
    rate_limited="Retry later",
    failed=lambda status: f"{status} {_phrase(status)}",
    demotions={
        "reader": reader_token,
        "reporter": _demote(access_level=REPORTER),
        "developer": _demote(access_level=DEVELOPER),
    },
    not_admin=("Maintainer",),
    stored_hook=lambda url, secret: {
        "url": url,
        "token": secret,  # comes back in X-Gitlab-Token
        "push_events": True,
        "tag_push_events": True,
        "enable_ssl_verification": True,
        "merge_requests_events": False,
    },
    seed_hook=_gitlab_seed,
    deliver=_gitlab_deliver,
    words={
        CommitState.QUEUED: "pending",
        CommitState.RUNNING: "running",
        CommitState.SUCCEEDED: "success",
        CommitState.FAILED: "failed",
        CommitState.CANCELLED: "canceled",
    },
    stored_status=_gitlab_status,
    backoff=(0.1, 0.2, 0.4),  # python-gitlab's, when the host names no wait
    echoed=("401", "*** Unauthorized"),
)

# --- Gitee --------------------------------------------------------------------------------------

GITEE_REPO = "/api/v5/repos/acme/app"


def _gitee_seed(state: HostState, base: str) -> str:
    hook = gitee.add_hook(state, {"url": OLD_URL, "password": "old", "encryption_type": 0})
    return str(hook["id"])  # pushes only, the password sent as it is


def _gitee_deliver(stored: dict[str, Any]) -> None:
    # Gitee signs the delivery's timestamp with the hook's password (signature mode)
    timestamp = str(int(NOW.timestamp() * 1000))
    token = gitee_receiver.signature(stored["password"], timestamp)
    headers = Headers({"X-Gitee-Token": token, "X-Gitee-Timestamp": timestamp})
    gitee_receiver.verify(headers, b"{}", GiteeSecret(SECRET, GiteeMode.SIGNATURE), NOW)


def _gitee_check_run(status: CommitStatus, word: Any, base: str) -> dict[str, Any]:
    """A check run on the commit, named by the status's key; completed ones have a conclusion."""
    check_status, conclusion = word
    stored = {
        "sha": status.commit,
        "head_sha": status.commit,
        "name": status.key,
        "status": check_status,
        "output": {"title": status.key, "summary": status.description},
    }
    stored |= {"conclusion": conclusion} if conclusion is not None else {}
    return stored | ({"details_url": status.url} if status.url is not None else {})


GITEE = Adapter(
    provider=Provider.GITEE,
    standin=gitee,
    clone_url="https://gitee.com/acme/app.git",
    repository="acme/app",
    missing="Not Found Project",
    repo=GITEE_REPO,
    update="PATCH",
    status_path=lambda sha: f"{GITEE_REPO}/check-runs",
    page=lambda n: {"page": str(n), "per_page": "100"},
    unauthorized="401 Unauthorized: Access token does not exist",
    not_admin=("no admin permission",),
    stored_hook=lambda url, secret: {
        "url": url,
        "encryption_type": 1,  # signature mode
        "password": secret,
        "push_events": True,
        "tag_push_events": True,
        "issues_events": False,
        "note_events": False,
        "merge_requests_events": False,
    },
    seed_hook=_gitee_seed,
    deliver=_gitee_deliver,
    words={
        CommitState.QUEUED: ("queued", None),
        CommitState.RUNNING: ("in_progress", None),
        CommitState.SUCCEEDED: ("completed", "success"),
        CommitState.FAILED: ("completed", "failure"),
        CommitState.CANCELLED: ("completed", "cancelled"),
    },
    stored_status=_gitee_check_run,
    echoed=("exist", "401 Unauthorized: Access token does not ***"),
    token_query="access_token",
)

# --- Bitbucket Cloud ----------------------------------------------------------------------------

BITBUCKET_REPO = "/2.0/repositories/acme/app"
# after the repository, check_access reads the caller's permission on it
BITBUCKET_PERMISSION = get(
    "/2.0/user/permissions/repositories", q='repository.full_name="acme/app"', pagelen="100"
)


def _bitbucket_page(n: int) -> dict[str, str]:
    return {"pagelen": "100"} if n == 1 else {"pagelen": "2", "page": str(n)}  # the `next` URL's


def _bitbucket_seed(state: HostState, base: str) -> str:
    return str(bitbucket.add_hook(state, OLD_URL, secret="old", events=["pullrequest:created"])["uuid"])


def _bitbucket_deliver(stored: dict[str, Any]) -> None:
    body = b'{"push": {"changes": []}}'
    headers = _hub_signed("X-Hub-Signature", stored["secret"], body)
    bitbucket_receiver.verify(headers, body, SharedSecret(SECRET), NOW)


def _build_status(web_page: Callable[[str], str]) -> Callable[[CommitStatus, Any, str], dict[str, Any]]:
    """A build status as both Bitbucket products store it: keyed and named by the status's key,
    linking to the build's log, else to the repository's web page (`web_page` of the API base)."""

    def stored(status: CommitStatus, word: Any, base: str) -> dict[str, Any]:
        return {
            "sha": status.commit,
            "key": status.key,
            "name": status.key,
            "state": word,
            "url": status.url or web_page(base),
            "description": status.description,
        }

    return stored


BITBUCKET = Adapter(
    provider=Provider.BITBUCKET,
    standin=bitbucket,
    clone_url="https://bitbucket.org/acme/app.git",
    repository="acme/app",
    missing="Repository acme/missing not found",
    repo=BITBUCKET_REPO,
    status_path=lambda sha: f"{BITBUCKET_REPO}/commit/{sha}/statuses/build",
    page=_bitbucket_page,
    refs_under="refs/",
    access_after=(BITBUCKET_PERMISSION,),
    unauthorized="Token is invalid, expired, or not supported for this endpoint.",
    not_admin=("no admin permission",),
    stored_hook=lambda url, secret: {
        "url": url,
        "secret": secret,
        "events": ["repo:push"],
        "active": True,
        "description": "kiln",
    },
    seed_hook=_bitbucket_seed,
    deliver=_bitbucket_deliver,
    words={
        CommitState.QUEUED: "INPROGRESS",
        CommitState.RUNNING: "INPROGRESS",
        CommitState.SUCCEEDED: "SUCCESSFUL",
        CommitState.FAILED: "FAILED",
        CommitState.CANCELLED: "STOPPED",
    },
    stored_status=_build_status(lambda base: "https://bitbucket.org/acme/app"),
    echoed=("invalid", "Token is ***, expired, or not supported for this endpoint."),
)

# --- Bitbucket Server ---------------------------------------------------------------------------

SERVER_REPO = "/rest/api/1.0/projects/PROJ/repos/app"


def _server_seed(state: HostState, base: str) -> str:
    settings = {"name": "other", "url": OLD_URL, "events": ["pr:opened"], "configuration": {"secret": "old"}}
    return str(bitbucket_server.add_hook(state, settings)["id"])


def _server_deliver(stored: dict[str, Any]) -> None:
    body = b'{"changes": []}'
    headers = _hub_signed("X-Hub-Signature", stored["configuration"]["secret"], body)
    bitbucket_server_receiver.verify(headers, body, SharedSecret(SECRET), NOW)


BITBUCKET_SERVER = Adapter(
    provider=Provider.BITBUCKET_SERVER,
    standin=bitbucket_server,
    clone_url="https://bitbucket.example.com/scm/PROJ/app.git",
    repository="PROJ/app",
    missing="Repository PROJ/missing does not exist.",
    repo=SERVER_REPO,
    status_path=lambda sha: f"/rest/build-status/1.0/commits/{sha}",
    page=lambda n: {"start": str(2 * (n - 1)), "limit": "100"},  # nextPageStart, two a page
    hooks_name="webhooks",
    access_after=(get(f"{SERVER_REPO}/webhooks", limit="1"),),  # listing them takes REPO_ADMIN
    unauthorized="Authentication failed. Please check your credentials and try again.",
    not_admin_status=401,  # the server's answer to the webhooks a reader may not list
    not_admin=("needs REPO_ADMIN", "not permitted"),
    stored_hook=lambda url, secret: {
        "name": "kiln",
        "url": url,
        "active": True,
        "events": ["repo:refs_changed"],
        "configuration": {"secret": secret},
    },
    seed_hook=_server_seed,
    deliver=_server_deliver,
    words={
        CommitState.QUEUED: "INPROGRESS",
        CommitState.RUNNING: "INPROGRESS",
        CommitState.SUCCEEDED: "SUCCESSFUL",
        CommitState.FAILED: "FAILED",
        CommitState.CANCELLED: "FAILED",  # build-status 1.0 has no cancelled state
    },
    stored_status=_build_status(lambda base: base.removesuffix("/rest") + "/projects/PROJ/repos/app/browse"),
    echoed=("credentials", "Authentication failed. Please check your *** and try again."),
)

ADAPTERS = [GITHUB, GITLAB, GITEE, BITBUCKET, BITBUCKET_SERVER]
