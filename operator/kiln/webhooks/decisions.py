"""The webhook receiver's decisions, without HTTP or a cluster.

`decide(delivery, view, now)` turns a delivery to `/hooks/{provider}/{tenant}/{repository}` and the
cache's view of the cluster into either a final `Reply` or `CreateRuns`: the BuildRun manifests to
create. The HTTP layer creates them and calls `conclude(create, results)` for the final `Reply`.

URL resolution: `{tenant}` is a Kiln Namespace's name; its Kubernetes namespace
(`spec.kubernetesNamespace`, default `kiln-<tenant>`) must carry the label
`kiln.dev/namespace=<tenant>`; `{repository}` is a Repository's metadata.name there.

BuildRun names are derived from (rule, provider, delivery id, ref), or from (rule, repository, ref,
commit) when the host sends no delivery id, so a redelivery creates nothing new: the create answers
409 AlreadyExists, which counts as a duplicate.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from kiln.api.buildrun import BuildRunSpec, TriggerType
from kiln.api.constants import (
    API_VERSION,
    BUILD_RUN,
    LABEL_BUILD_RULE,
    LABEL_NAMESPACE,
    LABEL_REPOSITORY,
    GiteeMode,
    Provider,
)
from kiln.api.validation import format_problems, problems_of
from kiln.rules import BuildPlan, PlannedBuild, Push, RuleFailure
from kiln.webhooks.config import GiteeSecret, GitLabSecret, SharedSecret, WebhookSecret
from kiln.webhooks.dispatch import dispatch, provider_spec
from kiln.webhooks.entries import OrganizationHook, RepositoryEntry, TenantEntry
from kiln.webhooks.errors import WebhookError
from kiln.webhooks.events import DEFAULT_MAX_REFS, JSON, ParsedDelivery, PushEvent, printable
from kiln.webhooks.organization import NewRepository, plan_repository
from kiln.webhooks.paths import PathFilter

# A BuildRun's name is also its Job's and a label value: at most 63 characters, a DNS label.
MAX_NAME_LENGTH = 63
NAME_HASH_LENGTH = 10
MAX_LABEL_VALUE_LENGTH = 63
# Bounds on what a push copies into the BuildRun, so a huge push cannot exceed the API's object size.
MAX_MESSAGE_LENGTH = 4096
MAX_CHANGED_FILES = 1000
# Total pattern-matching time of one push, over all the Repository's pattern rules: each pattern
# may take up to the per-pattern limit, and a tenant with many backtracking rules must not keep a
# worker busy for seconds. Rules not tried within it are reported as failures (PlanBudgetExceeded).
DEFAULT_PLAN_BUDGET = 0.25
# Bounds on what an answer lists (refs ignored or cut, failing rules), so that a delivery of thousands
# of changes gets an answer of a few kilobytes; what is not listed is counted.
MAX_LISTED = 100
MAX_REASON_ITEMS = 5


class DeliveryOutcome(enum.StrEnum):
    """How a delivery was answered: the `outcome` label of the metrics and of the logs."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    PING = "ping"
    IGNORED = "ignored"
    NO_MATCH = "no_match"
    AUTO_BUILD_OFF = "auto_build_off"
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_READY = "not_ready"
    UNAVAILABLE = "unavailable"
    DEADLINE = "deadline"  # the creates did not finish within the receiver's deadline
    FAILED = "failed"
    ERROR = "error"  # an unexpected exception in the receiver itself


