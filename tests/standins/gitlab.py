"""GitLab's REST API (/api/v4) for the calls GitLabClient makes.

Written from docs.gitlab.com: "Projects API" (get a single project, its `permissions`), "Project
webhooks" (list, add, edit, delete), "Commits API" (set the pipeline status of a commit), "Branches
API" and "Tags API" (list), "REST API" (URL-encoded project paths, offset pagination with `x-page`,
`x-per-page`, `x-next-page`, `x-prev-page`, `x-total`, `x-total-pages` and `Link`) and "Rate limits"
(429 with `Retry-After` and `RateLimit-*`). A token is sent as `PRIVATE-TOKEN: X` (or
`Authorization: Bearer X`); errors are JSON, `{"message": "404 Project Not Found"}`. The admin's
token (`state.token`) holds GitLabState.access_level; `reader_token(state)` is a Reporter's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any

from aiohttp import web

from tests.standins import HostState
from tests.standins._common import (
    Host,
    Refusal,
    authorization,
    host_app,
    is_admin,
    numbered_page,
    serve_hooks,
)

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
MAINTAINER, DEVELOPER, REPORTER, GUEST = 40, 30, 20, 10


@dataclass
class GitLabState(HostState):
    """A HostState whose token's access level can be below Maintainer (40; hooks need it), and
    whose project may show no `permissions` (as GitLab does where access is inherited from a parent
    group)."""

    access_level: int = MAINTAINER
    show_permissions: bool = True


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def error(status: int, message: str, key: str = "message") -> web.Response:
    return web.json_response({key: message}, status=status)


def _failure(state: HostState, status: int, phrase: str) -> web.Response:
    """An answer of `fail_next`; a 429 carries GitLab's RateLimit-* headers."""
    response = error(status, "Retry later" if status == 429 else f"{status} {phrase}")
    if status == 429:
        reset = int(time.time()) + state.retry_after
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
    return authorization(request)


async def _params(request: web.Request) -> dict[str, Any]:
    """The request's parameters: GitLab takes them from the query, a form or a JSON body."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json" and request.can_read_body:
        params.update(await request.json())
    elif request.can_read_body:
        params.update(await request.post())
    return params


HOST = Host(
    error=error, token_of=_token, unauthorized="401 Unauthorized", failure=_failure, not_found="404 Not found"
)


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


def _shown(hook: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in hook.items() if name != "token"}


def make_app(state: HostState) -> web.Application:
    """The stand-in of one project; a plain HostState's token is a Maintainer's."""
    routes = web.RouteTableDef()

    def access_level(request: web.Request) -> int:
        return int(getattr(state, "access_level", MAINTAINER)) if is_admin(request) else REPORTER

    def origin(request: web.Request) -> str:
        return str(request.url.origin())

    def require_project(request: web.Request, level: int = GUEST) -> None:
        """404 unless the path names the project (by id or URL-encoded full path, case-insensitive);
        403 when the token's access level is below `level`."""
        named = request.match_info["project"]
        if named != str(PROJECT_ID) and named.lower() != state.repository.lower():
            raise Refusal(error(404, "404 Project Not Found"))
        if access_level(request) < level:
            raise Refusal(error(403, "403 Forbidden"))

    def page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """One page of `items`, with GitLab's offset-pagination headers."""
        at = numbered_page(
            request, state, len(items), size="per_page", default=DEFAULT_PER_PAGE, most=MAX_PER_PAGE
        )
        number, size, pages = at.number, at.size, max(1, at.count)
        following = number + 1 if number < pages else None
        preceding = number - 1 if number > 1 else None
        rels = [("prev", preceding), ("next", following), ("first", 1), ("last", pages)]
        links = [f'<{request.url.update_query(page=n, per_page=size)}>; rel="{rel}"' for rel, n in rels if n]
        response = web.json_response(at.of(items))
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

    @routes.get(PROJECT)
    async def get_project(request: web.Request) -> web.Response:
        require_project(request)
        namespace, _, name = state.repository.rpartition("/")
        access = {"access_level": access_level(request), "notification_level": 3}
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

    existing_hook = serve_hooks(
        routes,
        state,
        PROJECT + "/hooks",
        "hook_id",
        manage=lambda request: require_project(request, level=MAINTAINER),
        missing=lambda match: error(404, "404 Not found"),
        page=page,
        shown=_shown,
    )

    def hook_fields(params: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in params.items() if name in HOOK_FIELDS and name != "url"}

    @routes.post(PROJECT + "/hooks")
    async def create_hook(request: web.Request) -> web.Response:
        require_project(request, level=MAINTAINER)
        params = await _params(request)
        if not params.get("url"):
            return error(400, "url is missing", key="error")
        hook = add_hook(state, **hook_fields(params), url=params["url"])
        return web.json_response(_shown(hook), status=201)

    @routes.put(PROJECT + "/hooks/{hook_id}")
    async def update_hook(request: web.Request) -> web.Response:
        hook = existing_hook(request)
        params = await _params(request)
        if not params.get("url"):
            return error(400, "url is missing", key="error")
        fields = hook_fields(params)
        hook.update({name: _flag(v) if name in HOOK_DEFAULTS else v for name, v in fields.items()})
        hook["url"] = params["url"]
        return web.json_response(_shown(hook))

    @routes.post(PROJECT + "/statuses/{sha}")
    async def create_status(request: web.Request) -> web.Response:
        require_project(request, level=DEVELOPER)
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

    @routes.get(PROJECT + "/repository/branches")
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

    @routes.get(PROJECT + "/repository/tags")
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

    return host_app(state, routes, HOST)
