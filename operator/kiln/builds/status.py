"""A build Job and its Pod, as the API server reports them -> the BuildRun's phase, reason and result.

Pure: the BuildRun controller hands in the raw objects (camelCase dicts, as watches deliver them)
and writes what `observe` returns with `status_fields`. The build container's termination message
carries the pushed digest (or, with FallbackToLogsOnError, the last lines of a failed build).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiln.api.buildrun import Phase, SucceededReason
from kiln.api.conditions import ConditionDict, now_iso, set_condition
from kiln.api.constants import ConditionType
from kiln.builds.parts import BUILD_CONTAINER, CLONE_CONTAINER
from kiln.builds.results import BuildResult, Progress, failure_message, parse_termination_message

Object = Mapping[str, Any]
FINISHED = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})
# container waiting reasons that will not pass by themselves: the build cannot start
_STUCK = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"})


@dataclass(frozen=True, slots=True)
class Observation:
    """Where a build is, as far as its Job and Pod tell."""

    phase: Phase
    reason: SucceededReason
    message: str = ""
    start_time: str | None = None
    completion_time: str | None = None
    result: BuildResult = field(default_factory=BuildResult)

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED


def _job_condition(job: Object, type_: str) -> Object | None:
    conditions = (job.get("status") or {}).get("conditions") or ()
    return next((c for c in conditions if c.get("type") == type_ and c.get("status") == "True"), None)


def _container(pod: Object, key: str, name: str) -> Object:
    statuses = (pod.get("status") or {}).get(key) or ()
    return next((s for s in statuses if s.get("name") == name), {})


def _state(status: Object, state: str) -> Object | None:
    value = (status.get("state") or {}).get(state)
    return value if isinstance(value, Mapping) else None


def _first_start(pod: Object) -> str | None:
    state = _container(pod, "initContainerStatuses", CLONE_CONTAINER).get("state") or {}
    value = (state.get("running") or state.get("terminated") or {}).get("startedAt")
    return str(value) if value else None


def _failed_container(pod: Object) -> Observation | None:
    """A failed checkout or build, or None while neither has failed."""
    clone = _state(_container(pod, "initContainerStatuses", CLONE_CONTAINER), "terminated")
    if clone is not None and clone.get("exitCode") != 0:
        text = (clone.get("message") or "").strip() or f"exit code {clone.get('exitCode')}"
        return Observation(
            Phase.FAILED,
            SucceededReason.BUILD_FAILED,
            f"checking out the source failed: {failure_message(text)}",
            completion_time=clone.get("finishedAt"),
        )
    return None


def _duration(seconds: object) -> str:
    """3600 -> `1h`, 5400 -> `1h30m`: the Job's deadline as the rule's timeout is written."""
    if not isinstance(seconds, int) or seconds <= 0:
        return "its deadline"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def observe(job: Object | None, pod: Object | None) -> Observation:
    """The build's state from its Job (None: not created yet) and the Job's Pod (None: none yet or gone)."""
    if job is None:
        return Observation(Phase.PENDING, SucceededReason.PENDING, "creating the build Job")
    # the build started when its first container did (not when the Job controller saw the Job,
    # which is before any wait for a quota slot or an image pull)
    started = _first_start(pod) if pod is not None else None
    deadline = _job_condition(job, "Failed")
    if deadline is not None and deadline.get("reason") == "DeadlineExceeded":
        return Observation(
            Phase.FAILED,
            SucceededReason.TIMEOUT,
            "the build ran longer than the rule's timeout of "
            f"{_duration((job.get('spec') or {}).get('activeDeadlineSeconds'))} and was stopped",
            start_time=started,
            completion_time=deadline.get("lastTransitionTime"),
        )
    if pod is not None:
        failed = _failed_container(pod)
        if failed is not None:
            return Observation(failed.phase, failed.reason, failed.message, started, failed.completion_time)
        build = _container(pod, "containerStatuses", BUILD_CONTAINER)
        terminated = _state(build, "terminated")
        if terminated is not None:
            result = parse_termination_message(terminated.get("message"))
            finished = terminated.get("finishedAt")
            if terminated.get("exitCode") == 0 and result.succeeded:
                return Observation(Phase.SUCCEEDED, SucceededReason.PUSHED, "", started, finished, result)
            why = result.failure or "the build container exited without a digest"
            if terminated.get("exitCode") == 0:
                why = f"the build ended without reporting a pushed digest: {why}"
            return Observation(
                Phase.FAILED, SucceededReason.BUILD_FAILED, failure_message(why), started, finished, result
            )
        phase = (pod.get("status") or {}).get("phase")
        cloning = _state(_container(pod, "initContainerStatuses", CLONE_CONTAINER), "running") is not None
        if phase == "Running" or cloning:
            step = "building" if phase == "Running" else "checking out the source"
            return Observation(Phase.RUNNING, SucceededReason.BUILDING, step, start_time=started)
        waiting = [
            w
            for key in ("initContainerStatuses", "containerStatuses")
            for s in (pod.get("status") or {}).get(key) or ()
            if (w := _state(s, "waiting")) is not None and w.get("reason") not in (None, "PodInitializing")
        ]
        if waiting:
            reason = waiting[0].get("reason")
            message = f"waiting for the build pod: {reason}: {waiting[0].get('message') or ''}".rstrip(": ")
            if reason in _STUCK:
                message += " (the build cannot start until this is fixed; it ends at the rule's timeout)"
            return Observation(Phase.PENDING, SucceededReason.PENDING, message, start_time=started)
    failed_job = _job_condition(job, "Failed")
    if failed_job is not None:
        return Observation(
            Phase.FAILED,
            SucceededReason.BUILD_FAILED,
            failed_job.get("message") or f"the build Job failed ({failed_job.get('reason')})",
            started,
            failed_job.get("lastTransitionTime"),
        )
    return Observation(
        Phase.PENDING, SucceededReason.PENDING, "waiting for the build pod", start_time=started
    )


def status_fields(
    observation: Observation,
    conditions: Sequence[ConditionDict] | None,
    image_refs: Sequence[str],
    generation: int | None = None,
) -> dict[str, Any]:
    """The BuildRun status fields an observation sets (merge-patch shape)."""
    succeeded = {Phase.SUCCEEDED: "True", Phase.FAILED: "False", Phase.CANCELLED: "False"}.get(
        observation.phase, "Unknown"
    )
    fields: dict[str, Any] = {
        "phase": observation.phase.value,
        "conditions": set_condition(
            conditions,
            ConditionType.SUCCEEDED,
            succeeded,
            observation.reason.value,
            observation.message,
            generation,
        ),
        "message": observation.message or None,
    }
    if observation.start_time:
        fields["startTime"] = observation.start_time
    if observation.completion_time and observation.finished:
        fields["completionTime"] = observation.completion_time
    result = observation.result
    if result.digest:
        fields["images"] = [{"ref": ref, "digest": result.digest} for ref in image_refs]
    if result.cache_imported is not None or result.cache_exported is not None:
        fields["cache"] = {"imported": result.cache_imported, "exported": result.cache_exported}
    if observation.finished:
        fields["progress"] = None
    return fields


def progress_fields(progress: Progress) -> dict[str, Any]:
    """status.progress of a running build, e.g. `3/7 (2 cached)`."""
    summary = f"{progress.current}/{progress.total}" + (
        f" ({progress.cached} cached)" if progress.cached else ""
    )
    return {"step": progress.current, "total": progress.total, "cached": progress.cached, "summary": summary}


class ProgressLines:
    """The lines of a build log that its progress is read from (steps, cache hits), so following a
    long log keeps little of it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if line.startswith(("#", "-->")) or "STEP " in line:
            self.lines.append(line)