_ERROR_OUTCOMES = {
    400: DeliveryOutcome.BAD_REQUEST,
    401: DeliveryOutcome.UNAUTHORIZED,
    404: DeliveryOutcome.NOT_FOUND,
    413: DeliveryOutcome.TOO_LARGE,
    415: DeliveryOutcome.UNSUPPORTED_MEDIA_TYPE,
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request to `/hooks/{provider}/{tenant}/{repository}`, or to `/hooks/{provider}/{tenant}`
    (an organization hook: `repository` None)."""

    provider: str
    tenant: str
    repository: str | None
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """The HTTP answer: status, JSON body (always with `outcome` and `reason`)."""

    status: int
    outcome: DeliveryOutcome
    body: dict[str, JSON]

    @classmethod
    def of(cls, status: int, outcome: DeliveryOutcome, reason: str, **extra: JSON) -> Reply:
        return cls(status, outcome, {"outcome": outcome.value, "reason": reason, **extra})


def error_reply(error: WebhookError) -> Reply:
    return Reply.of(
        error.status, _ERROR_OUTCOMES.get(error.status, DeliveryOutcome.BAD_REQUEST), error.reason
    )


def method_not_allowed(method: str) -> Reply:
    return Reply.of(405, DeliveryOutcome.METHOD_NOT_ALLOWED, f"{method} is not allowed: webhooks are POSTed")


def too_large(limit: int) -> Reply:
    return Reply.of(413, DeliveryOutcome.TOO_LARGE, f"body larger than {limit} bytes")


def replayed() -> Reply:
    """A Gitee signature-mode token this receiver accepted before: Gitee signs only the timestamp,
    so a second use is a replay (of possibly another body)."""
    return Reply.of(
        401,
        DeliveryOutcome.UNAUTHORIZED,
        "this X-Gitee-Timestamp and X-Gitee-Token were accepted already: Gitee signs only the timestamp, "
        "so a second use is refused as a replay (a delivery that failed may be sent again)",
    )


def deadline_exceeded(create: CreateRuns, seconds: float) -> Reply:
    """The BuildRuns' creates did not finish within `seconds`, less than a code host waits for the
    answer: the host should deliver again (a redelivery finds what was created meanwhile)."""
    runs: list[JSON] = [{**run.to_json(create.namespace), "result": "pending"} for run in create.runs]
    return Reply.of(
        503,
        DeliveryOutcome.DEADLINE,
        f"the Kubernetes API server did not answer within {seconds:g} s; redeliver: BuildRuns created "
        "meanwhile are found, the others created",
        buildRuns=runs,
        **create.report,
    )


def secret_unavailable(namespace: str, name: str) -> Reply:
    """The webhook Secret could not be read in time (the API server did not answer): not a verdict
    on the signature, so the host should deliver again."""
    return Reply.of(
        503,
        DeliveryOutcome.UNAVAILABLE,
        f"the Kubernetes API server did not answer reading webhook Secret {namespace}/{name}; redeliver",
    )


def internal_error(error: BaseException) -> Reply:
    """A failure of the receiver, not of the delivery. Only the exception's type is named: its
    message may quote the request, and the reply goes back to the code host."""
    return Reply.of(
        500,
        DeliveryOutcome.ERROR,
        f"the receiver failed unexpectedly ({type(error).__name__}); it is logged, and a redelivery "
        "may succeed",
    )


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One BuildRun to create."""

    name: str
    rule: str
    tags: tuple[str, ...]
    manifest: dict[str, Any]
    ref: str = ""

    def to_json(self, namespace: str) -> dict[str, JSON]:
        return {"name": self.name, "namespace": namespace, "rule": self.rule, "tags": list[JSON](self.tags)}


@dataclass(frozen=True, slots=True)
class CreateRuns:
    """BuildRuns to create in `namespace`; `report` (rule failures, skipped rules, ignored refs) goes
    into the final reply whatever the creates answer. `repository`: a Repository (and its
    BuildRules) that an organization delivery creates first (`kiln.webhooks.organization`)."""

    namespace: str
    runs: tuple[PlannedRun, ...]
    report: dict[str, JSON] = field(default_factory=dict)
    repository: NewRepository | None = None


Decision = Reply | CreateRuns


class CreateStatus(enum.Enum):
    CREATED = "created"
    EXISTS = "exists"  # 409 AlreadyExists: an earlier delivery (or this one's retry) created it
    UNAVAILABLE = "unavailable"  # the API server could not be reached or answered 5xx/429
    REJECTED = "rejected"  # any other refusal (RBAC, admission, validation): not the sender's fault


@dataclass(frozen=True, slots=True)
class CreateResult:
    status: CreateStatus
    detail: str = ""


class RulesView(Protocol):
    """What planning a push reads: `ResourceCache`, also when fed from files (`kiln webhook inspect`)."""

    def plan(self, namespace: str, repository: str, push: Push) -> BuildPlan: ...

    def path_filter(self, namespace: str, rule: str) -> PathFilter: ...


class CacheView(RulesView, Protocol):
    """What `decide` reads of the cluster (`kiln.receiver.cache.ResourceCache` implements it)."""

    @property
    def ready(self) -> bool: ...

    def tenant(self, tenant: str) -> TenantEntry | None: ...

    def tenant_namespace(self, tenant: str) -> str | None: ...

    def repository(self, namespace: str, name: str) -> RepositoryEntry | None: ...

    def repository_names(self, namespace: str) -> frozenset[str]: ...

    def repository_building(self, namespace: str, provider: str, path: str) -> RepositoryEntry | None: ...

    def secret_value(self, namespace: str, name: str, key: str) -> bytes | None: ...


def webhook_secret(
    provider: str, value: str, gitee_mode: GiteeMode | str = GiteeMode.SIGNATURE
) -> WebhookSecret:
    """The verification config for a secret value. GitLab: a `whsec_...` value is a signing token,
    anything else the plain secret token. Raises ValueError for an unusable value (e.g. empty)."""
    match provider_spec(provider).provider:
        case Provider.GITLAB:
            signing = value.startswith("whsec_")
            return GitLabSecret(token=None if signing else value, signing_token=value if signing else None)
        case Provider.GITEE:
            return GiteeSecret(value, GiteeMode(gitee_mode))
        case _:
            return SharedSecret(value)


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a delivery's webhook secret is: a Repository's, or a tenant's organization hook's."""

    owner: str  # "the Repository's", "the organization webhook's"
    namespace: str
    name: str
    key: str
    gitee_mode: GiteeMode

    @classmethod
    def of_repository(cls, repo: RepositoryEntry) -> SecretSource:
        return cls("the Repository's", repo.namespace, repo.secret_name, repo.secret_key, repo.gitee_mode)

    @classmethod
    def of_organization(cls, namespace: str, hook: OrganizationHook) -> SecretSource:
        return cls(
            "the organization webhook's", namespace, hook.secret_name, hook.secret_key, hook.gitee_mode
        )


def _resolve_secret(view: CacheView, source: SecretSource, provider: str) -> WebhookSecret | str:
    """The verification config, or why there is none."""
    where = f"Secret {source.name!r} (key {source.key!r})"
    raw = view.secret_value(source.namespace, source.name, source.key)
    if raw is None:
        return f"{source.owner} webhook secret is missing: {where} not found"
    try:
        # Secrets written from files often end with a newline that no code host sends.
        return webhook_secret(provider, raw.decode().rstrip("\r\n"), source.gitee_mode)
    except UnicodeDecodeError:
        return f"{source.owner} webhook secret in {where} is not UTF-8 text"
    except ValueError as error:
        return f"{source.owner} webhook secret in {where} is unusable: {error}"


def secret_source(delivery: Delivery, view: CacheView) -> SecretSource | None:
    """Where the secret that verifies `delivery` is, when the cache knows (the receiver reads that
    Secret before deciding)."""
    tenant = view.tenant(delivery.tenant)
    if tenant is None:
        return None
    if delivery.repository is None:
        hook = tenant.organization
        return SecretSource.of_organization(tenant.namespace, hook) if hook is not None else None
    repo = view.repository(tenant.namespace, delivery.repository)
    return SecretSource.of_repository(repo) if repo is not None else None


def repository_mismatch(event: PushEvent, repo: RepositoryEntry) -> str | None:
    """Why the push is not for the Repository's code repository (`RepositoryEntry.builds`), or None."""
    if not event.repository or repo.builds(event.repository):
        return None
    where = f" ({event.clone_url})" if event.clone_url else ""
    return (
        f"the delivery is a push to {event.repository}{where}, but Repository {repo.name} builds {repo.url}"
    )


def buildrun_name(rule: str, event: PushEvent, repository: str) -> str:
    """`<rule>-<10 hex>`, at most 63 characters, from (rule, Repository, ref, commit) alone.

    Every way one push reaches Kiln names its BuildRun alike: a redelivery (with the same or a new
    delivery id), the host's organization hook beside the repository's own, and resync
    (`kiln.webhooks.resync`), so the create that comes second finds the first (409) and builds
    nothing twice.
    """
    return push_buildrun_name(rule, repository, event.ref, event.commit)


def push_buildrun_name(rule: str, repository: str, ref: str, commit: str) -> str:
    key = f"push\0{repository}\0{ref}\0{commit}"
    # surrogatepass: a header decoded with surrogateescape may hold lone surrogates; the names of
    # valid text are unchanged.
    digest = hashlib.sha256(f"{rule}\0{key}".encode("utf-8", "surrogatepass")).hexdigest()[:NAME_HASH_LENGTH]
    return rule_run_name(rule, digest)


def rule_run_name(rule: str, suffix: str) -> str:
    """`<rule>-<suffix>`, the rule's name cut so that the whole is a DNS label of at most 63
    characters (`suffix`: NAME_HASH_LENGTH lowercase hex characters)."""
    prefix = rule.replace(".", "-")[: MAX_NAME_LENGTH - NAME_HASH_LENGTH - 1].rstrip("-")
    return f"{prefix}-{suffix}" if prefix else suffix


def _labels(**values: str) -> dict[str, str]:
    # A value over 63 characters is not a valid label: leave the label out rather than truncate it
    # into something that selects the wrong objects.
    return {k: v for k, v in values.items() if len(v) <= MAX_LABEL_VALUE_LENGTH}


def _author(event: PushEvent) -> str | None:
    if event.author is None:
        return None
    name, email = event.author.name, event.author.email
    if name and email:
        return f"{name} <{email}>"
    return name or email


def buildrun_manifest(
    name: str,
    namespace: str,
    tenant: str,
    repository: str,
    rule: str,
    tags: Sequence[str],
    event: PushEvent,
    trigger: TriggerType = TriggerType.PUSH,
) -> dict[str, Any]:
    """The BuildRun for one rule and one push (`trigger`: Push from a delivery, Resync from a head
    no delivery brought); raises ValidationError if the spec is not valid."""
    files = event.changed_files
    spec = BuildRunSpec.model_validate(
        {
            "buildRule": rule,
            "repository": repository,
            "trigger": {
                "type": trigger,
                "deliveryId": event.delivery_id,
                "provider": event.provider.value,
                "sender": event.sender,
            },
            "source": {
                "ref": event.ref,
                "commit": event.commit,
                "pushedAt": event.pushed_at.astimezone(UTC),
                "message": event.message[:MAX_MESSAGE_LENGTH] if event.message is not None else None,
                "author": _author(event),
                # an incomplete list would mislead whoever filters on it: omit it instead
                "changedFiles": list(files)
                if files is not None and len(files) <= MAX_CHANGED_FILES
                else None,
            },
            "tags": list(dict.fromkeys(tags)),  # a rule rendering one tag twice pushes it once
        }
    )
    return buildrun_object(name, namespace, tenant, spec)


def buildrun_object(name: str, namespace: str, tenant: str | None, spec: BuildRunSpec) -> dict[str, Any]:
    """The BuildRun `name` of `spec`, labelled with its tenant (when known), Repository and rule."""
    labels = {LABEL_REPOSITORY: spec.repository, LABEL_BUILD_RULE: spec.build_rule}
    return {
        "apiVersion": API_VERSION,
        "kind": BUILD_RUN.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": _labels(**({LABEL_NAMESPACE: tenant} if tenant else {}), **labels),
        },
        "spec": spec.to_wire(),
    }


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What one push starts: builds, rules that failed on it, rules its changed files skip."""

    builds: tuple[PlannedBuild, ...] = ()
    failures: tuple[dict[str, JSON], ...] = ()
    skipped: tuple[dict[str, JSON], ...] = ()


def plan_event(view: RulesView, namespace: str, repository: str, event: PushEvent) -> EventPlan:
    """The rules engine's plan for the push, with each rule's paths/ignorePaths applied."""
    plan = view.plan(namespace, repository, event.to_push())
    builds: list[PlannedBuild] = []
    skipped: list[dict[str, JSON]] = []
    for build in plan.builds:
        reason = view.path_filter(namespace, build.rule.name).skip_reason(event.changed_files)
        if reason is None:
            builds.append(build)
        else:
            skipped.append({"rule": build.rule.name, "ref": event.ref, "reason": reason})
    failures = tuple(_failure_json(f, event.ref) for f in plan.failures)
    return EventPlan(tuple(builds), failures, tuple(skipped))


def _failure_json(failure: RuleFailure, ref: str) -> dict[str, JSON]:
    return {"rule": failure.rule.name, "ref": ref, "error": str(failure.error)}


def _some(items: Sequence[str], limit: int = MAX_REASON_ITEMS, sep: str = ", ") -> str:
    """The first `limit` items, joined, and how many more there are."""
    shown = sep.join(items[:limit])
    return f"{shown}{sep}and {len(items) - limit} more" if len(items) > limit else shown


def ignored_reason(delivery: ParsedDelivery) -> str | None:
    """Why the delivery's ignored refs build nothing, on one line: each distinct reason once, with
    its ref when the delivery lists several refs (or how many refs it concerns)."""
    groups: dict[str, list[str | None]] = {}
    for ignored in delivery.ignored:
        groups.setdefault(ignored.reason, []).append(ignored.ref)
    several = len(delivery.outcomes) > 1
    parts: list[str] = []
    for reason, refs in groups.items():
        if len(refs) > 1:
            parts.append(f"{reason} ({len(refs)} refs)")
        elif several and refs[0]:
            parts.append(f"{printable(refs[0])}: {reason}")
        else:
            parts.append(reason)
    return _some(parts, sep="; ") or None


def delivery_report(delivery: ParsedDelivery) -> dict[str, JSON]:
    """What every answer to a parsed delivery lists: its ignored refs (`ignored`, at most MAX_LISTED,
    then `ignoredNotListed`) and, when the delivery had more refs to build than one delivery may
    build, the refs cut (`cut: {limit, count, refs}`, at most MAX_LISTED refs named)."""
    ignored = delivery.ignored
    report: dict[str, JSON] = {"ignored": [{"ref": i.ref, "reason": i.reason} for i in ignored[:MAX_LISTED]]}
    if len(ignored) > MAX_LISTED:
        report["ignoredNotListed"] = len(ignored) - MAX_LISTED
    if delivery.cut:
        report["cut"] = {
            "limit": delivery.max_refs,
            "count": len(delivery.cut),
            "refs": list[JSON](delivery.cut[:MAX_LISTED]),
        }
    return report


def cut_note(delivery: ParsedDelivery) -> str | None:
    """The sentence an answer adds when refs were cut, or None."""
    if not delivery.cut:
        return None
    count = len(delivery.cut)
    return f"{count} more ref(s) not built: one delivery builds at most {delivery.max_refs} refs (see cut)"


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What some pushes start: the BuildRuns, the rules that failed on them (pattern timeouts,
    invalid tags, a BuildRun the API would refuse), the rules their changed files skip."""

    runs: tuple[PlannedRun, ...] = ()
    failures: tuple[dict[str, JSON], ...] = ()
    skipped: tuple[dict[str, JSON], ...] = ()

    def nothing_built_reason(self, events: Sequence[PushEvent]) -> str:
        """Why no BuildRun comes of `events` (when `runs` is empty)."""
        refs = _some([printable(e.ref) for e in events])
        if self.failures:
            errors = _some([f"{f['rule']}: {f['error']}" for f in self.failures], sep="; ")
            return f"no BuildRun for {refs}: {errors}"
        if self.skipped:
            return f"no BuildRun for {refs}: the path filters of the rules that match skip it (see skipped)"
        return f"no BuildRule builds {refs}"


