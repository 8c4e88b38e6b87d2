"""Run one BuildRun: gather what its Job needs, create (or adopt) exactly one Job, read the Job and
Pod back, archive the log, cancel. The BuildRun controller's work, without kopf; the decisions are
`kiln.builds`' (the Job manifest, the status of a Job and Pod, the log archive).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import SHORT_COMMIT_LENGTH, BuildRun, Phase, SucceededReason
from kiln.api.conditions import ConditionDict
from kiln.api.constants import (
    API_VERSION,
    BUILD_RULE,
    LABEL_BUILD_RUN,
    LABEL_NAMESPACE,
    NAMESPACE,
    REPOSITORY,
)
from kiln.api.repository import Repository
from kiln.api.validation import checked_spec, format_problems, validate
from kiln.builds import BuildInputs, JobPlan, job_manifest
from kiln.builds.logs import ARCHIVE_KEY, archive_manifest, archive_name, compress_log, decompress_log
from kiln.builds.parts import BUILD_CONTAINER, CLONE_CONTAINER
from kiln.builds.status import Observation, observe, status_fields
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
    user_written = {k: v for k, v in body.items() if k != "status"}
    problems = validate(BUILD_RULE.kind, user_written)
    if problems:
        return Refused(
            SucceededReason.INVALID_RULE, f"BuildRule {name!r} is invalid: {format_problems(problems)}"
        )
    return BuildRule.model_validate(user_written)


def _repository(name: str, namespace: str, body: Object | None) -> Repository | Refused:
    if body is None:
        return Refused(SucceededReason.INVALID_REPOSITORY, f"Repository {name!r} not found in {namespace}")
    checked = checked_spec(Repository, body)
    if isinstance(checked, str):
        return Refused(SucceededReason.INVALID_REPOSITORY, f"Repository {name!r} is invalid: {checked}")
    return checked


def _tenant(tenant: Tenant | None, namespace: str, settings: Settings) -> tuple[str, str, Quota] | Refused:
    """(name, registry server, quota) of the tenant owning `namespace`."""
    refused = SucceededReason.INVALID_REPOSITORY
    if tenant is None:
        return Refused(refused, f"namespace {namespace!r} belongs to no Kiln Namespace")
    if tenant.spec is None:
        return Refused(refused, f"Kiln Namespace {tenant.name!r} is invalid: {tenant.problem}")
    if tenant.kubernetes_namespace != namespace:
        return Refused(refused, f"namespace {namespace!r} is not the Kubernetes namespace of {tenant.name!r}")
    return tenant.name, tenant.spec.registry.server, Quota.effective(tenant.spec, settings)


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
        return Refused(SucceededReason.INVALID_RULE, f"the BuildRun is invalid: {run}")
    rule = _rule(run.spec.build_rule, namespace, rule_body)
    if isinstance(rule, Refused):
        return rule
    repository = _repository(run.spec.repository, namespace, repository_body)
    if isinstance(repository, Refused):
        return repository
    owner = _tenant(tenant, namespace, settings)
    if isinstance(owner, Refused):
        return owner
    name, registry, quota = owner
    try:
        return BuildInputs(
            build_run=run,
            build_rule=rule,
            repository=repository,
            tenant=name,
            namespace=namespace,
            registry_server=registry,
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
    pending = status_fields(observe(plan.job, None), conditions, ())
    return {
        **pending,
        "jobName": plan.job["metadata"]["name"],
        "strategy": plan.strategy.value,
        "platforms": list(inputs.platforms),
        "images": [{"ref": ref, "digest": None} for ref in inputs.image_refs],
    }


def short_commit(body: Object) -> str | None:
    commit = ((body.get("spec") or {}).get("source") or {}).get("commit")
    return str(commit)[:SHORT_COMMIT_LENGTH] if commit else None


def _conditions(body: Object) -> list[ConditionDict]:
    return list((body.get("status") or {}).get("conditions") or [])


def settle(kube: Kube, body: Object, job: Object | None, pod: Object | None) -> dict[str, Any]:
    """The status fields the Job and Pod give the BuildRun now; once it has finished, with its log
    archived (the Pod's log is read once, when the build ends)."""
    observation = observe(job, pod)
    image_refs = [str(i.get("ref")) for i in (body.get("status") or {}).get("images") or () if i.get("ref")]
    fields = status_fields(observation, _conditions(body), image_refs)
    if (
        observation.finished
        and pod is not None
        and not ((body.get("status") or {}).get("logs") or {}).get("archive")
    ):
        archive = archive_log(kube, body, pod)
        if archive is not None:
            fields["logs"] = {"archive": archive}
    return fields


def start(kube: Kube, settings: Settings, body: Object, lookup: Lookup | None = None) -> dict[str, Any]:
    """Create (or adopt) the BuildRun's Job; the status fields to write (an adopted Job's too: after a
    restart the build may have moved on, or ended). `lookup` finds the objects it names (default:
    the API server)."""
    common = {"shortCommit": short_commit(body)}
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
    pod = build_pod(kube, inputs.namespace, inputs.run_name) if adopted else None
    body = {**body, "status": {**(body.get("status") or {}), **started}}
    return {**started, **settle(kube, body, job, pod)}


def build_pod(kube: Kube, namespace: str, build_run: str) -> Object | None:
    """The Pod of the BuildRun's Job (the newest, should there be several), or None."""
    pods = kube.list("v1", "Pod", namespace=namespace, label_selector=f"{LABEL_BUILD_RUN}={build_run}")
    pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))
    return pods[-1] if pods else None


def archive_log(kube: Kube, body: Object, pod: Object) -> str | None:
    """Keep the finished build's log (checkout and build) in a ConfigMap owned by the BuildRun;
    its location for status.logs.archive, or None when the Pod's log cannot be read any more."""
    meta = body["metadata"]
    pod_name = pod["metadata"]["name"]
    try:
        text = "\n".join(
            line
            for container in (CLONE_CONTAINER, BUILD_CONTAINER)
            for line in (f"==> {container} <==", *kube.pod_log(meta["namespace"], pod_name, container))
        )
    except Exception:
        return None
    manifest = archive_manifest(meta, compress_log(text.encode()))
    kube.apply(manifest)
    return f"configmaps/{manifest['metadata']['name']}"


def logs(kube: Kube, namespace: str, build_run: str, *, follow: bool = False) -> Iterator[str]:
    """The log of BuildRun `build_run`: from its Pod while there is one (following it when asked),
    else from its archive. Raises LookupError when there is neither."""
    pod = build_pod(kube, namespace, build_run)
    if pod is not None:
        for container in (CLONE_CONTAINER, BUILD_CONTAINER):
            yield from kube.pod_log(namespace, pod["metadata"]["name"], container, follow=follow)
        return
    archive = kube.get("v1", "ConfigMap", archive_name(build_run), namespace)
    data = ((archive or {}).get("binaryData") or {}).get(ARCHIVE_KEY)
    if data is None:
        raise LookupError(f"BuildRun {build_run} has no build Pod and no archived log in {namespace}")
    yield from decompress_log(base64.b64decode(data)).splitlines()


def cancel(kube: Kube, namespace: str, build_run: str, job_name: str | None) -> None:
    """Delete the build's Job and its Pod at once (not only through the garbage collector)."""
    kube.delete("batch/v1", "Job", job_name or build_run, namespace, propagation="Background")
    selector = f"{LABEL_BUILD_RUN}={build_run}"
    for pod in kube.list("v1", "Pod", namespace=namespace, label_selector=selector):
        kube.delete("v1", "Pod", pod["metadata"]["name"], namespace)
