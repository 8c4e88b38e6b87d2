"""Test harness: a real local Kubernetes control plane, registry and git server.

The session-scoped `cluster` fixture uses `KILN_TEST_KUBECONFIG` when given; otherwise it starts
the project's own control plane (`hack/control-plane.sh start`, idempotent) and stops it at the
end only if this session started it. A harness that cannot start fails the test with the reason:
it never skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[1]
ADMISSION_WEBHOOK = "validate.kiln.dev"
HACK = REPO / "hack"


def _hack(script: str, *args: str) -> str:
    """Run a hack/ script and return its stdout; fail the test (never skip) with its output on error."""
    proc = subprocess.run(
        [str(HACK / script), *args], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"hack/{script} {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc.stdout.strip()


def _is_running(script: str, name: str) -> bool:
    return f"{name} running" in _hack(script, "status")


@dataclass
class Cluster:
    """A reachable Kubernetes API server and the matching kubectl."""

    kubeconfig: Path
    kubectl_path: str
    pause_image: str
    busybox_image: str
    builder_image: str
    api_client: client.ApiClient = field(init=False)

    def __post_init__(self) -> None:
        self.api_client = config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster; on failure with check=True the test fails with its stderr."""
        proc = subprocess.run(
            [self.kubectl_path, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}", pytrace=False)
        return proc


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A cluster with a Ready node: the given KILN_TEST_KUBECONFIG, or the local stack started here."""
    given = os.environ.get("KILN_TEST_KUBECONFIG")
    kubectl = str(Path(_hack("control-plane.sh", "bin")) / "kubectl")
    images = _hack("node.sh", "images-list").splitlines()
    if given:
        c = Cluster(Path(given), kubectl, *images)
        # as below: a given cluster may also hold a webhook left by a killed earlier session
        c.kubectl("delete", "validatingwebhookconfiguration", ADMISSION_WEBHOOK, "--ignore-not-found")
        yield c
        return
    started = {
        "control-plane.sh": not _is_running("control-plane.sh", "kube-apiserver"),
        "registry.sh": not _is_running("registry.sh", "registry"),
        "node.sh": not _is_running("node.sh", "kubelet"),
    }
    kubeconfig = Path(_hack("control-plane.sh", "start").splitlines()[-1])
    _hack("node.sh", "start")  # also starts the registry the node's images are pushed to
    c = Cluster(kubeconfig, kubectl, *images)
    _wait_for_default_service_account(c)
    # an admission webhook left registered by a killed earlier session would refuse every Kiln object
    c.kubectl("delete", "validatingwebhookconfiguration", ADMISSION_WEBHOOK, "--ignore-not-found")
    yield c
    for script in ("node.sh", "registry.sh", "control-plane.sh"):
        if started[script]:
            _hack(script, "stop")


def _wait_for_default_service_account(c: Cluster) -> None:
    """Pods cannot be created in a namespace until the controller-manager made its default ServiceAccount."""
    core = client.CoreV1Api(c.api_client)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account("default").items:
            return
        time.sleep(0.2)
    pytest.fail(
        "kube-controller-manager did not create the default ServiceAccount within 60 s", pytrace=False
    )


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh Kubernetes namespace for one test, deleted afterwards."""
    name = f"kiln-test-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # a Pod is refused until the controller-manager gave the namespace a default ServiceAccount token
    deadline = time.monotonic() + 30
    while not any(sa.secrets for sa in core.list_namespaced_service_account(name).items):
        if time.monotonic() > deadline:
            pytest.fail(f"namespace {name}: no default ServiceAccount token after 30 s", pytrace=False)
        time.sleep(0.1)
    yield name
    core.delete_namespace(name)


@dataclass(frozen=True)
class Registry:
    """The local docker-registry: host:port for image references, plus a digest reader that is not Kiln's code.

    `address` is how the host reaches it (tests, skopeo, containerd); `pod_address` is how pods on
    the pod network reach it: the node IP (`hack/registry.sh address`). containerd pulls from both.
    """

    address: str
    pod_address: str

    def manifest_digest(self, repository: str, tag: str) -> str:
        """The digest the registry reports for repository:tag, read with skopeo."""
        proc = subprocess.run(
            [
                "skopeo",
                "inspect",
                "--raw",
                "--tls-verify=false",
                f"docker://{self.address}/{repository}:{tag}",
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
        if proc.returncode != 0:
            pytest.fail(f"skopeo inspect {repository}:{tag}: {proc.stderr.decode()}", pytrace=False)
        return "sha256:" + hashlib.sha256(proc.stdout).hexdigest()


@pytest.fixture(scope="session")
def registry(cluster: Cluster) -> Iterator[Registry]:
    """The local registry (the cluster fixture's node start already brought it up, on both addresses)."""
    started_here = not _is_running("registry.sh", "registry")
    _hack("registry.sh", "start")
    yield Registry(os.environ.get("KILN_REGISTRY", "127.0.0.1:5000"), _hack("registry.sh", "address"))
    if started_here:
        _hack("registry.sh", "stop")


@dataclass(frozen=True)
class GitServer:
    """`git daemon` serving bare repositories from `root`, on 127.0.0.1 for the host and on the node IP for pods."""

    root: Path
    pod_base: str  # git://<node IP>:<port>, from `hack/gitserver.sh url`
    port: int = 9418

    def url(self, name: str) -> str:
        """Repository `name` as the host reaches it."""
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def pod_url(self, name: str) -> str:
        """Repository `name` as pods on the pod network (no hostNetwork) reach it."""
        return f"{self.pod_base}/{name}.git"

    def create(self, name: str, files: dict[str, str], branch: str = "main", message: str = "initial") -> str:
        """Create a bare repository `name` holding `files` on `branch`; return the commit id."""
        bare = self.root / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(bare)], check=True)
        return self.push(name, files, branch=branch, message=message)

    def push(self, name: str, files: dict[str, str], branch: str = "main", message: str = "update") -> str:
        """Commit `files` on top of `branch` (if it exists) and push it over git://; return the commit id."""
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Kiln Test",
            "GIT_AUTHOR_EMAIL": "test@kiln.invalid",
            "GIT_COMMITTER_NAME": "Kiln Test",
            "GIT_COMMITTER_EMAIL": "test@kiln.invalid",
        }
        with tempfile.TemporaryDirectory() as work:

            def git(*args: str) -> str:
                return subprocess.run(
                    ["git", "-C", work, *args], check=True, capture_output=True, text=True, env=env
                ).stdout.strip()

            git("init", "-q", "-b", branch)
            git("remote", "add", "origin", self.url(name))
            if git("ls-remote", "origin", f"refs/heads/{branch}"):
                git("fetch", "-q", "origin", branch)
                git("reset", "-q", "--hard", "FETCH_HEAD")
            for path, content in files.items():
                target = Path(work) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            git("add", "-A")
            git("commit", "-q", "--allow-empty", "-m", message)
            git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
            return git("rev-parse", "HEAD")