def plan_runs(
    view: RulesView,
    namespace: str,
    tenant: str,
    repository: str,
    events: Sequence[PushEvent],
    trigger: TriggerType = TriggerType.PUSH,
) -> RunPlan:
    """The BuildRuns the pushes start, each a complete manifest the API's own model validated.

    The receiver creates these; `kiln webhook inspect` shows them; resync (`kiln.webhooks.resync`)
    plans the heads no delivery brought with it too: one function, so they never disagree about
    what a push builds.
    """
    runs: list[PlannedRun] = []
    failures: list[dict[str, JSON]] = []
    skipped: list[dict[str, JSON]] = []
    for event in events:
        planned = plan_event(view, namespace, repository, event)
        failures.extend(planned.failures)
        skipped.extend(planned.skipped)
        for build in planned.builds:
            rule = build.rule.name
            name = buildrun_name(rule, event, repository)
            try:
                manifest = buildrun_manifest(
                    name, namespace, tenant, repository, rule, build.tags, event, trigger
                )
            except ValidationError as error:
                problems = format_problems(problems_of(error)[:3])  # fields of the BuildRun's spec
                failures.append({"rule": rule, "ref": event.ref, "error": f"invalid BuildRun: {problems}"})
                continue
            runs.append(PlannedRun(name, rule, build.tags, manifest, event.ref))
    return RunPlan(tuple(runs), tuple(failures), tuple(skipped))


