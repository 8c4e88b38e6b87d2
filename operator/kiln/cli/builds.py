"""The cluster commands: `kiln build`, `logs`, `cancel`, `get`, `describe` (also `kubectl kiln ...`).

Each reads what it needs through the user's own kubeconfig (`cluster`), asks a pure core
(`kiln.webhooks.manual`, `kiln.views`, `kiln.builds`) what it means and prints it (`output`).
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.api.constants import API_VERSION, BUILD_RULE, BUILD_RUN, LABEL_BUILD_RULE, REPOSITORY, KindInfo
from kiln.cli.cluster import Target, api_errors, call, connect
from kiln.cli.commands import RESOURCE_WORDS
from kiln.cli.errors import CliError
from kiln.cli.output import Output, Progress, as_list
from kiln.views.describe import FINISHED

if TYPE_CHECKING:
    from kiln.api.repository import Source
    from kiln.codehosts import CodeHost

Object = dict[str, Any]
# How often a waiting command reads the BuildRun again.
POLL_SECONDS = 1.0
# How long `--follow` waits for the log archive of a build that ended before its log was read.
ARCHIVE_WAIT_SECONDS = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


def _get_run(target: Target, name: str) -> Object:
    run = call(lambda: target.kube.get(API_VERSION, BUILD_RUN.kind, name, target.namespace), _where(target))
    if run is None:
        raise CliError(
            f"BuildRun {name!r} not found in namespace {target.namespace}: list them with "
            f"`kiln get buildruns {target.hint()}`"
        )
    return run


def _where(target: Target) -> str:
    return f"context {target.context!r}" if target.context else "the in-cluster service account"


def _phase(run: Object) -> str | None:
    phase = (run.get("status") or {}).get("phase")
    return str(phase) if phase else None


# -- kiln build ------------------------------------------------------------------------------------


def _resolve_head(target: Target, repository: Object, ref: str) -> str:
    """The commit `ref` points at: through the code host's API with the Repository's token when the
    user may read its Secret, else with the user's own git (`git ls-remote`)."""
    from kiln.api.repository import Repository
    from kiln.api.validation import checked_spec
    from kiln.codehosts import CodeHostError
    from kiln.codehosts.git import ls_remote

    model = checked_spec(Repository, repository)
    if isinstance(model, str):
        raise CliError(f"Repository {repository['metadata']['name']!r} is invalid: {model}")
    source = model.spec.source
    tried: list[str] = []
    client = _source_client(target, source)
    if client is not None:
        try:
            heads = client.refs()
        except CodeHostError as error:
            tried.append(f"the {source.provider} API: {error.message}")
        else:
            if ref in heads:
                return str(heads[ref])
            raise CliError(f"{source.url} has no {ref} (the {source.provider} API lists its refs)")
    try:
        commit = ls_remote(source.url, ref)
    except CodeHostError as error:
        tried.append(error.message)
    else:
        if commit is None:
            raise CliError(f"{source.url} has no {ref}: push it first, or build another rule")
        return commit
    raise CliError(
        f"cannot read the head of {ref} ({'; '.join(tried)}): pass --commit SHA (the full commit id), "
        "or give your git access to the repository (a credential helper, or `git config "
        "url.<mirror>.insteadOf <url>`)"
    )


def _source_client(target: Target, source: Source) -> CodeHost | None:
    """The code host client with the Repository's token, or None when there is no token or the
    user may not read its Secret (then their own git is asked)."""
    import base64

    from kubernetes.client.exceptions import ApiException

    from kiln.codehosts import client_for
    from kiln.platform.settings import Settings, SettingsError

    ref = source.credentials_secret_ref
    if ref is None:
        return None
    try:
        with api_errors(_where(target)):
            try:
                secret = target.kube.get("v1", "Secret", ref.name, target.namespace)
            except ApiException as error:
                if error.status == 403:
                    return None
                raise
    except CliError:
        return None
    raw = ((secret or {}).get("data") or {}).get(ref.key)
    if not raw:
        return None
    try:
        api_urls = Settings.from_env().codehost_api_url_map  # KILN_CODEHOST_API_URLS, as the operator's
    except SettingsError as error:
        raise CliError(f"environment: {error}") from None
    token = base64.b64decode(raw).decode(errors="replace").strip()
    return client_for(source.provider, source.url, token, api_urls)


