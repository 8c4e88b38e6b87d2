"""The receiver's own speed beside bare aiohttp's, side by side in one run, measured by wrk.

Run: .venv/bin/python bench/bench_receiver_speed.py   (`make bench` runs it; needs wrk, which
`make setup` installs)
Starts the control plane if it is not running, creates a tenant whose only BuildRule matches no
ref of the shared github-push-branch.json, and runs `kiln webhook serve` on a loopback port. wrk
sends the signed 8 KB push with 16 connections for SECONDS: each request is verified (HMAC-SHA256),
parsed and matched, and answered 200 `no_match`, with no API call. The same wrk run goes to a bare
aiohttp handler that reads the body and answers 200: the ceiling. Prints requests/s and latency
p50/p99 of both, and the ratios. Asserts nothing; deletes what it created.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench_webhook import PAYLOAD, ROOT, SECRET, Tenant, apply_crds, control_plane, free_port, process
from kiln.webhooks import SharedSecret, sign

CONNECTIONS = 16
SECONDS = int(os.environ.get("KILN_BENCH_WRK_SECONDS", "10"))


def lua_script(body: bytes) -> str:
    headers = sign("github", body, SharedSecret(SECRET), delivery_id=str(uuid.uuid4()))
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def wrk(url: str, script: Path) -> dict[str, float]:
    """requests/s and p50/p99 in ms of one wrk run (warmed up by a first, shorter one)."""
    args = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "--latency", "-s", str(script)]
    subprocess.run([*args, "-d", "2", url], capture_output=True, check=True)
    out = subprocess.run([*args, "-d", str(SECONDS), url], capture_output=True, check=True, text=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {label} latency in wrk's output:\n{out}")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rate is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    return {
        "rps": float(rate[1]),
        "p50": latency("50%"),
        "p99": latency("99%"),
        "errors": float(non_2xx[1]) if non_2xx else 0.0,
    }


def main() -> None:
    body = PAYLOAD.read_bytes()
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
        try:
            with process([*kiln, "--listen", f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}/readyz"):
                receiver = wrk(f"http://127.0.0.1:{port}/hooks/github/{tenant.name}/app", script)
            bare_cmd = [
                sys.executable,
                str(ROOT / "bench" / "bench_webhook.py"),
                "--bare-server",
                str(bare_port),
            ]
            with process(bare_cmd, f"http://127.0.0.1:{bare_port}/"):
                bare = wrk(f"http://127.0.0.1:{bare_port}/hooks/github/{tenant.name}/app", script)
        finally:
            tenant.delete()
    print(
        f"CPUs: {os.cpu_count()}; wrk, {CONNECTIONS} connections, {SECONDS} s; a signed {len(body)} B push that matches no rule"
    )
    print(f"{'server':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in (("kiln webhook serve", receiver), ("bare aiohttp 200", bare)):
        print(f"{name:<22} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>8.0f}")
    print(
        f"receiver / bare: throughput {receiver['rps'] / bare['rps']:.0%}, p99 {receiver['p99'] / bare['p99']:.1f}x"
    )


if __name__ == "__main__":
    main()