def decide(
    delivery: Delivery, view: CacheView, now: datetime, *, max_refs: int = DEFAULT_MAX_REFS
) -> Decision:
    """The answer to a delivery, or the BuildRuns to create for it (from at most `max_refs` refs;
    the rest are named in `cut`). Never raises for request content."""
    if not view.ready:
        return Reply.of(
            503, DeliveryOutcome.NOT_READY, "the receiver is still loading its cache; retry later"
        )
    try:
        provider_spec(delivery.provider)
    except WebhookError as error:
        return error_reply(error)
    tenant = view.tenant(delivery.tenant)
    if tenant is None:
        return Reply.of(404, DeliveryOutcome.NOT_FOUND, f"no Kiln Namespace {delivery.tenant!r}")
    if delivery.repository is None:
        return _decide_organization(delivery, view, tenant, now, max_refs)
    repo = view.repository(tenant.namespace, delivery.repository)
    if repo is None:
        return Reply.of(
            404, DeliveryOutcome.NOT_FOUND, f"no Repository {delivery.repository!r} in {delivery.tenant!r}"
        )
    if repo.problem is not None:
        return _invalid(repo)
    if repo.provider != delivery.provider:
        return Reply.of(
            404,
            DeliveryOutcome.NOT_FOUND,
            f"Repository {repo.name!r} is a {repo.provider} repository: deliver to "
            f"/hooks/{repo.provider}/{delivery.tenant}/{repo.name}",
        )
    verified = _verified(delivery, view, SecretSource.of_repository(repo), now, max_refs)
    if isinstance(verified, Reply):
        return verified
    parsed, known = verified
    mismatch = repository_mismatch(parsed.events[0], repo)
    if mismatch is not None:
        return Reply.of(400, DeliveryOutcome.BAD_REQUEST, mismatch, **known)
    return _build(view, tenant.namespace, delivery.tenant, repo, parsed, known)


