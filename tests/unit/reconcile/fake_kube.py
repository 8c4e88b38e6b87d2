"""A stand-in for `kiln.platform.kube.Kube` in unit tests of the reconcile layer: objects in a dict,
every write recorded as (operation, kind, name), what it stores defaulted as the API server does.
(The integration tests talk to the real API server.)"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

Key = tuple[str, str, str | None, str]  # (apiVersion, kind, namespace, name)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 JSON merge patch: maps merged, lists and scalars replaced, null removes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _served(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server defaults in a webhook configuration (v1)."""
    for hook in obj.get("webhooks") or ():
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("timeoutSeconds", 10)
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        service = hook.get("clientConfig", {}).get("service")
        if service is not None:
            service.setdefault("port", 443)
    return obj


class FakeKube:
    """The methods of Kube the reconcile layer uses, over a dict; every write is recorded."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str]] = []
        # (pod, container) -> its log lines, or the error reading it raises; absent: not started
        self.logs: dict[tuple[str, str], list[str] | Exception] = {}
        self._version = 0
        self._uids = itertools.count(1)
        for obj in objects:
            self.put(obj)
        # (kind, what): `what` is called once before the next write of that kind, as another writer
        # getting there first
        self.before_write: tuple[str, Callable[[], None]] | None = None
        # (kind, name) -> the error a create or patch of it meets (the API server's, or the network's)
        self.refusals: dict[tuple[str, str], Exception] = {}

    def _key(self, api_version: str, kind: str, name: str, namespace: str | None) -> Key:
        return (api_version, kind, namespace, name)

    def _store(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        obj["metadata"].setdefault("uid", f"uid-{next(self._uids)}")
        self.objects[key] = _served(obj)
        return copy.deepcopy(obj)

    def _race(self, kind: str) -> None:
        if self.before_write is not None and self.before_write[0] == kind:
            hook, self.before_write = self.before_write[1], None
            hook()

    def put(self, obj: dict[str, Any]) -> None:
        """An object written by someone else (the install, another replica)."""
        meta = obj["metadata"]
        self._store(self._key(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")), obj)

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        found = self.objects.get(self._key(api_version, kind, name, namespace))
        return copy.deepcopy(found)

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        self._race(manifest["kind"])
        meta = manifest["metadata"]
        key = self._key(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
        self.writes.append(("create", manifest["kind"], meta["name"]))
        refusal = self.refusals.get((manifest["kind"], meta["name"]))
        if refusal is not None:
            raise refusal
        if key in self.objects:
            return None
        return self._store(key, copy.deepcopy(manifest))

    def merge_patch(
        self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict[str, Any]
    ) -> dict[str, Any]:
        self._race(kind)
        key = self._key(api_version, kind, name, namespace)
        self.writes.append(("merge_patch", kind, name))
        refusal = self.refusals.get((kind, name))
        if refusal is not None:
            raise refusal
        if key not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        obj = copy.deepcopy(self.objects[key])
        _merge(obj, patch)
        return self._store(key, obj)

    def merge_patch_at(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        resource_version: str,
        patch: dict[str, Any],
    ) -> dict[str, Any] | None:
        self._race(kind)
        key = self._key(api_version, kind, name, namespace)
        self.writes.append(("merge_patch_at", kind, name))
        current = self.objects.get(key)
        if current is None or current["metadata"]["resourceVersion"] != resource_version:
            return None  # 404 or 409
        obj = copy.deepcopy(current)
        _merge(obj, patch)
        return self._store(key, obj)

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        self.writes.append(("apply", manifest["kind"], meta["name"]))
        key = self._key(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
        return self._store(key, copy.deepcopy(manifest))

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        propagation: str | None = None,
        grace_period: int | None = None,
    ) -> bool:
        self.writes.append(("delete", kind, name))
        return self.objects.pop(self._key(api_version, kind, name, namespace), None) is not None

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        label, _, value = (kwargs.get("label_selector") or "").partition("=")
        return [
            copy.deepcopy(o)
            for (_, k, ns, _), o in self.objects.items()
            if k == kind
            and ns == namespace
            and (not label or (o["metadata"].get("labels") or {}).get(label) == value)
        ]

    def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict[str, Any]
    ) -> None:
        self.writes.append(("status", kind, name))
        self.objects[self._key(api_version, kind, name, namespace)].setdefault("status", {}).update(status)

    def pod_log(
        self, namespace: str, name: str, container: str, *, follow: bool = False, timeout: float | None = None
    ) -> Iterator[str]:
        found = self.logs.get((name, container))
        if isinstance(found, Exception):
            raise found
        if found is None:
            raise ApiException(status=400, reason=f"container {container} is waiting to start")
        yield from found
