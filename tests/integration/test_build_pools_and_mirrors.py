"""Build pools, base-image mirrors, eStargz requests and path filters, from push to build on the
real node: the pool lands in the build pod, a mirror registry serves a `FROM docker.io/...` that
exists nowhere else, buildah says it cannot accelerate, and a push of ignored paths builds nothing.
Admission refuses unknown and disallowed pools, naming the field."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    POOL,
    POOL_NO_PROXY,
    POOL_TOLERATION,
    GitServer,
    OperatorProcess,
    Registry,
    mirror_address,
    pool_setting,
)
from tests.integration.conftest import Tenants, eventually
from tests.integration.test_builds import BuildEnv, base_image, succeeded

FINISHED = ("Succeeded", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def tenants(operator: OperatorProcess) -> Iterator[Tenants]:
    made = Tenants(operator.cluster)
    try:
        yield made
    finally:
        made.cleanup()


def build_env(
    tenants: Tenants, operator: OperatorProcess, gitserver: GitServer, registry: Registry, **spec: Any
) -> BuildEnv:
    name = tenants.create(
        {"registry": {"server": registry.pod_address}, "quota": {"cpu": "500m", "memory": "1Gi"}, **spec}
    )
    ready = eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
    assert ready["status"] == "True", ready
    namespace = tenants.get(name)["status"]["kubernetesNamespace"]
    return BuildEnv(operator.cluster, operator, gitserver, registry, name, namespace)


@pytest.fixture(scope="module")
def env(tenants: Tenants, operator: OperatorProcess, gitserver: GitServer, registry: Registry) -> BuildEnv:
    """A tenant allowed the operator's pool."""
    return build_env(tenants, operator, gitserver, registry, buildPools=[POOL])