def _invalid(repo: RepositoryEntry, known: dict[str, JSON] | None = None) -> Reply:
    """The answer for a Repository whose spec does not validate: nothing can be built with it."""
    reason = f"Repository {repo.name!r} is invalid: {repo.problem}"
    return Reply.of(404, DeliveryOutcome.NOT_FOUND, reason, **(known or {}))


def _verified(
    delivery: Delivery, view: CacheView, source: SecretSource, now: datetime, max_refs: int
) -> tuple[ParsedDelivery, dict[str, JSON]] | Reply:
    """The authentic delivery with pushes to build (and what every later answer names of it), or
    the answer: a bad signature or body, a ping, a delivery of nothing to build."""
    secret = _resolve_secret(view, source, delivery.provider)
    if isinstance(secret, str):
        return Reply.of(401, DeliveryOutcome.UNAUTHORIZED, secret)
    try:
        parsed = dispatch(delivery.provider, delivery.headers, delivery.body, secret, now, max_refs=max_refs)
    except WebhookError as error:
        return error_reply(error)
    # From here on the delivery is authentic: answers name its id, so logs and hosts can match them.
    known: dict[str, JSON] = {"deliveryId": parsed.delivery_id}
    if parsed.ping is not None:
        return Reply.of(200, DeliveryOutcome.PING, "ping received", ping=parsed.ping.to_json(), **known)
    if not parsed.events:
        reason = ignored_reason(parsed) or "nothing to build"
        return Reply.of(200, DeliveryOutcome.IGNORED, reason, **delivery_report(parsed), **known)
    return parsed, known


