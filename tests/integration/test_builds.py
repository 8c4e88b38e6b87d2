"""Push to image on the real node: the buildah strategy builds BuildRuns into the local registry.

Every build here runs as it would in a real cluster: the receiver hosted by the session's operator
takes a signed GitHub push (the shared github-push-branch.json, re-pointed at a repository of the
local git daemon), admission checks the BuildRun, the operator creates its Job, the build pod
(pod network, unprivileged buildah) clones from git daemon over the node address and pushes to the
registry over the node address, and the BuildRun's status comes back from the Job and Pod.
The operator's clone rewrites https://github.com/kiln-e2e/ to the git daemon (KILN_GIT_URL_REWRITES
in tests/conftest.py), as a mirror would in an offline cluster.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kiln.api.constants import BUILD_RUN, GROUP, LABEL_BUILD_RUN, VERSION
from kiln.platform.kube import Kube
from kiln.reconcile.buildrun import logs
from kiln.webhooks import SharedSecret, sign
from tests.conftest import Cluster, GitServer, OperatorProcess, Registry
from tests.integration.conftest import Tenants, buildrun_creator, eventually
from tests.integration.test_webhook_receiver import http

PAYLOAD = Path(__file__).resolve().parents[2].parent / "shared" / "webhooks" / "github-push-branch.json"
GITHUB_OWNER = "https://github.com/kiln-e2e/"
SECRET = "e2e-s3cret"
BUILD_SECONDS = 240

Manifest = dict[str, Any]


@dataclass
class BuildEnv:
    """One tenant whose registry is the local one, and a way to push code and follow its builds."""

    cluster: Cluster
    operator: OperatorProcess
    gitserver: GitServer
    registry: Registry
    tenant: str
    namespace: str
    # where pushes are delivered; None: the receiver the session's operator hosts
    receiver_url: str | None = None

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.cluster.api_client)

    def apply(self, *objects: Manifest) -> None:
        items = [{**o, "metadata": {**o["metadata"], "namespace": self.namespace}} for o in objects]
        self.cluster.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        )

    def repository(self, name: str, *, no_cache: bool = False, **build: Any) -> None:
        """A Repository for code repository `name` of the git daemon, with its webhook Secret."""
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-webhook"},
                "stringData": {"token": SECRET},
            },
            {
                "apiVersion": "kiln.dev/v1alpha1",
                "kind": "Repository",
                "metadata": {"name": name},
                "spec": {
                    "source": {
                        "provider": "github",
                        "url": f"{GITHUB_OWNER}{name}.git",
                        "webhook": {"autoRegister": False},
                    },
                    "build": {"noCache": no_cache, **build},
                },
            },
        )

    def rule(self, name: str, repository: str, **spec: Any) -> None:
        body = {
            "repository": repository,
            "source": {"type": "Branch", "name": "main"},
            "tags": [{"tag": "latest"}],
        }
        self.apply(
            {
                "apiVersion": "kiln.dev/v1alpha1",
                "kind": "BuildRule",
                "metadata": {"name": name},
                "spec": body | spec,
            }
        )

    def push(self, repository: str, files: dict[str, str]) -> tuple[str, str]:
        """Commit `files` to main and deliver GitHub's push of it to the receiver: (commit, BuildRun name)."""
        commit = self.gitserver.create(repository, files)
        return commit, self.deliver(repository, commit, files)

    def deliver(self, repository: str, commit: str, files: dict[str, str]) -> str:
        """Deliver GitHub's push of `commit` (which changed `files`) to the receiver: the BuildRun's name."""
        status, answer = self.answer(repository, commit, files)
        assert status == 202, answer
        (run,) = answer["buildRuns"]
        return str(run["name"])

    def answer(
        self, repository: str, commit: str, files: dict[str, str], before: str | None = None
    ) -> tuple[int, Any]:
        """Deliver GitHub's push of `commit` (which changed `files`): the receiver's status and answer.
        Without `before` it is the push creating the branch (whose changed files are unknown)."""
        payload = json.loads(PAYLOAD.read_bytes())
        payload["ref"] = "refs/heads/main"
        payload["before"] = before or "0" * 40
        payload["after"] = commit
        payload["created"] = before is None
        payload["head_commit"] = {
            **payload["head_commit"],
            "id": commit,
            "added": [],
            "removed": [],
            "modified": sorted(files),
        }
        payload["commits"] = [payload["head_commit"]]
        payload["repository"] = {
            **payload["repository"],
            "name": repository,
            "full_name": f"kiln-e2e/{repository}",
            "clone_url": f"{GITHUB_OWNER}{repository}.git",
        }
        body = json.dumps(payload).encode()
        delivery = str(uuid.uuid4())
        headers = sign("github", body, SharedSecret(SECRET), delivery_id=delivery)
        url = f"{self.receiver_url or 'http://' + self.operator.RECEIVER}/hooks/github/{self.tenant}/{repository}"

        def delivered() -> tuple[int, Any] | None:
            # the receiver's watches see a new Repository within moments: 404 until then
            answer = http("POST", url, body, headers)
            return answer if answer[0] not in (404, 503) else None

        return eventually(delivered, what="the receiver to know the Repository")

    def build_run(self, name: str) -> Manifest:
        obj: Manifest = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, BUILD_RUN.plural, name
        )
        return obj

    def build_runs(self) -> list[Manifest]:
        found: Any = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, BUILD_RUN.plural
        )
        return list(found["items"])

    def wait(
        self,
        name: str,
        phases: tuple[str, ...],
        seconds: float = BUILD_SECONDS,
        watch: Callable[[Manifest], None] | None = None,
    ) -> Manifest:
        deadline = time.monotonic() + seconds
        while True:
            run = self.build_run(name)
            if watch:
                watch(run)
            if (run.get("status") or {}).get("phase") in phases:
                return run
            if time.monotonic() > deadline:
                pytest.fail(
                    f"BuildRun {name} not {phases} in {seconds:g} s: {json.dumps(run.get('status'), indent=1)}\n{self.operator.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.3)

    def events(self, run: str) -> list[tuple[str, str]]:
        """(type, reason) of the Events about BuildRun `run`, oldest first."""
        core = client.CoreV1Api(self.cluster.api_client)
        found = core.list_namespaced_event(self.namespace, field_selector=f"involvedObject.name={run}").items
        ordered = sorted(found, key=lambda e: str(e.first_timestamp or e.event_time or ""))
        return [(e.type, e.reason) for e in ordered if e.involved_object.kind == "BuildRun"]

    def pods(self, run: str) -> list[Any]:
        return list(
            client.CoreV1Api(self.cluster.api_client)
            .list_namespaced_pod(self.namespace, label_selector=f"{LABEL_BUILD_RUN}={run}")
            .items
        )

    def jobs(self, run: str) -> list[Any]:
        return list(
            client.BatchV1Api(self.cluster.api_client)
            .list_namespaced_job(self.namespace, label_selector=f"{LABEL_BUILD_RUN}={run}")
            .items
        )


@pytest.fixture(scope="module")
def env(operator: OperatorProcess, gitserver: GitServer, registry: Registry) -> Iterator[BuildEnv]:
    tenants = Tenants(operator.cluster)
    try:
        name = tenants.create(
            {"registry": {"server": registry.pod_address}, "quota": {"cpu": "1", "memory": "2Gi"}}
        )
        ready = eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
        assert ready["status"] == "True", ready
        namespace = tenants.get(name)["status"]["kubernetesNamespace"]
        yield BuildEnv(operator.cluster, operator, gitserver, registry, name, namespace)
    finally:
        tenants.cleanup()


def base_image(env: BuildEnv) -> str:
    """busybox, as the harness pushed it to the registry, where build pods reach the registry."""
    return env.cluster.busybox_image.replace("localhost/", f"{env.registry.pod_address}/")


def succeeded(run: Manifest) -> Manifest:
    (condition,) = [c for c in run["status"]["conditions"] if c["type"] == "Succeeded"]
    return condition


def test_push_to_image_with_a_digest_per_tag_progress_and_an_archived_log(env: BuildEnv) -> None:
    repo = f"app-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("main", repo, tags=[{"tag": "latest"}, {"tag": "main", "commitIdLength": 7}])
    dockerfile = "\n".join(
        [
            f"FROM {base_image(env)}",
            "RUN echo one > /one",
            "RUN sleep 6 && echo two > /two",
            "RUN sleep 6 && cat /one /two > /three",
            'CMD ["cat", "/three"]',
        ]
    )
    commit, name = env.push(repo, {"Dockerfile": dockerfile})
    seen: list[str] = []

    def progress(run: Manifest) -> None:
        summary = ((run.get("status") or {}).get("progress") or {}).get("summary")
        if summary and summary not in seen:
            seen.append(summary)

    run = env.wait(name, ("Succeeded", "Failed"), watch=progress)
    status = run["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert (succeeded(run)["status"], succeeded(run)["reason"]) == ("True", "Pushed")
    assert status["shortCommit"] == commit[:7]
    assert status["jobName"] == name and status["strategy"] == "buildah"
    assert status["platforms"] == ["linux/amd64"]
    image = f"{env.tenant}/{repo}"
    tags = ["latest", f"main-{commit[:7]}"]
    assert [i["ref"] for i in status["images"]] == [f"{env.registry.pod_address}/{image}:{t}" for t in tags]
    for item, tag in zip(status["images"], tags, strict=True):
        assert item["digest"] == env.registry.manifest_digest(image, tag)
    assert status["startTime"] <= status["completionTime"]
    assert len(seen) >= 2, f"status.progress did not move: {seen}"
    expected_events = [("Normal", "Started"), ("Normal", "Pushed")]
    eventually(
        lambda: env.events(name) == expected_events, what=f"Events {expected_events}, not {env.events(name)}"
    )
    assert status.get("progress") is None  # a finished build shows no progress
    # the archive (written after the final status) outlives the Job and its Pod
    archive = eventually(
        lambda: (env.build_run(name)["status"].get("logs") or {}).get("archive"), what="the log archived"
    )
    assert archive == f"configmaps/{name}-log"
    env.cluster.kubectl(
        "delete", "job", name, "-n", env.namespace, "--cascade=foreground", "--wait=true", timeout=120
    )
    eventually(lambda: not env.pods(name), what="the build pod gone")
    text = "\n".join(logs(Kube(env.cluster.api_client), env.namespace, name))
    assert "STEP 3/5: RUN sleep 6 && echo two > /two" in text
    assert "git checkout" in text or commit in text


def test_two_platforms_to_an_image_index(env: BuildEnv) -> None:
    repo = f"multi-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("multi", repo, platforms=["linux/amd64", "linux/arm64"])
    _, name = env.push(repo, {"Dockerfile": "FROM scratch\nCOPY hello /hello\n", "hello": "hello\n"})
    run = env.wait(name, ("Succeeded", "Failed"))
    assert run["status"]["phase"] == "Succeeded", run["status"]
    raw = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{env.registry.address}/{env.tenant}/{repo}:latest",
        ],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    ).stdout
    index = json.loads(raw)
    assert index["mediaType"] in (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
    platforms = sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"])
    assert platforms == ["linux/amd64", "linux/arm64"]
    assert run["status"]["images"][0]["digest"] == env.registry.manifest_digest(
        f"{env.tenant}/{repo}", "latest"
    )


def test_failing_run_to_failed_naming_the_step(env: BuildEnv) -> None:
    repo = f"broken-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("broken", repo)
    dockerfile = f"FROM {base_image(env)}\nRUN echo building\nRUN echo no such tool >&2 && exit 3\n"
    _, name = env.push(repo, {"Dockerfile": dockerfile})
    run = env.wait(name, ("Succeeded", "Failed"))
    assert run["status"]["phase"] == "Failed", run["status"]
    assert (succeeded(run)["status"], succeeded(run)["reason"]) == ("False", "BuildFailed")
    assert "RUN echo no such tool >&2 && exit 3" in run["status"]["message"]
    assert "no such tool" in run["status"]["message"]
    eventually(lambda: ("Warning", "BuildFailed") in env.events(name), what="a BuildFailed Warning Event")
    assert not any(i.get("digest") for i in run["status"].get("images") or [])
    # the BuildRun owns its Job: deleting it deletes the Job (and the Pod) through the garbage collector
    assert len(env.jobs(name)) == 1
    env.custom.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, BUILD_RUN.plural, name)
    eventually(lambda: not env.jobs(name), timeout=90, what="the garbage collector removed the Job")


