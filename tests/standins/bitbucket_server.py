"""Bitbucket Server / Data Center stand-in: the calls `kiln.codehosts.bitbucket_server` makes, as
the Data Center REST docs give them (`/rest/api/1.0` repositories, webhooks, branches and tags;
`/rest/build-status/1.0/commits/{commitId}`).

The token is an HTTP access token sent as `Authorization: Bearer`. Lists are paged with `start`/
`limit` and answered with `size`, `limit`, `start`, `isLastPage` and `nextPageStart`; errors are
`{"errors": [{"context", "message", "exceptionName"}]}`; a caller without REPO_ADMIN gets 401 on
webhooks, as the server answers an authorisation failure. Build statuses answer 204.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.standins import HostState
from tests.standins._common import (
    Host,
    Refusal,
    authorization,
    host_app,
    json_body,
    query_int,
    repository_check,
    serve_hooks,
)

BASE_PATH = "/rest"
PUSH_EVENT = "repo:refs_changed"
BUILD_STATES = frozenset({"INPROGRESS", "SUCCESSFUL", "FAILED"})
DEFAULT_LIMIT = 25
# when hooks are created and updated (epoch milliseconds)
STAMP = 1714564800000
_EXCEPTIONS = {
    400: "com.atlassian.bitbucket.validation.ArgumentValidationException",
    401: "com.atlassian.bitbucket.AuthorisationException",
    404: "com.atlassian.bitbucket.NoSuchEntityException",
}


def _error(status: int, message: str) -> web.Response:
    error = {"context": None, "message": message, "exceptionName": _EXCEPTIONS.get(status)}
    return web.json_response({"errors": [error]}, status=status)


HOST = Host(
    error=_error,
    token_of=authorization,
    unauthorized="Authentication failed. Please check your credentials and try again.",
)


def _page(request: web.Request, state: HostState, items: list[dict[str, Any]]) -> web.Response:
    """Bitbucket Server's page: `limit` capped at the host's page size."""
    start = query_int(request, "start", 0)
    limit = max(1, min(query_int(request, "limit", DEFAULT_LIMIT), state.page_size))
    values = items[start : start + limit]
    last = start + limit >= len(items)
    body: dict[str, Any] = {
        "size": len(values),
        "limit": limit,
        "isLastPage": last,
        "values": values,
        "start": start,
    }
    if not last:
        body["nextPageStart"] = start + limit
    return web.json_response(body)


def _configure(hook: dict[str, Any], body: Mapping[str, Any]) -> None:
    hook.update({k: body[k] for k in ("name", "url", "events", "active") if k in body})
    hook["configuration"] = dict(body.get("configuration") or {})
    hook["updatedDate"] = STAMP


def add_hook(state: HostState, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Store a repository webhook as the server keeps it (its `configuration` with the secret) from
    `settings` in the shape of a create request (`name`, `url`, `events`, `active`,
    `configuration`), and return it. Tests seed existing hooks with it."""
    hook_id = state.new_id()
    hook: dict[str, Any] = {"id": int(hook_id), "createdDate": STAMP, "active": True}
    _configure(hook, settings)
    hook["scopeType"] = "repository"
    state.hooks[hook_id] = hook
    return hook


def _shown(hook: dict[str, Any]) -> dict[str, Any]:
    configuration = {k: v for k, v in hook["configuration"].items() if k != "secret"}
    return {**hook, "configuration": configuration}


def _ref(kind: str, prefix: str, name: str, commit: str, tag_object: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": prefix + name, "displayId": name, "type": kind}
    found.update(latestCommit=commit, latestChangeset=commit)
    if kind == "TAG":
        found["hash"] = tag_object  # the tag object of an annotated tag, null for a lightweight one
    return found


def make_app(state: HostState) -> web.Application:
    project, slug = state.repository.split("/")
    repo_path = f"{BASE_PATH}/api/1.0/projects/{{project}}/repos/{{slug}}"
    routes = web.RouteTableDef()

    check = repository_check(
        _error,
        named=lambda match: match["project"].upper() == project.upper() and match["slug"] == slug,
        missing=lambda match: f"Repository {match['project']}/{match['slug']} does not exist.",
        forbidden=(401, "You are not permitted to access this resource"),
    )
    hook_of = serve_hooks(
        routes,
        state,
        f"{repo_path}/webhooks",
        "id",
        manage=lambda request: check(request, admin=True),
        missing=lambda match: _error(404, f"No webhook with id {match['id']} exists."),
        page=lambda request, items: _page(request, state, items),
        shown=_shown,
    )

    @routes.get(repo_path)
    async def get_repository(request: web.Request) -> web.Response:
        check(request)
        origin = request.url.origin()
        return web.json_response(
            {
                "slug": slug,
                "id": 1,
                "name": slug,
                "scmId": "git",
                "state": "AVAILABLE",
                "forkable": True,
                "project": {"key": project, "id": 1, "name": project},
                "public": False,
                "links": {
                    "clone": [{"href": f"{origin}/scm/{project.lower()}/{slug}.git", "name": "http"}],
                    "self": [{"href": f"{origin}/projects/{project}/repos/{slug}/browse"}],
                },
            }
        )

    @routes.post(f"{repo_path}/webhooks")
    async def create_hook(request: web.Request) -> web.Response:
        check(request, admin=True)
        hook = add_hook(state, await json_body(request, _error, ("name", "url", "events")))
        return web.json_response(_shown(hook), status=201)

    @routes.put(f"{repo_path}/webhooks/{{id}}")
    async def update_hook(request: web.Request) -> web.Response:
        hook = hook_of(request)
        _configure(hook, await json_body(request, _error, ("url", "events")))
        return web.json_response(_shown(hook))

    @routes.post(f"{BASE_PATH}/build-status/1.0/commits/{{commit}}")
    async def build_status(request: web.Request) -> web.Response:
        body = await json_body(request, _error, ("state", "key", "url"))
        if body["state"] not in BUILD_STATES:
            raise Refusal(_error(400, f"state must be one of {sorted(BUILD_STATES)}"))
        state.statuses.append({**body, "sha": request.match_info["commit"]})
        return web.Response(status=204)

    @routes.get(f"{repo_path}/branches")
    async def branches(request: web.Request) -> web.Response:
        check(request)
        values = [_ref("BRANCH", "refs/heads/", name, commit) for name, commit in state.branches.items()]
        return _page(request, state, values)

    @routes.get(f"{repo_path}/tags")
    async def tags(request: web.Request) -> web.Response:
        check(request)
        values = [_ref("TAG", "refs/tags/", name, commit, tag) for name, (commit, tag) in state.tags.items()]
        return _page(request, state, values)

    return host_app(state, routes, HOST)