def _build(
    view: RulesView,
    namespace: str,
    tenant: str,
    repo: RepositoryEntry,
    parsed: ParsedDelivery,
    known: dict[str, JSON],
) -> Decision:
    """The BuildRuns the delivery's pushes start in the Repository `repo`."""
    if not repo.auto_build:
        reason = f"Repository {repo.name!r} has spec.build.autoBuild off"
        return Reply.of(200, DeliveryOutcome.AUTO_BUILD_OFF, reason, **known)
    plan = plan_runs(view, namespace, tenant, repo.name, parsed.events)
    report = _run_report(plan, parsed, known)
    note = cut_note(parsed)
    if not plan.runs:
        reason = plan.nothing_built_reason(parsed.events)
        return Reply.of(200, DeliveryOutcome.NO_MATCH, f"{reason}; {note}" if note else reason, **report)
    if note:
        report["note"] = note
    return CreateRuns(namespace, plan.runs, report)


def _run_report(plan: RunPlan, parsed: ParsedDelivery, known: dict[str, JSON]) -> dict[str, JSON]:
    return {
        # a list display, not list[JSON](...): calling the generic alias costs more than the copy
        "failures": [*plan.failures[:MAX_LISTED]],
        "skipped": [*plan.skipped[:MAX_LISTED]],
        **known,
        **delivery_report(parsed),
    }


