"""The webhook receiver's in-memory view of the cluster, fed by list+watch (see `kiln.receiver.watch`).

`ResourceCache` holds what a delivery needs, so answering one costs no API call: Kiln Namespaces
(tenant -> Kubernetes namespace), the Kubernetes namespaces labelled for a tenant, Repositories,
BuildRules (grouped by Kubernetes namespace and Repository) and the webhook Secrets read so far
(`kiln.receiver.secrets`: they are read by name, never listed). It is fed with raw API objects
(dicts, camelCase) and does no I/O itself, so tests feed it directly.

Every method takes the one lock, as watch threads write while request threads read, but holds it
only to read or change the stores: planning a push takes the Repository's immutable
`kiln.rules.RepositoryRules` snapshot from the rules engine's `RuleIndex` and matches it after
releasing the lock, because a backtracking pattern may take up to the per-pattern limit and must not
hold up other deliveries or the watches meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from kiln.rules import DEFAULT_MATCH_TIMEOUT, BuildPlan, Push, RepositoryRules, Rule, RuleIndex
from kiln.webhooks.decisions import DEFAULT_PLAN_BUDGET
from kiln.webhooks.entries import (
    Key,
    Object,
    RepositoryEntry,
    RuleEntry,
    TenantEntry,
    key_of,
    parse_build_rule,
    parse_namespace,
    parse_repository,
    parse_secret,
    parse_tenant,
)
from kiln.webhooks.paths import NO_FILTER, PathFilter

log = logging.getLogger(__name__)


class Kind(enum.StrEnum):
    """What the cache holds; the values are the resources' plurals."""

    TENANT = "kilnnamespaces"
    NAMESPACE = "namespaces"
    REPOSITORY = "repositories"
    BUILD_RULE = "buildrules"
    SECRET = "secrets"


# what the watches list (readiness waits for each); Secrets are read one by one instead
LISTED_KINDS = (Kind.TENANT, Kind.NAMESPACE, Kind.REPOSITORY, Kind.BUILD_RULE)

T = TypeVar("T")


class _Store(Generic[T]):
    """Objects of one kind by key, parsed on the way in."""

    def __init__(self, parse: Callable[[Object], T | None]) -> None:
        self._parse = parse
        self.items: dict[Key, T] = {}
        self.synced = False

    def put(self, obj: Object) -> None:
        key = key_of(obj)
        value = self._parse(obj)
        self.delete(key)
        if value is not None:
            self.items[key] = value
            self._added(key, value)

    def delete(self, key: Key) -> None:
        value = self.items.pop(key, None)
        if value is not None:
            self._removed(key, value)

    def replace(self, objects: Iterable[Object]) -> None:
        for key in list(self.items):
            self.delete(key)
        for obj in objects:
            self.put(obj)
        self.synced = True

    def _added(self, key: Key, value: T) -> None:
        """Hook for stores keeping a secondary index."""

    def _removed(self, key: Key, value: T) -> None:
        """Hook for stores keeping a secondary index."""


class _RuleStore(_Store[RuleEntry]):
    """BuildRules, also indexed per Kubernetes namespace by the rules engine (by Repository and
    rule name): a push is planned against its Repository's rules only."""

    def __init__(self, match_timeout: float) -> None:
        super().__init__(self._parse_rule)
        self._match_timeout = match_timeout
        self.indexes: dict[str, RuleIndex] = {}

    @staticmethod
    def _parse_rule(obj: Object) -> RuleEntry | None:
        entry = parse_build_rule(obj)
        if isinstance(entry, str):
            namespace, name = key_of(obj)
            log.warning("BuildRule %s/%s ignored, its spec is invalid: %s", namespace, name, entry)
            return None
        return entry

    def snapshot(self, namespace: str, repository: str) -> RepositoryRules:
        """The Repository's rules as of now; built on the first push after a change, then reused."""
        index = self.indexes.get(namespace)
        return RepositoryRules() if index is None else index.snapshot(repository)

    def _added(self, key: Key, value: RuleEntry) -> None:
        index = self.indexes.get(key[0])
        if index is None:
            index = self.indexes[key[0]] = RuleIndex(timeout=self._match_timeout)
        index.add(value.rule)

    def _removed(self, key: Key, value: RuleEntry) -> None:
        # The stored rule, not the new one: an update may have moved the rule to another Repository.
        index = self.indexes[key[0]]
        index.remove(value.rule.repository, value.rule.name)
        if len(index) == 0:
            del self.indexes[key[0]]


