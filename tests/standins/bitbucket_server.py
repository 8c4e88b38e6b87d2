"""Bitbucket Server / Data Center stand-in: the calls `kiln.codehosts.bitbucket_server` makes, as
the Data Center REST docs give them (`/rest/api/1.0` repositories, webhooks, branches and tags;
`/rest/build-status/1.0/commits/{commitId}`).

The token is an HTTP access token sent as `Authorization: Bearer`. Lists are paged with `start`/
`limit` and answered with `size`, `limit`, `start`, `isLastPage` and `nextPageStart`; errors are
`{"errors": [{"context", "message", "exceptionName"}]}`; a caller without REPO_ADMIN gets 401 on
webhooks, as the server answers an authorisation failure. Build statuses answer 204.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.standins import HostState
from tests.standins.bitbucket import ADMIN, ROLE, Refusal, bearer, host_app, json_body

BASE_PATH = "/rest"
PUSH_EVENT = "repo:refs_changed"
BUILD_STATES = frozenset({"INPROGRESS", "SUCCESSFUL", "FAILED"})
_EXCEPTIONS = {
    400: "com.atlassian.bitbucket.validation.ArgumentValidationException",
    401: "com.atlassian.bitbucket.AuthorisationException",
    404: "com.atlassian.bitbucket.NoSuchEntityException",
}


def _error(status: int, message: str) -> web.Response:
    error = {"context": None, "message": message, "exceptionName": _EXCEPTIONS.get(status)}
    return web.json_response({"errors": [error]}, status=status)


def _page(request: web.Request, state: HostState, items: list[dict[str, Any]]) -> web.Response:
    """Bitbucket Server's page: `limit` capped at the host's page size."""
    start = max(0, int(request.query.get("start", "0")))
    limit = min(int(request.query.get("limit", "25")), state.page_size)
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


def make_app(state: HostState) -> web.Application:
    project, slug = state.repository.split("/")
    repo_path = f"{BASE_PATH}/api/1.0/projects/{{project}}/repos/{{slug}}"

    def check(request: web.Request, admin: bool = False) -> None:
        match = request.match_info
        if match["project"].upper() != project.upper() or match["slug"] != slug:
            raise Refusal(_error(404, f"Repository {match['project']}/{match['slug']} does not exist."))
        if admin and request[ROLE] != ADMIN:
            raise Refusal(_error(401, "You are not permitted to access this resource"))

    def shown(hook: dict[str, Any]) -> dict[str, Any]:
        configuration = {k: v for k, v in hook["configuration"].items() if k != "secret"}
        return {**hook, "configuration": configuration}

    def hook_of(request: web.Request) -> dict[str, Any]:
        check(request, admin=True)
        hook = state.hooks.get(request.match_info["id"])
        if hook is None:
            raise Refusal(_error(404, f"No webhook with id {request.match_info['id']} exists."))
        return hook

    def configure(hook: dict[str, Any], body: dict[str, Any]) -> None:
        hook.update({k: body[k] for k in ("name", "url", "events", "active") if k in body})
        hook["configuration"] = dict(body.get("configuration") or {})
        hook["updatedDate"] = 1714564800000

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

    async def list_hooks(request: web.Request) -> web.Response:
        check(request, admin=True)
        return _page(request, state, [shown(h) for h in state.hooks.values()])

    async def create_hook(request: web.Request) -> web.Response:
        check(request, admin=True)
        body = await json_body(request, _error, ("name", "url", "events"))
        hook_id = state.new_id()
        hook: dict[str, Any] = {"id": int(hook_id), "createdDate": 1714564800000, "active": True}
        configure(hook, body)
        hook["scopeType"] = "repository"
        state.hooks[hook_id] = hook
        return web.json_response(shown(hook), status=201)

    async def update_hook(request: web.Request) -> web.Response:
        hook = hook_of(request)
        configure(hook, await json_body(request, _error, ("url", "events")))
        return web.json_response(shown(hook))

    async def delete_hook(request: web.Request) -> web.Response:
        hook_of(request)
        del state.hooks[request.match_info["id"]]
        return web.Response(status=204)

    async def build_status(request: web.Request) -> web.Response:
        body = await json_body(request, _error, ("state", "key", "url"))
        if body["state"] not in BUILD_STATES:
            raise Refusal(_error(400, f"state must be one of {sorted(BUILD_STATES)}"))
        state.statuses.append({**body, "sha": request.match_info["commit"]})
        return web.Response(status=204)

    def ref(kind: str, prefix: str, name: str, commit: str, tag_object: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {"id": prefix + name, "displayId": name, "type": kind}
        found.update(latestCommit=commit, latestChangeset=commit)
        if kind == "TAG":
            found["hash"] = tag_object  # the tag object of an annotated tag, null for a lightweight one
        return found

    async def branches(request: web.Request) -> web.Response:
        check(request)
        values = [ref("BRANCH", "refs/heads/", name, commit) for name, commit in state.branches.items()]
        return _page(request, state, values)

    async def tags(request: web.Request) -> web.Response:
        check(request)
        values = [ref("TAG", "refs/tags/", name, commit, tag) for name, (commit, tag) in state.tags.items()]
        return _page(request, state, values)

    routes = [
        web.get(repo_path, get_repository),
        web.get(f"{repo_path}/webhooks", list_hooks),
        web.post(f"{repo_path}/webhooks", create_hook),
        web.put(f"{repo_path}/webhooks/{{id}}", update_hook),
        web.delete(f"{repo_path}/webhooks/{{id}}", delete_hook),
        web.post(f"{BASE_PATH}/build-status/1.0/commits/{{commit}}", build_status),
        web.get(f"{repo_path}/branches", branches),
        web.get(f"{repo_path}/tags", tags),
    ]
    return host_app(
        state,
        routes,
        token_of=bearer,
        error=_error,
        unauthorized="Authentication failed. Please check your credentials and try again.",
    )
