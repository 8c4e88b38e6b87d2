"""What the five stand-ins share: the way a host meets a request before serving it, and the small
pieces of paging and request reading that do not depend on the host's wire format.

`host_app` records every request as it was sent (method, raw path with query) in `state.requests`,
answers `state.fail_next` first (429 and 503 with `Retry-After: state.retry_after`), then refuses
with 401 any token but the two the host knows: `state.token`, the repository's admin (whose rights
a host's own state may lower: GitHubState.role, GitLabState.access_level), and `reader_token(state)`,
a user who may read the repository but not administer it. Handlers ask `is_admin(request)` and
answer a host's error by raising `Refusal`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from aiohttp import web

from tests.standins import HostState

ADMIN, READER = "admin", "read"
# the caller's role, set by `host_app`'s middleware
ROLE = web.RequestKey("role", str)

ErrorResponse = Callable[[int, str], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# one page of a list, the host's way (the request says which page)
PageAnswer = Callable[[web.Request, list[dict[str, Any]]], web.Response]


def is_admin(request: web.Request) -> bool:
    """Whether the caller holds the admin's token (`state.token`), not the reader's."""
    return request[ROLE] == ADMIN


def reader_token(state: HostState) -> str:
    """The token of a user who may read the repository but not administer it."""
    return f"{state.token}-reader"


def authorization(request: web.Request, schemes: Sequence[str] = ("bearer",)) -> str | None:
    """The token of `Authorization: <scheme> <token>` for one of `schemes` (lower case)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() in schemes else None


class Refusal(Exception):
    """Raised by a handler to answer `response` (the host's error) instead."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class Host:
    """How a host meets a request before a handler serves it. `error` is its error answer;
    `failure` its answer of a `fail_next` status (default: `error` with the status's phrase);
    `unauthorized` its 401 words for a token it does not know (`anonymous`: for no token at all);
    `not_found` its 404 words for a path it does not serve (None: aiohttp's own 404); `served` sees
    every answer a handler gave (a host's headers on them)."""

    error: ErrorResponse
    token_of: Callable[[web.Request], str | None]
    unauthorized: str
    anonymous: str | None = None
    failure: Callable[[HostState, int, str], web.Response] | None = None
    not_found: str | None = None
    served: Callable[[HostState, web.StreamResponse], None] | None = None


def host_app(state: HostState, routes: Iterable[web.AbstractRouteDef], host: Host) -> web.Application:
    """An app serving `routes` of one repository on `host`, behind the module docstring's middleware."""
    error = host.error

    @web.middleware
    async def meet(request: web.Request, handler: Handler) -> web.StreamResponse:
        state.requests.append((request.method, request.raw_path))
        if state.fail_next:
            status = state.fail_next.pop(0)
            phrase = HTTPStatus(status).phrase
            failed = host.failure(state, status, phrase) if host.failure else error(status, phrase)
            if status in (429, 503):
                failed.headers["Retry-After"] = str(state.retry_after)
            return failed
        token = host.token_of(request)
        role = {state.token: ADMIN, reader_token(state): READER}.get(token or "")
        if role is None:
            return error(401, host.anonymous if token is None and host.anonymous else host.unauthorized)
        request[ROLE] = role
        try:
            response = await handler(request)
        except Refusal as refusal:
            response = refusal.response
        except web.HTTPNotFound:
            if host.not_found is None:
                raise
            response = error(404, host.not_found)
        if host.served is not None:
            host.served(state, response)
        return response

    app = web.Application(middlewares=[meet])
    app.add_routes(routes)
    return app


def query_int(request: web.Request, name: str, default: int) -> int:
    """A number of the query string; `default` when it is absent or not a number."""
    value = request.query.get(name, "")
    return int(value) if value.isdigit() else default


@dataclass(frozen=True)
class Page:
    """One page of a list paged by number (from 1) and size."""

    number: int
    size: int
    total: int

    @property
    def count(self) -> int:
        """How many pages the list has (0 when it is empty)."""
        return math.ceil(self.total / self.size)

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size

    def of(self, items: Sequence[Any]) -> list[Any]:
        return list(items[self.start : self.start + self.size])


def numbered_page(
    request: web.Request, state: HostState, total: int, *, size: str, default: int, most: int | None = None
) -> Page:
    """The page of a list of `total` items a request asks for: `page` (1 when absent) of the size
    its `size` parameter asks (`default` when absent), at most `most` and the host's page size."""
    wanted = min(query_int(request, size, default), state.page_size, *([] if most is None else [most]))
    return Page(number=max(query_int(request, "page", 1), 1), size=max(wanted, 1), total=total)


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


class Check(Protocol):
    """A handler's first check (`repository_check`); `admin`: the caller must be the admin."""

    def __call__(self, request: web.Request, admin: bool = False) -> None: ...


def repository_check(
    error: ErrorResponse,
    *,
    named: Callable[[Mapping[str, str]], bool],
    missing: Callable[[Mapping[str, str]], str],
    forbidden: tuple[int, str],
) -> Check:
    """The check a handler makes first: the host's 404 (`missing` words of the path's match) unless
    the path `named` the repository; then, with `admin`, the host's refusal `forbidden` (status,
    words) unless the caller is the admin."""

    def check(request: web.Request, admin: bool = False) -> None:
        if not named(request.match_info):
            raise Refusal(error(404, missing(request.match_info)))
        if admin and not is_admin(request):
            raise Refusal(error(*forbidden))

    return check


def serve_hooks(
    routes: web.RouteTableDef,
    state: HostState,
    collection: str,
    key: str,
    *,
    manage: Callable[[web.Request], None],
    missing: Callable[[Mapping[str, str]], web.Response],
    page: PageAnswer,
    shown: Callable[[dict[str, Any]], dict[str, Any]] = dict,
) -> Callable[[web.Request], dict[str, Any]]:
    """Serve what every host does alike with a repository's hooks: `GET collection` answers one page
    of them as the host shows them (`shown`), `DELETE collection/{key}` removes one (204); both after
    `manage`, the host's check that the caller may manage them. `key` is the path parameter naming a
    hook (with its pattern: `uid:[^/]+`). Returns the lookup of the hook a path names, raising the
    host's `missing` answer (given the path's match) when there is none: the host's own update
    handler finds its hook with it."""
    name = key.partition(":")[0]

    def hook_of(request: web.Request) -> dict[str, Any]:
        manage(request)
        hook = state.hooks.get(request.match_info[name])
        if hook is None:
            raise Refusal(missing(request.match_info))
        return hook

    @routes.get(collection)
    async def list_hooks(request: web.Request) -> web.Response:
        manage(request)
        return page(request, [shown(hook) for hook in state.hooks.values()])

    @routes.delete(f"{collection}/{{{key}}}")
    async def delete_hook(request: web.Request) -> web.Response:
        hook_of(request)
        del state.hooks[request.match_info[name]]
        return web.Response(status=204)

    return hook_of