def build_command(args: argparse.Namespace) -> int:
    from kiln.api.buildrule import BuildRule
    from kiln.api.validation import format_problems, validated
    from kiln.rules import Problem
    from kiln.webhooks.decisions import NAME_HASH_LENGTH
    from kiln.webhooks.manual import ManualBuild, manual_ref, manual_run

    out = Output()
    target = connect(args)
    where = _where(target)
    body = call(lambda: target.kube.get(API_VERSION, BUILD_RULE.kind, args.rule, target.namespace), where)
    if body is None:
        raise CliError(
            f"BuildRule {args.rule!r} not found in namespace {target.namespace}: list them with "
            f"`kiln get rules {target.hint()}`"
        )
    rule = validated(BuildRule, body)
    if isinstance(rule, list):
        raise CliError(f"BuildRule {args.rule!r} is invalid: {format_problems(rule)}; fix it first")
    build = ManualBuild(args.rule, rule, args.ref, args.commit)
    # refused before any commit is looked up, in admission's words
    ref = manual_ref(args.rule, rule, args.ref)
    if isinstance(ref, Problem):
        raise CliError(ref.message)
    commit = args.commit
    if commit is None:
        repository = call(
            lambda: target.kube.get(API_VERSION, REPOSITORY.kind, rule.spec.repository, target.namespace),
            where,
        )
        if repository is None:
            raise CliError(
                f"Repository {rule.spec.repository!r} of BuildRule {args.rule!r} not found in namespace "
                f"{target.namespace}: `kiln get repos {target.hint()}` lists them"
            )
        with out.progress(f"reading the head of {ref}"):
            commit = _resolve_head(target, repository, ref)
    nonce = secrets.token_hex(NAME_HASH_LENGTH // 2)
    planned = manual_run(build, target.namespace, target.tenant, commit.lower(), target.user, _now(), nonce)
    if isinstance(planned, list):
        raise CliError(format_problems(planned))
    created = call(lambda: target.kube.create(planned.manifest), where)
    if created is None:
        raise CliError(f"a BuildRun named {planned.name} exists already; run the command again")
    print(planned.name, flush=True)
    out.note(f"BuildRun {planned.name}: {ref} at {commit[:12]}, tags {', '.join(planned.tags)}")
    return _follow(out, target, planned.name) if args.follow else 0


# -- kiln logs / following a build ---------------------------------------------------------------------


def _waiting(run: Object) -> str:
    """The progress line while a run has no Pod: its status message (its place in line) or phase."""
    status = run.get("status") or {}
    message = str(status.get("message") or "").splitlines()
    return f"{run['metadata']['name']}: {status.get('phase') or 'not seen by the operator yet'}" + (
        f", {message[0]}" if message else ""
    )


def _poll(target: Target, name: str, until: Callable[[Object], bool], progress: Progress) -> Object:
    """Read the BuildRun every POLL_SECONDS until `until` holds of it (the progress line says why)."""
    while True:
        run = _get_run(target, name)
        if until(run):
            return run
        progress(_waiting(run))
        time.sleep(POLL_SECONDS)


def _stream(out: Output, target: Target, run: Object) -> None:
    """Print the build's log as it is written, with the step it is at on the progress line."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from kiln.builds import Strategy, parse_progress
    from kiln.builds.status import ProgressLines, progress_fields
    from kiln.reconcile.buildrun import logs

    name = run["metadata"]["name"]
    strategy = Strategy((run.get("status") or {}).get("strategy") or Strategy.BUILDAH)
    steps = ProgressLines()
    with out.progress(f"{name}: running") as progress:
        try:
            for line in logs(target.kube, target.namespace, name, follow=True):
                out.raw(line)
                steps.add(line)
                found = parse_progress(steps.lines, strategy)
                if found.total:
                    progress(f"{name}: step {progress_fields(found)['summary']}")
        except LookupError:
            return  # the Pod went (a cancel) between the look and the read: the result says why
        except (ApiException, HTTPError, OSError):
            return  # the stream broke as the Pod went; the result says how the build ended


def _archived(out: Output, target: Target, name: str) -> None:
    """Print the archived log of a run that ended before its Pod's log could be followed."""
    from kiln.reconcile.buildrun import logs

    deadline = time.monotonic() + ARCHIVE_WAIT_SECONDS
    with out.progress(f"{name}: reading the archived log") as progress:
        while True:
            try:
                lines = list(call(lambda: list(logs(target.kube, target.namespace, name)), _where(target)))
            except LookupError:
                run = _get_run(target, name)
                # a cancelled build's Pod is deleted at once: it has no archive, and will not get one
                if _phase(run) == "Cancelled" or time.monotonic() > deadline:
                    return
                progress(f"{name}: waiting for the archived log")
                time.sleep(POLL_SECONDS)
                continue
            for line in lines:
                out.raw(line)
            return


def _follow(out: Output, target: Target, name: str) -> int:
    """Stream the run's log until it ends; 0 if it succeeded, 1 if it failed or was cancelled."""
    from kiln.reconcile.buildrun import build_pod
    from kiln.views import Tone, finished_result

    def started(run: Object) -> bool:
        return _phase(run) in FINISHED or build_pod(target.kube, target.namespace, name) is not None

    with out.progress(f"{name}: waiting for a build Pod") as progress:
        run = call(lambda: _poll(target, name, started, progress), _where(target))
    if _phase(run) in FINISHED:
        _archived(out, target, name)
    else:
        with api_errors(_where(target)):
            _stream(out, target, run)
    with out.progress(f"{name}: waiting for the result") as progress:
        run = call(lambda: _poll(target, name, lambda r: _phase(r) in FINISHED, progress), _where(target))
    result = finished_result(run)
    assert result is not None  # _poll returned a finished run
    ok, line = result
    out.note(line, Tone.GOOD if ok else Tone.BAD)
    return 0 if ok else 1


def logs_command(args: argparse.Namespace) -> int:
    from kiln.reconcile.buildrun import logs

    out = Output()
    target = connect(args)
    run = _get_run(target, args.buildrun)
    if args.follow:
        return _follow(out, target, args.buildrun)
    try:
        with api_errors(_where(target)):
            for line in logs(target.kube, target.namespace, args.buildrun):
                out.raw(line)
    except LookupError:
        raise CliError(_no_log(run, target)) from None
    return 0


def _no_log(run: Object, target: Target) -> str:
    """Why a run has no log to show, and what to do."""
    name = run["metadata"]["name"]
    phase = _phase(run)
    if phase == "Cancelled":
        return f"BuildRun {name} was cancelled: its Pod was deleted at once and no log was kept"
    if phase not in FINISHED:
        return (
            f"BuildRun {name} has no build Pod yet ({_waiting(run)}): follow it with "
            f"`kiln logs -f {name} {target.hint()}`"
        )
    return (
        f"BuildRun {name} has no build Pod and no archived log (its Pod went before the log was "
        "read, or the archive could not be written; docs/builds.md#logs)"
    )


# -- kiln cancel ---------------------------------------------------------------------------------------


def cancel_command(args: argparse.Namespace) -> int:
    from kiln.views import Tone

    out = Output()
    target = connect(args)
    run = _get_run(target, args.buildrun)
    phase = _phase(run)
    if phase in FINISHED:
        raise CliError(f"BuildRun {args.buildrun} has ended ({phase}): there is nothing to cancel")
    call(
        lambda: target.kube.merge_patch(
            API_VERSION, BUILD_RUN.kind, args.buildrun, target.namespace, {"spec": {"cancel": True}}
        ),
        _where(target),
    )
    print(f"BuildRun {args.buildrun}: cancel requested", flush=True)
    if not args.wait:
        return 0
    with out.progress(f"{args.buildrun}: waiting for the build to stop") as progress:
        run = call(
            lambda: _poll(target, args.buildrun, lambda r: _phase(r) in FINISHED, progress), _where(target)
        )
    phase = _phase(run)
    out.note(f"BuildRun {args.buildrun}: {phase}", Tone.MUTED if phase == "Cancelled" else Tone.BAD)
    return 0 if phase == "Cancelled" else 1


# -- kiln get / describe -------------------------------------------------------------------------------

RESOURCES: dict[str, KindInfo] = {
    word: {kind.kind: kind for kind in (BUILD_RUN, BUILD_RULE, REPOSITORY)}[name]
    for word, name in RESOURCE_WORDS.items()
}


def _get_one(target: Target, info: KindInfo, name: str) -> Object | None:
    return call(lambda: target.kube.get(API_VERSION, info.kind, name, target.namespace), _where(target))


def get_command(args: argparse.Namespace) -> int:
    from kiln.views import buildrun_table, repository_table, rule_table

    out = Output()
    target = connect(args)
    info = RESOURCES[args.resource]
    where = _where(target)
    selector = f"{LABEL_BUILD_RULE}={args.rule}" if args.rule and info is BUILD_RUN else None
    if args.rule and info is not BUILD_RUN:
        raise CliError("--rule selects BuildRuns: use it with `kiln get buildruns`")
    if args.names:
        found = [_get_one(target, info, n) for n in args.names]
        missing = [n for n, obj in zip(args.names, found, strict=True) if obj is None]
        if missing:
            raise CliError(
                f"{info.kind} {', '.join(missing)} not found in namespace {target.namespace}: "
                f"`kiln get {args.resource} {target.hint()}` lists them"
            )
        objects: list[Object] = [o for o in found if o is not None]
    else:
        objects = call(
            lambda: target.kube.list(API_VERSION, info.kind, target.namespace, label_selector=selector), where
        )
    if args.output in ("json", "yaml"):
        out.document(objects[0] if len(args.names) == 1 else as_list(objects), args.output)
        return 0
    if not objects:
        out.note(f"No {info.plural} in namespace {target.namespace}.")
        return 0
    tables = {BUILD_RUN.kind: buildrun_table, BUILD_RULE.kind: rule_table, REPOSITORY.kind: repository_table}
    out.table(tables[info.kind](objects, _now(), wide=args.output == "wide"))
    return 0


def _events(target: Target, name: str) -> list[Object] | None:
    """The Events about BuildRun `name`, None when the user may not list Events."""
    from kubernetes.client.exceptions import ApiException

    with api_errors(_where(target)):
        try:
            events = target.kube.list(
                "v1", "Event", target.namespace, field_selector=f"involvedObject.name={name}"
            )
        except ApiException as error:
            if error.status == 403:
                return None
            raise
    return [e for e in events if (e.get("involvedObject") or {}).get("kind") == BUILD_RUN.kind]


def describe_command(args: argparse.Namespace) -> int:
    from kiln.views import describe_buildrun

    words = list(args.buildrun)
    if len(words) == 2 and RESOURCES.get(words[0]) is BUILD_RUN:
        words = words[1:]
    if len(words) != 1:
        raise CliError("describe takes one BuildRun: `kiln describe NAME` (`kiln get buildruns` lists them)")
    (name,) = words
    out = Output()
    target = connect(args)
    run = _get_run(target, name)
    out.cells(describe_buildrun(run, _events(target, name), _now()))
    return 0


def names(kind: str, prefix: str, parsed_args: argparse.Namespace) -> list[str]:
    """The names of the `kind` objects in the namespace the command line names so far, that start
    with `prefix` (shell completion)."""
    target = connect(parsed_args)
    items = target.kube.list(API_VERSION, kind, target.namespace)
    found = (str((i.get("metadata") or {}).get("name", "")) for i in items)
    return [n for n in found if n.startswith(prefix)]