@pytest.fixture(scope="module")
def mirror(
    registry: Registry, env: BuildEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A second registry on the node address, with storage of its own, holding the harness's busybox
    as docker.io's `library/busybox:<a tag no other registry has>`: (that image, the mirror's log)."""
    work = tmp_path_factory.mktemp("mirror")
    config = work / "config.yml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "version": 0.1,
                "log": {"level": "info"},
                "storage": {"filesystem": {"rootdirectory": str(work / "data")}},
                "http": {"addr": mirror_address()},
            }
        )
    )
    log = work / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://{mirror_address()}/v2/", timeout=2):
                    return True
            except OSError:
                return False

        eventually(up, what=f"the mirror registry on {mirror_address()}")
        tag = f"kiln-mirror-{uuid.uuid4().hex[:8]}"
        source = base_image(env).replace(registry.pod_address, registry.address)
        subprocess.run(
            [
                "skopeo",
                "copy",
                "-q",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                f"docker://{source}",
                f"docker://{mirror_address()}/library/busybox:{tag}",
            ],
            check=True,
            timeout=120,
        )
        yield f"docker.io/library/busybox:{tag}", log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_push_with_a_pool_to_a_build_pod_on_the_pool_with_its_proxy_settings(env: BuildEnv) -> None:
    repo = f"pool-{uuid.uuid4().hex[:6]}"
    env.repository(repo, pool=POOL, accelerated=True)
    env.rule(repo, repo)
    _, name = env.push(repo, {"Dockerfile": f"FROM {base_image(env)}\nRUN echo {uuid.uuid4().hex} >/id\n"})
    run = env.wait(name, FINISHED)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    (pod,) = env.pods(name)
    expected = pool_setting(env.cluster)
    assert pod.spec.node_selector == expected["nodeSelector"]
    tolerations = [t.to_dict() for t in pod.spec.tolerations or []]
    assert POOL_TOLERATION in [
        {"key": t["key"], "operator": t["operator"], "value": t["value"], "effect": t["effect"]}
        for t in tolerations
    ]
    for container in [*pod.spec.init_containers, *pod.spec.containers]:
        env_vars = {e.name: e.value for e in container.env or []}
        assert env_vars.get("NO_PROXY") == env_vars.get("no_proxy") == POOL_NO_PROXY, container.name
    # buildah writes no eStargz: the BuildRun says so instead of skipping it silently
    (accelerated,) = [c for c in run["status"]["conditions"] if c["type"] == "Accelerated"]
    assert (accelerated["status"], accelerated["reason"]) == ("False", "NotSupported")
    assert succeeded(run)["reason"] == "Pushed"


def test_from_docker_io_to_a_build_served_by_the_mirror(env: BuildEnv, mirror: tuple[str, Path]) -> None:
    image, log = mirror
    repo = f"mirror-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule(repo, repo)
    _, name = env.push(repo, {"Dockerfile": f"FROM {image}\nRUN echo {uuid.uuid4().hex} >/id\n"})
    run = env.wait(name, FINISHED)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    tag = image.rsplit(":", 1)[1]
    assert f"/v2/library/busybox/manifests/{tag}" in log.read_text(errors="replace")


def test_push_of_ignored_paths_to_no_buildrun(env: BuildEnv) -> None:
    repo = f"paths-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule(repo, repo, ignorePaths=["docs/**"])
    first = env.gitserver.create(repo, {"Dockerfile": f"FROM {base_image(env)}\n"})
    docs = {"docs/guide.md": "words"}
    second = env.gitserver.push(repo, docs)
    status, answer = env.answer(repo, second, docs, before=first)
    assert status == 200 and not answer.get("buildRuns"), answer
    code = {"Dockerfile": f"FROM {base_image(env)}\nRUN true\n"}
    third = env.gitserver.push(repo, code)
    status, answer = env.answer(repo, third, code, before=second)
    assert status == 202 and len(answer["buildRuns"]) == 1, answer
    time.sleep(1)
    assert [r["spec"]["source"]["commit"] for r in env.build_runs() if r["spec"]["buildRule"] == repo] == [
        third
    ]


def apply_refused(env: BuildEnv, manifest: dict[str, Any], namespace: str | None) -> str:
    body = {
        **manifest,
        "metadata": {**manifest["metadata"], **({"namespace": namespace} if namespace else {})},
    }
    proc = env.cluster.kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    assert proc.returncode != 0, f"applied, but should have been refused: {proc.stdout}"
    return proc.stderr


def repository(name: str, pool: str) -> dict[str, Any]:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name},
        "spec": {
            "source": {
                "provider": "github",
                "url": "https://github.com/kiln-e2e/x.git",
                "webhook": {"autoRegister": False},
            },
            "build": {"pool": pool},
        },
    }


def test_unknown_and_disallowed_pools_to_admission_errors_naming_the_field(
    env: BuildEnv, tenants: Tenants, operator: OperatorProcess, gitserver: GitServer, registry: Registry
) -> None:
    unknown = apply_refused(env, repository("moon", "moon"), env.namespace)
    assert "spec.build.pool" in unknown and "unknown build pool 'moon'" in unknown and POOL in unknown
    other = build_env(tenants, operator, gitserver, registry)
    disallowed = apply_refused(env, repository("elsewhere", POOL), other.namespace)
    assert "spec.build.pool" in disallowed and f"not allowed by Kiln Namespace '{other.tenant}'" in disallowed
    tenant = {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Namespace",
        "metadata": {"name": f"t-{uuid.uuid4().hex[:8]}"},
        "spec": {"registry": {"server": registry.pod_address}, "buildPools": [POOL, "moon"]},
    }
    refused = apply_refused(env, tenant, None)
    assert "spec.buildPools[1]" in refused and "unknown build pool 'moon'" in refused
    # an organization hook's template may pick only a pool its tenant allows
    tenant["spec"] = {
        "registry": {"server": registry.pod_address},
        "repositoryTemplate": {"build": {"pool": POOL}},
    }
    refused = apply_refused(env, tenant, None)
    assert "spec.repositoryTemplate.build.pool" in refused and "not allowed by Kiln Namespace" in refused
