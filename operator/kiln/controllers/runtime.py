"""What every handler gets through kopf's `memo`: settings and the Kubernetes client."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import kopf

from kiln.platform.kube import Kube
from kiln.platform.settings import Settings


class Runtime(kopf.Memo):
    """kopf.Memo is a dict with attribute access; these annotations only type the keys Kiln sets."""

    settings: Settings
    kube: Kube
    # the admission webhook configuration this process keeps current (its CA bundle and address),
    # set at startup when it serves admission; None when it does not
    webhook_configuration: dict[str, Any] | None


def make_runtime(settings: Settings, kube: Kube) -> Runtime:
    runtime = Runtime()
    runtime.settings = settings
    runtime.kube = kube
    runtime.webhook_configuration = None
    return runtime


class LastValues:
    """The last value marked per key, for the newest `size` keys, thread-safe: what this process
    already wrote or is writing (a state reported, a message queued, a slot released), so the
    events that arrive before the write shows do not repeat it."""

    def __init__(self, size: int = 10_000) -> None:
        self._values: OrderedDict[str, str] = OrderedDict()
        self._size = size
        self._guard = threading.Lock()

    def mark(self, key: str, value: str = "") -> bool:
        """Mark `value` for `key`; False when it already was the last one marked."""
        with self._guard:
            if self._values.get(key) == value:
                return False
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)
            return True

    def forget(self, key: str) -> None:
        with self._guard:
            self._values.pop(key, None)
