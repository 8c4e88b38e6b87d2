"""Run one BuildRun: gather what its Job needs, create (or adopt) exactly one Job, read the Job and
Pod back, archive the log, cancel. The BuildRun controller's work, without kopf; the decisions are
`kiln.builds`' (the Job manifest, the status of a Job and Pod, the log archive).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import SHORT_COMMIT_LENGTH, BuildRun, Phase, SucceededReason
from kiln.api.conditions import ConditionDict, now_iso
from kiln.api.constants import (
    API_VERSION,
    BUILD_RULE,
    LABEL_BUILD_RUN,
    LABEL_NAMESPACE,
    NAMESPACE,
    REPOSITORY,
)
from kiln.api.namespace import NamespaceSpec
from kiln.api.pools import repository_pool_problems
from kiln.api.repository import Repository
from kiln.api.validation import checked_spec, format_problems, validated
from kiln.builds import BuildInputs, JobPlan, Strategy, job_manifest, parse_progress
from kiln.builds.logs import ARCHIVE_KEY, archive_manifest, archive_name, compress_log, decompress_log
from kiln.builds.parts import BUILD_CONTAINER, CLONE_CONTAINER
from kiln.builds.status import (
    Observation,
    ProgressLines,
    acceleration_conditions,
    observe,
    progress_fields,
    status_fields,
)
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.tenancy.manifests import Quota
from kiln.tenancy.tenant import Tenant

Object = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a BuildRun cannot be built (it fails with this reason; nothing is retried)."""

    reason: SucceededReason
    message: str

    def observation(self) -> Observation:
        return Observation(Phase.FAILED, self.reason, self.message)


def _rule(name: str, namespace: str, body: Object | None) -> BuildRule | Refused:
    if body is None:
        return Refused(SucceededReason.INVALID_RULE, f"BuildRule {name!r} not found in {namespace}")
    rule = validated(BuildRule, body)
    if isinstance(rule, list):
        return Refused(
            SucceededReason.INVALID_RULE, f"BuildRule {name!r} is invalid: {format_problems(rule)}"
        )
    return rule


def _repository(name: str, namespace: str, body: Object | None) -> Repository | Refused:
    if body is None:
        return Refused(SucceededReason.INVALID_REPOSITORY, f"Repository {name!r} not found in {namespace}")
    checked = checked_spec(Repository, body)
    if isinstance(checked, str):
        return Refused(SucceededReason.INVALID_REPOSITORY, f"Repository {name!r} is invalid: {checked}")
    return checked


def _tenant(
    tenant: Tenant | None, namespace: str, settings: Settings
) -> tuple[str, NamespaceSpec, Quota] | Refused:
    """(name, spec, quota) of the tenant owning `namespace`."""
    refused = SucceededReason.INVALID_TENANT
    if tenant is None:
        return Refused(refused, f"namespace {namespace!r} belongs to no Kiln Namespace")
    if tenant.spec is None:
        return Refused(refused, f"Kiln Namespace {tenant.name!r} is invalid: {tenant.problem}")
    if tenant.kubernetes_namespace != namespace:
        return Refused(refused, f"namespace {namespace!r} is not the Kubernetes namespace of {tenant.name!r}")
    return tenant.name, tenant.spec, Quota.effective(tenant.spec, settings)


def inputs_of(
    run_body: Object,
    rule_body: Object | None,
    repository_body: Object | None,
    tenant: Tenant | None,
    settings: Settings,
) -> BuildInputs | Refused:
    """What the BuildRun's Job is made of, from the objects it names (None: not found); or why it
    cannot be built. No I/O: a `Lookup` finds the objects, `kiln job render` takes them from files."""
    meta = run_body.get("metadata") or {}
    namespace = str(meta.get("namespace", ""))
    run = checked_spec(BuildRun, run_body)
    if isinstance(run, str):
        return Refused(SucceededReason.INVALID_BUILD_RUN, f"the BuildRun is invalid: {run}")
    rule = _rule(run.spec.build_rule, namespace, rule_body)
    if isinstance(rule, Refused):
        return rule
    repository = _repository(run.spec.repository, namespace, repository_body)
    if isinstance(repository, Refused):
        return repository
    owner = _tenant(tenant, namespace, settings)
    if isinstance(owner, Refused):
        return owner
    name, tenant_spec, quota = owner
    pool = repository_pool_problems(
        repository.spec.build.pool, settings.build_pools.keys(), tenant_spec.build_pools, name
    )
    if pool:
        return Refused(
            SucceededReason.INVALID_REPOSITORY,
            f"Repository {run.spec.repository!r} cannot build: {format_problems(pool)}",
        )
    try:
        return BuildInputs(
            build_run=run,
            build_rule=rule,
            repository=repository,
            tenant=name,
            namespace=namespace,
            registry_server=tenant_spec.registry.server,
            cpu=quota.cpu,
            memory=quota.memory,
            build_run_uid=str(meta.get("uid", "")),
        )
    except ValueError as error:  # e.g. the rule builds another Repository than the BuildRun names
        return Refused(SucceededReason.INVALID_RULE, str(error))


