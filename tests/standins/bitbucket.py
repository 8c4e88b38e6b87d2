"""Bitbucket Cloud REST 2.0 stand-in: the calls `kiln.codehosts.bitbucket` makes, as
https://developer.atlassian.com/cloud/bitbucket/rest/ documents them (api-group-repositories,
-users `/user/permissions/repositories`, -webhooks, -commit-statuses, -refs).

Lists are paginated with `values`, `page`, `pagelen`, `size` and an absolute `next` URL; errors
are `{"type": "error", "error": {"message": ...}}`. Hooks are kept with their secret (the host
stores it) but answered, as Bitbucket does, with `secret_set` instead.

This module also holds what the three stand-ins of the `kiln.codehosts.http` clients share
(`host_app`, `ROLE`, `reader_token`, `bearer`, `json_body`, `Refusal`): request recording,
`fail_next`, authentication, the host's 400s. Each host knows two tokens: `state.token`, a repository admin, and `reader_token(state)`, a user
who may read the repository but not administer it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.standins import HostState

BASE_PATH = "/2.0"
WEB_URL = "https://bitbucket.org"
STATUS_STATES = frozenset({"INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"})
ADMIN, READER = "admin", "read"
# the caller's role, set by `host_app`'s middleware
ROLE = web.RequestKey("role", str)

ErrorResponse = Callable[[int, str], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reader_token(state: HostState) -> str:
    """The token of a user who may read the repository but not administer it."""
    return f"{state.token}-reader"


def bearer(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def host_app(
    state: HostState,
    routes: Iterable[web.RouteDef],
    *,
    token_of: Callable[[web.Request], str | None],
    error: ErrorResponse,
    unauthorized: str,
) -> web.Application:
    """An app serving `routes` that first records the request, then answers `state.fail_next`
    (429 and 503 with Retry-After: 1), then refuses any token but the two it knows (401 with
    `unauthorized`); handlers find the caller's role in `request[ROLE]`."""

    @web.middleware
    async def host(request: web.Request, handler: Handler) -> web.StreamResponse:
        state.requests.append((request.method, request.path_qs))
        if state.fail_next:
            status = state.fail_next.pop(0)
            response = error(status, HTTPStatus(status).phrase)
            if status in (429, 503):
                response.headers["Retry-After"] = "1"
            return response
        token = token_of(request)
        roles = {state.token: ADMIN, reader_token(state): READER}
        if token not in roles:
            return error(401, unauthorized)
        request[ROLE] = roles[token]
        try:
            return await handler(request)
        except Refusal as refusal:
            return refusal.response

    app = web.Application(middlewares=[host])
    app.add_routes(routes)
    return app


