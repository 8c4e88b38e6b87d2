"""Gitee replays: in signature mode Gitee signs only the timestamp, not the body, so a captured
(timestamp, token) pair would let anyone post any body to the Repository (or organization hook) for the whole hour the
timestamp is fresh. The receiver remembers the pairs it accepted and refuses a second use.

Per receiver replica and in memory (documented): a pair is remembered only once its delivery was
answered with success, so the host's own retry after a 503 still gets through; it is forgotten when
its timestamp would be stale anyway.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from kiln.api.constants import GiteeMode, Provider
from kiln.webhooks.decisions import CacheView, Delivery, secret_source
from kiln.webhooks.gitee import TIMESTAMP_HEADER, TIMESTAMP_TOLERANCE, TOKEN_HEADER
from kiln.webhooks.headers import Headers

# at most this many pairs are remembered (the oldest go first): memory stays bounded under a flood
MAX_REMEMBERED = 100_000


def replay_key(delivery: Delivery, view: CacheView) -> str | None:
    """The (webhook Secret, timestamp, token) a Gitee signature-mode delivery uses; None for others.
    Keyed by the Secret: a pair is valid only with the secret it was made with."""
    if delivery.provider != Provider.GITEE:
        return None
    source = secret_source(delivery, view)
    if source is None or source.gitee_mode is not GiteeMode.SIGNATURE:
        return None
    headers = Headers.of(delivery.headers)
    timestamp, token = headers.value(TIMESTAMP_HEADER), headers.value(TOKEN_HEADER)
    if not timestamp or not token:
        return None  # the decision refuses it
    return f"{source.namespace}/{source.name}\0{timestamp}\0{token}"


class ReplayGuard:
    """The pairs accepted within the last TIMESTAMP_TOLERANCE (monotonic clock)."""

    def __init__(self, ttl: float = TIMESTAMP_TOLERANCE.total_seconds(), size: int = MAX_REMEMBERED) -> None:
        self._ttl = ttl
        self._size = size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        while self._seen and (len(self._seen) > self._size or next(iter(self._seen.values())) < now):
            self._seen.popitem(last=False)

    def used(self, key: str) -> bool:
        with self._lock:
            now = time.monotonic()
            self._prune(now)
            return key in self._seen

    def remember(self, key: str) -> None:
        with self._lock:
            self._seen[key] = time.monotonic() + self._ttl
            self._seen.move_to_end(key)
            self._prune(time.monotonic())
