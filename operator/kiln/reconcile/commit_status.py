"""Report a BuildRun's state on its commit (GitHub statuses, GitLab commit statuses, Bitbucket
build statuses): queued, running, succeeded, failed, cancelled. A report that fails never fails
the build: it is recorded on the BuildRun (`status.commitStatus.error`) and counted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.api.buildrun import Phase
from kiln.api.repository import Repository
from kiln.api.validation import checked_spec
from kiln.codehosts import CodeHostError, CommitState, CommitStatus, client_for
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.reconcile import metrics
from kiln.reconcile.repository import ClientFactory, source_client

Object = Mapping[str, Any]
# the length every host accepts for a status description (GitHub's limit, the smallest)
MAX_DESCRIPTION = 140
_STATES = {
    Phase.PENDING: CommitState.QUEUED,
    Phase.RUNNING: CommitState.RUNNING,
    Phase.SUCCEEDED: CommitState.SUCCEEDED,
    Phase.FAILED: CommitState.FAILED,
    Phase.CANCELLED: CommitState.CANCELLED,
}


def commit_state(run: Object) -> CommitState | None:
    """The state to report for the BuildRun's status now (None before the operator wrote one)."""
    phase = (run.get("status") or {}).get("phase")
    try:
        return _STATES[Phase(phase)] if phase else None
    except ValueError:
        return None


def pending_report(run: Object) -> CommitState | None:
    """The state not yet reported (None: nothing new)."""
    state = commit_state(run)
    reported = ((run.get("status") or {}).get("commitStatus") or {}).get("state")
    return state if state is not None and state.value != reported else None


def _description(run: Object) -> str:
    status = run.get("status") or {}
    text = f"Kiln {run['metadata']['name']}: {status.get('phase')}" + (
        f": {status['message']}" if status.get("message") else ""
    )
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def log_url(template: str | None, run: Object) -> str | None:
    """The build's log page from `KILN_BUILD_LOG_URL`, e.g. `https://kiln.example.com/logs/{namespace}/{name}`."""
    if not template:
        return None
    meta = run["metadata"]
    return template.format(namespace=meta["namespace"], name=meta["name"])


def report(
    kube: Kube,
    settings: Settings,
    run: Object,
    repository: Object | None,
    state: CommitState,
    factory: ClientFactory = client_for,
) -> dict[str, Any] | None:
    """Report `state` on the run's commit; the `commitStatus` status field to write, or None when
    nothing can be reported (no Repository, or a public one: no token to report with)."""
    checked = checked_spec(Repository, repository) if repository is not None else None
    if checked is None or isinstance(checked, str) or checked.spec.source.credentials_secret_ref is None:
        return None
    source, ref = checked.spec.source, checked.spec.source.credentials_secret_ref
    client = source_client(kube, settings, run["metadata"]["namespace"], source, factory)
    if client is None:
        return {"state": state.value, "error": f"Secret {ref.name!r} (key {ref.key!r}) not found"}
    spec = run.get("spec") or {}
    status = CommitStatus(
        commit=str((spec.get("source") or {}).get("commit", "")),
        state=state,
        key=f"kiln/{spec.get('buildRule', '')}",
        description=_description(run),
        url=log_url(settings.build_log_url, run),
    )
    try:
        client.set_commit_status(status)
    except CodeHostError as error:
        metrics.code_host_error(source.provider.value, "commit_status", error)
        return {"state": state.value, "error": error.message}
    return {"state": state.value, "error": None}