class Lookup(Protocol):
    """Where the objects a BuildRun names are found: the API server, or the controller's indexes."""

    def rule(self, namespace: str, name: str) -> Object | None: ...

    def repository(self, namespace: str, name: str) -> Object | None: ...

    def tenant(self, namespace: str) -> Tenant | None: ...


class ClusterLookup:
    """A `Lookup` that asks the API server (one GET per object)."""

    def __init__(self, kube: Kube, settings: Settings) -> None:
        self._kube = kube
        self._settings = settings

    def rule(self, namespace: str, name: str) -> Object | None:
        return self._kube.get(API_VERSION, BUILD_RULE.kind, name, namespace)

    def repository(self, namespace: str, name: str) -> Object | None:
        return self._kube.get(API_VERSION, REPOSITORY.kind, name, namespace)

    def tenant(self, namespace: str) -> Tenant | None:
        labels = ((self._kube.get("v1", "Namespace", namespace) or {}).get("metadata") or {}).get(
            "labels"
        ) or {}
        name = labels.get(LABEL_NAMESPACE)
        body = self._kube.get(API_VERSION, NAMESPACE.kind, name) if name else None
        return Tenant.of(body, self._settings, self._settings.operator_namespace) if body else None


def gather(lookup: Lookup, settings: Settings, body: Object) -> BuildInputs | Refused:
    """`inputs_of` the BuildRun and the objects it names, found through `lookup`."""
    namespace = str((body.get("metadata") or {}).get("namespace", ""))
    spec = body.get("spec") or {}
    return inputs_of(
        body,
        lookup.rule(namespace, str(spec.get("buildRule", ""))),
        lookup.repository(namespace, str(spec.get("repository", ""))),
        lookup.tenant(namespace),
        settings,
    )


