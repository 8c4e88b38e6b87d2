"""GitLab's REST API (/api/v4) for the calls GitLabClient makes.

Written from docs.gitlab.com: "Projects API" (get a single project, its `permissions`), "Project
webhooks" (list, add, edit, delete), "Commits API" (set the pipeline status of a commit), "Branches
API" and "Tags API" (list), "REST API" (URL-encoded project paths, offset pagination with `x-page`,
`x-per-page`, `x-next-page`, `x-prev-page`, `x-total`, `x-total-pages` and `Link`) and "Rate limits"
(429 with `Retry-After` and `RateLimit-*`). A token is sent as `PRIVATE-TOKEN: X` (or
`Authorization: Bearer X`); errors are JSON, `{"message": "404 Project Not Found"}`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from math import ceil
from typing import Any

from aiohttp import web

from tests.standins import HostState

BASE_PATH = ""  # python-gitlab is given the server's root and adds /api/v4
API = "/api/v4"
PROJECT = API + "/projects/{project}"
PROJECT_ID = 7
DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 100
STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
# the state-machine event GitLab names when a status cannot move to the state it already has
EVENTS = {"pending": "enqueue", "running": "run"}
HOOK_DEFAULTS: dict[str, Any] = {
    "push_events": True,
    "push_events_branch_filter": "",
    "issues_events": False,
    "confidential_issues_events": False,
    "merge_requests_events": False,
    "tag_push_events": False,
    "note_events": False,
    "confidential_note_events": False,
    "job_events": False,
    "pipeline_events": False,
    "wiki_page_events": False,
    "deployment_events": False,
    "releases_events": False,
    "enable_ssl_verification": True,
}
HOOK_FIELDS = frozenset({"url", "token", "name", "description", *HOOK_DEFAULTS})
RATE_LIMIT = 2000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class GitLabState(HostState):
    """A HostState whose token's access level can be below Maintainer (40; hooks need it), whose
    project may show no `permissions` (as GitLab does where access is inherited from a parent
    group), and whose 429s and 503s may ask for a longer wait."""

    access_level: int = 40
    show_permissions: bool = True
    retry_after: int = 1


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def error(status: int, message: str, key: str = "message") -> web.Response:
    return web.json_response({key: message}, status=status)


def _failure(state: HostState, status: int) -> web.Response:
    """An answer of `fail_next`; 429 and 503 carry `Retry-After` (and 429 GitLab's RateLimit-* headers)."""
    message = "Retry later" if status == 429 else f"{status} {HTTPStatus(status).phrase}"
    response = error(status, message)
    if status in (429, 503):
        wait = int(getattr(state, "retry_after", 1))
        response.headers["Retry-After"] = str(wait)
        if status == 429:
            reset = int(time.time()) + wait
            response.headers.update(
                {
                    "RateLimit-Name": "throttle_authenticated_api",
                    "RateLimit-Limit": str(RATE_LIMIT),
                    "RateLimit-Observed": str(RATE_LIMIT + 1),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(reset),
                    "RateLimit-ResetTime": formatdate(reset, usegmt=True),
                }
            )
    return response


def _token(request: web.Request) -> str | None:
    if "PRIVATE-TOKEN" in request.headers:
        return request.headers["PRIVATE-TOKEN"]
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


async def _params(request: web.Request) -> dict[str, Any]:
    """The request's parameters: GitLab takes them from the query, a form or a JSON body."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json" and request.can_read_body:
        params.update(await request.json())
    elif request.can_read_body:
        params.update(await request.post())
    return params


def _flag(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def add_hook(state: HostState, url: str, token: str | None = None, **fields: Any) -> dict[str, Any]:
    """Store a project webhook as GitLab keeps it (with its `token`, which the API never shows) and
    return it. Tests seed existing hooks with it."""
    hook_id = state.new_id()
    state.hooks[hook_id] = {
        "id": int(hook_id),
        "url": url,
        "name": "",
        "description": "",
        "project_id": PROJECT_ID,
        **HOOK_DEFAULTS,
        **{name: _flag(value) if name in HOOK_DEFAULTS else value for name, value in fields.items()},
        "repository_update_events": False,
        "alert_status": "executable",
        "disabled_until": None,
        "url_variables": [],
        "created_at": _now(),
        "custom_webhook_template": None,
        "custom_headers": [],
        "token": token,
    }
    return state.hooks[hook_id]


class Refused(Exception):
    """Raised by a handler to answer with GitLab's JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = error(status, message)


def _shown(hook: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in hook.items() if name != "token"}


def make_app(state: HostState) -> web.Application:
    """The stand-in of one project; a plain HostState's token is a Maintainer's."""

    def access_level() -> int:
        return int(getattr(state, "access_level", 40))

    @web.middleware
    async def host(request: web.Request, handler: Handler) -> web.StreamResponse:
        state.requests.append((request.method, request.raw_path))
        if state.fail_next:
            return _failure(state, state.fail_next.pop(0))
        if _token(request) != state.token:
            return error(401, "401 Unauthorized")
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response
        except web.HTTPNotFound:  # no such route
            return error(404, "404 Not found")

    def origin(request: web.Request) -> str:
        return str(request.url.origin())

    def require_project(request: web.Request, level: int = 10) -> None:
        """404 unless the path names the project (by id or URL-encoded full path, case-insensitive);
        403 when the token's access level is below `level`."""
        named = request.match_info["project"]
        if named != str(PROJECT_ID) and named.lower() != state.repository.lower():
            raise Refused(404, "404 Project Not Found")
        if access_level() < level:
            raise Refused(403, "403 Forbidden")

    def page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """One page of `items`, with GitLab's offset-pagination headers."""
        size = min(_int(request.query.get("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE, state.page_size)
        number = max(_int(request.query.get("page"), 1), 1)
        pages = max(1, ceil(len(items) / size))
        following = number + 1 if number < pages else None
        preceding = number - 1 if number > 1 else None
        rels = [("prev", preceding), ("next", following), ("first", 1), ("last", pages)]
        links = [f'<{request.url.update_query(page=n, per_page=size)}>; rel="{rel}"' for rel, n in rels if n]
        response = web.json_response(items[(number - 1) * size : number * size])
        response.headers.update(
            {
                "x-page": str(number),
                "x-per-page": str(size),
                "x-next-page": str(following or ""),
                "x-prev-page": str(preceding or ""),
                "x-total": str(len(items)),
                "x-total-pages": str(pages),
                "Link": ", ".join(links),
            }
        )
        return response

    async def get_project(request: web.Request) -> web.Response:
        require_project(request)
        namespace, _, name = state.repository.rpartition("/")
        access = {"access_level": access_level(), "notification_level": 3}
        shown = getattr(state, "show_permissions", True)
        return web.json_response(
            {
                "id": PROJECT_ID,
                "description": "",
                "name": name,
                "name_with_namespace": " / ".join(state.repository.split("/")),
                "path": name,
                "path_with_namespace": state.repository,
                "created_at": "2024-01-02T03:04:05.000Z",
                "default_branch": "main",
                "ssh_url_to_repo": f"git@{request.url.host}:{state.repository}.git",
                "http_url_to_repo": f"{origin(request)}/{state.repository}.git",
                "web_url": f"{origin(request)}/{state.repository}",
                "namespace": {
                    "id": 3,
                    "name": namespace.rpartition("/")[2],
                    "path": namespace.rpartition("/")[2],
                    "kind": "group",
                    "full_path": namespace,
                },
                "permissions": {
                    "project_access": access if shown else None,
                    "group_access": None,
                },
            }
        )

    async def list_hooks(request: web.Request) -> web.Response:
        require_project(request, level=40)
        return page(request, [_shown(hook) for hook in state.hooks.values()])

    def hook_fields(params: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in params.items() if name in HOOK_FIELDS and name != "url"}

    async def create_hook(request: web.Request) -> web.Response:
        require_project(request, level=40)
        params = await _params(request)
        if not params.get("url"):
            return error(400, "url is missing", key="error")
        hook = add_hook(state, **hook_fields(params), url=params["url"])
        return web.json_response(_shown(hook), status=201)

    def existing_hook(request: web.Request) -> dict[str, Any]:
        require_project(request, level=40)
        hook = state.hooks.get(request.match_info["hook_id"])
        if hook is None:
            raise Refused(404, "404 Not found")
        return hook

    async def update_hook(request: web.Request) -> web.Response:
        hook = existing_hook(request)
        params = await _params(request)
        if not params.get("url"):
            return error(400, "url is missing", key="error")
        fields = hook_fields(params)
        hook.update({name: _flag(v) if name in HOOK_DEFAULTS else v for name, v in fields.items()})
        hook["url"] = params["url"]
        return web.json_response(_shown(hook))

    async def delete_hook(request: web.Request) -> web.Response:
        hook = existing_hook(request)
        del state.hooks[str(hook["id"])]
        return web.Response(status=204)

    async def create_status(request: web.Request) -> web.Response:
        require_project(request, level=30)
        params = await _params(request)
        sha = request.match_info["sha"]
        wanted = params.get("state")
        if wanted not in STATUS_STATES:
            return error(400, "state does not have a valid value", key="error")
        name = params.get("name") or params.get("context") or "default"
        earlier = [s for s in state.statuses if s["sha"] == sha and (s.get("name") or "default") == name]
        if earlier and earlier[-1]["state"] == wanted and wanted in EVENTS:
            event = EVENTS[wanted]
            return error(
                400,
                f"Cannot transition status via :{event} from :{wanted} "
                f'(Reason(s): Status cannot transition via "{event}")',
            )
        state.statuses.append({**params, "sha": sha})
        now = _now()
        return web.json_response(
            {
                "id": len(state.statuses),
                "sha": sha,
                "ref": params.get("ref") or "main",
                "status": wanted,
                "name": name,
                "target_url": params.get("target_url"),
                "description": params.get("description"),
                "created_at": now,
                "started_at": now if wanted != "pending" else None,
                "finished_at": now if wanted in ("success", "failed", "canceled", "skipped") else None,
                "allow_failure": False,
                "coverage": None,
                "pipeline_id": 1,
                "author": {"id": 2, "username": "kiln", "name": "Kiln", "state": "active"},
            },
            status=201,
        )

    def commit(request: web.Request, sha: str) -> dict[str, Any]:
        return {
            "id": sha,
            "short_id": sha[:8],
            "title": "A commit",
            "web_url": f"{origin(request)}/{state.repository}/-/commit/{sha}",
        }

    async def list_branches(request: web.Request) -> web.Response:
        require_project(request)
        branches = [
            {
                "name": name,
                "merged": False,
                "protected": False,
                "default": name == "main",
                "developers_can_push": False,
                "developers_can_merge": False,
                "can_push": True,
                "web_url": f"{origin(request)}/{state.repository}/-/tree/{name}",
                "commit": commit(request, sha),
            }
            for name, sha in sorted(state.branches.items())
        ]
        return page(request, branches)

    async def list_tags(request: web.Request) -> web.Response:
        require_project(request)
        tags = [
            {
                "name": name,
                "message": "" if tag_object is None else f"Release {name}",
                "target": tag_object or sha,  # an annotated tag's target is its tag object
                "commit": commit(request, sha),
                "release": None,
                "protected": False,
                "created_at": None if tag_object is None else _now(),
            }
            for name, (sha, tag_object) in sorted(state.tags.items())
        ]
        return page(request, tags)

    app = web.Application(middlewares=[host])
    app.router.add_get(PROJECT, get_project)
    app.router.add_get(PROJECT + "/hooks", list_hooks)
    app.router.add_post(PROJECT + "/hooks", create_hook)
    app.router.add_put(PROJECT + "/hooks/{hook_id}", update_hook)
    app.router.add_delete(PROJECT + "/hooks/{hook_id}", delete_hook)
    app.router.add_post(PROJECT + "/statuses/{sha}", create_status)
    app.router.add_get(PROJECT + "/repository/branches", list_branches)
    app.router.add_get(PROJECT + "/repository/tags", list_tags)
    return app
