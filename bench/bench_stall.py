"""The receiver through a 30 s API server stall: deliveries/s and ack latency before, during, after.

Run: .venv/bin/python bench/bench_stall.py   (`make bench` runs it)
Starts the control plane if it is not running, creates one tenant (no operator: the receiver only
needs its objects), runs `kiln webhook serve` (default deadline 8 s), and sends signed pushes
open-loop at RATE per second for BEFORE + STALL + AFTER seconds, each with its own delivery id. At
BEFORE seconds the API server gets SIGSTOP, STALL seconds later SIGCONT (a hung control plane).
Per phase (by send time): deliveries sent, answered per second, 202 / 503 / no answer, and ack
p50/p99/max. Then every 503 is redelivered until taken, and the BuildRuns are counted: how many
pushes were lost (none should be) and how many built twice. Prints a table; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass

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
    hack,
    kube_config,
    percentile,
    process,
)
from kiln.api.constants import BUILD_RUN, GROUP, VERSION
from kiln.webhooks import SharedSecret, sign

RATE = 20  # pushes per second
BEFORE, STALL, AFTER = 10.0, 30.0, 20.0  # seconds
HOST_TIMEOUT = 10.0  # GitHub's wait for an answer


@dataclass(frozen=True)
class Sent:
    at: float  # seconds since the start
    status: int  # 0: no answer within the client's 30 s
    seconds: float


def phase(at: float) -> str:
    return "before" if at < BEFORE else "stall" if at < BEFORE + STALL else "after"


async def load(url: str, body: bytes, pid: int) -> dict[str, Sent]:
    key = SharedSecret(SECRET)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=30)
    ) as session:

        async def send(delivery: str, at: float) -> Sent:
            started = time.monotonic()
            headers = sign("github", body, key, delivery_id=delivery)
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return Sent(at, response.status, time.monotonic() - started)
            except (aiohttp.ClientError, TimeoutError):
                return Sent(at, 0, time.monotonic() - started)

        start, stopped, resumed = time.monotonic(), False, False
        tasks: dict[str, asyncio.Task[Sent]] = {}
        try:
            for i in range(int(RATE * (BEFORE + STALL + AFTER))):
                await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
                at = time.monotonic() - start
                if not stopped and at >= BEFORE:
                    os.kill(pid, signal.SIGSTOP)
                    stopped = True
                if stopped and not resumed and at >= BEFORE + STALL:
                    os.kill(pid, signal.SIGCONT)
                    resumed = True
                delivery = str(uuid.uuid4())
                tasks[delivery] = asyncio.create_task(send(delivery, at))
            return {d: await t for d, t in tasks.items()}
        finally:
            os.kill(pid, signal.SIGCONT)


async def redeliver(url: str, body: bytes, deliveries: list[str]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for delivery in deliveries:
            for _ in range(15):
                headers = sign("github", body, SharedSecret(SECRET), delivery_id=delivery)
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status in (200, 202):
                        break
                await asyncio.sleep(2)


def ms(value: float | None) -> str:
    return f"{value * 1000:>9.0f}" if value is not None else f"{'-':>9}"


def main() -> None:
    body = PAYLOAD.read_bytes()
    with control_plane() as (kubeconfig, kubectl_path):
        kubectl = [kubectl_path, "--kubeconfig", kubeconfig]
        apply_crds(kubectl, without_admission=True)  # no operator runs here
        tenant = Tenant(kubectl)
        tenant.create()
        match = re.search(r"kube-apiserver running \(pid (\d+)\)", hack("control-plane.sh", "status"))
        assert match is not None, "kube-apiserver is not running"
        port = free_port()
        kiln = [str(ROOT / ".venv" / "bin" / "kiln"), "webhook", "serve", "--kubeconfig", kubeconfig]
        try:
            with process([*kiln, "--listen", f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}/readyz"):
                time.sleep(5)  # the receiver's cache sees the tenant's objects
                url = f"http://127.0.0.1:{port}/hooks/github/{tenant.name}/app"
                sent = asyncio.run(load(url, body, int(match[1])))
                asyncio.run(redeliver(url, body, [d for d, s in sent.items() if s.status == 503]))
            api_client = kube_config.new_client_from_config(config_file=kubeconfig)
            listed = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
                GROUP, VERSION, tenant.namespace, BUILD_RUN.plural
            )
            built = Counter(r["spec"]["trigger"].get("deliveryId") for r in listed["items"])
            api_client.close()
        finally:
            tenant.delete()
    print(
        f"CPUs: {os.cpu_count()}; {RATE} pushes/s; API server stopped (SIGSTOP) from {BEFORE:g} s for {STALL:g} s; receiver deadline 8 s"
    )
    print(
        f"{'phase':<7} {'sent':>5} {'ans/s':>6} {'202':>5} {'503':>5} {'none':>5} {'>10 s':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}"
    )
    for name, seconds in (("before", BEFORE), ("stall", STALL), ("after", AFTER)):
        rows = [s for s in sent.values() if phase(s.at) == name]
        statuses = Counter(s.status for s in rows)
        answered = [s.seconds for s in rows if s.status]
        late = sum(1 for s in rows if s.seconds >= HOST_TIMEOUT)
        print(
            f"{name:<7} {len(rows):>5} {len(answered) / seconds:>6.1f} {statuses[202]:>5} {statuses[503]:>5} {statuses[0]:>5} {late:>6}"
            f" {ms(percentile(answered, 0.5))} {ms(percentile(answered, 0.99))} {ms(max(answered, default=None))}"
        )
    lost = sum(1 for d in sent if d not in built)
    twice = sum(1 for d, n in built.items() if d in sent and n > 1)
    print(f"after redelivering the 503s: {lost} pushes without a BuildRun, {twice} with more than one")


if __name__ == "__main__":
    main()
