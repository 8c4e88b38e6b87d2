"""The webhook receiver against the real API server: served on a loopback port, fed by real watches.

One tenant for the module: a Kiln Namespace the operator has made Ready (so its Kubernetes
namespace exists, labelled `kiln.dev/namespace=<tenant>`), holding Repository `app` (GitHub, the
URL of github-push-branch.json), its webhook Secret and three BuildRules, two of which build that
push's ref. Tests tell their BuildRuns apart by delivery id.

The session's operator runs throughout, with its admission webhook registered: every object here,
the receiver's BuildRuns included, passes admission as in a real cluster, and the webhook stays
registered for whatever tests run next.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
from kubernetes import client
from prometheus_client import REGISTRY

from kiln.api.constants import BUILD_RUN, GROUP, LABEL_BUILD_RULE, LABEL_NAMESPACE, LABEL_REPOSITORY, VERSION
from kiln.platform.kube import load_api_client
from kiln.receiver.app import CACHE, KubeCreator, ServerThread, create_app, make_app
from kiln.receiver.secrets import RECHECK_SECONDS
from kiln.webhooks import SharedSecret, sign
from tests.conftest import REPO, Cluster, GitServer, OperatorProcess
from tests.integration.conftest import Tenants, eventually, tenant_spec
from tests.unit.webhooks.objects import (
    CHANGES_RULE,
    EXPECTED_TAGS,
    MAIN_RULE,
    PATTERN_RULE,
    SECRET,
    SECRET_NAME,
    build_rule,
    repository,
    secret,
    with_commit,
)

PAYLOAD = Path(__file__).resolve().parents[2].parent / "shared" / "webhooks" / "github-push-branch.json"
READY_SECONDS = 60
WATCH_SECONDS = 20

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Tenant:
    name: str
    namespace: str
    cluster: Cluster

    def hook(self, repo: str = "app") -> str:
        return f"/hooks/github/{self.name}/{repo}"

    def apply(self, *objects: Manifest) -> None:
        documents = [{**o, "metadata": {**o["metadata"], "namespace": self.namespace}} for o in objects]
        self.cluster.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": documents})
        )

    def buildruns(self, delivery_id: str | None = None) -> list[Manifest]:
        api = client.CustomObjectsApi(self.cluster.api_client)
        listed: Any = api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, BUILD_RUN.plural)
        items: list[Manifest] = listed["items"]
        return [
            i for i in items if delivery_id is None or i["spec"]["trigger"].get("deliveryId") == delivery_id
        ]


def new_commit(body: bytes) -> bytes:
    """The push with a commit of its own: BuildRuns are named by (rule, Repository, ref, commit), so
    each test's pushes build anew rather than meet an earlier test's runs as duplicates."""
    return with_commit(body, uuid.uuid4().hex + uuid.uuid4().hex[:8])


def expected_tags(body: bytes) -> dict[str, list[str]]:
    """EXPECTED_TAGS of the shared payload, for the push's own commit (the `changes` rule tags it)."""
    commit = json.loads(body)["after"]
    return {rule: [t.replace("0d1a26e", commit[:7]) for t in tags] for rule, tags in EXPECTED_TAGS.items()}


@pytest.fixture
def body() -> bytes:
    if not PAYLOAD.is_file():
        pytest.fail(f"shared webhook payload missing: {PAYLOAD}")
    return new_commit(PAYLOAD.read_bytes())


@pytest.fixture(scope="module")
def env(operator: OperatorProcess) -> Iterator[Tenant]:
    # Module-scoped, so not the function-scoped `tenants` fixture: its helper, cleaned up here.
    tenants = Tenants(operator.cluster)
    try:
        name = tenants.create(tenant_spec())
        ready = eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
        assert ready["status"] == "True", ready
        t = Tenant(name, tenants.get(name)["status"]["kubernetesNamespace"], operator.cluster)
        t.apply(secret(), repository(), CHANGES_RULE, PATTERN_RULE, MAIN_RULE)
        yield t
    finally:
        tenants.cleanup()  # the operator deletes the Kubernetes namespace, and all in it, with it


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds:g} s: {what}", pytrace=False)
        time.sleep(0.1)