def test_cancel_during_a_long_run_leaves_no_pod(env: BuildEnv) -> None:
    repo = f"slow-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("slow", repo)
    _, name = env.push(repo, {"Dockerfile": f"FROM {base_image(env)}\nRUN sleep 600\n"})
    env.wait(name, ("Running",))
    eventually(
        lambda: (env.build_run(name)["status"].get("progress") or {}).get("step"),
        what="the long step started",
        timeout=120,
    )
    env.custom.patch_namespaced_custom_object(
        GROUP, VERSION, env.namespace, BUILD_RUN.plural, name, {"spec": {"cancel": True}}
    )
    run = env.wait(name, ("Cancelled", "Succeeded", "Failed"), seconds=60)
    assert run["status"]["phase"] == "Cancelled"
    assert (succeeded(run)["status"], succeeded(run)["reason"]) == ("False", "Cancelled")
    eventually(lambda: not env.pods(name) and not env.jobs(name), timeout=90, what="the Job and its Pod gone")
    time.sleep(2)
    assert env.build_run(name)["status"]["phase"] == "Cancelled"  # later events do not revive it


def test_operator_killed_mid_build_ends_with_one_job_and_the_right_status(env: BuildEnv) -> None:
    repo = f"kill-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("kill", repo)
    _, name = env.push(repo, {"Dockerfile": f"FROM {base_image(env)}\nRUN sleep 10 && echo done > /done\n"})
    env.wait(name, ("Running",))
    env.operator.kill()
    try:
        time.sleep(3)
    finally:
        env.operator.ensure_running()
    run = env.wait(name, ("Succeeded", "Failed"))
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert len(env.jobs(name)) == 1
    assert run["status"]["images"][0]["digest"] == env.registry.manifest_digest(
        f"{env.tenant}/{repo}", "latest"
    )


