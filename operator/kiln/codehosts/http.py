"""The JSON-over-HTTPS client under the code hosts Kiln speaks to without a vendor library (Gitee,
Bitbucket Cloud, Bitbucket Server): base.py's promises kept in one place, and `JsonRepository`,
what those three clients do alike (a repository's webhooks as a collection of JSON objects, its
branches and tags as lists).

Every request has a timeout; 429, 5xx and connection failures are tried ATTEMPTS times in all,
waiting as the host asks (Retry-After in seconds or as an HTTP date; a rate-limit reset header) or
with exponential backoff, never longer than MAX_WAIT_SECONDS (further away: fail now and let the
controller's own backoff take over). Answers map onto base.py's errors carrying the host's own
message; the token is redacted from every message, and no exception chains to a urllib3 one
whose text holds the URL with its query string.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from functools import cached_property
from http import HTTPStatus
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode, urlsplit

import urllib3

from kiln.codehosts.base import (
    ATTEMPTS,
    MAX_WAIT_SECONDS,
    TIMEOUT_SECONDS,
    CodeHostError,
    Hook,
    NotFound,
    Unreachable,
    error_for,
    redact,
)
from kiln.rules.types import RefType

# the first retry's wait; each further retry doubles it
BACKOFF_SECONDS = 0.5
# more pages than this is a host that keeps saying "more": stop rather than loop forever
MAX_PAGES = 1000
USER_AGENT = "kiln"
# Retry-After is standard; the others are the rate-limit reset headers hosts send (epoch seconds,
# or seconds from now when small)
RESET_HEADERS = ("X-RateLimit-Reset", "RateLimit-Reset")
# an epoch timestamp rather than a delay: later than 2001-09-09
_EPOCH_THRESHOLD = 1_000_000_000

Params = Mapping[str, str | int]
# how a host pages its lists: `numbered_pages`, `next_pages` or `start_pages` (JsonHttp)
Pagination = Literal["numbered", "next", "start"]
# the host's own error message from its JSON error body, or None when the body has none
MessageOf = Callable[[Any], str | None]

# looked up at each wait, so tests can skip the waits
sleep: Callable[[float], None] = time.sleep


def segment(value: str) -> str:
    """One URL path segment, quoted whole: a project key, slug or hook id (`{uuid}`) can hold
    characters a path must not carry as they are."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer: its status, headers (case-insensitive) and parsed JSON body (None
    when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class JsonHttp:
    """One host's API at `base_url`, authenticated the client's way: `headers` (Authorization)
    and `params` (a query parameter such as Gitee's access_token) go with every request;
    `secrets` are redacted from every error message. One connection pool per client."""

    def __init__(
        self,
        base_url: str,
        *,
        message_of: MessageOf,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = (parts.scheme, parts.netloc)
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        self._params = dict(params or {})
        self._secrets = tuple(s for s in secrets if s)
        self._message_of = message_of
        # retries=False: this class retries itself, and redirects are answered, not followed
        # (following one could carry the token to another host)
        self._pool = urllib3.PoolManager(timeout=urllib3.Timeout(total=TIMEOUT_SECONDS), retries=False)

    def get(self, path: str, params: Params | None = None) -> Any:
        return self.request("GET", path, params).body

    def post(self, path: str, body: Any, params: Params | None = None) -> Any:
        return self.request("POST", path, params, body).body

    def delete(self, path: str, missing_ok: bool = False) -> None:
        """DELETE; with `missing_ok` a 404 (already gone) is success."""
        try:
            self.request("DELETE", path)
        except NotFound:
            if not missing_ok:
                raise

    def request(self, method: str, path: str, params: Params | None = None, body: Any = None) -> Response:
        """One call, retried as the module docstring says; raises a CodeHostError otherwise."""
        url = self._url(path, params)
        where = f"{method} {urlsplit(url)._replace(query='').geturl()}"
        payload = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        attempt = 1
        while True:
            try:
                raw = self._pool.request(method, url, body=payload, headers=headers, redirect=False)
            except urllib3.exceptions.HTTPError as error:
                failure: CodeHostError = Unreachable(self._redact(f"{where}: {error}"))
                wait = BACKOFF_SECONDS * 2 ** (attempt - 1)
            else:
                limited = _rate_limited(raw.status, raw.headers)
                if not limited and raw.status < 500:
                    return self._answer(where, raw)
                failure = self._error(where, raw, limited)
                wait = _retry_wait(raw.headers, attempt, limited)
            if attempt >= ATTEMPTS:
                raise failure
            if wait > MAX_WAIT_SECONDS:
                note = f" (the host asks to wait {wait:g}s, longer than {MAX_WAIT_SECONDS:g}s)"
                raise type(failure)(failure.message + note, failure.status)
            sleep(wait)
            attempt += 1

    def numbered_pages(self, path: str, params: Params | None = None, per_page: int = 100) -> Iterator[Any]:
        """Every item of a list paginated with `page`/`per_page` (Gitee), page after page until the
        `total_page` header's last one (or a short page when the header is missing)."""
        for page in range(1, MAX_PAGES + 1):
            answer = self.request("GET", path, {**(params or {}), "page": page, "per_page": per_page})
            items = _items(answer.body, path)
            yield from items
            total = answer.headers.get("total_page")
            last = int(total) if total and total.isdigit() else None
            if not items or (page >= last if last is not None else len(items) < per_page):
                return
        raise CodeHostError(f"GET {path}: more than {MAX_PAGES} pages")

    def next_pages(self, path: str, params: Params | None = None, pagelen: int = 100) -> Iterator[Any]:
        """Every item of a list paginated with `values` and a `next` URL (Bitbucket Cloud)."""
        url: str | None = path
        query: Params | None = {**(params or {}), "pagelen": pagelen}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            body = self.get(url, query)
            yield from _items(_field(body, "values", path), path)
            url, query = body.get("next"), None  # `next` carries the query itself
        raise CodeHostError(f"GET {path}: more than {MAX_PAGES} pages")

    def start_pages(self, path: str, params: Params | None = None, limit: int = 100) -> Iterator[Any]:
        """Every item of a list paginated with `start`/`limit`, `isLastPage` and `nextPageStart`
        (Bitbucket Server)."""
        start = 0
        for _ in range(MAX_PAGES):
            body = self.get(path, {**(params or {}), "start": start, "limit": limit})
            yield from _items(_field(body, "values", path), path)
            following = body.get("nextPageStart")
            if body.get("isLastPage", True) or not isinstance(following, int) or following <= start:
                return
            start = following
        raise CodeHostError(f"GET {path}: more than {MAX_PAGES} pages")

    def _url(self, path: str, params: Params | None) -> str:
        """`path` under the base URL, or an absolute URL the host gave (a `next` page) if it is on
        the same origin: the token goes nowhere else."""
        if "://" in path:
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc) != self._origin:
                raise CodeHostError(
                    self._redact(f"refusing to follow {parts.scheme}://{parts.netloc}: not the API's host")
                )
            url = path
        else:
            url = self.base_url + "/" + path.lstrip("/")
        query = urlencode({**self._params, **(params or {})})
        if not query:
            return url
        return url + ("&" if urlsplit(url).query else "?") + query

    def _answer(self, where: str, raw: urllib3.BaseHTTPResponse) -> Response:
        if not 200 <= raw.status < 300:
            raise self._error(where, raw, limited=False)
        text = raw.data.decode("utf-8", "replace").strip()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            raise CodeHostError(
                self._redact(f"{where}: {raw.status} answer is not JSON"), raw.status
            ) from None
        return Response(raw.status, raw.headers, body)

    def _error(self, where: str, raw: urllib3.BaseHTTPResponse, limited: bool) -> CodeHostError:
        status = raw.status
        text = f"{where}: {status} {self._message(raw)}"
        if 300 <= status < 400:
            text += f" (redirect to {raw.headers.get('Location', '?')}, not followed)"
        return error_for(self._redact(text), status, rate_limited=limited)

    def _message(self, raw: urllib3.BaseHTTPResponse) -> str:
        """The host's own words from its JSON error body, else the status's reason phrase."""
        try:
            found = self._message_of(json.loads(raw.data.decode("utf-8", "replace")))
        except (ValueError, TypeError, AttributeError, LookupError):
            found = None
        if isinstance(found, str) and found.strip():
            return found.strip()
        try:
            return raw.reason or HTTPStatus(raw.status).phrase
        except ValueError:
            return "error"

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def _rate_limited(status: int, headers: Mapping[str, str]) -> bool:
    """429, or a 403 that says the rate limit is used up (a limit, not a refusal of the token)."""
    return status == 429 or (status == 403 and headers.get("X-RateLimit-Remaining") == "0")