async def json_body(request: web.Request, error: ErrorResponse, required: Sequence[str]) -> dict[str, Any]:
    """The request's JSON object; raises the host's 400 when it is not one or lacks `required`."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refusal(error(400, "the request body must be a JSON object"))
    missing = [name for name in required if body.get(name) in (None, "", [])]
    if missing:
        raise Refusal(error(400, f"{', '.join(missing)}: this field is required"))
    return body


class Refusal(Exception):
    """Raised by a handler to answer `response` (the host's error) instead."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"type": "error", "error": {"message": message}}, status=status)


def _page(request: web.Request, state: HostState, items: list[dict[str, Any]]) -> web.Response:
    """Bitbucket Cloud's page: `pagelen` capped at the host's page size, `next` an absolute URL."""
    page = max(1, int(request.query.get("page", "1")))
    pagelen = min(int(request.query.get("pagelen", "10")), state.page_size)
    start = (page - 1) * pagelen
    body: dict[str, Any] = {
        "pagelen": pagelen,
        "size": len(items),
        "page": page,
        "values": items[start : start + pagelen],
    }
    if start + pagelen < len(items):
        body["next"] = str(request.url.update_query(page=page + 1, pagelen=pagelen))
    return web.json_response(body)


def make_app(state: HostState) -> web.Application:
    full_name = state.repository
    repo_path = f"{BASE_PATH}/repositories/{{workspace}}/{{slug}}"

    def check(request: web.Request, admin: bool = False) -> None:
        match = request.match_info
        if f"{match['workspace']}/{match['slug']}".lower() != full_name.lower():
            raise Refusal(_error(404, f"Repository {match['workspace']}/{match['slug']} not found"))
        if admin and request[ROLE] != ADMIN:
            raise Refusal(
                _error(403, "You must be an administrator of this repository to manage its webhooks.")
            )

    def repository() -> dict[str, Any]:
        return {
            "type": "repository",
            "full_name": full_name,
            "name": full_name.split("/")[1],
            "slug": full_name.split("/")[1],
            "is_private": True,
            "links": {"html": {"href": f"{WEB_URL}/{full_name}"}},
        }

    def shown(hook: dict[str, Any]) -> dict[str, Any]:
        answer = {k: v for k, v in hook.items() if k != "secret"}
        answer["secret_set"] = bool(hook.get("secret"))
        return answer

    def hook_of(request: web.Request) -> dict[str, Any]:
        check(request, admin=True)
        hook = state.hooks.get(request.match_info["uid"])
        if hook is None:
            raise Refusal(_error(404, "Webhook not found"))
        return hook

    async def get_repository(request: web.Request) -> web.Response:
        check(request)
        return web.json_response(repository())

    async def permissions(request: web.Request) -> web.Response:
        wanted = request.query.get("q", "")
        values = []
        if wanted.replace(" ", "").lower() == f'repository.full_name="{full_name}"'.lower():
            permission = {"type": "repository_permission", "permission": request[ROLE]}
            values.append({**permission, "user": {"type": "user"}, "repository": repository()})
        return _page(request, state, values)

    async def list_hooks(request: web.Request) -> web.Response:
        check(request, admin=True)
        return _page(request, state, [shown(h) for h in state.hooks.values()])

    async def create_hook(request: web.Request) -> web.Response:
        check(request, admin=True)
        body = await json_body(request, _error, ("url", "events"))
        uid = "{" + str(uuid.uuid4()) + "}"
        state.hooks[uid] = {
            "type": "webhook_subscription",
            "uuid": uid,
            "url": body["url"],
            "description": body.get("description", ""),
            "subject_type": "repository",
            "subject": repository(),
            "active": body.get("active", True),
            "events": body["events"],
            "secret": body.get("secret"),
            "created_at": "2024-05-01T12:00:00+00:00",
        }
        return web.json_response(shown(state.hooks[uid]), status=201)

    async def update_hook(request: web.Request) -> web.Response:
        hook = hook_of(request)
        body = await json_body(request, _error, ("url", "events"))
        hook.update({k: body[k] for k in ("url", "description", "active", "events", "secret") if k in body})
        return web.json_response(shown(hook))

    async def delete_hook(request: web.Request) -> web.Response:
        hook_of(request)
        del state.hooks[request.match_info["uid"]]
        return web.Response(status=204)

    async def build_status(request: web.Request) -> web.Response:
        check(request)
        body = await json_body(request, _error, ("key", "state", "url"))
        if body["state"] not in STATUS_STATES:
            raise Refusal(_error(400, f"state: {body['state']!r} is not one of {sorted(STATUS_STATES)}"))
        state.statuses.append({**body, "sha": request.match_info["commit"]})
        return web.json_response({"type": "build", **body}, status=201)

    async def branches(request: web.Request) -> web.Response:
        check(request)
        values = [_ref("branch", name, commit) for name, commit in state.branches.items()]
        return _page(request, state, values)

    async def tags(request: web.Request) -> web.Response:
        check(request)
        # annotated or not, a tag's target is the commit (the annotation sits beside it)
        values = [_ref("tag", name, commit) for name, (commit, _) in state.tags.items()]
        return _page(request, state, values)

    routes = [
        web.get(repo_path, get_repository),
        web.get(f"{BASE_PATH}/user/permissions/repositories", permissions),
        web.get(f"{repo_path}/hooks", list_hooks),
        web.post(f"{repo_path}/hooks", create_hook),
        web.put(f"{repo_path}/hooks/{{uid:[^/]+}}", update_hook),
        web.delete(f"{repo_path}/hooks/{{uid:[^/]+}}", delete_hook),
        web.post(f"{repo_path}/commit/{{commit}}/statuses/build", build_status),
        web.get(f"{repo_path}/refs/branches", branches),
        web.get(f"{repo_path}/refs/tags", tags),
    ]
    return host_app(
        state,
        routes,
        token_of=bearer,
        error=_error,
        unauthorized="Token is invalid, expired, or not supported for this endpoint.",
    )


def _ref(kind: str, name: str, commit: str) -> dict[str, Any]:
    return {"type": kind, "name": name, "target": {"type": "commit", "hash": commit}}
