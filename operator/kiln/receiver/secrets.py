"""The webhook Secrets the receiver verifies with, read one by one when a delivery needs them.

The receiver lists and watches no Secrets: in a cluster the operator grants its ServiceAccount `get`
on exactly each Repository's webhook Secret (a Role per Repository, `kiln.tenancy.manifests.
receiver_secret_access`), so reading by name is all it can do. A value read within FRESH_SECONDS is
used as it is, and an older one too while a new read runs beside the answer; a delivery that fails
verification reads the Secret again once it is RECHECK_SECONDS old, so a rotated secret works at
once while forged deliveries cost at most one read per Secret per RECHECK_SECONDS. Concurrent
deliveries for one Secret share one read. A read the delivery must wait for (none made yet, or the
recheck) is bounded by the receiver's deadline: an API server that does not answer makes a 503, never
a late answer or a 401 for want of the value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kiln.receiver import metrics
from kiln.receiver.cache import Kind, ResourceCache
from kiln.webhooks.entries import Key

log = logging.getLogger(__name__)

FRESH_SECONDS = 30.0
RECHECK_SECONDS = 2.0
READ_TIMEOUT = (5.0, 10.0)


class SecretReader:
    """Reads webhook Secrets into the `ResourceCache` (which the decision reads them from)."""

    def __init__(
        self,
        api_client: client.ApiClient,
        cache: ResourceCache,
        executor: Executor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = client.CoreV1Api(api_client)
        self._cache = cache
        self._executor = executor
        self._clock = clock
        self._read_at: dict[Key, float] = {}
        self._pending: dict[Key, asyncio.Future[None]] = {}
        self._known: set[Key] = set()

    def age(self, namespace: str, name: str) -> float:
        """Seconds since the Secret was last read, or tried (infinite: never)."""
        read_at = self._read_at.get((namespace, name))
        return math.inf if read_at is None else self._clock() - read_at

    def known(self, namespace: str, name: str) -> bool:
        """Whether a read has answered for the Secret: its value, or that it is missing (or forbidden)."""
        return (namespace, name) in self._known

    def reading(self, namespace: str, name: str) -> bool:
        """Whether a read of the Secret is under way."""
        return (namespace, name) in self._pending

    async def refresh(self, namespace: str, name: str, *, older_than: float, wait: float) -> bool:
        """Join the read under way, or read the Secret again if the last read is older than
        `older_than` s; wait for it at most `wait` s (a read not done by then goes on, and lands in
        the cache when it answers). Whether a read finished within the wait."""
        key = (namespace, name)
        pending = self._pending.get(key)
        if pending is None:
            if self.age(namespace, name) < older_than:
                return False
            self._read_at[key] = self._clock()  # one read at a time, and none again before `older_than`
            pending = asyncio.get_running_loop().run_in_executor(self._executor, self._read, namespace, name)
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        if wait <= 0:
            return False
        try:
            await asyncio.wait_for(asyncio.shield(pending), wait)
        except TimeoutError:
            return False
        return True

    def _read(self, namespace: str, name: str) -> None:
        try:
            # the raw JSON: the cache takes API objects as dicts, camelCase
            response: Any = self._core.read_namespaced_secret(
                name, namespace, _preload_content=False, _request_timeout=READ_TIMEOUT
            )
            found = json.loads(response.data)
        except ApiException as error:
            if error.status not in (403, 404):
                metrics.SECRET_READS.labels("error").inc()
                log.warning(f"reading webhook Secret {namespace}/{name} failed (HTTP {error.status}); kept")
                return  # a passing API failure: the value read before stays, read again soon
            metrics.SECRET_READS.labels("forbidden" if error.status == 403 else "missing").inc()
            if error.status == 403:
                log.warning(
                    f"the receiver may not read webhook Secret {namespace}/{name}: the operator grants it per"
                    " Repository (KILN_RECEIVER_SERVICE_ACCOUNT)"
                )
            self._cache.apply(Kind.SECRET, "DELETED", {"metadata": {"namespace": namespace, "name": name}})
            self._known.add((namespace, name))
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            metrics.SECRET_READS.labels("error").inc()
            log.warning(f"reading webhook Secret {namespace}/{name} failed: {error}; kept")
            return
        else:
            metrics.SECRET_READS.labels("found").inc()
            self._cache.apply(Kind.SECRET, "MODIFIED", found)
            self._known.add((namespace, name))
