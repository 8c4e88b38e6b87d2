"""Bitbucket Cloud REST 2.0 stand-in: the calls `kiln.codehosts.bitbucket` makes, as
https://developer.atlassian.com/cloud/bitbucket/rest/ documents them (api-group-repositories,
-users `/user/permissions/repositories`, -webhooks, -commit-statuses, -refs).

The token is sent as `Authorization: Bearer`. Lists are paginated with `values`, `page`,
`pagelen`, `size` and an absolute `next` URL; errors are `{"type": "error", "error": {"message":
...}}`. Hooks are kept with their secret (the host stores it) but answered, as Bitbucket does, with
`secret_set` instead; their ids are braced UUIDs.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.standins import HostState
from tests.standins._common import (
    Host,
    Refusal,
    authorization,
    host_app,
    is_admin,
    json_body,
    numbered_page,
    repository_check,
    serve_hooks,
)

BASE_PATH = "/2.0"
WEB_URL = "https://bitbucket.org"
STATUS_STATES = frozenset({"INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"})
DEFAULT_PAGELEN = 10


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"type": "error", "error": {"message": message}}, status=status)


HOST = Host(
    error=_error,
    token_of=authorization,
    unauthorized="Token is invalid, expired, or not supported for this endpoint.",
)


def _page(request: web.Request, state: HostState, items: list[dict[str, Any]]) -> web.Response:
    """Bitbucket Cloud's page: `pagelen` capped at the host's page size, `next` an absolute URL."""
    page = numbered_page(request, state, len(items), size="pagelen", default=DEFAULT_PAGELEN)
    body: dict[str, Any] = {
        "pagelen": page.size,
        "size": len(items),
        "page": page.number,
        "values": page.of(items),
    }
    if page.number < page.count:
        body["next"] = str(request.url.update_query(page=page.number + 1, pagelen=page.size))
    return web.json_response(body)


def _repository(full_name: str) -> dict[str, Any]:
    return {
        "type": "repository",
        "full_name": full_name,
        "name": full_name.split("/")[1],
        "slug": full_name.split("/")[1],
        "is_private": True,
        "links": {"html": {"href": f"{WEB_URL}/{full_name}"}},
    }


def add_hook(
    state: HostState,
    url: str,
    secret: str | None = None,
    events: list[str] | None = None,
    description: str = "",
    active: bool = True,
) -> dict[str, Any]:
    """Store a repository webhook as Bitbucket keeps it (with its secret) and return it. Tests seed
    existing hooks with it."""
    uid = "{" + str(uuid.uuid4()) + "}"
    state.hooks[uid] = {
        "type": "webhook_subscription",
        "uuid": uid,
        "url": url,
        "description": description,
        "subject_type": "repository",
        "subject": _repository(state.repository),
        "active": active,
        "events": list(events or ["repo:push"]),
        "secret": secret,
        "created_at": "2024-05-01T12:00:00+00:00",
    }
    return state.hooks[uid]


def _shown(hook: dict[str, Any]) -> dict[str, Any]:
    answer = {k: v for k, v in hook.items() if k != "secret"}
    answer["secret_set"] = bool(hook.get("secret"))
    return answer


def _ref(kind: str, name: str, commit: str) -> dict[str, Any]:
    return {"type": kind, "name": name, "target": {"type": "commit", "hash": commit}}


def make_app(state: HostState) -> web.Application:
    full_name = state.repository
    repo_path = f"{BASE_PATH}/repositories/{{workspace}}/{{slug}}"
    routes = web.RouteTableDef()

    check = repository_check(
        _error,
        named=lambda match: f"{match['workspace']}/{match['slug']}".lower() == full_name.lower(),
        missing=lambda match: f"Repository {match['workspace']}/{match['slug']} not found",
        forbidden=(403, "You must be an administrator of this repository to manage its webhooks."),
    )
    hook_of = serve_hooks(
        routes,
        state,
        f"{repo_path}/hooks",
        "uid:[^/]+",
        manage=lambda request: check(request, admin=True),
        missing=lambda match: _error(404, "Webhook not found"),
        page=lambda request, items: _page(request, state, items),
        shown=_shown,
    )

    @routes.get(repo_path)
    async def get_repository(request: web.Request) -> web.Response:
        check(request)
        return web.json_response(_repository(full_name))

    @routes.get(f"{BASE_PATH}/user/permissions/repositories")
    async def permissions(request: web.Request) -> web.Response:
        wanted = request.query.get("q", "")
        values = []
        if wanted.replace(" ", "").lower() == f'repository.full_name="{full_name}"'.lower():
            permission = {
                "type": "repository_permission",
                "permission": "admin" if is_admin(request) else "read",
            }
            values.append({**permission, "user": {"type": "user"}, "repository": _repository(full_name)})
        return _page(request, state, values)

    @routes.post(f"{repo_path}/hooks")
    async def create_hook(request: web.Request) -> web.Response:
        check(request, admin=True)
        body = await json_body(request, _error, ("url", "events"))
        settings = {k: body[k] for k in ("secret", "description", "active") if k in body}
        hook = add_hook(state, body["url"], events=body["events"], **settings)
        return web.json_response(_shown(hook), status=201)

    @routes.put(f"{repo_path}/hooks/{{uid:[^/]+}}")
    async def update_hook(request: web.Request) -> web.Response:
        hook = hook_of(request)
        body = await json_body(request, _error, ("url", "events"))
        hook.update({k: body[k] for k in ("url", "description", "active", "events", "secret") if k in body})
        return web.json_response(_shown(hook))

    @routes.post(f"{repo_path}/commit/{{commit}}/statuses/build")
    async def build_status(request: web.Request) -> web.Response:
        check(request)
        body = await json_body(request, _error, ("key", "state", "url"))
        if body["state"] not in STATUS_STATES:
            raise Refusal(_error(400, f"state: {body['state']!r} is not one of {sorted(STATUS_STATES)}"))
        state.statuses.append({**body, "sha": request.match_info["commit"]})
        return web.json_response({"type": "build", **body}, status=201)

    @routes.get(f"{repo_path}/refs/branches")
    async def branches(request: web.Request) -> web.Response:
        check(request)
        values = [_ref("branch", name, commit) for name, commit in state.branches.items()]
        return _page(request, state, values)

    @routes.get(f"{repo_path}/refs/tags")
    async def tags(request: web.Request) -> web.Response:
        check(request)
        # annotated or not, a tag's target is the commit (the annotation sits beside it)
        values = [_ref("tag", name, commit) for name, (commit, _) in state.tags.items()]
        return _page(request, state, values)

    return host_app(state, routes, HOST)
