"""Benchmark of the webhook receiver against the real local API server, beside a bare aiohttp ceiling.

Run: .venv/bin/python bench/bench_webhook.py
Starts the control plane if it is not running (and stops it again), applies crds/, creates a
tenant with a Repository, its webhook Secret and one BuildRule matching github-push-branch.json,
runs `kiln webhook serve` on a loopback port, and sends signed deliveries (each with its own
delivery id, so each creates one BuildRun): closed-loop at rising concurrency, then open-loop at
fixed rates (20 pushes/s for 10 s among them). The same load goes to a bare aiohttp handler
answering 200, the ceiling. Reports requests/s, ack p50/p99 and push->BuildRun p99: from sending
the delivery to the BuildRun arriving on a watch of BuildRuns. Prints a table; asserts nothing.
Deletes what it created.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from kubernetes import client
from kubernetes import config as _config
from kubernetes import watch as _watch

from kiln.api.constants import BUILD_RUN, GROUP, LABEL_NAMESPACE, VERSION
from kiln.webhooks import SharedSecret, sign

ROOT = Path(__file__).resolve().parents[1]
HACK = ROOT / "hack"
# The kubernetes client has no type hints; these aliases keep strict type checking quiet about it.
kube_config: Any = _config
kube_watch: Any = _watch
PAYLOAD = ROOT.parent / "shared" / "webhooks" / "github-push-branch.json"
SECRET = "bench-secret"
CONCURRENCY = (1, 4, 16, 64)
REQUESTS_PER_LEVEL = 200
RATES = ((20, 10.0), (50, 10.0))  # (pushes per second, seconds)
VISIBLE_TIMEOUT = 30.0  # how long to wait for the last BuildRuns of a run to show up on the watch


def hack(script: str, *args: str) -> str:
    return subprocess.run(
        [str(HACK / script), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def control_plane() -> Iterator[tuple[str, str]]:
    """(kubeconfig, kubectl); stops the control plane afterwards only if it was started here."""
    started = "kube-apiserver running" not in hack("control-plane.sh", "status")
    kubeconfig = hack("control-plane.sh", "start").splitlines()[-1]
    try:
        yield kubeconfig, str(Path(hack("control-plane.sh", "bin")) / "kubectl")
    finally:
        if started:
            hack("control-plane.sh", "stop")


def apply_crds(kubectl: list[str], *, without_admission: bool) -> None:
    """crds/ applied and Established; `without_admission`: the admission webhook configuration
    deleted (no operator runs to answer it; an operator started later puts it back)."""
    subprocess.run([*kubectl, "apply", "-f", str(ROOT / "crds")], check=True, capture_output=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(ROOT / "crds")],
        check=True,
        capture_output=True,
    )
    if without_admission:
        subprocess.run(
            [*kubectl, "delete", "validatingwebhookconfiguration", "validate.kiln.dev", "--ignore-not-found"],
            check=True,
            capture_output=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:g} s")


@contextmanager
def process(args: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(ready_url)
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)


@dataclass
class Tenant:
    kubectl: list[str]
    name: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:6]}")
    quota: dict[str, Any] | None = None  # the Kiln Namespace's spec.quota
    pool: str | None = None  # a build pool the tenant allows and its Repository builds on
    run_policy: str | None = None  # the rule's runPolicy (default: the API's, Serial)

    @property
    def namespace(self) -> str:
        return f"kiln-{self.name}"

    def objects(self) -> list[dict[str, Any]]:
        ns = self.namespace
        rule_spec = {
            "repository": "app",
            "source": {"type": "Branch", "name": "changes"},
            "tags": [{"tag": "latest"}],
            **({"runPolicy": self.run_policy} if self.run_policy else {}),
        }
        return [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {LABEL_NAMESPACE: self.name}},
            },
            {
                "apiVersion": "kiln.dev/v1alpha1",
                "kind": "Namespace",
                "metadata": {"name": self.name},
                "spec": {
                    "kubernetesNamespace": ns,
                    "registry": {"server": "127.0.0.1:5000"},
                    **({"quota": self.quota} if self.quota else {}),
                    **({"buildPools": [self.pool]} if self.pool else {}),
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "app-hook", "namespace": ns},
                "stringData": {"token": SECRET},
            },
            {
                "apiVersion": "kiln.dev/v1alpha1",
                "kind": "Repository",
                "metadata": {"name": "app", "namespace": ns},
                "spec": {
                    "source": {
                        "provider": "github",
                        "url": "https://github.com/baxterthehacker/public-repo.git",
                        "webhook": {"secretRef": {"name": "app-hook"}, "autoRegister": False},
                    },
                    **({"build": {"pool": self.pool}} if self.pool else {}),
                },
            },
            {
                "apiVersion": "kiln.dev/v1alpha1",
                "kind": "BuildRule",
                "metadata": {"name": "changes", "namespace": ns},
                "spec": rule_spec,
            },
        ]

    def run(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run([*self.kubectl, *args], input=stdin, check=True, capture_output=True, text=True)

    def create(self) -> None:
        for obj in self.objects():  # one by one: the namespace must exist before what lives in it
            self.run("apply", "-f", "-", stdin=json.dumps(obj))

    def delete(self) -> None:
        self.run("delete", "kilnnamespace", self.name, "--ignore-not-found", "--wait=false")
        self.run("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false")


class BuildRunWatch:
    """When each BuildRun (by delivery id) became visible on a watch of the tenant's BuildRuns."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        self._api = client.CustomObjectsApi(api_client)
        self._namespace = namespace
        self._watch = kube_watch.Watch()
        self._ready = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._follow()
        except Exception:
            if not self._stopping:  # stopping closes the stream under the reader: expected
                raise

    def _follow(self) -> None:
        listed: Any = self._api.list_namespaced_custom_object(
            GROUP, VERSION, self._namespace, BUILD_RUN.plural
        )
        self._ready.set()
        for event in self._watch.stream(
            self._api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self._namespace,
            BUILD_RUN.plural,
            resource_version=listed["metadata"]["resourceVersion"],
        ):
            if event["type"] == "ADDED":
                delivery = event["object"]["spec"]["trigger"].get("deliveryId")
                self.seen.setdefault(delivery, time.monotonic())

    def __enter__(self) -> BuildRunWatch:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping = True
        self._watch.stop()