def _owned_by(obj: Object, uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def ensure_job(kube: Kube, plan: JobPlan, uid: str) -> tuple[Object | Refused, bool]:
    """Create the ConfigMap and the Job, or adopt the ones an earlier attempt created: the names are
    the BuildRun's, so there is never a second Job, across restarts too. (The Job, whether it was
    adopted.)"""
    for manifest in plan.manifests:
        created = kube.create(manifest)
        if created is not None:
            if manifest is plan.job:
                return created, False
            continue
        meta = manifest["metadata"]
        existing = kube.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
        if existing is None:  # deleted between the create and the get: the next event retries
            raise RuntimeError(f"{manifest['kind']} {meta['name']} vanished while being adopted")
        if not _owned_by(existing, uid):
            refused = Refused(
                SucceededReason.BUILD_FAILED,
                f"a {manifest['kind']} named {meta['name']!r} exists and is not this BuildRun's; "
                "delete it or the BuildRun",
            )
            return refused, False
        if manifest is plan.job:
            return existing, True
    raise AssertionError("a JobPlan always holds a Job")


def start_status(inputs: BuildInputs, plan: JobPlan, conditions: list[ConditionDict]) -> dict[str, Any]:
    """What a started build's status says before its Pod reports anything."""
    conditions = acceleration_conditions(
        conditions, inputs.repository.spec.build.accelerated, plan.strategy.value
    )
    pending = status_fields(observe(plan.job, None), conditions, ())
    return {
        **pending,
        "jobName": plan.job["metadata"]["name"],
        "strategy": plan.strategy.value,
        "platforms": list(inputs.platforms),
        # no digest key until there is one: a null in a merge patch is no field, and kopf would
        # see its own patch as not applied
        "images": [{"ref": ref} for ref in inputs.image_refs],
    }


def short_commit(body: Object) -> str | None:
    commit = ((body.get("spec") or {}).get("source") or {}).get("commit")
    return str(commit)[:SHORT_COMMIT_LENGTH] if commit else None


def _conditions(body: Object) -> list[ConditionDict]:
    return list((body.get("status") or {}).get("conditions") or [])


def settle(body: Object, job: Object | None, pod: Object | None) -> dict[str, Any]:
    """The status fields the Job and Pod give the BuildRun now. A Job that is gone while the status
    names one was deleted by someone: the build ends there, it is never built a second time."""
    status = body.get("status") or {}
    if job is None and status.get("jobName"):
        observation = Observation(
            Phase.FAILED,
            SucceededReason.BUILD_FAILED,
            f"the build Job {status['jobName']} was deleted before the build finished",
            completion_time=now_iso(),
        )
    else:
        observation = observe(job, pod)
    image_refs = [str(i.get("ref")) for i in status.get("images") or () if i.get("ref")]
    return status_fields(observation, _conditions(body), image_refs)


def start(kube: Kube, settings: Settings, body: Object, lookup: Lookup | None = None) -> dict[str, Any]:
    """Create (or adopt) the BuildRun's Job; the status fields to write (an adopted Job's too: after a
    restart the build may have moved on, or ended). `lookup` finds the objects it names (default:
    the API server)."""
    common = {"shortCommit": short_commit(body)}
    meta = body.get("metadata") or {}
    named = (body.get("status") or {}).get("jobName")
    if named and kube.get("batch/v1", "Job", named, meta.get("namespace")) is None:
        return {**common, **settle(body, None, None)}  # deleted while the operator was away
    inputs = gather(lookup or ClusterLookup(kube, settings), settings, body)
    if isinstance(inputs, Refused):
        return {**common, **status_fields(inputs.observation(), _conditions(body), ())}
    try:
        plan = job_manifest(inputs, settings.build_config)
    except ValueError as error:  # e.g. a name too long for a cache repository
        refused = Refused(SucceededReason.INVALID_RULE, str(error))
        return {**common, **status_fields(refused.observation(), _conditions(body), ())}
    job, adopted = ensure_job(kube, plan, inputs.build_run_uid)
    if isinstance(job, Refused):
        return {**common, **status_fields(job.observation(), _conditions(body), ())}
    started = {**common, **start_status(inputs, plan, _conditions(body))}
    # a Job created just now has no Pod yet; an adopted one may have run meanwhile
    pod = build_pod(kube, inputs.namespace, inputs.run_name, job) if adopted else None
    body = {**body, "status": {**(body.get("status") or {}), **started}}
    return {**started, **settle(body, job, pod)}


def controlled_by(obj: Object, owner: Object | None) -> bool:
    """Whether `owner` (a BuildRun, a Job) is `obj`'s controller: a label alone proves nothing, as
    anyone who may create Pods in the namespace may set it."""
    uid = ((owner or {}).get("metadata") or {}).get("uid")
    return bool(uid) and _owned_by(obj, str(uid))


def newest(objects: Iterable[Object]) -> Object | None:
    """The most recently created of `objects`."""
    return max(
        objects, key=lambda o: str((o.get("metadata") or {}).get("creationTimestamp", "")), default=None
    )


def build_pod(kube: Kube, namespace: str, build_run: str, job: Object | None = None) -> Object | None:
    """The newest Pod of the BuildRun's Job (given, or read), or None."""
    job = job or kube.get("batch/v1", "Job", build_run, namespace)
    if job is None:
        return None
    pods = kube.list("v1", "Pod", namespace=namespace, label_selector=f"{LABEL_BUILD_RUN}={build_run}")
    return newest(p for p in pods if controlled_by(p, job))


# a finished container's log is read at once; this bounds a read that hangs
LOG_READ_TIMEOUT = 30.0


def _container_log(kube: Kube, namespace: str, pod: str, container: str) -> list[str]:
    try:
        return [f"==> {container} <==", *kube.pod_log(namespace, pod, container, timeout=LOG_READ_TIMEOUT)]
    except (
        ApiException,
        HTTPError,
        OSError,
    ) as error:  # e.g. a build container a failed checkout never started
        return [f"==> {container}: no log ({type(error).__name__}) <=="]


def archive_log(kube: Kube, body: Object, pod: Object) -> str | None:
    """Keep the finished build's log (checkout and build, each as far as it can be read) in a
    ConfigMap owned by the BuildRun; its location for status.logs.archive, or None when it cannot
    be written (the status says so then by having none)."""
    meta = body["metadata"]
    lines = [
        line
        for container in (CLONE_CONTAINER, BUILD_CONTAINER)
        for line in _container_log(kube, meta["namespace"], pod["metadata"]["name"], container)
    ]
    manifest = archive_manifest(meta, compress_log("\n".join(lines).encode()))
    try:
        kube.apply(manifest)
    except (ApiException, HTTPError, OSError):
        return None
    return f"configmaps/{manifest['metadata']['name']}"


def _wait_started(kube: Kube, namespace: str, pod: str, container: str, stopped: Callable[[], bool]) -> bool:
    """Wait until `container` of `pod` has started (True) or never will (False: the Pod ended or went)."""
    while not stopped():
        found = kube.get("v1", "Pod", pod, namespace)
        if found is None:
            return False
        pod_status = found.get("status") or {}
        statuses = [
            *(pod_status.get("initContainerStatuses") or ()),
            *(pod_status.get("containerStatuses") or ()),
        ]
        state = next((s.get("state") or {} for s in statuses if s.get("name") == container), {})
        if "running" in state or "terminated" in state:
            return True
        if pod_status.get("phase") in ("Succeeded", "Failed"):
            return False
        time.sleep(1.0)
    return False


def logs(
    kube: Kube,
    namespace: str,
    build_run: str,
    *,
    follow: bool = False,
    stopped: Callable[[], bool] = lambda: False,
) -> Iterator[str]:
    """The log of BuildRun `build_run`: from its Pod while there is one (following it when asked,
    container after container as each starts), else from its archive. Raises LookupError when there
    is neither."""
    pod = build_pod(kube, namespace, build_run)
    if pod is not None:
        name = pod["metadata"]["name"]
        for container in (CLONE_CONTAINER, BUILD_CONTAINER):
            if follow and not _wait_started(kube, namespace, name, container, stopped):
                continue
            if follow:
                yield from kube.pod_log(namespace, name, container, follow=True)
            else:
                yield from _container_log(kube, namespace, name, container)[1:]
        return
    archive = kube.get("v1", "ConfigMap", archive_name(build_run), namespace)
    data = ((archive or {}).get("binaryData") or {}).get(ARCHIVE_KEY)
    if data is None:
        raise LookupError(f"BuildRun {build_run} has no build Pod and no archived log in {namespace}")
    yield from decompress_log(base64.b64decode(data)).splitlines()


CANCEL_GRACE_SECONDS = 2


def cancel(kube: Kube, namespace: str, build_run: str, job_name: str | None) -> None:
    """Delete the build's Job and its Pod at once (not only through the garbage collector)."""
    job = kube.get("batch/v1", "Job", job_name or build_run, namespace)
    if job is None:
        return
    kube.delete("batch/v1", "Job", job["metadata"]["name"], namespace, propagation="Background")
    selector = f"{LABEL_BUILD_RUN}={build_run}"
    for pod in kube.list("v1", "Pod", namespace=namespace, label_selector=selector):
        if controlled_by(pod, job):
            # a cancelled build keeps nothing: stop it now, not after the default 30 s
            kube.delete("v1", "Pod", pod["metadata"]["name"], namespace, grace_period=CANCEL_GRACE_SECONDS)


def follow_progress(
    kube: Kube,
    namespace: str,
    build_run: str,
    strategy: Strategy,
    stopped: Callable[[], bool],
    write: Callable[[dict[str, Any]], None],
    interval: float,
) -> None:
    """Follow the build container's log and `write` its progress (status fields) at most every
    `interval` seconds, until the log ends (the container did) or `stopped()`."""
    while not stopped():
        pod = build_pod(kube, namespace, build_run)
        if pod is None:
            time.sleep(interval)
            continue
        steps = ProgressLines()
        last = 0.0
        try:
            for line in kube.pod_log(
                namespace, pod["metadata"]["name"], BUILD_CONTAINER, follow=True, timeout=30
            ):
                if stopped():
                    return
                steps.add(line)
                if time.monotonic() - last >= interval:
                    last = time.monotonic()
                    write(progress_fields(parse_progress(steps.lines, strategy)))
        except (ApiException, HTTPError, OSError):
            # not started yet (the checkout runs first), or the stream broke (a long quiet step
            # outlasts the read timeout): read it again
            time.sleep(interval)
            continue
        return  # the log ended: so did the build container