def cancelled_fields(conditions: Sequence[ConditionDict] | None) -> dict[str, Any]:
    """The status of a build cancelled through spec.cancel."""
    observation = Observation(
        Phase.CANCELLED, SucceededReason.CANCELLED, "cancelled (spec.cancel)", completion_time=now_iso()
    )
    return status_fields(observation, conditions, ())


ACCELERATION_UNSUPPORTED = (
    "the buildah strategy cannot write eStargz (buildah 1.28 has no estargz compressor), so no "
    "`-accelerated` tags are pushed; builds with the buildkit strategy push them"
)


def acceleration_conditions(
    conditions: Sequence[ConditionDict] | None, accelerated: bool, strategy: str
) -> list[ConditionDict]:
    """A build asked for eStargz variants that its strategy cannot write says so in a condition
    (`Accelerated` False, `NotSupported`) rather than skipping them silently."""
    if not accelerated or strategy != "buildah":
        return list(conditions or ())
    return set_condition(
        conditions, ConditionType.ACCELERATED, "False", "NotSupported", ACCELERATION_UNSUPPORTED
    )


def queued_fields(message: str, conditions: Sequence[ConditionDict] | None) -> dict[str, Any]:
    """The status of a run waiting for its rule or for a tenant slot (no Job yet)."""
    return status_fields(Observation(Phase.PENDING, SucceededReason.QUEUED, message), conditions, ())


def superseded_fields(newer: str, rule: str, conditions: Sequence[ConditionDict] | None) -> dict[str, Any]:
    """The status of a queued run that a newer one of its SerialLatestOnly rule replaces."""
    observation = Observation(
        Phase.CANCELLED,
        SucceededReason.SUPERSEDED,
        f"superseded by BuildRun {newer}, a newer push of BuildRule {rule} (SerialLatestOnly)",
        completion_time=now_iso(),
    )
    return status_fields(observation, conditions, ())


def finish_event(fields: Mapping[str, Any]) -> tuple[str, str, str]:
    """(type, reason, message) of the Event saying how a build ended, from its final status fields."""
    succeeded = next(c for c in fields["conditions"] if c["type"] == ConditionType.SUCCEEDED)
    kind = "Normal" if fields["phase"] in (Phase.SUCCEEDED, Phase.CANCELLED) else "Warning"
    message = succeeded["message"] or "pushed " + ", ".join(i["ref"] for i in fields.get("images") or [])
    return kind, succeeded["reason"], message[:1024]