def http(
    method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except OSError:
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_ready(url: str) -> None:
    wait_until(lambda: http("GET", url + "/readyz")[0] == 200, READY_SECONDS, f"{url}/readyz answers 200")


@pytest.fixture(scope="module")
def served(env: Tenant) -> Iterator[ServerThread]:
    """The receiver as `kiln webhook serve` builds it, on a loopback port, started after the objects exist."""
    with ServerThread(create_app(load_api_client(str(env.cluster.kubeconfig)))) as server:
        wait_ready(server.url)
        yield server


class Served(Protocol):
    """Where a receiver answers: a ServerThread here, or the operator hosting one."""

    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class HostedByOperator:
    url: str


def deliver(
    server: Served, env: Tenant, body: bytes, delivery_id: str, key: str = SECRET, repo: str = "app"
) -> tuple[int, Any]:
    headers = sign("github", body, SharedSecret(key), delivery_id=delivery_id)
    return http("POST", server.url + env.hook(repo), body, headers)


def test_signed_push_creates_exactly_the_expected_buildruns(
    served: ServerThread, env: Tenant, body: bytes
) -> None:
    delivery = str(uuid.uuid4())
    status, answer = deliver(served, env, body, delivery)
    assert status == 202, answer
    runs = env.buildruns(delivery)
    assert {r["spec"]["buildRule"]: r["spec"]["tags"] for r in runs} == expected_tags(body)
    assert sorted(r["metadata"]["name"] for r in runs) == sorted(r["name"] for r in answer["buildRuns"])
    for run in runs:
        assert run["metadata"]["labels"] == {
            LABEL_NAMESPACE: env.name,
            LABEL_REPOSITORY: "app",
            LABEL_BUILD_RULE: run["spec"]["buildRule"],
        }
        assert run["spec"]["repository"] == "app"
        assert run["spec"]["trigger"] == {
            "type": "Push",
            "deliveryId": delivery,
            "provider": "github",
            "sender": "baxterthehacker",
        }
        assert run["spec"]["source"]["ref"] == "refs/heads/changes"
        assert run["spec"]["source"]["commit"] == json.loads(body)["after"]
        assert run["spec"]["source"]["changedFiles"] == ["README.md"]


def test_the_same_delivery_twice_creates_one_set(served: ServerThread, env: Tenant, body: bytes) -> None:
    delivery = str(uuid.uuid4())
    first, _ = deliver(served, env, body, delivery)
    second, answer = deliver(served, env, body, delivery)
    assert (first, second) == (202, 200)
    assert answer["outcome"] == "duplicate"
    assert len(env.buildruns(delivery)) == len(EXPECTED_TAGS)


def test_bad_or_missing_signature_creates_nothing(served: ServerThread, env: Tenant, body: bytes) -> None:
    delivery = str(uuid.uuid4())
    status, answer = deliver(served, env, body, delivery, key="wrong")
    assert (status, answer["outcome"]) == (401, "unauthorized")
    unsigned = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
    assert http("POST", served.url + env.hook(), body, unsigned)[0] == 401
    assert env.buildruns(delivery) == []


def test_50_concurrent_deliveries_all_land(served: ServerThread, env: Tenant, body: bytes) -> None:
    deliveries = [str(uuid.uuid4()) for _ in range(50)]

    async def send_all() -> list[int]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

            async def send(delivery: str) -> int:
                pushed = new_commit(body)  # 50 pushes, not 50 deliveries of one
                headers = sign("github", pushed, SharedSecret(SECRET), delivery_id=delivery)
                async with session.post(served.url + env.hook(), data=pushed, headers=headers) as response:
                    return response.status

            return await asyncio.gather(*(send(d) for d in deliveries))

    assert asyncio.run(send_all()) == [202] * 50
    wanted = set(deliveries)
    landed = [r for r in env.buildruns() if r["spec"]["trigger"].get("deliveryId") in wanted]
    assert len(landed) == 50 * len(EXPECTED_TAGS)


def test_watches_follow_new_repositories_and_rules_and_a_rotated_secret_verifies_at_once(
    served: ServerThread, env: Tenant, body: bytes
) -> None:
    cache = served.app[CACHE]
    env.apply(secret("other-hook", {"token": "first"}), repository("other", secret_name="other-hook"))
    env.apply(build_rule("other-changes", branch="changes", repository="other"))
    wait_until(
        lambda: cache.rule(env.namespace, "other-changes") is not None, WATCH_SECONDS, "rule in the cache"
    )
    status, answer = deliver(served, env, body, str(uuid.uuid4()), key="first", repo="other")
    assert status == 202, answer
    assert [r["rule"] for r in answer["buildRuns"]] == ["other-changes"]

    env.apply(secret("other-hook", {"token": "second"}))
    # Secrets are read by name, not watched: the first delivery signed with the new secret makes
    # the receiver read it again (once the value in hand is RECHECK_SECONDS old)
    time.sleep(RECHECK_SECONDS)
    assert deliver(served, env, new_commit(body), str(uuid.uuid4()), key="second", repo="other")[0] == 202
    assert deliver(served, env, new_commit(body), str(uuid.uuid4()), key="first", repo="other")[0] == 401


def test_forged_deliveries_read_the_secret_at_most_once_per_recheck_interval(
    served: ServerThread, env: Tenant, body: bytes
) -> None:
    def reads() -> float:
        return REGISTRY.get_sample_value("kiln_webhook_secret_reads_total", {"result": "found"}) or 0.0

    time.sleep(RECHECK_SECONDS)  # the value in hand is old enough to be read again
    before, started = reads(), time.monotonic()
    statuses = [deliver(served, env, body, str(uuid.uuid4()), key="forged")[0] for _ in range(20)]
    elapsed = time.monotonic() - started
    assert statuses == [401] * 20
    assert 1 <= reads() - before <= 1 + int(elapsed / RECHECK_SECONDS)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable_client() -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{closed_port()}"
    configuration.retries = 0
    return client.ApiClient(configuration)


def test_api_server_unreachable_on_create_to_503(served: ServerThread, env: Tenant, body: bytes) -> None:
    # The cache is loaded (the served app's), but creates go to a port nothing listens on.
    with ThreadPoolExecutor(4) as executor:
        app = make_app(served.app[CACHE], KubeCreator(unreachable_client(), executor))
        with ServerThread(app) as cut_off:
            delivery = str(uuid.uuid4())
            status, answer = deliver(cut_off, env, body, delivery)
    assert (status, answer["outcome"]) == (503, "unavailable"), answer
    assert env.buildruns(delivery) == []
    # the host's redelivery, once the API server is back, builds it
    assert deliver(served, env, body, delivery)[0] == 202


def test_api_server_unreachable_from_the_start_to_503(env: Tenant, body: bytes) -> None:
    with ServerThread(create_app(unreachable_client())) as server:
        time.sleep(1)  # the watches have failed by now, and keep retrying
        assert http("GET", server.url + "/readyz")[0] == 503
        status, answer = deliver(server, env, body, str(uuid.uuid4()))
        assert (status, answer["outcome"]) == (503, "not_ready")
        assert not server.app[CACHE].ready


def test_kiln_webhook_serve(env: Tenant, body: bytes, tmp_path: Path) -> None:
    port = closed_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(REPO / ".venv" / "bin" / "kiln"),
                *("webhook", "serve", "--kubeconfig", str(env.cluster.kubeconfig)),
                *("--listen", f"127.0.0.1:{port}"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proc.poll() is not None or http("GET", url + "/readyz")[0] == 200,
            READY_SECONDS,
            "kiln webhook serve ready",
        )
        assert proc.poll() is None, log.read_text()
        delivery = str(uuid.uuid4())
        headers = sign("github", body, SharedSecret(SECRET), delivery_id=delivery)
        status, answer = http("POST", url + env.hook(), body, headers)
        assert status == 202, answer
        assert len(env.buildruns(delivery)) == len(EXPECTED_TAGS)
        metrics = http("GET", url + "/metrics")[1]
        assert 'kiln_webhook_requests_total{outcome="created",provider="github"} 1.0' in metrics
    finally:
        proc.terminate()
        proc.wait(15)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    deliveries = [line for line in lines if line.get("message") == "webhook delivery"]
    assert [(d["outcome"], d["created"]) for d in deliveries] == [("created", len(EXPECTED_TAGS))]
    assert SECRET not in log.read_text()


def test_the_operator_hosts_the_receiver_too(operator: OperatorProcess, env: Tenant, body: bytes) -> None:
    hosted = HostedByOperator(f"http://{operator.RECEIVER}")
    wait_ready(hosted.url)
    delivery = str(uuid.uuid4())
    status, answer = deliver(hosted, env, body, delivery)
    assert status == 202, answer
    assert {r["spec"]["buildRule"]: r["spec"]["tags"] for r in env.buildruns(delivery)} == expected_tags(body)


def test_the_receivers_account_may_get_only_its_repositories_webhook_secrets(env: Tenant) -> None:
    """The operator's per-Repository Role, judged by the API server's own RBAC authorizer."""
    authz = client.AuthorizationV1Api(env.cluster.api_client)
    user = "system:serviceaccount:kiln-system:kiln-receiver"  # KILN_RECEIVER_SERVICE_ACCOUNT of the harness

    def allowed(verb: str, name: str | None = None, namespace: str | None = env.namespace) -> bool:
        attributes = {"verb": verb, "resource": "secrets", "namespace": namespace, "name": name}
        review = {"spec": {"user": user, "resourceAttributes": {k: v for k, v in attributes.items() if v}}}
        return bool(authz.create_subject_access_review(review).status.allowed)

    wait_until(lambda: allowed("get", SECRET_NAME), READY_SECONDS, "the Role on the webhook Secret")
    assert not allowed("get", "someone-elses-secret")
    assert not allowed("list")
    assert not allowed("watch")
    assert not allowed("list", namespace=None)


def test_git_push_through_a_post_receive_hook_to_buildrun(
    operator: OperatorProcess, env: Tenant, gitserver: GitServer, tmp_path: Path
) -> None:
    """`kiln webhook post-receive` in a bare repository of the git daemon (as `make demo` installs
    it): a real push becomes a signed GitHub delivery, and the receiver's BuildRun."""
    name = f"hooked-{uuid.uuid4().hex[:6]}"
    gitserver.create(name, {"README.md": "hello\n"})  # before the hook: delivers nothing
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    hook = gitserver.root / f"{name}.git" / "hooks" / "post-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"exec {REPO / '.venv' / 'bin' / 'kiln'} webhook post-receive --url http://{operator.RECEIVER}{env.hook()}"
        f" --secret-file {secret_file} --repository baxterthehacker/public-repo"
        " --clone-url https://github.com/baxterthehacker/public-repo.git\n"
    )
    hook.chmod(0o755)
    commit = gitserver.push(name, {"Dockerfile": "FROM scratch\n"})
    (run,) = eventually(
        lambda: [r for r in env.buildruns() if r["spec"]["source"]["commit"] == commit],
        what="the hook's delivery made a BuildRun",
    )
    assert (run["spec"]["buildRule"], run["spec"]["source"]["ref"]) == ("main", "refs/heads/main")
    assert run["spec"]["trigger"]["type"] == "Push" and run["spec"]["source"]["changedFiles"] == [
        "Dockerfile"
    ]
