"""The webhook receiver's in-memory view of the cluster, fed by list+watch (see `kiln.webhooks.watch`).

`ResourceCache` holds what a delivery needs, so answering one costs no API call: Kiln Namespaces
(tenant -> Kubernetes namespace), the Kubernetes namespaces labelled for a tenant, Repositories,
BuildRules (grouped by Kubernetes namespace and Repository) and Secrets. It is fed with raw API
objects (dicts, camelCase) and does no I/O itself, so tests feed it directly.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from kiln.api import BuildRule, KilnObject, Repository
from kiln.api.buildrule import buildrule_to_rule
from kiln.api.constants import API_VERSION, LABEL_NAMESPACE, GiteeMode, tenant_namespace

# No public equivalents: how admission words a pydantic error, and a body's spec as a mapping.
from kiln.api.validation import _problem, _spec, format_problems
from kiln.rules import DEFAULT_MATCH_TIMEOUT, BuildPlan, Push, RepositoryRules, Rule, RuleIndex
from kiln.webhooks.paths import NO_FILTER, PathFilter

log = logging.getLogger(__name__)

Object = Mapping[str, Any]
Key = tuple[str, str]  # (Kubernetes namespace, name); namespace "" for cluster-scoped kinds

# The Secret a Repository without spec.source.webhook.secretRef is verified with:
# `<metadata.name>-webhook`, key `token`. Its user creates it (docs/webhooks.md): no controller
# generates it yet, so a missing one refuses deliveries with 401 naming it.
DEFAULT_SECRET_SUFFIX = "-webhook"
DEFAULT_SECRET_KEY = "token"
# Total pattern-matching time of one push, over all the Repository's pattern rules: each pattern
# may take up to the per-pattern limit, and a tenant with many backtracking rules must not keep a
# worker busy for seconds. Rules not tried within it are reported as failures (PlanBudgetExceeded).
DEFAULT_PLAN_BUDGET = 0.25


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
    """A BuildRule as the receiver plans with it (its pattern is compiled by the `RuleIndex`)."""

    rule: Rule
    filter: PathFilter


def _key(obj: Object) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


KilnObjectT = TypeVar("KilnObjectT", bound=KilnObject)


def _checked(model: type[KilnObjectT], obj: Object) -> KilnObjectT | str:
    """The object through its API model, or its problems worded as admission words them.

    Only the spec is checked: metadata is the API server's and status the operator's, and neither
    should cost a Repository its deliveries. The rules engine's own checks of a BuildRule (what
    `kiln.api.validation.validate` adds) are left out on purpose: a rule they would refuse stays in,
    and every push it could select reports why it failed.
    """
    try:
        return model.model_validate({"apiVersion": API_VERSION, "kind": model.INFO.kind, "spec": _spec(obj)})
    except ValidationError as error:
        return format_problems([_problem(e) for e in error.errors()])


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
    checked = _checked(Repository, obj)
    if isinstance(checked, str):
        source = _spec(obj).get("source")
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
            problem=checked,
        )
    spec = checked.spec
    ref = spec.source.webhook.secret_ref
    return RepositoryEntry(
        namespace,
        name,
        spec.source.provider.value,
        spec.source.url,
        spec.build.auto_build,
        ref.name if ref else f"{name}{DEFAULT_SECRET_SUFFIX}",
        ref.key if ref else DEFAULT_SECRET_KEY,
        spec.source.webhook.gitee_mode,
    )


def parse_build_rule(obj: Object) -> RuleEntry | None:
    """The rule, or None for a spec that does not validate (it can match nothing)."""
    namespace, name = _key(obj)
    checked = _checked(BuildRule, obj)
    if isinstance(checked, str):
        log.warning("BuildRule %s/%s ignored, its spec is invalid: %s", namespace, name, checked)
        return None
    spec = checked.spec
    rule = buildrule_to_rule(name, spec)
    return RuleEntry(rule, PathFilter.of(spec.paths, spec.ignore_paths))


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
    """BuildRules, also indexed per Kubernetes namespace by the rules engine (by Repository and
    rule name): a push is planned against its Repository's rules only."""

    def __init__(self, match_timeout: float) -> None:
        super().__init__(parse_build_rule)
        self._match_timeout = match_timeout
        self.indexes: dict[str, RuleIndex] = {}

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
        self._match_timeout = match_timeout
        self._plan_budget = plan_budget
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
