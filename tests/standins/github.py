"""GitHub's REST API as GitHub Enterprise Server serves it (under /api/v3), for the calls GitHubClient makes.

Written from docs.github.com: "Repository webhooks" (list, create, update, delete), "Commit statuses"
(create), "Branches" (list), "Repositories" (get, list tags), "Using pagination in the REST API"
(`per_page`, `page`, `Link: <...>; rel="next"`), "Rate limits for the REST API" and "Troubleshooting"
(403/429 with `Retry-After`, or `x-ratelimit-remaining: 0` and `x-ratelimit-reset`). Errors are JSON
with `message` and `documentation_url`; a token is sent as `Authorization: token X` or `Bearer X`.
The admin's token (`state.token`) holds GitHubState.role; `reader_token(state)` holds "read".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.standins import HostState
from tests.standins._common import (
    Host,
    authorization,
    host_app,
    is_admin,
    numbered_page,
    serve_hooks,
)

BASE_PATH = "/api/v3"
DOCS = "https://docs.github.com/rest"
REPO = BASE_PATH + "/repos/{owner}/{repo}"
STATUS_STATES = ("error", "failure", "pending", "success")
# a role's permissions, as `permissions` of a repository shows them to its user
ROLES = ("read", "triage", "write", "maintain", "admin")
PERMISSION_OF_ROLE = {
    "read": "pull",
    "triage": "triage",
    "write": "push",
    "maintain": "maintain",
    "admin": "admin",
}
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
MAX_DESCRIPTION = 140
RATE_LIMIT = 5000
FAILURE_MESSAGES = {
    403: "API rate limit exceeded for user ID 1.",
    429: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
}


@dataclass
class GitHubState(HostState):
    """A HostState whose token's role on the repository can be lower than admin (hooks need admin)."""

    role: str = "admin"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"message": message, "documentation_url": DOCS, "status": str(status), **extra}
    return web.json_response(body, status=status)


def _rate_headers(remaining: int, reset_in: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(RATE_LIMIT),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-used": str(RATE_LIMIT - remaining),
        "x-ratelimit-reset": str(int(time.time()) + reset_in),
        "x-ratelimit-resource": "core",
    }


def _failure(state: HostState, status: int, phrase: str) -> web.Response:
    """An answer of `fail_next`: a primary rate limit for 403, a secondary one for 429."""
    response = error(status, FAILURE_MESSAGES.get(status, phrase))
    if status == 403:
        response.headers.update(_rate_headers(remaining=0, reset_in=1))
    return response


def _served(state: HostState, response: web.StreamResponse) -> None:
    """Every answer a handler gives carries the rate limit's headers."""
    response.headers.update(_rate_headers(remaining=RATE_LIMIT - len(state.requests), reset_in=3600))


def validation_failed(resource: str, message: str) -> web.Response:
    return error(
        422, "Validation Failed", errors=[{"resource": resource, "code": "custom", "message": message}]
    )


def _token(request: web.Request) -> str | None:
    return authorization(request, ("token", "bearer"))


HOST = Host(
    error=error,
    token_of=_token,
    unauthorized="Bad credentials",
    anonymous="Requires authentication",
    failure=_failure,
    not_found="Not Found",
    served=_served,
)


def add_hook(
    state: HostState,
    base_url: str,
    config: dict[str, str],
    events: list[str] | None = None,
    active: bool = True,
) -> dict[str, Any]:
    """Store a repository webhook as GitHub keeps it (the secret in clear: GitHub signs with it) and
    return it; `base_url` is the API root `serve` yields. Tests seed existing hooks with it."""
    hook_id = state.new_id()
    url = f"{base_url}/repos/{state.repository}/hooks/{hook_id}"
    now = _now()
    state.hooks[hook_id] = {
        "type": "Repository",
        "id": int(hook_id),
        "name": "web",
        "active": active,
        "events": list(events or ["push"]),
        "config": dict(config),
        "updated_at": now,
        "created_at": now,
        "url": url,
        "test_url": f"{url}/test",
        "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
        "last_response": {"code": None, "status": "unused", "message": None},
    }
    return state.hooks[hook_id]