@pytest.fixture(scope="session")
def gitserver(cluster: Cluster) -> Iterator[GitServer]:
    """The git daemon, started after the node so that it also listens on the node IP for pods."""
    started_here = not _is_running("gitserver.sh", "git-daemon")
    _hack("gitserver.sh", "start")
    yield GitServer(Path(_hack("gitserver.sh", "root")), _hack("gitserver.sh", "url"))
    if started_here:
        _hack("gitserver.sh", "stop")


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """The Kiln CRDs applied from crds/ and Established."""
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    return cluster


# The build pool the session's operator offers: this node, a toleration, a NO_PROXY (no proxy runs
# here to send builds through; the unit tests pin the proxy variables).
POOL = "local"
POOL_TOLERATION = {"key": "kiln.dev/pool", "operator": "Equal", "value": POOL, "effect": "NoSchedule"}
POOL_NO_PROXY = "kiln.invalid"
# The port of the base-image mirror registry (on the node address, as the registry's).
MIRROR_PORT = 5001


def mirror_address() -> str:
    """host:port of the mirror registry as pods reach it."""
    return f"{_hack('registry.sh', 'address').rsplit(':', 1)[0]}:{MIRROR_PORT}"


def pool_setting(cluster: Cluster) -> dict[str, Any]:
    (node,) = client.CoreV1Api(cluster.api_client).list_node().items
    return {
        "nodeSelector": {"kubernetes.io/hostname": node.metadata.labels["kubernetes.io/hostname"]},
        "tolerations": [POOL_TOLERATION],
        "proxy": {"noProxy": POOL_NO_PROXY},
    }


# The code hosts' API stand-ins the session's operator is pointed at: clone URL host -> API base
# URL (fixed ports: the operator reads its settings once; test_codehosts serves them).
CODEHOST_PORTS = {
    "github.com": 18101,
    "gitlab.example.com": 18102,
    "gitee.com": 18103,
    "bitbucket.org": 18104,
    "bitbucket.example.com": 18105,
}
CODEHOST_BASE_PATHS = {
    "github.com": "/api/v3",
    "gitlab.example.com": "",
    "gitee.com": "/api/v5",
    "bitbucket.org": "/2.0",
    "bitbucket.example.com": "/rest",
}
CODEHOST_API_URLS = {
    host: f"http://127.0.0.1:{port}{CODEHOST_BASE_PATHS[host]}" for host, port in CODEHOST_PORTS.items()
}