@dataclass
class Result:
    label: str
    sent: dict[str, float] = field(default_factory=dict)  # delivery id -> send time
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


Sender = Callable[[aiohttp.ClientSession, Result], Coroutine[Any, Any, None]]


def sender(url: str, body: bytes, expected: int) -> Sender:
    async def send(session: aiohttp.ClientSession, result: Result) -> None:
        delivery = str(uuid.uuid4())
        # each delivery another push: BuildRuns are named by (rule, Repository, ref, commit)
        pushed = json.loads(body)
        pushed["after"] = pushed["head_commit"]["id"] = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        data = json.dumps(pushed).encode()
        headers = sign("github", data, SharedSecret(SECRET), delivery_id=delivery)
        started = time.monotonic()
        result.sent[delivery] = started
        try:
            async with session.post(url, data=data, headers=headers) as response:
                await response.read()
                ok = response.status == expected
        except aiohttp.ClientError:
            ok = False
        result.latencies.append(time.monotonic() - started)
        result.errors += not ok

    return send


async def closed_loop(send: Sender, session: aiohttp.ClientSession, result: Result, concurrency: int) -> None:
    remaining = REQUESTS_PER_LEVEL

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send(session, result)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_loop(
    send: Sender, session: aiohttp.ClientSession, result: Result, rate: int, seconds: float
) -> None:
    start = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(send(session, result)))
    await asyncio.gather(*tasks)


