"""Benchmark of the operator's build path: push -> BuildRun -> Job, at 20 pushes/s, against the real API server.

Run: .venv/bin/python bench/bench_builds.py   (KILN_BENCH_SECONDS=180 by default; `make bench` runs it)
Starts the control plane if it is not running (and stops it again), applies crds/, runs
`kiln operator` (admission on) and `kiln webhook serve` beside it, creates TENANTS tenants, each
with a Repository and a BuildRule, and sends signed pushes open-loop at RATE per second, round-robin
over the tenants, each with its own delivery id (so each makes one BuildRun, and the operator one
Job). A watch of BuildRuns and one of Jobs record when each appears.

What is measured is the operator's latency, not the node's: the tenants build on a pool whose node
selector matches no node (the build pods stay unscheduled) with a cap no run reaches and a Parallel
rule, so every BuildRun goes through the queue's dispatch and gets its Job at once, and nearly every
build is in flight until the end. Reports, in the same run: push -> BuildRun (the receiver's part, the baseline),
push -> Job (the whole path) and BuildRun -> Job (the operator's own part), p50/p99/max, and the
operator's RSS when 1 000 BuildRuns were in flight and at the end. Prints a table; asserts nothing.
Deletes what it created.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes import client

from bench_webhook import (
    PAYLOAD,
    ROOT,
    SECRET,
    Tenant,
    apply_crds,
    control_plane,
    free_port,
    kube_config,
    kube_watch,
    percentile,
    wait_http,
)
from kiln.api.constants import BUILD_RUN, GROUP, LABEL_BUILD_RUN, LABEL_NAMESPACE, VERSION
from kiln.webhooks import SharedSecret, sign

TENANTS = 4
RATE = 20  # pushes per second
SECONDS = float(os.environ.get("KILN_BENCH_SECONDS", "180"))
RSS_AT = 1000  # BuildRuns in flight when the operator's RSS is read
SETTLE_SECONDS = 60.0  # how long to wait for the last Jobs to appear
POOL = "bench-nowhere"  # a build pool no node is in


@dataclass
class Watched:
    """When each object (by name) was first seen on a watch, and its creation count."""

    seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def follow(list_call: Any, watched: Watched, stop: threading.Event, *args: Any, **kwargs: Any) -> None:
    """Record when each object is first seen: list once, then watch from the last version seen
    (a broken watch lists again, and what the list shows that the watch missed counts as seen now)."""

    def see(obj: Any) -> str:
        meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
        name = meta["name"] if isinstance(meta, dict) else meta.name
        with watched.lock:
            watched.seen.setdefault(name, time.monotonic())
        return str(meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version)

    version: str | None = None
    while not stop.is_set():
        if version is None:
            listed = list_call(*args, **kwargs)
            items = listed["items"] if isinstance(listed, dict) else listed.items
            for item in items:
                see(item)
            version = (
                listed["metadata"]["resourceVersion"]
                if isinstance(listed, dict)
                else listed.metadata.resource_version
            )
        stream = kube_watch.Watch()
        try:
            for event in stream.stream(
                list_call, *args, resource_version=version, timeout_seconds=60, deserialize=False, **kwargs
            ):
                if stop.is_set():
                    break
                if event["type"] in ("ADDED", "MODIFIED"):
                    version = see(event["object"])
        except Exception:
            version = None
            time.sleep(0.5)
        finally:
            stream.stop()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def operator(kubeconfig: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`kiln operator` (controllers and admission) and `kiln webhook serve` beside it, as the chart
    deploys them: the receiver's URL."""
    receiver, liveness, admission = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "KILN_WEBHOOK_LISTEN": "127.0.0.1",
        "KILN_WEBHOOK_HOST": "127.0.0.1",
        "KILN_WEBHOOK_PORT": str(admission),
        "KILN_TRIGGER_USERS": "kiln-admin",
        "KILN_BUILD_POOLS": json.dumps({POOL: {"nodeSelector": {"kiln.dev/bench": "no-such-node"}}}),
    }
    kiln = str(ROOT / ".venv" / "bin" / "kiln")
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [kiln, "operator", "--kubeconfig", kubeconfig, "--liveness", f"http://127.0.0.1:{liveness}/healthz"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    serve = subprocess.Popen(
        [kiln, "webhook", "serve", "--kubeconfig", kubeconfig, "--listen", f"127.0.0.1:{receiver}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{liveness}/healthz")
        wait_http(f"http://127.0.0.1:{receiver}/readyz")
        yield proc, f"http://127.0.0.1:{receiver}"
    finally:
        for p in (serve, proc):
            p.terminate()
            p.wait(30)
        log.close()


@dataclass
class Pushes:
    sent: dict[str, float] = field(default_factory=dict)  # BuildRun name -> send time
    errors: int = 0


async def push_load(url: str, tenants: list[str], body: bytes, pushes: Pushes, on_sent: Any) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def send(tenant: str) -> None:
            delivery = str(uuid.uuid4())
            headers = sign("github", body, SharedSecret(SECRET), delivery_id=delivery)
            started = time.monotonic()
            try:
                async with session.post(
                    f"{url}/hooks/github/{tenant}/app", data=body, headers=headers
                ) as response:
                    answer = await response.json()
                    if response.status != 202:
                        pushes.errors += 1
                        return
            except (aiohttp.ClientError, ValueError):
                pushes.errors += 1
                return
            for run in answer["buildRuns"]:
                pushes.sent[run["name"]] = started
            on_sent()

        start = time.monotonic()
        tasks = []
        for i in range(int(RATE * SECONDS)):
            await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
            tasks.append(asyncio.create_task(send(tenants[i % len(tenants)])))
        await asyncio.gather(*tasks)


def stats(delays: list[float]) -> str:
    if not delays:
        return f"{'-':>9} {'-':>9} {'-':>9}"
    return " ".join(
        f"{v * 1000:>9.1f}"
        for v in (percentile(delays, 0.5), percentile(delays, 0.99), max(delays))
        if v is not None
    )


def main() -> None:
    body_doc = json.loads(PAYLOAD.read_bytes())
    body = json.dumps(body_doc).encode()
    with control_plane() as (kubeconfig, kubectl_path):
        kubectl = [kubectl_path, "--kubeconfig", kubeconfig]
        apply_crds(kubectl, without_admission=False)
        api_client = kube_config.new_client_from_config(config_file=kubeconfig)
        custom, batch = client.CustomObjectsApi(api_client), client.BatchV1Api(api_client)
        # no build pod is ever scheduled (the pool's node selector matches no node), so the node stays
        # out of the figures; no cap or rule holds a run back, so each gets its Job at once
        tenants = [
            Tenant(kubectl, quota={"maxConcurrentBuilds": 100_000}, pool=POOL, run_policy="Parallel")
            for _ in range(TENANTS)
        ]
        names = [t.name for t in tenants]
        runs, jobs, stop = Watched(), Watched(), threading.Event()
        rss: dict[str, float] = {}
        try:
            with operator(kubeconfig) as (proc, url):
                for tenant in tenants:
                    tenant.create()
                watchers = [
                    threading.Thread(
                        target=follow,
                        args=(
                            custom.list_cluster_custom_object,
                            runs,
                            stop,
                            GROUP,
                            VERSION,
                            BUILD_RUN.plural,
                        ),
                        kwargs={"label_selector": LABEL_NAMESPACE},
                        daemon=True,
                    ),
                    threading.Thread(
                        target=follow,
                        args=(batch.list_job_for_all_namespaces, jobs, stop),
                        kwargs={"label_selector": LABEL_BUILD_RUN},
                        daemon=True,
                    ),
                ]
                for w in watchers:
                    w.start()
                time.sleep(10)  # the receiver's cache sees the Repositories and rules
                pushes = Pushes()

                def on_sent() -> None:
                    if "at 1000" not in rss and len(pushes.sent) >= RSS_AT:
                        rss["at 1000"] = rss_mib(proc.pid)

                asyncio.run(push_load(url, names, body, pushes, on_sent))
                deadline = time.monotonic() + SETTLE_SECONDS
                while time.monotonic() < deadline and not all(n in jobs.seen for n in pushes.sent):
                    time.sleep(0.5)
                rss["end"] = rss_mib(proc.pid)
                in_flight = sum(
                    1
                    for r in custom.list_cluster_custom_object(
                        GROUP, VERSION, BUILD_RUN.plural, label_selector=LABEL_NAMESPACE
                    )["items"]
                    if (r.get("status") or {}).get("phase") in (None, "Pending", "Running")
                )
                for name in names:
                    subprocess.run(
                        [*kubectl, "delete", "kilnnamespace", name, "--wait=true", "--timeout=300s"],
                        capture_output=True,
                    )
        finally:
            stop.set()
            for tenant in tenants:
                tenant.delete()
            api_client.close()
    to_run = [runs.seen[n] - t for n, t in pushes.sent.items() if n in runs.seen]
    to_job = [jobs.seen[n] - t for n, t in pushes.sent.items() if n in jobs.seen]
    run_to_job = [jobs.seen[n] - runs.seen[n] for n in pushes.sent if n in jobs.seen and n in runs.seen]
    print(
        f"CPUs: {os.cpu_count()}; {RATE} pushes/s for {SECONDS:g} s over {TENANTS} tenants; {len(pushes.sent)} BuildRuns, {pushes.errors} failed pushes"
    )
    print(f"{'path':<24} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'missing':>8}")
    print(f"{'push -> BuildRun':<24} {stats(to_run)} {len(pushes.sent) - len(to_run):>8}")
    print(f"{'push -> Job':<24} {stats(to_job)} {len(pushes.sent) - len(to_job):>8}")
    print(f"{'BuildRun -> Job':<24} {stats(run_to_job)} {'':>8}")
    p99_run, p99_job = percentile(to_run, 0.99), percentile(to_job, 0.99)
    if p99_run and p99_job:
        print(f"push->Job p99 / push->BuildRun p99: {p99_job / p99_run:.2f}x")
    print(
        f"operator RSS: {rss.get('at 1000', float('nan')):.0f} MiB with {RSS_AT} BuildRuns created, {rss['end']:.0f} MiB at the end ({in_flight} in flight)"
    )


if __name__ == "__main__":
    main()
