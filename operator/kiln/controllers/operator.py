"""`kiln operator`: one kopf process running every controller and the admission webhook."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import random
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kopf

from kiln.api.admission import webhook_configuration
from kiln.api.constants import GROUP
from kiln.controllers.runtime import Runtime, make_runtime
from kiln.platform import metrics as platform_metrics
from kiln.platform.kube import Kube, load_api_client
from kiln.platform.settings import Settings
from kiln.reconcile import metrics as build_metrics
from kiln.reconcile.admission import ensure_webhook_configuration, ensure_webhook_tls

FINALIZER = f"{GROUP}/finalizer"
# kopf's peering object of cluster-wide operators (`--peering`)
PEERING_API_VERSION = "kopf.dev/v1"
PEERING_KIND = "ClusterKopfPeering"


class LeanDiffBaseStorage(kopf.StatusDiffBaseStorage):
    """kopf's status diff-base, built the same, but cheaper: kopf deep-copies the whole body on every
    event, then drops its metadata (managedFields and all) and its status; here those are left out
    before the copy. Labels, annotations and status fields handlers watch are kept, as kopf keeps
    them. (The copy was an eighth of the operator's time with thousands of BuildRuns in flight.)"""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        extra = list(extra_fields or ())
        lean: dict[str, Any] = {k: v for k, v in body.items() if k not in ("metadata", "status")}
        meta = body.get("metadata") or {}
        lean["metadata"] = {k: meta[k] for k in ("labels", "annotations") if k in meta}
        watched = {_top(field) for field in extra}
        for stanza in ("metadata", "status"):
            if stanza in watched and stanza in body:
                lean[stanza] = body[stanza]  # a field handlers watch is picked from it whole
        return super().build(body=kopf.Body(lean), extra_fields=extra)


class RoutineAtDebug(logging.Filter):
    """kopf says at info that each handler succeeded and each event was processed, and aiohttp logs
    each admission request: routine, so at debug (shown with --verbose only). Warnings and errors,
    and Kiln's own info lines (an action taken), stay; a handler's failure is also counted
    (`kiln_reconcile_errors_total`)."""

    ROUTINE = re.compile(
        r"(Handler|Webhook|Activity|Timer|Daemon|Index) '[^']*' succeeded\.|\w+ is processed: \d+ succeeded; 0 failed\."
    )

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    FAILED = re.compile(r"(Handler|Timer|Daemon|Activity|Webhook) '[^']*' failed ")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and self.FAILED.match(record.getMessage()):
            # kopf says so only in its log: counted here, the one place every handler's failure passes
            ref = getattr(record, "k8s_ref", None)
            kind = ref.get("kind") if isinstance(ref, dict) else None
            build_metrics.HANDLER_FAILURES.labels(kind or "operator").inc()
        if record.levelno == logging.INFO and (
            record.name == "aiohttp.access" or self.ROUTINE.fullmatch(record.getMessage())
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.verbose
        return True


def _top(field: kopf.FieldSpec) -> str | None:
    path = field.split(".") if isinstance(field, str) else list(field or ())
    return path[0] if path else None


def _peering_owner(runtime: Runtime, peering: str | None) -> dict[str, Any] | None:
    """An ownerReference to the ClusterKopfPeering the replicas share (the Helm release's): when an
    uninstall deletes it, the garbage collector deletes the admission configuration too, even one
    that a replica still stopping put back, so no configuration that refuses every write of a Kiln
    object outlives the operator."""
    found = runtime.kube.get(PEERING_API_VERSION, PEERING_KIND, peering) if peering else None
    if found is None:
        return None
    return {
        "apiVersion": PEERING_API_VERSION,
        "kind": PEERING_KIND,
        "name": found["metadata"]["name"],
        "uid": found["metadata"]["uid"],
    }


def _serve_admission(
    runtime: Runtime,
    settings: kopf.OperatorSettings,
    tls_dir: Path,
    logger: logging.Logger,
    peering: str | None,
) -> None:
    """kopf's webhook server with the operator's certificate, and the configuration pointing at it."""
    s = runtime.settings
    host = s.webhook_host or "127.0.0.1"
    service_host = f"{s.webhook_service}.{s.operator_namespace}.svc" if s.webhook_service else None
    tls = ensure_webhook_tls(
        runtime.kube, s.operator_namespace, [host, "localhost", *filter(None, [service_host])]
    )
    for name, value in tls.items():
        (tls_dir / name).write_bytes(value)
    settings.admission.server = kopf.WebhookServer(
        addr=s.webhook_listen,
        port=s.webhook_port,
        host=host,
        certfile=str(tls_dir / "tls.crt"),
        pkeyfile=str(tls_dir / "tls.key"),
        cafile=str(tls_dir / "ca.crt"),
    )
    # not kopf's managed configuration (it removes the webhooks when the operator stops): the
    # install's, failing closed; the operator keeps its CA bundle and address current, here and on
    # every change of it (kiln.controllers.admission_config)
    ca_bundle = base64.b64encode(tls["ca.crt"]).decode()
    address: dict[str, Any] = (
        {"service": (s.operator_namespace, s.webhook_service, 443)}
        if s.webhook_service
        else {"url": f"https://{host}:{s.webhook_port}"}
    )
    runtime.webhook_configuration = webhook_configuration(
        ca_bundle, **address, owner=_peering_owner(runtime, peering)
    )
    for note in ensure_webhook_configuration(runtime.kube, runtime.webhook_configuration):
        logger.warning(note)
    called = f"through Service {service_host}" if service_host else f"as https://{host}:{s.webhook_port}"
    logger.info(f"admission webhook on {s.webhook_listen}:{s.webhook_port}, called {called}")


def _configure(runtime: Runtime, tls_dir: Path, admission: bool, peering: str | None) -> Any:
    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
        # kopf's own bookkeeping goes into status, not annotations, so GitOps tools see no drift
        settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
        settings.persistence.diffbase_storage = LeanDiffBaseStorage(field="status.kopf.diffbase")
        settings.persistence.finalizer = FINALIZER
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.networking.error_backoffs = [1, 2, 5, 10]
        # kopf waits up to 5 minutes for a connection or an answer by default (and forever for a
        # watch): a request lost on the way stalls its start (its API scan, so admission and
        # peering) that long; fail and retry instead
        settings.networking.connect_timeout = 10
        settings.networking.request_timeout = 60
        # watches too (the peering watch among them): a connection that never opens, or a stream
        # that goes silent past the server's own timeout, is dropped and the watch starts again
        settings.watching.connect_timeout = 10
        settings.watching.client_timeout = settings.watching.server_timeout + 60
        # sync handlers wait on the API server most of the time: more threads than cores keep a
        # burst of pushes from queueing behind each other's requests
        settings.execution.max_workers = 32
        if admission:
            _serve_admission(runtime, settings, tls_dir, logger, peering)

    return configure


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """$KUBECONFIG when given (`--kubeconfig` sets it; read here, not at import time), else the
    in-cluster service account, else ~/.kube/config: the same order as kiln.platform.kube's client."""
    if os.environ.get("KUBECONFIG"):
        return kopf.login_with_kubeconfig(**kwargs)
    # the kubernetes client's loading (in-cluster, then ~/.kube/config): in a cluster it addresses
    # the API server by $KUBERNETES_SERVICE_HOST, as client-go does; kopf's own service-account
    # login assumes the DNS name kubernetes.default.svc, which a cluster without DNS cannot resolve
    return kopf.login_via_client(**kwargs)


def run(
    kubeconfig: str | None,
    liveness: str | None,
    admission: bool = True,
    verbose: bool = False,
    webhook: tuple[str, int] | None = None,
    metrics_listen: tuple[str, int] | None = None,
    peering: str | None = None,
) -> None:
    if kubeconfig:
        # kopf logs in through the kubernetes client's default loading, which reads KUBECONFIG
        os.environ["KUBECONFIG"] = kubeconfig
    # importing the handler modules registers them with kopf
    from kiln.controllers import admission as admission_handlers
    from kiln.controllers import buildrule, buildrun, namespace, repository

    _ = (admission_handlers, buildrule, buildrun, namespace, repository)
    if admission:
        # watches the webhook configuration to keep it current (needs list and watch on it)
        from kiln.controllers import admission_config

        _ = admission_config
    settings = Settings.from_env()
    runtime = make_runtime(settings, Kube(load_api_client(kubeconfig)))
    with tempfile.TemporaryDirectory(prefix="kiln-tls-") as tls_dir, contextlib.ExitStack() as hosted:
        _configure(runtime, Path(tls_dir), admission, peering)
        kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON)
        for handler in logging.getLogger().handlers:
            handler.addFilter(RoutineAtDebug(verbose))
        if metrics_listen is not None:
            host, port = metrics_listen
            platform_metrics.serve(port, host)
        if webhook is not None:
            # the receiver keeps its own event loop and watches, in a thread beside kopf's
            from kiln.receiver.app import ServerThread, create_app

            hosted.enter_context(ServerThread(create_app(runtime.kube.api_client), *webhook))
        kopf.run(
            clusterwide=True,
            liveness_endpoint=liveness,
            memo=runtime,
            **_peering_options(peering),
        )


def _peering_options(peering: str | None) -> dict[str, Any]:
    """kopf's options for running alone, or beside replicas of itself through ClusterKopfPeering `peering`.

    kopf lets only the highest priority among live peers work and freezes all on a tie, so each
    process draws its own: one replica works, the others stand by, and whichever starts later
    (a rolling update's new pod) takes over.
    """
    if peering is None:
        return {"standalone": True}
    return {
        "standalone": False,
        "peering_name": peering,
        "priority": random.SystemRandom().randint(1, 2**31 - 1),
    }