class ResourceCache:
    """Thread-safe, watch-fed state; `ready` once every kind was listed at least once."""

    def __init__(
        self, *, match_timeout: float = DEFAULT_MATCH_TIMEOUT, plan_budget: float = DEFAULT_PLAN_BUDGET
    ) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self._match_timeout = match_timeout
        self._plan_budget = plan_budget
        self._rules = _RuleStore(match_timeout)
        self._tenants = _Store(parse_tenant)
        self._namespaces = _Store(parse_namespace)
        self._repositories = _Store(parse_repository)
        self._secrets = _Store(parse_secret)
        self._secrets.synced = True  # read on demand, never listed: nothing to wait for
        self._stores: dict[Kind, _Store[Any]] = {
            Kind.TENANT: self._tenants,
            Kind.NAMESPACE: self._namespaces,
            Kind.REPOSITORY: self._repositories,
            Kind.BUILD_RULE: self._rules,
            Kind.SECRET: self._secrets,
        }

    # --- feeding -------------------------------------------------------------------------------------

    def replace(self, kind: Kind, objects: Iterable[Object]) -> None:
        """The result of a full list: replaces everything of `kind` (drops what was deleted meanwhile)."""
        items = list(objects)  # outside the lock: `objects` may be a lazy view
        with self._lock:
            self._stores[kind].replace(items)

    def apply(self, kind: Kind, event_type: str, obj: Object) -> None:
        """One watch event: ADDED, MODIFIED or DELETED (other types are ignored)."""
        with self._lock:
            store = self._stores[kind]
            if event_type in ("ADDED", "MODIFIED"):
                store.put(obj)
            elif event_type == "DELETED":
                store.delete(key_of(obj))

    @property
    def ready(self) -> bool:
        if self._ready:  # a kind once listed stays so: no lock and no look at the stores per delivery
            return True
        with self._lock:
            self._ready = all(store.synced for store in self._stores.values())
            return self._ready

    def unsynced(self) -> list[Kind]:
        """The kinds not listed yet (for the readiness message)."""
        with self._lock:
            return [kind for kind, store in self._stores.items() if not store.synced]

    # --- reading -------------------------------------------------------------------------------------

    def tenant(self, tenant: str) -> TenantEntry | None:
        """The Kiln Namespace `tenant`, provided its Kubernetes namespace is labelled as the tenant's.

        The label check mirrors the operator, which never adopts a namespace it did not label: so a
        Namespace's spec.kubernetesNamespace cannot point deliveries into someone else's namespace.
        """
        with self._lock:
            entry: TenantEntry | None = self._tenants.items.get(("", tenant))
            if entry is None or self._namespaces.items.get(("", entry.namespace)) != tenant:
                return None
            return entry

    def tenant_namespace(self, tenant: str) -> str | None:
        """The Kubernetes namespace of the Kiln Namespace `tenant` (see `tenant`)."""
        entry = self.tenant(tenant)
        return entry.namespace if entry is not None else None

    def repository(self, namespace: str, name: str) -> RepositoryEntry | None:
        with self._lock:
            return self._repositories.items.get((namespace, name))

    def repository_names(self, namespace: str) -> frozenset[str]:
        with self._lock:
            return frozenset(name for ns, name in self._repositories.items if ns == namespace)

    def repository_building(self, namespace: str, provider: str, path: str) -> RepositoryEntry | None:
        """The Repository in `namespace` bound to the `provider` code repository `path` (`owner/name`,
        compared as `decisions.repository_mismatch` does: by the end of the URL's path); the first by
        name when several are."""
        with self._lock:
            found = [
                repo
                for (ns, _), repo in self._repositories.items.items()
                if ns == namespace and repo.provider == provider and repo.builds(path)
            ]
        return min(found, key=lambda repo: repo.name) if found else None

    def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        """The decoded value of a Secret's key; None when the Secret or key is missing or not base64."""
        with self._lock:
            encoded = self._secrets.items.get((namespace, name), {}).get(key)
        if encoded is None:
            return None
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None

    def plan(self, namespace: str, repository: str, push: Push) -> BuildPlan:
        """The builds a push to a Repository starts, and its rules that failed on it.

        The lock is held only to take the Repository's snapshot (building it on the first push after
        a change); matching and rendering run outside it.
        """
        with self._lock:
            snapshot = self._rules.snapshot(namespace, repository)
        return snapshot.plan(push, timeout=self._match_timeout, budget=self._plan_budget)

    def path_filter(self, namespace: str, rule: str) -> PathFilter:
        with self._lock:
            entry = self._rules.items.get((namespace, rule))
            return entry.filter if entry is not None else NO_FILTER

    def rule(self, namespace: str, name: str) -> Rule | None:
        with self._lock:
            entry = self._rules.items.get((namespace, name))
            return entry.rule if entry is not None else None