def _decide_organization(
    delivery: Delivery, view: CacheView, tenant: TenantEntry, now: datetime, max_refs: int
) -> Decision:
    """A delivery of the tenant's organization hook: built by the Repository that builds the pushed
    code repository; with none, by one created from the tenant's template when it allows that."""
    hook = tenant.organization
    if hook is None:
        why = f" (its spec is invalid: {tenant.problem})" if tenant.problem else ""
        return Reply.of(
            404,
            DeliveryOutcome.NOT_FOUND,
            f"Kiln Namespace {delivery.tenant!r} has no spec.organizationWebhook{why}: deliver a "
            f"repository's hook to /hooks/{delivery.provider}/{delivery.tenant}/<repository>",
        )
    if hook.provider != delivery.provider:
        return Reply.of(
            404,
            DeliveryOutcome.NOT_FOUND,
            f"the organization webhook of {delivery.tenant!r} is a {hook.provider} hook: deliver to "
            f"/hooks/{hook.provider}/{delivery.tenant}",
        )
    verified = _verified(delivery, view, SecretSource.of_organization(tenant.namespace, hook), now, max_refs)
    if isinstance(verified, Reply):
        return verified
    parsed, known = verified
    path = parsed.events[0].repository
    if not path:
        return Reply.of(400, DeliveryOutcome.BAD_REQUEST, "the delivery names no code repository", **known)
    repo = view.repository_building(tenant.namespace, delivery.provider, path)
    if repo is not None:
        if repo.problem is not None:
            return _invalid(repo, known)
        return _build(view, tenant.namespace, delivery.tenant, repo, parsed, known)
    if not hook.auto_create:
        reason = (
            f"no Repository in {delivery.tenant!r} builds {delivery.provider} repository {path}, and "
            "spec.autoCreateRepositories is false: create a Repository for it, or set autoCreateRepositories"
        )
        return Reply.of(200, DeliveryOutcome.IGNORED, reason, **known, **delivery_report(parsed))
    new = plan_repository(
        parsed.events[0],
        tenant.namespace,
        delivery.tenant,
        hook.template,
        view.repository_names(tenant.namespace),
    )
    if isinstance(new, str):
        return Reply.of(200, DeliveryOutcome.IGNORED, new, **known, **delivery_report(parsed))
    if new.auto_build:
        plan = plan_runs(new.view, tenant.namespace, delivery.tenant, new.name, parsed.events)
        nothing = plan.nothing_built_reason(parsed.events)
    else:
        plan, nothing = RunPlan(), "spec.repositoryTemplate.build.autoBuild is off"
    report = _run_report(plan, parsed, known)
    report["repository"] = {"name": new.name, "buildRules": [r["metadata"]["name"] for r in new.rules]}
    notes = [note for note in (None if plan.runs else nothing, cut_note(parsed)) if note]
    if notes:
        report["note"] = "; ".join(notes)
    return CreateRuns(tenant.namespace, plan.runs, report, new)


