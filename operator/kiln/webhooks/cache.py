"""The webhook receiver's in-memory view of the cluster, fed by list+watch (see `kiln.webhooks.watch`).

`ResourceCache` holds what a delivery needs, so answering one costs no API call: Kiln Namespaces
(tenant -> Kubernetes namespace), the Kubernetes namespaces labelled for a tenant, Repositories,
BuildRules (one `RuleIndex` per Kubernetes namespace, keyed by Repository name) and Secrets. It is
fed with raw API objects (dicts, camelCase) and does no I/O itself, so tests feed it directly.

Every method takes the one lock: watch threads write while request threads read, and the rule
index is not safe to iterate while it changes.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from kiln.api.buildrule import BuildRuleSpec, buildrule_to_rule
from kiln.api.constants import LABEL_NAMESPACE, GiteeMode, tenant_namespace
from kiln.api.repository import RepositorySpec
from kiln.api.validation import field_path
from kiln.rules import DEFAULT_MATCH_TIMEOUT, BuildPlan, Push, Rule, RuleIndex
from kiln.webhooks.paths import NO_FILTER, PathFilter

log = logging.getLogger(__name__)

Object = Mapping[str, Any]
Key = tuple[str, str]  # (Kubernetes namespace, name); namespace "" for cluster-scoped kinds

# The Secret the operator generates when a Repository sets no spec.source.webhook.secretRef.
GENERATED_SECRET_SUFFIX = "-webhook"
DEFAULT_SECRET_KEY = "token"


class Kind(enum.StrEnum):
    """What the cache holds; the values are the resources' plurals."""

    TENANT = "kilnnamespaces"
    NAMESPACE = "namespaces"
    REPOSITORY = "repositories"
    BUILD_RULE = "buildrules"
    SECRET = "secrets"


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """What the receiver needs of a Repository; `problem` is set when its spec does not validate."""

    namespace: str
    name: str
    provider: str
    url: str
    auto_build: bool
    secret_name: str
    secret_key: str
    gitee_mode: GiteeMode
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RuleEntry:
    rule: Rule
    filter: PathFilter


def _key(obj: Object) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _spec(obj: Object) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _validation_message(error: ValidationError) -> str:
    return "; ".join(f"spec.{field_path(e['loc'])}: {e['msg']}" for e in error.errors()[:3])


def _deleting(obj: Object) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def parse_tenant(obj: Object) -> str | None:
    """The Kubernetes namespace a Kiln Namespace owns; None while it is being deleted (its namespace
    goes with it, and BuildRuns created there now would be refused)."""
    if _deleting(obj):
        return None
    name = _key(obj)[1]
    configured = _spec(obj).get("kubernetesNamespace")
    return tenant_namespace(name, str(configured) if configured else None)


def parse_namespace(obj: Object) -> str | None:
    """The tenant a Kubernetes namespace is labelled for, if any."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    tenant = labels.get(LABEL_NAMESPACE)
    return str(tenant) if tenant else None


def parse_repository(obj: Object) -> RepositoryEntry | None:
    """What the receiver needs of a Repository; None while it is being deleted."""
    if _deleting(obj):
        return None
    namespace, name = _key(obj)
    raw = _spec(obj)
    try:
        spec = RepositorySpec.model_validate(raw)
    except ValidationError as error:
        source = raw.get("source")
        source = source if isinstance(source, Mapping) else {}
        return RepositoryEntry(
            namespace,
            name,
            str(source.get("provider", "")),
            str(source.get("url", "")),
            auto_build=False,
            secret_name="",
            secret_key="",
            gitee_mode=GiteeMode.SIGNATURE,
            problem=_validation_message(error),
        )
    ref = spec.source.webhook.secret_ref
    return RepositoryEntry(
        namespace,
        name,
        spec.source.provider.value,
        spec.source.url,
        spec.build.auto_build,
        ref.name if ref else f"{name}{GENERATED_SECRET_SUFFIX}",
        ref.key if ref else DEFAULT_SECRET_KEY,
        spec.source.webhook.gitee_mode,
    )


def parse_build_rule(obj: Object) -> RuleEntry | None:
    """The rule, or None for a spec that does not validate (it can match nothing)."""
    namespace, name = _key(obj)
    try:
        spec = BuildRuleSpec.model_validate(_spec(obj))
    except ValidationError as error:
        log.warning(
            "BuildRule %s/%s ignored, its spec is invalid: %s", namespace, name, _validation_message(error)
        )
        return None
    return RuleEntry(buildrule_to_rule(name, spec), PathFilter.of(spec.paths, spec.ignore_paths))


def parse_secret(obj: Object) -> dict[str, str]:
    """The Secret's data, still base64-encoded: most Secrets are never read, so decoding waits."""
    data = obj.get("data") or {}
    return {str(k): str(v) for k, v in data.items()}


