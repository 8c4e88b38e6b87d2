"""List+watch threads that keep a `ResourceCache` current (the sync kubernetes client, one thread per kind).

Each `Watcher` lists its resource (paginated), hands the full list to the cache, then watches from
the list's resourceVersion; when the watch ends (server timeout) it resumes from the last version
seen, a 410 Gone re-lists at once, and any other failure re-lists after a growing delay.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kiln.api.constants import BUILD_RULE, GROUP, LABEL_NAMESPACE, NAMESPACE, REPOSITORY, VERSION
from kiln.receiver import metrics
from kiln.receiver.cache import Kind, ResourceCache

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
PAGE_SIZE = 500
# The API server ends a watch after this long; reading waits a little longer, so a connection
# that died silently is noticed (bookmarks keep a healthy, quiet watch talking).
WATCH_SECONDS = 240
CONNECT_TIMEOUT = 5.0
LIST_READ_TIMEOUT = 60.0

HTTP_GONE = 410


def _lines(response: Any) -> Iterator[bytes]:
    """The newline-separated JSON documents of a watch response, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())


class _Gone(Exception):
    """The resourceVersion is too old to watch from: list again."""


@dataclass(frozen=True, slots=True)
class Source:
    """How to list and watch one kind: a list function of the kubernetes client plus its arguments."""

    kind: Kind
    list_fn: Callable[..., Any]
    args: tuple[str, ...] = ()
    selectors: Mapping[str, str] = field(default_factory=dict)


def sources(api_client: client.ApiClient) -> list[Source]:
    """Everything the webhook receiver lists and watches, cluster-wide."""
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    return [
        Source(Kind.TENANT, custom.list_cluster_custom_object, (GROUP, VERSION, NAMESPACE.plural)),
        Source(Kind.NAMESPACE, core.list_namespace, selectors={"label_selector": LABEL_NAMESPACE}),
        Source(Kind.REPOSITORY, custom.list_cluster_custom_object, (GROUP, VERSION, REPOSITORY.plural)),
        Source(Kind.BUILD_RULE, custom.list_cluster_custom_object, (GROUP, VERSION, BUILD_RULE.plural)),
        # no Secrets: the receiver reads webhook Secrets by name (kiln.receiver.secrets)
    ]


class Watcher:
    """One kind's list+watch loop, in a daemon thread."""

    def __init__(
        self, source: Source, cache: ResourceCache, *, backoff: Sequence[float] = BACKOFF_SECONDS
    ) -> None:
        self._source = source
        self._cache = cache
        self._backoff = backoff
        self._stopping = threading.Event()
        self._response: Any = None  # the open watch response, closed by stop() to unblock the read
        self._thread = threading.Thread(target=self._run, name=f"kiln-watch-{source.kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            # shutdown() unblocks a read in progress in another thread; close() alone may not
            getattr(response, "shutdown", response.close)()
        self._thread.join(timeout)

    def _call(self, **kwargs: Any) -> Any:
        source = self._source
        return source.list_fn(*source.args, **source.selectors, _preload_content=False, **kwargs)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                version = self._list()
                failures = 0
                while not self._stopping.is_set():
                    started = time.monotonic()
                    version = self._watch(version)
                    if time.monotonic() - started < 1.0:
                        # a watch the server ends at once (a proxy, an overloaded server): do not spin
                        self._stopping.wait(self._backoff[0])
            except _Gone:
                metrics.WATCH_RESTARTS.labels(self._source.kind.value, "gone").inc()
                log.info("watch of %s expired (410 Gone): listing again", self._source.kind)
            except Exception as error:  # any failure: the loop must survive it and list again
                if self._stopping.is_set():
                    return
                delay = self._backoff[min(failures, len(self._backoff) - 1)]
                failures += 1
                metrics.WATCH_RESTARTS.labels(self._source.kind.value, "error").inc()
                log.warning(
                    "list/watch of %s failed (%s: %s); retrying in %gs",
                    self._source.kind,
                    type(error).__name__,
                    str(error)[:300],
                    delay,
                )
                self._stopping.wait(delay)

    def _list(self) -> str:
        items: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            extra = {"_continue": token} if token else {}
            response = self._call(
                limit=PAGE_SIZE, _request_timeout=(CONNECT_TIMEOUT, LIST_READ_TIMEOUT), **extra
            )
            document = json.loads(response.data)
            items.extend(document.get("items") or [])
            metadata = document.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                break
        self._cache.replace(self._source.kind, items)
        return str(metadata["resourceVersion"])

    def _events(self, version: str) -> Iterator[Mapping[str, Any]]:
        response = self._call(
            watch=True,
            resource_version=version,
            timeout_seconds=WATCH_SECONDS,
            allow_watch_bookmarks=True,
            _request_timeout=(CONNECT_TIMEOUT, WATCH_SECONDS + 30),
        )
        self._response = response
        try:
            for line in _lines(response):
                yield json.loads(line)
        finally:
            self._response = None
            response.close()
            response.release_conn()

    def _watch(self, version: str) -> str:
        """Apply events until the watch ends; returns the resourceVersion to resume from."""
        for event in self._events(version):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == HTTP_GONE:
                    raise _Gone()
                raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind != "BOOKMARK":
                self._cache.apply(self._source.kind, str(kind), obj)
            if self._stopping.is_set():
                break
        return version


class Watches:
    """The watchers of every cached kind."""

    def __init__(self, api_client: client.ApiClient, cache: ResourceCache) -> None:
        self.watchers = [Watcher(source, cache) for source in sources(api_client)]

    def start(self) -> None:
        for watcher in self.watchers:
            watcher.start()

    def stop(self) -> None:
        for watcher in self.watchers:
            watcher.stop()
