"""Gitee API v5 stand-in: the calls `kiln.codehosts.gitee` makes, as https://gitee.com/api/v5/swagger
documents them (Repositories, WebHooks, Checks, branches and tags).

The token is the `access_token` query parameter. Lists are paginated with `page`/`per_page` and
the `total_count`/`total_page` response headers; errors are `{"message": ...}`. A repository's
`permission` object tells its caller's rights; WebHooks are for its admins. Check runs (Gitee's
report of a build on a commit) land in `state.statuses`.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from tests.standins import HostState
from tests.standins.bitbucket import ADMIN, ROLE, Refusal, host_app, json_body

BASE_PATH = "/api/v5"
WEB_URL = "https://gitee.com"
HOOK_EVENTS = ("push_events", "tag_push_events", "issues_events", "note_events", "merge_requests_events")
CHECK_STATUSES = frozenset({"queued", "in_progress", "completed"})
CONCLUSIONS = frozenset(
    {"neutral", "success", "failure", "cancelled", "action_required", "timed_out", "skipped"}
)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _token(request: web.Request) -> str | None:
    return request.query.get("access_token")


def _page(request: web.Request, state: HostState, items: list[dict[str, Any]]) -> web.Response:
    """Gitee's page: `per_page` capped at the host's page size; totals in the headers."""
    page = max(1, int(request.query.get("page", "1")))
    per_page = min(int(request.query.get("per_page", "20")), state.page_size)
    start = (page - 1) * per_page
    response = web.json_response(items[start : start + per_page])
    response.headers["total_count"] = str(len(items))
    response.headers["total_page"] = str(math.ceil(len(items) / per_page))
    return response


def make_app(state: HostState) -> web.Application:
    full_name = state.repository
    repo_path = f"{BASE_PATH}/repos/{{owner}}/{{repo}}"

    def check(request: web.Request, admin: bool = False) -> None:
        match = request.match_info
        if f"{match['owner']}/{match['repo']}" != full_name:
            raise Refusal(_error(404, "Not Found Project"))
        if admin and request[ROLE] != ADMIN:
            raise Refusal(_error(403, "403 Forbidden"))

    def hook_of(request: web.Request) -> dict[str, Any]:
        check(request, admin=True)
        hook = state.hooks.get(request.match_info["id"])
        if hook is None:
            raise Refusal(_error(404, "404 Not Found"))
        return hook

    def configure(hook: dict[str, Any], body: dict[str, Any]) -> None:
        hook["url"] = body["url"]
        hook["password"] = body.get("password", hook.get("password", ""))
        hook["encryption_type"] = int(body.get("encryption_type", hook.get("encryption_type", 0)))
        for event in HOOK_EVENTS:
            default = event == "push_events"  # Gitee's default: pushes only
            hook[event] = bool(body.get(event, hook.get(event, default)))

    async def get_repository(request: web.Request) -> web.Response:
        check(request)
        admin = request[ROLE] == ADMIN
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

    async def list_hooks(request: web.Request) -> web.Response:
        check(request, admin=True)
        return _page(request, state, list(state.hooks.values()))

    async def create_hook(request: web.Request) -> web.Response:
        check(request, admin=True)
        body = await json_body(request, _error, ("url",))
        hook_id = state.new_id()
        hook: dict[str, Any] = {"id": int(hook_id), "project_id": 1, "result": None, "result_code": None}
        configure(hook, body)
        hook["created_at"] = "2024-05-01T20:00:00+08:00"
        state.hooks[hook_id] = hook
        return web.json_response(hook, status=201)

    async def update_hook(request: web.Request) -> web.Response:
        hook = hook_of(request)
        configure(hook, await json_body(request, _error, ("url",)))
        return web.json_response(hook)

    async def delete_hook(request: web.Request) -> web.Response:
        hook_of(request)
        del state.hooks[request.match_info["id"]]
        return web.Response(status=204)

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

    async def branches(request: web.Request) -> web.Response:
        check(request)
        values = [
            {"name": name, "commit": {"sha": commit, "url": ""}, "protected": False}
            for name, commit in state.branches.items()
        ]
        return _page(request, state, values)

    async def tags(request: web.Request) -> web.Response:
        check(request)
        values = [
            {"name": name, "message": "", "commit": {"sha": commit, "date": "2024-05-01T20:00:00+08:00"}}
            for name, (commit, _) in state.tags.items()
        ]
        return _page(request, state, values)

    routes = [
        web.get(repo_path, get_repository),
        web.get(f"{repo_path}/hooks", list_hooks),
        web.post(f"{repo_path}/hooks", create_hook),
        web.patch(f"{repo_path}/hooks/{{id}}", update_hook),
        web.delete(f"{repo_path}/hooks/{{id}}", delete_hook),
        web.post(f"{repo_path}/check-runs", create_check_run),
        web.get(f"{repo_path}/branches", branches),
        web.get(f"{repo_path}/tags", tags),
    ]
    return host_app(
        state,
        routes,
        token_of=_token,
        error=_error,
        unauthorized="401 Unauthorized: Access token does not exist",
    )
