"""The webhook receiver's aiohttp app: `POST /hooks/{provider}/{tenant}/{repository}` (a
repository's hook) and `POST /hooks/{provider}/{tenant}` (the tenant's organization hook).

The handlers are thin: read the body (at most MAX_BODY_BYTES), let `receiver.decide` answer from
the watch-fed cache, create the BuildRuns it plans, and let `receiver.conclude` answer. Also
`/readyz` (503 until the cache is loaded), `/healthz` and, unless served elsewhere, `/metrics`.

`create_app(api_client)` is what `kiln webhook serve` runs and what the operator can host;
`make_app(cache, creator)` wires given parts (tests); `ServerThread` runs an app on its own loop.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

import urllib3
from aiohttp import web
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kiln.api.constants import (
    ANNOTATION_CREATED_AT,
    BUILD_RULE,
    BUILD_RUN,
    GROUP,
    REPOSITORY,
    VERSION,
    Provider,
)
from kiln.platform import metrics as platform_metrics
from kiln.platform.kube import api_message, load_api_client, retriable
from kiln.receiver import metrics
from kiln.receiver.cache import ResourceCache
from kiln.receiver.replay import ReplayGuard, replay_key
from kiln.receiver.secrets import FRESH_SECONDS, RECHECK_SECONDS, SecretReader
from kiln.receiver.watch import Watches
from kiln.webhooks.decisions import (
    CacheView,
    CreateResult,
    CreateRuns,
    CreateStatus,
    Delivery,
    DeliveryOutcome,
    PlannedRun,
    Reply,
    conclude,
    deadline_exceeded,
    decide,
    internal_error,
    method_not_allowed,
    replayed,
    secret_source,
    secret_unavailable,
    too_large,
)
from kiln.webhooks.events import DEFAULT_MAX_REFS, JSON
from kiln.webhooks.organization import NewRepository, name_taken, owned_by_repository
from kiln.webhooks.provider import MAX_BODY_BYTES

log = logging.getLogger("kiln.webhooks")

HOOK_ROUTE = "/hooks/{provider}/{tenant}/{repository}"  # tenant: a Kiln Namespace's name
ORGANIZATION_HOOK_ROUTE = "/hooks/{provider}/{tenant}"
# Threads for decisions (HMAC and JSON parsing of bodies up to 25 MiB stay off the event loop) and
# for the blocking kubernetes client's creates; also the size of the creates' connection pool.
WORKERS = 16
# Bodies up to this size are verified and parsed on the event loop (well under a millisecond for
# the pushes code hosts send); larger ones in a worker, so one 25 MiB body cannot stall the others.
INLINE_BODY_BYTES = 256 * 1024
# Every delivery is answered within this many seconds: GitHub waits 10 s and then gives up on the
# delivery (it does not redeliver by itself), so a slow API server must not make the answer late.
DEADLINE = 8.0
RETRY_AFTER_SECONDS = 10
CREATE_TIMEOUT = (5.0, 15.0)  # (connect, read) seconds: an unreachable API server answers 503 soon
READ_CHUNK = 64 * 1024

CACHE = web.AppKey("cache", ResourceCache)


class BuildRunCreator(Protocol):
    """Creates BuildRuns (and the Repositories organization hooks create); answers per BuildRun
    name, never raises for API failures."""

    async def create(self, namespace: str, runs: Sequence[PlannedRun]) -> dict[str, CreateResult]: ...

    async def create_repository(self, namespace: str, new: NewRepository) -> CreateResult: ...


def _call(request: Callable[[], Any]) -> tuple[CreateResult | None, Any]:
    """(None, the API's answer), or (how it failed, None): 409 is EXISTS; no answer, 429 and 5xx
    are UNAVAILABLE (worth a redelivery); any other refusal is REJECTED."""
    try:
        return None, request()
    except ApiException as error:
        if error.status == 409:
            return CreateResult(CreateStatus.EXISTS), None
        status = CreateStatus.UNAVAILABLE if retriable(error.status) else CreateStatus.REJECTED
        return CreateResult(status, api_message(error)[:500]), None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return CreateResult(CreateStatus.UNAVAILABLE, f"{type(error).__name__}: {str(error)[:300]}"), None


class KubeCreator:
    """Creates BuildRuns with the kubernetes client, from worker threads."""

    def __init__(self, api_client: client.ApiClient, executor: Executor) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self._executor = executor

    def create_one(self, namespace: str, manifest: dict[str, Any]) -> CreateResult:
        meta = manifest["metadata"]
        # the queue's order within a second (creationTimestamp has whole seconds)
        created_at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        annotations = {**(meta.get("annotations") or {}), ANNOTATION_CREATED_AT: created_at}
        manifest = {**manifest, "metadata": {**meta, "annotations": annotations}}
        return self._create(namespace, BUILD_RUN.plural, manifest)[0]

    def _create(
        self, namespace: str, plural: str, manifest: dict[str, Any]
    ) -> tuple[CreateResult, str | None]:
        """How the create went, and the created object's uid (None when it existed or failed)."""
        failure, created = _call(
            lambda: self._api.create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, manifest, _request_timeout=CREATE_TIMEOUT
            )
        )
        if failure is not None:
            return failure, None
        meta = created.get("metadata") if isinstance(created, dict) else None
        return CreateResult(CreateStatus.CREATED), str((meta or {}).get("uid") or "")

    def create_repository_now(self, namespace: str, new: NewRepository) -> CreateResult:
        """The Repository, then its BuildRules owned by it (only when this create made it: one that
        existed already may have had its rules changed or removed by hand since)."""
        made, uid = self._create(namespace, REPOSITORY.plural, new.manifest)
        if made.status is CreateStatus.EXISTS:
            return self._existing_repository(namespace, new)
        if made.status is not CreateStatus.CREATED or not uid:
            return made
        for rule in new.rules:
            result, _ = self._create(namespace, BUILD_RULE.plural, owned_by_repository(rule, new.name, uid))
            if result.status not in (CreateStatus.CREATED, CreateStatus.EXISTS):
                return CreateResult(result.status, f"BuildRule {rule['metadata']['name']}: {result.detail}")
        return made

    def _existing_repository(self, namespace: str, new: NewRepository) -> CreateResult:
        """A Repository of the name exists (made a moment ago, the cache not told yet): fine when it
        builds the same code repository; else another push took the name first, and building this
        push there would build the wrong code."""
        failure, found = _call(
            lambda: self._api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, REPOSITORY.plural, new.name, _request_timeout=CREATE_TIMEOUT
            )
        )
        if failure is not None:
            return failure
        conflict = name_taken(found if isinstance(found, dict) else {}, new)
        return (
            CreateResult(CreateStatus.REJECTED, conflict) if conflict else CreateResult(CreateStatus.EXISTS)
        )

    async def create_repository(self, namespace: str, new: NewRepository) -> CreateResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.create_repository_now, namespace, new)

    async def create(self, namespace: str, runs: Sequence[PlannedRun]) -> dict[str, CreateResult]:
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *(loop.run_in_executor(self._executor, self.create_one, namespace, r.manifest) for r in runs)
        )
        return {run.name: result for run, result in zip(runs, results, strict=True)}


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` (never buffering more than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    if request.content_length is not None:
        return await request.read()  # at most `limit`, as announced: read at once
    body = bytearray()
    async for chunk in request.content.iter_chunked(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


_PROVIDERS = frozenset(p.value for p in Provider)


def _provider_label(provider: str) -> str:
    return provider if provider in _PROVIDERS else "unknown"


def _count(body: dict[str, JSON], key: str) -> int:
    value = body.get(key)
    return len(value) if isinstance(value, list) else 0


def _created(body: dict[str, JSON]) -> int:
    runs = body.get("buildRuns")
    if not isinstance(runs, list):
        return 0
    return sum(1 for run in runs if isinstance(run, dict) and run.get("result") == CreateStatus.CREATED.value)


class Receiver:
    """The request handlers around `decide` / `conclude`."""

    def __init__(
        self,
        cache: CacheView,
        creator: BuildRunCreator,
        executor: Executor | None,
        deadline: float = DEADLINE,
        max_refs: int = DEFAULT_MAX_REFS,
        secrets: SecretReader | None = None,
    ) -> None:
        self._cache = cache
        self._creator = creator
        self._executor = executor
        self._deadline = deadline
        self._max_refs = max_refs
        self._replays = ReplayGuard()
        self._secrets = secrets

    def _secret_of(self, delivery: Delivery) -> tuple[str, str] | None:
        """(namespace, name) of the delivery's webhook Secret (its Repository's, or its tenant's
        organization hook's), if the cache knows one."""
        source = secret_source(delivery, self._cache)
        return (source.namespace, source.name) if source is not None else None

    async def _answer(self, request: web.Request, started: float) -> Reply:
        if request.method != "POST":
            return method_not_allowed(request.method)
        body = await read_body(request)
        if body is None:
            return too_large(MAX_BODY_BYTES)
        info = request.match_info
        delivery = Delivery(info["provider"], info["tenant"], info.get("repository"), request.headers, body)
        secrets = self._secrets
        secret = self._secret_of(delivery) if secrets is not None else None
        if secret is not None and secrets is not None:
            # a value in hand answers now (a stale one is read again beside); none yet: wait for it
            known = secrets.known(*secret)
            wait = 0.0 if known else self._time_left(started)
            older_than = FRESH_SECONDS if known else RECHECK_SECONDS  # a failed read is soon tried again
            if not await secrets.refresh(*secret, older_than=older_than, wait=wait) and not known:
                return secret_unavailable(*secret)
        replay = replay_key(delivery, self._cache)
        if replay is not None and self._replays.used(replay):
            return replayed()
        reply = await self._decide_and_create(delivery, started)
        if (
            reply.outcome is DeliveryOutcome.UNAUTHORIZED
            and secret is not None
            and secrets is not None
            and (secrets.reading(*secret) or secrets.age(*secret) >= RECHECK_SECONDS)
        ):
            # the secret may have been rotated since it was read: decide again with what is there now
            if not await secrets.refresh(*secret, older_than=RECHECK_SECONDS, wait=self._time_left(started)):
                return secret_unavailable(*secret)
            reply = await self._decide_and_create(delivery, started)
        if replay is not None and reply.status < 300:
            self._replays.remember(replay)  # only what was accepted: the host's retry after a 503 passes
        return reply

    def _time_left(self, started: float) -> float:
        return self._deadline - (time.perf_counter() - started)

    async def _decide_and_create(self, delivery: Delivery, started: float) -> Reply:
        now = datetime.now(UTC)
        if len(delivery.body) <= INLINE_BODY_BYTES:
            # on the loop: a hop to a worker thread costs more than the decision, and the threads'
            # fight for the GIL with the loop (5 ms switch interval) is what made answers slow
            decision = decide(delivery, self._cache, now, max_refs=self._max_refs)
        else:
            loop = asyncio.get_running_loop()
            decision = await loop.run_in_executor(
                self._executor, functools.partial(decide, max_refs=self._max_refs), delivery, self._cache, now
            )

        if not isinstance(decision, CreateRuns):
            return decision
        # shielded: creates that outlast the deadline go on, and a redelivery finds what they made
        creates = asyncio.shield(self._creates(decision))
        try:
            results, made = await asyncio.wait_for(creates, self._time_left(started))
        except TimeoutError:
            return deadline_exceeded(decision, self._deadline)
        return conclude(decision, results, made)

    async def _creates(self, decision: CreateRuns) -> tuple[dict[str, CreateResult], CreateResult | None]:
        """The Repository an organization delivery creates (if any), then, once it exists, the BuildRuns."""
        made = None
        if decision.repository is not None:
            made = await self._creator.create_repository(decision.namespace, decision.repository)
            if made.status not in (CreateStatus.CREATED, CreateStatus.EXISTS):
                return {}, made
        return await self._creator.create(decision.namespace, decision.runs), made

    async def hook(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        failure: dict[str, str] = {}
        try:
            reply = await self._answer(request, started)
        except Exception as error:
            # A bug or an unforeseen failure still gets a JSON answer, a metric and a log line.
            # The log names the type and the stack, not the message: it may quote the request.
            reply = internal_error(error)
            failure = {
                "error": type(error).__name__,
                "traceback": "".join(traceback.format_tb(error.__traceback__)),
            }
        elapsed = time.perf_counter() - started
        provider = _provider_label(request.match_info["provider"])
        created = _created(reply.body)
        metrics.record_delivery(
            provider,
            reply.outcome.value,
            elapsed,
            created=created,
            rule_failures=_count(reply.body, "failures"),
        )
        if failure:
            level = logging.ERROR
        elif reply.status >= 500 or reply.body.get("failures"):
            level = logging.WARNING
        elif created or reply.status >= 400:
            level = logging.INFO
        else:
            level = (
                logging.DEBUG
            )  # nothing happened (no match, duplicate, ping, ignored): the metrics count it
        if log.isEnabledFor(level):
            fields = {
                "provider": provider,
                "tenant": request.match_info["tenant"],
                "repository": request.match_info.get("repository"),
                "deliveryStatus": reply.status,
                "deliveryId": reply.body.get("deliveryId"),
                "outcome": reply.outcome.value,
                "reason": reply.body.get("reason"),
                "created": created,
                "failures": reply.body.get("failures"),
                "durationMs": round(elapsed * 1000, 2),
                **failure,
            }
            log.log(level, "webhook delivery", extra={"kiln": fields})
        headers = {"Allow": "POST"} if reply.status == 405 else None
        if reply.status == 503:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return web.json_response(reply.body, status=reply.status, headers=headers)

    async def readyz(self, _: web.Request) -> web.Response:
        if self._cache.ready:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": "the cache is still loading"}, status=503)

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"alive": True})


async def _metrics(_: web.Request) -> web.Response:
    body, content_type = platform_metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def make_app(
    cache: ResourceCache,
    creator: BuildRunCreator,
    *,
    executor: Executor | None = None,
    expose_metrics: bool = True,
    deadline: float = DEADLINE,
    max_refs: int = DEFAULT_MAX_REFS,
    secrets: SecretReader | None = None,
) -> web.Application:
    """The routes, wired to the given cache and creator (nothing is started here); without `secrets`
    the webhook Secrets are what the cache was fed."""
    receiver = Receiver(cache, creator, executor, deadline, max_refs, secrets)
    app = web.Application()
    app[CACHE] = cache
    app.router.add_route("*", HOOK_ROUTE, receiver.hook)
    app.router.add_route("*", ORGANIZATION_HOOK_ROUTE, receiver.hook)
    app.router.add_get("/readyz", receiver.readyz)
    app.router.add_get("/healthz", receiver.healthz)
    if expose_metrics:
        app.router.add_get("/metrics", _metrics)
    return app


def _pooled(api_client: client.ApiClient, size: int) -> client.ApiClient:
    """A client like `api_client` whose connection pool holds `size` connections: the default (5 per
    CPU) would drop and reopen connections under concurrent creates."""
    configuration = copy.deepcopy(api_client.configuration)
    configuration.connection_pool_maxsize = size
    return client.ApiClient(configuration)


def create_app(
    api_client: client.ApiClient,
    *,
    expose_metrics: bool = True,
    workers: int = WORKERS,
    deadline: float = DEADLINE,
    max_refs: int = DEFAULT_MAX_REFS,
) -> web.Application:
    """The receiver backed by the cluster: its watches start and stop with the app."""
    cache = ResourceCache()
    executor = ThreadPoolExecutor(workers, thread_name_prefix="kiln-webhook")
    creates_client = _pooled(api_client, workers)
    app = make_app(
        cache,
        KubeCreator(creates_client, executor),
        executor=executor,
        expose_metrics=expose_metrics,
        deadline=deadline,
        max_refs=max_refs,
        secrets=SecretReader(api_client, cache, executor),
    )
    watches = Watches(api_client, cache)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        watches.start()
        yield
        await asyncio.get_running_loop().run_in_executor(None, watches.stop)
        executor.shutdown(wait=False, cancel_futures=True)
        creates_client.close()  # type: ignore[no-untyped-call]  # the kubernetes client is untyped

    app.cleanup_ctx.append(lifecycle)
    return app


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's `kiln` extra (a dict) is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "kiln", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def serve(
    kubeconfig: str | None,
    host: str,
    port: int,
    *,
    metrics_port: int | None = None,
    verbose: bool = False,
    deadline: float = DEADLINE,
    max_refs: int = DEFAULT_MAX_REFS,
) -> None:
    """Run the receiver until SIGINT/SIGTERM (`kiln webhook serve`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    # the kubernetes client logs request bodies at DEBUG, and a Secret list is a body
    logging.getLogger("kubernetes").setLevel(logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.INFO)
    if metrics_port is not None:
        platform_metrics.serve(metrics_port, host)
    app = create_app(
        load_api_client(kubeconfig), expose_metrics=metrics_port is None, deadline=deadline, max_refs=max_refs
    )
    log.info("webhook receiver listening", extra={"kiln": {"listen": f"{host}:{port}"}})
    web.run_app(app, host=host, port=port, access_log=None, print=None)


class ServerThread:
    """Serves an app on a loopback (or given) address from a thread with its own event loop.

    For tests, benchmarks and hosts whose own loop is busy: `with ServerThread(app) as server: server.url`.
    """

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kiln-webhook-server", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.app, access_log=None)
        try:
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self._host, self._port)
            self._loop.run_until_complete(site.start())
            self.port = int(runner.addresses[0][1])
        except BaseException as error:
            self._error = error
            self._started.set()
            return
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise RuntimeError(f"the webhook server did not start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
