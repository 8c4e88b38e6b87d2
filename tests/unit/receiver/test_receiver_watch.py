"""The list+watch loop against a scripted API: resume from resourceVersion, re-list on 410, retry on errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY

from kiln.receiver.cache import Kind, ResourceCache
from kiln.receiver.watch import Source, Watcher
from tests.unit.webhooks.objects import NAMESPACE, build_rule


class FakeResponse:
    """Enough of urllib3's HTTPResponse: `data` for lists, `stream()` for watches."""

    def __init__(self, document: Any = None, lines: list[Any] | None = None) -> None:
        self.data = json.dumps(document).encode()
        self._lines = lines or []

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        text = "".join(json.dumps(line) + "\n" for line in self._lines).encode()
        yield from (text[i : i + 7] for i in range(0, len(text), 7))  # lines split across chunks

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def rule_event(kind: str, name: str, version: str) -> dict[str, Any]:
    obj = build_rule(name, branch="main")
    obj["metadata"]["resourceVersion"] = version
    return {"type": kind, "object": obj}


class ScriptedApi:
    """Answers list and watch calls from a script; records the arguments of each call."""

    def __init__(self, script: list[Callable[[], FakeResponse]]) -> None:
        self.script = script
        self.calls: list[dict[str, Any]] = []
        self.done = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> FakeResponse:
        self.calls.append(kwargs)
        if len(self.calls) > len(self.script):
            self.done.set()
            time.sleep(0.2)  # the test's stop() lands meanwhile, so this last failure is not retried
            raise ConnectionError("script over")
        return self.script[len(self.calls) - 1]()


def listing(version: str, *names: str, token: str | None = None) -> Callable[[], FakeResponse]:
    items = [build_rule(n, branch="main") for n in names]
    metadata = {"resourceVersion": version, **({"continue": token} if token else {})}
    return lambda: FakeResponse({"items": items, "metadata": metadata})


def watching(*lines: Any) -> Callable[[], FakeResponse]:
    return lambda: FakeResponse(lines=list(lines))


def failing() -> FakeResponse:
    raise OSError("connection reset")


def run_script(script: list[Callable[[], FakeResponse]]) -> tuple[ResourceCache, ScriptedApi]:
    cache = ResourceCache()
    api = ScriptedApi(script)
    watcher = Watcher(Source(Kind.BUILD_RULE, api), cache, backoff=(0.01,))
    watcher.start()
    assert api.done.wait(10), "the watcher did not get through its script"
    watcher.stop()
    return cache, api


def names(cache: ResourceCache) -> set[str]:
    return {n for n in ("a", "b", "c", "d") if cache.rule(NAMESPACE, n) is not None}


def restarts(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("kiln_watch_restarts_total", {"resource": "buildrules", "reason": reason})
        or 0.0
    )


def test_list_watch_resume_and_relist_on_gone() -> None:
    gone, errors = restarts("gone"), restarts("error")
    cache, api = run_script(
        [
            listing("10", "a", token="page-2"),  # paginated list
            listing("11", "b"),
            watching(
                rule_event("ADDED", "c", "12"),
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
            ),
            watching(
                rule_event("DELETED", "a", "16"),
                {"type": "ERROR", "object": {"code": 410, "message": "too old"}},
            ),
            listing("20", "b", "d"),  # c was deleted while the watch was gone: the re-list drops it
        ]
    )
    assert names(cache) == {"b", "d"}
    assert api.calls[1]["_continue"] == "page-2"
    versions = [c.get("resource_version") for c in api.calls[2:4]]
    assert versions == ["11", "15"]  # resumes after the bookmark's version
    assert all(c["allow_watch_bookmarks"] and c["timeout_seconds"] for c in api.calls[2:4])
    assert "resource_version" not in api.calls[4]  # a fresh list
    assert restarts("gone") - gone == 1
    assert restarts("error") - errors == 0  # the end of the script comes after stop(): not counted


def test_failures_are_retried_with_a_fresh_list() -> None:
    errors = restarts("error")
    cache, api = run_script(
        [
            failing,
            listing("1", "a"),
            failing,  # the watch breaks
            listing("2", "b"),
        ]
    )
    assert cache.ready is False  # only BuildRules were listed, the other kinds were not
    assert names(cache) == {"b"}
    assert [("watch" in c) for c in api.calls[:4]] == [False, False, True, False]
    assert restarts("error") - errors == 2
