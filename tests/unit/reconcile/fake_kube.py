"""A stand-in for `kiln.platform.kube.Kube` in unit tests of the reconcile layer: objects in a dict,
every write recorded. (The integration tests talk to the real API server.)"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

Key = tuple[str, str | None, str]  # (kind, namespace, name)


class FakeKube:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, Key]] = []
        self.logs: dict[tuple[str, str], list[str] | Exception] = {}
        self._uids = itertools.count(1)
        for obj in objects:
            self._store(obj)

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        self.objects[(obj["kind"], meta.get("namespace"), meta["name"])] = obj
        return obj

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        meta = manifest["metadata"]
        key = (manifest["kind"], meta.get("namespace"), meta["name"])
        if key in self.objects:
            return None
        self.writes.append(("create", key))
        return self._store(manifest)

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        self.writes.append(("apply", (manifest["kind"], meta.get("namespace"), meta["name"])))
        return self._store(manifest)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        propagation: str | None = None,
    ) -> bool:
        self.writes.append(("delete", (kind, namespace, name)))
        return self.objects.pop((kind, namespace, name), None) is not None

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        selector = kwargs.get("label_selector")
        label, _, value = (selector or "").partition("=")
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == kind
            and ns == namespace
            and (not selector or (o["metadata"].get("labels") or {}).get(label) == value)
        ]

    def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict[str, Any]
    ) -> None:
        self.writes.append(("status", (kind, namespace, name)))
        self.objects[(kind, namespace, name)].setdefault("status", {}).update(status)

    def pod_log(
        self, namespace: str, name: str, container: str, *, follow: bool = False, timeout: float | None = None
    ) -> Iterator[str]:
        found = self.logs.get((name, container))
        if isinstance(found, Exception):
            raise found
        if found is None:
            raise ApiException(status=400, reason=f"container {container} is waiting to start")
        yield from found