def make_app(state: HostState) -> web.Application:
    """The stand-in of one repository; a plain HostState's token is an admin's."""
    routes = web.RouteTableDef()

    def permissions(request: web.Request) -> dict[str, bool]:
        role = getattr(state, "role", "admin") if is_admin(request) else "read"
        held = ROLES[: ROLES.index(role) + 1]
        return {PERMISSION_OF_ROLE[r]: r in held for r in ROLES}

    def api_root(request: web.Request) -> str:
        return f"{request.url.origin()}{BASE_PATH}"

    def repo_url(request: web.Request) -> str:
        return f"{api_root(request)}/repos/{state.repository}"

    def require_repo(request: web.Request, permission: str = "pull") -> None:
        """404 unless the path names the repository (names are case-insensitive) and the role allows
        `permission`: GitHub hides what a token may not touch behind "Not Found"."""
        named = f"{request.match_info['owner']}/{request.match_info['repo']}"
        if named.lower() != state.repository.lower() or not permissions(request)[permission]:
            raise web.HTTPNotFound()

    def page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """One page of `items`, with GitHub's Link header (prev, next, last, first)."""
        at = numbered_page(
            request, state, len(items), size="per_page", default=DEFAULT_PER_PAGE, most=MAX_PER_PAGE
        )
        number, last = at.number, max(1, at.count)
        rels = []
        if number > 1:
            rels.append(("prev", number - 1))
        if number < last:
            rels += [("next", number + 1), ("last", last)]
        if number > 1:
            rels.append(("first", 1))
        links = ", ".join(f'<{request.url.update_query(page=n)}>; rel="{rel}"' for rel, n in rels)
        response = web.json_response(at.of(items))
        if links:
            response.headers["Link"] = links
        return response

    @routes.get(REPO)
    async def get_repo(request: web.Request) -> web.Response:
        require_repo(request)
        owner, name = state.repository.split("/")
        url = repo_url(request)
        origin = str(request.url.origin())
        return web.json_response(
            {
                "id": 1296269,
                "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
                "name": name,
                "full_name": state.repository,
                "owner": {
                    "login": owner,
                    "id": 1,
                    "type": "Organization",
                    "url": f"{api_root(request)}/users/{owner}",
                },
                "private": True,
                "html_url": f"{origin}/{state.repository}",
                "clone_url": f"{origin}/{state.repository}.git",
                "url": url,
                "hooks_url": f"{url}/hooks",
                "statuses_url": f"{url}/statuses/{{sha}}",
                "default_branch": "main",
                "permissions": permissions(request),
            }
        )

    def shown(hook: dict[str, Any]) -> dict[str, Any]:
        """A hook as the API shows it: the secret masked."""
        config = dict(hook["config"])
        if config.get("secret"):
            config["secret"] = "********"
        return {**hook, "config": config}

    def invalid_hook(config: Any, events: list[str], other: str | None = None) -> web.Response | None:
        if not isinstance(config, dict) or not config.get("url"):
            return validation_failed("Hook", "Config must contain url")
        for hook_id, hook in state.hooks.items():
            same = hook_id != other and hook["config"].get("url") == config["url"]
            if same and set(hook["events"]) & set(events):
                return validation_failed("Hook", "Hook already exists on this repository")
        return None

    existing_hook = serve_hooks(
        routes,
        state,
        REPO + "/hooks",
        "hook_id",
        manage=lambda request: require_repo(request, "admin"),
        missing=lambda match: error(404, "Not Found"),
        page=page,
        shown=shown,
    )

    @routes.post(REPO + "/hooks")
    async def create_hook(request: web.Request) -> web.Response:
        require_repo(request, "admin")
        body = await request.json()
        events = list(body.get("events") or ["push"])
        if body.get("name", "web") != "web":
            return validation_failed("Hook", "Name must be web")
        refused = invalid_hook(body.get("config"), events)
        if refused is not None:
            return refused
        hook = add_hook(state, api_root(request), body["config"], events, bool(body.get("active", True)))
        return web.json_response(shown(hook), status=201)

    @routes.patch(REPO + "/hooks/{hook_id}")
    async def update_hook(request: web.Request) -> web.Response:
        hook = existing_hook(request)
        body = await request.json()
        events = list(body.get("events", hook["events"]))
        events += [e for e in body.get("add_events", []) if e not in events]
        events = [e for e in events if e not in body.get("remove_events", [])]
        config = body.get("config", hook["config"])
        refused = invalid_hook(config, events, other=str(hook["id"]))
        if refused is not None:
            return refused
        hook.update(config=dict(config), events=events, active=bool(body.get("active", hook["active"])))
        hook["updated_at"] = _now()
        return web.json_response(shown(hook))

    @routes.post(REPO + "/statuses/{sha}")
    async def create_status(request: web.Request) -> web.Response:
        require_repo(request)
        if not permissions(request)["push"]:  # a reader's token sees the repository, so no 404
            return error(403, "Resource not accessible by personal access token")
        body = await request.json()
        sha = request.match_info["sha"]
        if body.get("state") not in STATUS_STATES:
            return validation_failed("Status", "state is not included in the list")
        if len(body.get("description") or "") > MAX_DESCRIPTION:
            return validation_failed("Status", "description is too long (maximum is 140 characters)")
        state.statuses.append({**body, "sha": sha})
        now = _now()
        status_id = len(state.statuses)
        return web.json_response(
            {
                "url": f"{repo_url(request)}/statuses/{sha}",
                "avatar_url": None,
                "id": status_id,
                "node_id": f"SC_{status_id}",
                "state": body["state"],
                "description": body.get("description"),
                "target_url": body.get("target_url"),
                "context": body.get("context") or "default",
                "created_at": now,
                "updated_at": now,
                "creator": {"login": "kiln", "id": 2, "type": "User"},
            },
            status=201,
        )

    def commit(request: web.Request, sha: str) -> dict[str, str]:
        return {"sha": sha, "url": f"{repo_url(request)}/commits/{sha}"}

    @routes.get(REPO + "/branches")
    async def list_branches(request: web.Request) -> web.Response:
        require_repo(request)
        branches = [
            {"name": name, "commit": commit(request, sha), "protected": False}
            for name, sha in sorted(state.branches.items())
        ]
        return page(request, branches)

    @routes.get(REPO + "/tags")
    async def list_tags(request: web.Request) -> web.Response:
        require_repo(request)
        origin = f"{request.url.origin()}"
        tags = [
            {
                "name": name,
                "commit": commit(request, sha),  # the tagged commit, an annotated tag's too
                "zipball_url": f"{origin}/{state.repository}/archive/refs/tags/{name}.zip",
                "tarball_url": f"{origin}/{state.repository}/archive/refs/tags/{name}.tar.gz",
                "node_id": f"REF_{name}",
            }
            for name, (sha, _tag_object) in sorted(state.tags.items())
        ]
        return page(request, tags)

    return host_app(state, routes, HOST)