def buildrun(name: str, rule: str, repository: str, trigger: str, tags: list[str]) -> Manifest:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "BuildRun",
        "metadata": {"name": name},
        "spec": {
            "buildRule": rule,
            "repository": repository,
            "trigger": {"type": trigger},
            "source": {"ref": "refs/heads/main", "commit": "a" * 40},
            "tags": tags,
        },
    }


def create_as(env: BuildEnv, user: str | None, manifest: Manifest) -> subprocess.CompletedProcess[str]:
    body = {**manifest, "metadata": {**manifest["metadata"], "namespace": env.namespace}}
    args = ["create", "-f", "-", *(["--as", user] if user else [])]
    return env.cluster.kubectl(*args, input=json.dumps(body), check=False)


def test_admission_refuses_hand_made_push_and_manual_builds_of_refused_rules(env: BuildEnv) -> None:
    repo = f"adm-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("by-hand", repo)
    env.rule("stamped", repo, tags=[{"tag": "v", "buildTime": "yyyyMMddHHmm"}])
    # a developer of the tenant, allowed by RBAC to create BuildRuns in its namespace (the test
    # acts as them: cluster-admin may impersonate), who is neither the receiver nor the operator
    env.apply(*buildrun_creator("alice"))
    push = create_as(env, "alice", buildrun("forged", "by-hand", repo, "Push", ["latest"]))
    assert push.returncode != 0
    assert (
        "spec.trigger.type: Push BuildRuns are created by Kiln itself" in push.stderr
        and "alice" in push.stderr
    )
    refused = create_as(env, "alice", buildrun("stamp", "stamped", repo, "Manual", ["v-202601010000"]))
    assert refused.returncode != 0
    assert "cannot be built by hand: spec.tags[0] uses a build time" in refused.stderr
    wrong_tags = create_as(env, "alice", buildrun("other-tag", "by-hand", repo, "Manual", ["v9"]))
    assert (
        wrong_tags.returncode != 0
        and "spec.tags: must be what the rule renders: ['latest']" in wrong_tags.stderr
    )
    allowed = create_as(env, "alice", buildrun("by-hand-1", "by-hand", repo, "Manual", ["latest"]))
    assert allowed.returncode == 0, allowed.stderr


def test_buildrun_of_a_missing_rule_fails_with_a_reason(env: BuildEnv) -> None:
    repo = f"gone-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    name = f"orphan-{uuid.uuid4().hex[:6]}"
    created = create_as(env, None, buildrun(name, "no-such-rule", repo, "Push", ["latest"]))
    assert created.returncode == 0, created.stderr
    run = env.wait(name, ("Failed", "Succeeded"), seconds=60)
    assert (run["status"]["phase"], succeeded(run)["reason"]) == ("Failed", "InvalidRule")
    assert "BuildRule 'no-such-rule' not found" in run["status"]["message"]
    assert not env.jobs(name)
