"""The receiver's own speed beside bare aiohttp's, side by side in one run, measured by wrk.

Run: .venv/bin/python bench/bench_receiver_speed.py   (`make bench` runs it; needs wrk, which
`make setup` installs)
Starts the control plane if it is not running, creates a tenant whose only BuildRule matches no
ref of the shared github-push-branch.json, and runs `kiln webhook serve` on a loopback port. wrk
sends the signed 8 KB push with 16 connections for SECONDS: each request is verified (HMAC-SHA256),
parsed and matched, and answered 200 `no_match`, with no API call. The same wrk runs go to a bare
aiohttp handler that answers 200: the ceiling. Both servers run throughout; after a warm-up of
each, RUNS runs alternate between them, so a neighbour's load on this machine falls on both alike.
Prints each run (requests/s, latency p50/p99, the server's CPU time per request), the best of
each server (highest requests/s, lowest p99, lowest CPU per request) and the ratios. CPU per
request (user + system time of the server process over the requests it answered) moves least with
the machine's other load. Asserts nothing; deletes what it created.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench_webhook import PAYLOAD, ROOT, SECRET, Tenant, apply_crds, control_plane, free_port, process
from kiln.webhooks import SharedSecret, sign

CONNECTIONS = 16
SECONDS = int(os.environ.get("KILN_BENCH_WRK_SECONDS", "10"))
RUNS = int(os.environ.get("KILN_BENCH_RUNS", "3"))
# the target: at least half the bare throughput, p99 at most three times the bare p99
TARGET_THROUGHPUT = 0.5
TARGET_P99 = 3.0


@dataclass(frozen=True)
class Run:
    rps: float
    p50: float  # ms
    p99: float  # ms
    cpu_us: float  # the server's CPU time per request
    errors: int  # non-2xx answers


def lua_script(body: bytes) -> str:
    headers = sign("github", body, SharedSecret(SECRET), delivery_id=str(uuid.uuid4()))
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: Path, pid: int, seconds: int) -> Run:
    """One wrk run against the server `pid`."""
    args = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "--latency", "-s", str(script), "-d", str(seconds), url]
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(args, capture_output=True, check=True, text=True).stdout
    cpu = cpu_seconds(pid) - cpu_before

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {label} latency in wrk's output:\n{out}")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    requests = re.search(r"^\s*(\d+) requests in", out, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rate is None or requests is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    return Run(
        rps=float(rate[1]),
        p50=latency("50%"),
        p99=latency("99%"),
        cpu_us=cpu / max(int(requests[1]), 1) * 1e6,
        errors=int(non_2xx[1]) if non_2xx else 0,
    )


def best(runs: list[Run]) -> Run:
    """Each measure at its best over the runs (the least disturbed by the machine's other load)."""
    return Run(
        rps=max(r.rps for r in runs),
        p50=min(r.p50 for r in runs),
        p99=min(r.p99 for r in runs),
        cpu_us=min(r.cpu_us for r in runs),
        errors=sum(r.errors for r in runs),
    )


def main() -> None:
    body = PAYLOAD.read_bytes()
    names = ("kiln webhook serve", "bare aiohttp 200")
    runs: dict[str, list[Run]] = {name: [] for name in names}
    with control_plane() as (kubeconfig, kubectl_path), tempfile.TemporaryDirectory() as tmp:
        kubectl = [kubectl_path, "--kubeconfig", kubeconfig]
        apply_crds(kubectl, without_admission=True)  # no operator runs here
        tenant = Tenant(kubectl)
        tenant.create()  # its rule builds `changes`: re-pointed below to a branch no push names
        tenant.run(
            "patch", "buildrule", "changes", "-n", tenant.namespace, "--type", "merge",
            "-p", json.dumps({"spec": {"source": {"type": "Branch", "name": "no-such-branch"}}}),
        )  # fmt: skip
        script = Path(tmp) / "push.lua"
        script.write_text(lua_script(body))
        port, bare_port = free_port(), free_port()
        kiln = [str(ROOT / ".venv" / "bin" / "kiln"), "webhook", "serve", "--kubeconfig", kubeconfig]
        bare_cmd = [sys.executable, str(ROOT / "bench" / "bench_webhook.py"), "--bare-server", str(bare_port)]
        path = f"/hooks/github/{tenant.name}/app"
        try:
            with (
                process(
                    [*kiln, "--listen", f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}/readyz"
                ) as receiver,
                process(bare_cmd, f"http://127.0.0.1:{bare_port}/") as bare,
            ):
                servers = {
                    names[0]: (f"http://127.0.0.1:{port}{path}", receiver.pid),
                    names[1]: (f"http://127.0.0.1:{bare_port}{path}", bare.pid),
                }
                for url, pid in servers.values():
                    wrk(url, script, pid, 2)  # warm-up
                for _ in range(RUNS):
                    for name, (url, pid) in servers.items():
                        runs[name].append(wrk(url, script, pid, SECONDS))
        finally:
            tenant.delete()
    print(
        f"CPUs: {os.cpu_count()}; wrk, {CONNECTIONS} connections, {SECONDS} s; {RUNS} runs per server, "
        f"alternating; a signed {len(body)} B push that matches no rule"
    )
    header = f"{'server':<22} {'run':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} {'non-2xx':>8}"
    print(header)

    def row(name: str, label: str, r: Run) -> str:
        return (
            f"{name:<22} {label:>5} {r.rps:>9.0f} {r.p50:>8.2f} {r.p99:>8.2f} {r.cpu_us:>11.0f} {r.errors:>8}"
        )

    for i in range(RUNS):
        for name in names:
            print(row(name, str(i + 1), runs[name][i]))
    receiver_best, bare_best = best(runs[names[0]]), best(runs[names[1]])
    for name, b in zip(names, (receiver_best, bare_best), strict=True):
        print(row(name, "best", b))
    throughput = receiver_best.rps / bare_best.rps
    p99 = receiver_best.p99 / bare_best.p99
    print(
        f"receiver / bare (best of {RUNS}): throughput {throughput:.0%} (target >= {TARGET_THROUGHPUT:.0%}), "
        f"p99 {p99:.1f}x (target <= {TARGET_P99:g}x), CPU per request "
        f"{receiver_best.cpu_us / bare_best.cpu_us:.1f}x"
    )


if __name__ == "__main__":
    main()