def conclude(
    create: CreateRuns, results: Mapping[str, CreateResult], made: CreateResult | None = None
) -> Reply:
    """The reply once the creates were tried: `results` by BuildRun name; `made`: how the creates of
    `create.repository` (the Repository and its BuildRules, tried first) went.

    Any unavailable create answers 503 so the host redelivers: the redelivery recreates only what
    is missing (the rest answers 409). Created and existing runs are listed either way.
    """
    missing = CreateResult(CreateStatus.UNAVAILABLE, "not attempted")
    resolved = {run.name: results.get(run.name, missing) for run in create.runs}
    runs: list[JSON] = [
        {**run.to_json(create.namespace), "result": resolved[run.name].status.value} for run in create.runs
    ]
    failed = {
        name: result
        for name, result in resolved.items()
        if result.status in (CreateStatus.UNAVAILABLE, CreateStatus.REJECTED)
    }
    statuses = {result.status for result in resolved.values()}
    extra: dict[str, JSON] = {"buildRuns": runs, **create.report}
    created_repository = ""
    if create.repository is not None:
        made = made or missing
        extra["repository"] = {**_json_dict(create.report.get("repository")), "result": made.status.value}
        statuses.add(made.status)
        if made.status in (CreateStatus.UNAVAILABLE, CreateStatus.REJECTED):
            # no BuildRun was tried: the Repository's failure is the answer
            failed, statuses = {f"Repository {create.repository.name}": made}, {made.status}
            extra["buildRuns"] = [
                {**run.to_json(create.namespace), "result": "pending"} for run in create.runs
            ]
        elif made.status is CreateStatus.CREATED:
            created_repository = f"Repository {create.repository.name} created from spec.repositoryTemplate; "
    details = "; ".join(f"{name}: {result.detail}" for name, result in failed.items())
    note = create.report.get("note")
    also = f"; {note}" if isinstance(note, str) else ""  # refs the delivery could not build
    if CreateStatus.UNAVAILABLE in statuses:
        return Reply.of(
            503,
            DeliveryOutcome.UNAVAILABLE,
            f"the Kubernetes API server cannot be reached: {details}",
            **extra,
        )
    if CreateStatus.REJECTED in statuses:
        return Reply.of(
            500, DeliveryOutcome.FAILED, f"the Kubernetes API server refused an object: {details}", **extra
        )
    if CreateStatus.CREATED in statuses:
        created = sum(1 for result in resolved.values() if result.status is CreateStatus.CREATED)
        return Reply.of(
            202, DeliveryOutcome.CREATED, f"{created_repository}{created} BuildRun(s) created{also}", **extra
        )
    return Reply.of(
        200, DeliveryOutcome.DUPLICATE, f"duplicate delivery: its BuildRuns exist already{also}", **extra
    )


def _json_dict(value: JSON | None) -> dict[str, JSON]:
    return dict(value) if isinstance(value, dict) else {}
