"""Stand-ins for the public code hosts' REST APIs, which cannot be reached here.

Each module (`github`, `gitlab`, `gitee`, `bitbucket`, `bitbucket_server`) has
`make_app(state: HostState) -> aiohttp.web.Application` serving exactly the calls Kiln makes, in
the host's documented wire format (paths, methods, JSON shapes, status codes, pagination,
rate-limit headers), over real HTTP: `with serve(module, state) as base_url:` runs one on loopback,
and the real client (PyGithub, python-gitlab, Kiln's own HTTP client) is pointed at `base_url`.
A stand-in keeps what the client did in `state`, so tests assert on the host's side. What the
stand-ins share (request recording, `fail_next`, the tokens a host knows, paging) is in `_common`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from kiln.receiver.app import ServerThread


@dataclass
class HostState:
    """One repository on a stand-in host, and what clients did to it."""

    # the token that authenticates (anything else is refused as the host refuses it)
    token: str
    # the repository's path as the host names it: `owner/name` (GitHub, Gitee), `group/sub/name`
    # (GitLab), `workspace/slug` (Bitbucket Cloud), `PROJECT/slug` (Bitbucket Server)
    repository: str
    # hook id -> the hook as the host stores it (its own JSON shape)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # commit statuses received, in order, each as the host's JSON request body plus "sha"
    statuses: list[dict[str, Any]] = field(default_factory=list)
    # branch name -> commit id; tag name -> (commit id, tag object id or None for a lightweight tag)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # HTTP statuses to answer the next requests with, before serving normally (e.g. [503, 429]);
    # a 429 or 503 carries Retry-After: retry_after (seconds)
    fail_next: list[int] = field(default_factory=list)
    retry_after: int = 1
    # items per page of every list the host paginates (small, so clients must follow pages)
    page_size: int = 2
    # (method, path with query as sent) of every request, in order
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> str:
        value = str(self.next_id)
        self.next_id += 1
        return value


@contextmanager
def serve(module: ModuleType, state: HostState) -> Iterator[str]:
    """Run `module.make_app(state)` on loopback; yield the base URL its client is given."""
    app = module.make_app(state)
    with ServerThread(app) as server:
        yield server.url + str(getattr(module, "BASE_PATH", ""))