T = TypeVar("T")


class _Store(Generic[T]):
    """Objects of one kind by key, parsed on the way in."""

    def __init__(self, parse: Callable[[Object], T | None]) -> None:
        self._parse = parse
        self.items: dict[Key, T] = {}
        self.synced = False

    def put(self, obj: Object) -> None:
        key = _key(obj)
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
    """BuildRules, plus one RuleIndex per Kubernetes namespace (rules are keyed by Repository in it)."""

    def __init__(self, match_timeout: float) -> None:
        super().__init__(parse_build_rule)
        self._timeout = match_timeout
        self.indexes: dict[str, RuleIndex] = {}

    def _added(self, key: Key, value: RuleEntry) -> None:
        index = self.indexes.get(key[0])
        if index is None:
            index = self.indexes[key[0]] = RuleIndex(timeout=self._timeout)
        index.add(value.rule)

    def _removed(self, key: Key, value: RuleEntry) -> None:
        # The stored rule, not the new one: an update may have moved the rule to another Repository.
        index = self.indexes[key[0]]
        index.remove(value.rule.repository, value.rule.name)
        if not len(index):
            del self.indexes[key[0]]


class ResourceCache:
    """Thread-safe, watch-fed state; `ready` once every kind was listed at least once."""

    def __init__(self, *, match_timeout: float = DEFAULT_MATCH_TIMEOUT) -> None:
        self._lock = threading.Lock()
        self._rules = _RuleStore(match_timeout)
        self._tenants = _Store(parse_tenant)
        self._namespaces = _Store(parse_namespace)
        self._repositories = _Store(parse_repository)
        self._secrets = _Store(parse_secret)
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
                store.delete(_key(obj))

    @property
    def ready(self) -> bool:
        with self._lock:
            return all(store.synced for store in self._stores.values())

    def unsynced(self) -> list[Kind]:
        """The kinds not listed yet (for the readiness message)."""
        with self._lock:
            return [kind for kind, store in self._stores.items() if not store.synced]

    # --- reading -------------------------------------------------------------------------------------

    def tenant_namespace(self, tenant: str) -> str | None:
        """The Kubernetes namespace of the Kiln Namespace `tenant`, provided it is labelled as the tenant's.

        The label check mirrors the operator, which never adopts a namespace it did not label: so a
        Namespace's spec.kubernetesNamespace cannot point deliveries into someone else's namespace.
        """
        with self._lock:
            namespace = self._tenants.items.get(("", tenant))
            if namespace is None or self._namespaces.items.get(("", namespace)) != tenant:
                return None
            return namespace

    def repository(self, namespace: str, name: str) -> RepositoryEntry | None:
        with self._lock:
            return self._repositories.items.get((namespace, name))

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
        """The rules engine's plan for a push to a Repository (matching is pure CPU: under the lock)."""
        with self._lock:
            index = self._rules.indexes.get(namespace)
            return index.plan(repository, push) if index is not None else BuildPlan()

    def path_filter(self, namespace: str, rule: str) -> PathFilter:
        with self._lock:
            entry = self._rules.items.get((namespace, rule))
            return entry.filter if entry is not None else NO_FILTER

    def rule(self, namespace: str, name: str) -> Rule | None:
        with self._lock:
            entry = self._rules.items.get((namespace, name))
            return entry.rule if entry is not None else None
