"""Gitee API v5 stand-in: the calls `kiln.codehosts.gitee` makes, as https://gitee.com/api/v5/swagger
documents them (Repositories, WebHooks, Checks, branches and tags).

The token is the `access_token` query parameter. Lists are paginated with `page`/`per_page` and
the `total_count`/`total_page` response headers; errors are `{"message": ...}`. A repository's
`permission` object tells its caller's rights; WebHooks are for its admins. Check runs (Gitee's
report of a build on a commit) land in `state.statuses`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.standins import HostState
from tests.standins._common import (
    Host,
    Refusal,
    host_app,
    is_admin,
    json_body,
    numbered_page,
    repository_check,
    serve_hooks,
)

BASE_PATH = "/api/v5"
WEB_URL = "https://gitee.com"
HOOK_EVENTS = ("push_events", "tag_push_events", "issues_events", "note_events", "merge_requests_events")
CHECK_STATUSES = frozenset({"queued", "in_progress", "completed"})
CONCLUSIONS = frozenset(
    {"neutral", "success", "failure", "cancelled", "action_required", "timed_out", "skipped"}
)
DEFAULT_PER_PAGE = 20
STAMP = "2024-05-01T20:00:00+08:00"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _token(request: web.Request) -> str | None:
    return request.query.get("access_token")


HOST = Host(error=_error, token_of=_token, unauthorized="401 Unauthorized: Access token does not exist")


def _page(request: web.Request, state: HostState, items: list[dict[str, Any]]) -> web.Response:
    """Gitee's page: `per_page` capped at the host's page size; totals in the headers."""
    page = numbered_page(request, state, len(items), size="per_page", default=DEFAULT_PER_PAGE)
    response = web.json_response(page.of(items))
    response.headers["total_count"] = str(len(items))
    response.headers["total_page"] = str(page.count)
    return response


def _configure(hook: dict[str, Any], body: Mapping[str, Any]) -> None:
    hook["url"] = body["url"]
    hook["password"] = body.get("password", hook.get("password", ""))
    hook["encryption_type"] = int(body.get("encryption_type", hook.get("encryption_type", 0)))
    for event in HOOK_EVENTS:
        default = event == "push_events"  # Gitee's default: pushes only
        hook[event] = bool(body.get(event, hook.get(event, default)))


def add_hook(state: HostState, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Store a repository WebHook as Gitee keeps it (its `password` in clear: Gitee signs with it)
    from `settings` in the shape of a create request (`url`, `password`, `encryption_type`, the
    `*_events` flags), and return it. Tests seed existing hooks with it."""
    hook_id = state.new_id()
    hook: dict[str, Any] = {"id": int(hook_id), "project_id": 1, "result": None, "result_code": None}
    _configure(hook, settings)
    hook["created_at"] = STAMP
    state.hooks[hook_id] = hook
    return hook


def make_app(state: HostState) -> web.Application:
    full_name = state.repository
    repo_path = f"{BASE_PATH}/repos/{{owner}}/{{repo}}"
    routes = web.RouteTableDef()

    check = repository_check(
        _error,
        named=lambda match: f"{match['owner']}/{match['repo']}" == full_name,
        missing=lambda match: "Not Found Project",
        forbidden=(403, "403 Forbidden"),
    )
    hook_of = serve_hooks(
        routes,
        state,
        f"{repo_path}/hooks",
        "id",
        manage=lambda request: check(request, admin=True),
        missing=lambda match: _error(404, "404 Not Found"),
        page=lambda request, items: _page(request, state, items),
    )

    @routes.get(repo_path)
    async def get_repository(request: web.Request) -> web.Response:
        check(request)
        admin = is_admin(request)
        owner, name = full_name.split("/")
        return web.json_response(
            {
                "id": 1,
                "full_name": full_name,
                "human_name": f"{owner}/{name}",
                "path": name,
                "name": name,
                "namespace": {"path": owner},
                "html_url": f"{WEB_URL}/{full_name}.git",
                "private": True,
                "permission": {"pull": True, "push": admin, "admin": admin},
            }
        )

    @routes.post(f"{repo_path}/hooks")
    async def create_hook(request: web.Request) -> web.Response:
        check(request, admin=True)
        hook = add_hook(state, await json_body(request, _error, ("url",)))
        return web.json_response(hook, status=201)

    @routes.patch(f"{repo_path}/hooks/{{id}}")
    async def update_hook(request: web.Request) -> web.Response:
        hook = hook_of(request)
        _configure(hook, await json_body(request, _error, ("url",)))
        return web.json_response(hook)

    @routes.post(f"{repo_path}/check-runs")
    async def create_check_run(request: web.Request) -> web.Response:
        check(request, admin=True)
        body = await json_body(request, _error, ("name", "head_sha"))
        output = body.get("output")
        if not isinstance(output, dict) or not output.get("title") or output.get("summary") is None:
            raise Refusal(_error(400, "output[title], output[summary] are missing"))
        if body.get("status", "queued") not in CHECK_STATUSES or (
            body.get("conclusion") is not None and body["conclusion"] not in CONCLUSIONS
        ):
            raise Refusal(_error(400, "status, conclusion does not have a valid value"))
        state.statuses.append({**body, "sha": body["head_sha"]})
        check_id = int(state.new_id())
        url = f"{request.url.origin()}{BASE_PATH}/repos/{full_name}/check-runs/{check_id}"
        return web.json_response({"id": check_id, "url": url, **body}, status=201)

    @routes.get(f"{repo_path}/branches")
    async def branches(request: web.Request) -> web.Response:
        check(request)
        values = [
            {"name": name, "commit": {"sha": commit, "url": ""}, "protected": False}
            for name, commit in state.branches.items()
        ]
        return _page(request, state, values)

    @routes.get(f"{repo_path}/tags")
    async def tags(request: web.Request) -> web.Response:
        check(request)
        values = [
            {"name": name, "message": "", "commit": {"sha": commit, "date": STAMP}}
            for name, (commit, _) in state.tags.items()
        ]
        return _page(request, state, values)

    return host_app(state, routes, HOST)