async def run_load(send: Sender, name: str) -> list[Result]:
    results = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        for _ in range(20):  # warm-up: connections, caches
            await send(session, Result("warm-up"))
        for concurrency in CONCURRENCY:
            result = Result(f"{name} c={concurrency}")
            started = time.monotonic()
            await closed_loop(send, session, result, concurrency)
            result.seconds = time.monotonic() - started
            results.append(result)
        for rate, seconds in RATES:
            result = Result(f"{name} {rate}/s x {seconds:g}s")
            started = time.monotonic()
            await open_loop(send, session, result, rate, seconds)
            result.seconds = time.monotonic() - started
            results.append(result)
    return results


def visible_p99(result: Result, seen: dict[str, float]) -> tuple[float | None, int]:
    """p99 of send -> BuildRun visible, and how many BuildRuns never showed up."""
    deadline = time.monotonic() + VISIBLE_TIMEOUT
    while time.monotonic() < deadline and not all(d in seen for d in result.sent):
        time.sleep(0.1)
    delays = [seen[d] - sent for d, sent in result.sent.items() if d in seen]
    return percentile(delays, 0.99), sum(d not in seen for d in result.sent)


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def print_table(rows: list[tuple[Result, float | None, int | None]]) -> None:
    header = f"{'run':<26} {'requests':>8} {'errors':>6} {'req/s':>8} {'ack p50 ms':>10} {'ack p99 ms':>10} {'push->BuildRun p99 ms':>22} {'missing':>7}"
    print(header)
    print("-" * len(header))
    for result, visible, missing in rows:
        print(
            f"{result.label:<26} {len(result.latencies):>8} {result.errors:>6} "
            f"{len(result.latencies) / result.seconds:>8.1f} {ms(percentile(result.latencies, 0.5)):>10} "
            f"{ms(percentile(result.latencies, 0.99)):>10} {ms(visible):>22} "
            f"{'-' if missing is None else missing:>7}"
        )


async def _bare_handler(_: web.Request) -> web.Response:
    return web.Response(status=200)


def serve_bare(port: int) -> None:
    """The ceiling: an aiohttp app answering 200 to everything (run as a separate process)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _bare_handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def main() -> None:
    if not PAYLOAD.is_file():
        raise SystemExit(f"shared webhook payload missing: {PAYLOAD}")
    body = PAYLOAD.read_bytes()
    with control_plane() as (kubeconfig, kubectl_path):
        kubectl = [kubectl_path, "--kubeconfig", kubeconfig]
        apply_crds(kubectl, without_admission=True)
        tenant = Tenant(kubectl)
        tenant.create()
        api_client = kube_config.new_client_from_config(config_file=kubeconfig)
        port, bare_port = free_port(), free_port()
        kiln = [str(ROOT / ".venv" / "bin" / "kiln"), "webhook", "serve", "--kubeconfig", kubeconfig]
        rows: list[tuple[Result, float | None, int | None]] = []
        try:
            with (
                process([*kiln, "--listen", f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}/readyz"),
                BuildRunWatch(api_client, tenant.namespace) as runs,
            ):
                url = f"http://127.0.0.1:{port}/hooks/github/{tenant.name}/app"
                for result in asyncio.run(run_load(sender(url, body, 202), "receiver")):
                    rows.append((result, *visible_p99(result, runs.seen)))
            bare = [sys.executable, __file__, "--bare-server", str(bare_port)]
            with process(bare, f"http://127.0.0.1:{bare_port}/"):
                url = f"http://127.0.0.1:{bare_port}/hooks/github/{tenant.name}/app"
                rows.extend(
                    (result, None, None)
                    for result in asyncio.run(run_load(sender(url, body, 200), "bare 200"))
                )
        finally:
            tenant.delete()
            api_client.close()
    print(
        f"CPUs: {os.cpu_count()}; {REQUESTS_PER_LEVEL} requests per concurrency level; one BuildRun per delivery"
    )
    print_table(rows)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-server":
        serve_bare(int(sys.argv[2]))
    else:
        main()