class OperatorProcess:
    """`kiln operator` as a real process against the test cluster (so a test can kill and restart it)."""

    WEBHOOK_PORT = 19443
    LIVENESS_PORT = 18080
    LIVENESS = f"http://127.0.0.1:{LIVENESS_PORT}/healthz"
    # the code hosts' webhook receiver, hosted by the operator process (`--webhook-listen`)
    RECEIVER_PORT = 18001
    RECEIVER = f"127.0.0.1:{RECEIVER_PORT}"

    def __init__(self, cluster: Cluster, log_dir: Path) -> None:
        self.cluster = cluster
        self.log_path = log_dir / "operator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "KILN_OPERATOR_NAMESPACE": "kiln-system",
            "KILN_WEBHOOK_LISTEN": "127.0.0.1",
            "KILN_WEBHOOK_HOST": "127.0.0.1",
            "KILN_WEBHOOK_PORT": str(self.WEBHOOK_PORT),
            # builds run with buildah in the harness's builder image (no BuildKit image exists here),
            # push over plain HTTP to the registry at the node address, and clone the e2e repositories
            # from the git daemon there (as a mirror would serve them in an offline cluster)
            "KILN_BUILD_STRATEGY": "buildah",
            "KILN_BUILDAH_IMAGE": self.cluster.builder_image,
            "KILN_CLONE_IMAGE": self.cluster.builder_image,
            "KILN_INSECURE_REGISTRIES": f"{_hack('registry.sh', 'address')},{mirror_address()}",
            # base images of docker.io come from the mirror registry a test starts (test_mirrors)
            "KILN_REGISTRY_MIRRORS": f"docker.io={mirror_address()}",
            # `overseas`, which docs/examples/namespace.yaml allows, is on no node here: never built on
            "KILN_BUILD_POOLS": json.dumps(
                {
                    POOL: pool_setting(self.cluster),
                    "overseas": {"nodeSelector": {"kiln.dev/region": "overseas"}},
                }
            ),
            # code hosts: the hooks the operator registers deliver to the receiver it hosts, and
            # each host's REST API is a stand-in on loopback (tests/standins, test_codehosts)
            "KILN_RECEIVER_URL": f"http://{self.RECEIVER}",
            "KILN_CODEHOST_API_URLS": ",".join(f"{host}={url}" for host, url in CODEHOST_API_URLS.items()),
            "KILN_GIT_URL_REWRITES": f"https://github.com/kiln-e2e/={_hack('gitserver.sh', 'url')}/",
            # the harness's receiver and operator both act as the kubeconfig's user
            "KILN_TRIGGER_USERS": "kiln-admin",
            # every Repository gets the chart receiver's Role on its webhook Secret, as in a cluster
            # (the harness's receiver itself reads with the admin kubeconfig)
            "KILN_RECEIVER_SERVICE_ACCOUNT": "kiln-system/kiln-receiver",
            # resync at every reconcile tick of a Repository (60 s), not every 10 minutes (test_resync)
            "KILN_RESYNC_INTERVAL": "1",
        }
        self._refuse_taken_ports()
        self._log = log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(REPO / ".venv" / "bin" / "kiln"),
                "operator",
                "--kubeconfig",
                str(self.cluster.kubeconfig),
                "--liveness",
                self.LIVENESS,
                "--webhook-listen",
                self.RECEIVER,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._wait_ready()

    def _refuse_taken_ports(self) -> None:
        """Fail when another process answers on this operator's ports: an operator left running by
        an interrupted test run would answer the readiness checks and handle every object, and
        tests that stop "the operator" would stop only this one."""
        for port in (self.WEBHOOK_PORT, self.LIVENESS_PORT, self.RECEIVER_PORT):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                continue
            pytest.fail(
                f"port {port} of the harness's operator is taken, likely by an operator an interrupted "
                "test run left behind: `pkill -f 'kiln operator'`, then run again",
                pytrace=False,
            )

    def _wait_ready(self) -> None:
        import urllib.request

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"kiln operator exited {self.proc.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.LIVENESS, timeout=1):
                    pass
                # the configuration outlives the operator: ready is when it points at this operator's
                # port and that port takes connections
                webhooks = self.cluster.kubectl(
                    "get", "validatingwebhookconfiguration", ADMISSION_WEBHOOK,
                    "-o", "jsonpath={.webhooks[0].clientConfig.url}", check=False,
                )  # fmt: skip
                if f":{self.WEBHOOK_PORT}/" in webhooks.stdout:
                    socket.create_connection(("127.0.0.1", self.WEBHOOK_PORT), timeout=1).close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"kiln operator not ready in 60 s:\n{self.log_tail()}", pytrace=False)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a node dies mid-reconcile."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_log()

    def ensure_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def pause(self) -> None:
        """SIGSTOP: freeze the operator where it is (so a test can look at a half-done reconcile)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture(scope="session")
def operator(crds: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """A running `kiln operator` with its admission webhook registered in the apiserver."""
    if _is_running("demo.sh", "kiln-operator"):
        # two operators would fight over the admission webhook and every object
        pytest.fail(
            "make demo's operator is running on this cluster: `hack/demo.sh stop` (or `make down`) first"
        )
    op = OperatorProcess(crds, tmp_path_factory.mktemp("operator"))
    op.start()
    yield op
    op.stop()
    # without the operator, its webhook would refuse every Kiln object for later sessions
    crds.kubectl("delete", "validatingwebhookconfiguration", ADMISSION_WEBHOOK, "--ignore-not-found")