def _retry_wait(headers: Mapping[str, str], attempt: int, limited: bool) -> float:
    """Seconds to wait before the next attempt: what Retry-After asks, else (rate limited) until
    the reset header's time, else exponential backoff."""
    after = _seconds(headers.get("Retry-After"), http_date=True)
    if after is None and limited:
        after = next((s for s in (_seconds(headers.get(h)) for h in RESET_HEADERS) if s is not None), None)
    return after if after is not None else BACKOFF_SECONDS * 2 ** (attempt - 1)


def _seconds(value: str | None, http_date: bool = False) -> float | None:
    """A header's delay from now: seconds, an epoch timestamp, or (Retry-After) an HTTP date."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        if not http_date:
            return None
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:  # "-0000": UTC, said without a zone
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, moment.timestamp() - time.time())
    return max(0.0, number - time.time() if number > _EPOCH_THRESHOLD else number)


def _field(body: Any, name: str, path: str) -> Any:
    if not isinstance(body, dict):
        raise CodeHostError(f"GET {path}: expected a JSON object with {name!r}")
    return body.get(name)


def _items(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise CodeHostError(f"GET {path}: expected a JSON list")
    return value


class JsonRepository:
    """One repository of a host spoken to with JsonHttp, with a token that authenticates as
    `Authorization: Bearer` or (TOKEN_PARAMETER) as a query parameter. Its webhooks are the
    collection `HOOKS` under the repository's path, each a JSON object with `url` and an id
    (`HOOK_ID`), replaced with `UPDATE`; its branches and tags are the lists `REFS` under it; every
    list is paged the host's way (`PAGINATION`).

    A subclass names the repository's path (`REPOSITORY`, formatted with the repository path's two
    segments, quoted) and says the host's words: `message_of` (its error body), `_hook_body` (a
    push hook's settings) and `_ref` (a list item's ref and commit).
    """

    REPOSITORY: ClassVar[str]
    PAGINATION: ClassVar[Pagination]
    TOKEN_PARAMETER: ClassVar[str | None] = None
    HOOKS: ClassVar[str] = "hooks"
    HOOK_ID: ClassVar[str] = "id"
    UPDATE: ClassVar[str] = "PUT"
    REFS: ClassVar[Mapping[RefType, str]] = {RefType.BRANCH: "branches", RefType.TAG: "tags"}

    def __init__(self, base_url: str, repository_path: str, token: str) -> None:
        first, second = repository_path.split("/", 1)
        self.repository = repository_path
        self._repo = self.REPOSITORY.format(segment(first), segment(second))
        self._hooks = f"{self._repo}/{self.HOOKS}"
        in_query = self.TOKEN_PARAMETER is not None
        self._http = JsonHttp(
            base_url,
            headers=None if in_query else {"Authorization": f"Bearer {token}"},
            params={str(self.TOKEN_PARAMETER): token} if in_query else None,
            secrets=[token],
            message_of=self.message_of,
        )

    @staticmethod
    def message_of(body: Any) -> str | None:
        """The host's own message in its JSON error body."""
        raise NotImplementedError

    def hooks(self) -> list[Hook]:
        return [self._hook(h) for h in self._pages(self._hooks)]

    def create_hook(self, url: str, secret: str) -> Hook:
        return self._hook(self._http.post(self._hooks, self._hook_body(url, secret)))

    def update_hook(self, hook_id: str, url: str, secret: str) -> Hook:
        path = f"{self._hooks}/{segment(hook_id)}"
        return self._hook(self._http.request(self.UPDATE, path, body=self._hook_body(url, secret)).body)

    def delete_hook(self, hook_id: str) -> None:
        self._http.delete(f"{self._hooks}/{segment(hook_id)}", missing_ok=True)

    def refs(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for kind, what in self.REFS.items():
            for item in self._pages(f"{self._repo}/{what}"):
                name, commit = self._ref(kind, item)
                found[name] = commit
        return found

    @cached_property
    def _repository(self) -> Any:
        """The repository's JSON object, fetched once."""
        return self._http.get(self._repo)

    def _hook(self, body: Any) -> Hook:
        return Hook(str(body[self.HOOK_ID]), str(body["url"]))

    def _pages(self, path: str, params: Params | None = None) -> Iterator[Any]:
        """Every item of the list at `path`, page after page."""
        pages = {
            "numbered": self._http.numbered_pages,
            "next": self._http.next_pages,
            "start": self._http.start_pages,
        }
        return pages[self.PAGINATION](path, params)

    def _hook_body(self, url: str, secret: str) -> dict[str, Any]:
        """A webhook for pushes of branches and tags, delivering to `url`, verified with `secret`."""
        raise NotImplementedError

    def _ref(self, kind: RefType, item: Any) -> tuple[str, str]:
        """A branch's or tag's full ref name and commit id, from an item of its list."""
        raise NotImplementedError
