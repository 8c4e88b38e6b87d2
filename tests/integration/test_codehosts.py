"""Repositories bound to each of the five code hosts, against the real API server and operator:
the operator checks access with the Repository's token, registers exactly one push webhook with a
secret it generated (a second reconcile registers none), reports BuildRun states on the commit, and
removes the hook when the Repository is deleted; a wrong token and an unreachable host show in the
conditions. The hosts are the stand-ins of tests/standins, speaking each host's REST format over
real HTTP at the addresses the session's operator was given (KILN_CODEHOST_API_URLS)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from kubernetes import client

from kiln.api.constants import BUILD_RUN, GROUP, REPOSITORY, VERSION, Provider
from kiln.receiver.app import ServerThread
from kiln.webhooks import SharedSecret, sign
from tests.conftest import CODEHOST_PORTS, Cluster, OperatorProcess
from tests.integration.conftest import eventually
from tests.integration.test_webhook_receiver import http
from tests.standins import HostState, bitbucket, bitbucket_server, gitee, github, gitlab

TOKEN = "kiln-test-token-" + "x" * 24
PAYLOAD = Path(__file__).resolve().parents[2].parent / "shared" / "webhooks" / "github-push-branch.json"
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Host:
    provider: Provider
    module: ModuleType
    host: str
    clone_url: str
    path: str  # the repository as the host's API names it


HOSTS = [
    Host(Provider.GITHUB, github, "github.com", "https://github.com/acme/app.git", "acme/app"),
    Host(
        Provider.GITLAB,
        gitlab,
        "gitlab.example.com",
        "https://gitlab.example.com/group/sub/app.git",
        "group/sub/app",
    ),
    Host(Provider.GITEE, gitee, "gitee.com", "https://gitee.com/acme/app.git", "acme/app"),
    Host(Provider.BITBUCKET, bitbucket, "bitbucket.org", "https://bitbucket.org/acme/app.git", "acme/app"),
    Host(
        Provider.BITBUCKET_SERVER,
        bitbucket_server,
        "bitbucket.example.com",
        "https://bitbucket.example.com/scm/PROJ/app.git",
        "PROJ/app",
    ),
]


@pytest.fixture(params=HOSTS, ids=[h.provider.value for h in HOSTS])
def host(request: pytest.FixtureRequest) -> Iterator[tuple[Host, HostState]]:
    """The host's stand-in on the port the operator calls it at, holding one repository."""
    spec: Host = request.param
    state = HostState(
        token=TOKEN,
        repository=spec.path,
        branches={"main": "a" * 40},
        tags={"v1": ("b" * 40, "c" * 40)},
    )
    with ServerThread(spec.module.make_app(state), port=CODEHOST_PORTS[spec.host]):
        yield spec, state


def apply(cluster: Cluster, namespace: str, *objects: Manifest) -> None:
    items = [{**o, "metadata": {**o["metadata"], "namespace": namespace}} for o in objects]
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )


def token_secret(name: str, token: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"token": token}}


def repository(name: str, url: str, provider: Provider, **extra: Any) -> Manifest:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name},
        "spec": {
            "source": {
                "provider": provider.value,
                "url": url,
                "credentialsSecretRef": {"name": f"{name}-token", "key": "token"},
            },
            **extra,
        },
    }


def rule(name: str, repo: str) -> Manifest:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "BuildRule",
        "metadata": {"name": name},
        "spec": {
            "repository": repo,
            "source": {"type": "Branch", "name": "main"},
            "tags": [{"tag": "latest"}],
        },
    }


def custom(cluster: Cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(cluster.api_client)


def get_repository(cluster: Cluster, namespace: str, name: str) -> Manifest:
    found: Manifest = custom(cluster).get_namespaced_custom_object(
        GROUP, VERSION, namespace, REPOSITORY.plural, name
    )
    return found


def condition(repo: Manifest, type_: str) -> tuple[str, str] | None:
    found = [c for c in (repo.get("status") or {}).get("conditions") or [] if c["type"] == type_]
    return (found[0]["status"], found[0]["reason"]) if found else None


def with_condition(
    cluster: Cluster,
    namespace: str,
    name: str,
    type_: str,
    expected: tuple[str, str] | None = None,
    timeout: float = 60,
) -> Manifest:
    """The Repository once its condition `type_` is written (and is `expected` (status, reason), if given)."""

    def found() -> Manifest | None:
        repo = get_repository(cluster, namespace, name)
        written = condition(repo, type_)
        return repo if written and (expected is None or written == expected) else None

    return eventually(found, timeout=timeout, what=f"Repository {name} {type_} {expected or 'written'}")


def test_repository_to_one_hook_commit_statuses_and_removal(
    operator: OperatorProcess, tenant: tuple[str, str], host: tuple[Host, HostState]
) -> None:
    spec, state = host
    tenant_name, namespace = tenant
    cluster = operator.cluster
    name = f"{spec.provider.value}-{uuid.uuid4().hex[:6]}"
    apply(
        cluster,
        namespace,
        token_secret(f"{name}-token", TOKEN),
        repository(name, spec.clone_url, spec.provider),
    )
    ready = with_condition(cluster, namespace, name, "Ready", ("True", "Ready"), timeout=60)
    url = f"http://{operator.RECEIVER}/hooks/{spec.provider.value}/{tenant_name}/{name}"
    assert ready["status"]["webhook"]["url"] == url
    assert ready["status"]["image"] == f"registry.example.com/{tenant_name}/{name}"
    assert len(state.hooks) == 1, state.hooks
    assert ready["status"]["webhook"]["id"] in state.hooks
    assert url in json.dumps(state.hooks)
    generated = client.CoreV1Api(cluster.api_client).read_namespaced_secret(f"{name}-webhook", namespace)
    assert generated.metadata.owner_references[0].kind == "Repository"
    secret = base64.b64decode(generated.data["token"]).decode()
    assert secret in json.dumps(state.hooks)  # the host verifies deliveries with the generated secret
    # a spec change reconciles again: still one hook
    custom(cluster).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, REPOSITORY.plural, name, {"spec": {"summary": "changed"}}
    )
    eventually(
        lambda: get_repository(cluster, namespace, name)["status"].get("observedGeneration") == 2,
        what="the second reconcile",
    )
    assert len(state.hooks) == 1, state.hooks

    # a BuildRun's states reach the commit (its clone of the stand-in's URL fails: queued, then failed)
    apply(cluster, namespace, rule(name, name))
    commit = "d" * 40
    run = {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "BuildRun",
        "metadata": {"name": f"{name}-run"},
        "spec": {
            "buildRule": name,
            "repository": name,
            "trigger": {"type": "Push", "provider": spec.provider.value},
            "source": {"ref": "refs/heads/main", "commit": commit},
            "tags": ["latest"],
        },
    }
    apply(cluster, namespace, run)

    def reported_end() -> Manifest | None:
        found: Manifest = custom(cluster).get_namespaced_custom_object(
            GROUP, VERSION, namespace, BUILD_RUN.plural, f"{name}-run"
        )
        status = found.get("status") or {}
        done = status.get("phase") in ("Succeeded", "Failed", "Cancelled")
        return found if done and (status.get("commitStatus") or {}).get("state") == "failed" else None

    ended = eventually(reported_end, timeout=180, what="the BuildRun's end reported on its commit")
    assert ended["status"]["commitStatus"].get("error") is None  # a null is no field once merged
    assert len(state.statuses) >= 2
    assert {s["sha"] for s in state.statuses} == {commit}
    assert f"kiln/{name}" in json.dumps(state.statuses[-1])

    # deleting the Repository removes its hook, then the Repository goes
    custom(cluster).delete_namespaced_custom_object(GROUP, VERSION, namespace, REPOSITORY.plural, name)

    def gone() -> bool:
        try:
            get_repository(cluster, namespace, name)
        except client.exceptions.ApiException as error:
            return error.status == 404
        return False

    eventually(gone, timeout=60, what="the Repository deleted after its hook")
    assert state.hooks == {}


def test_wrong_token_and_unreachable_host_to_conditions(
    operator: OperatorProcess, tenant: tuple[str, str], host: tuple[Host, HostState]
) -> None:
    spec, state = host
    _, namespace = tenant
    cluster = operator.cluster
    wrong = f"wrong-{uuid.uuid4().hex[:6]}"
    apply(
        cluster,
        namespace,
        token_secret(f"{wrong}-token", "not-the-token"),
        repository(wrong, spec.clone_url, spec.provider),
    )
    found = with_condition(cluster, namespace, wrong, "SourceBound", timeout=60)
    assert condition(found, "SourceBound") == ("False", "Unauthorized")
    assert condition(found, "Ready") == ("False", "NotReady")
    assert state.hooks == {}

    def warned() -> list[Any] | None:
        # kopf posts Events from a queue, after the status write the condition came from
        listed = (
            client.CoreV1Api(cluster.api_client)
            .list_namespaced_event(namespace, field_selector=f"involvedObject.name={wrong}")
            .items
        )
        return listed if any(e.reason == "Unauthorized" and e.type == "Warning" for e in listed) else None

    events = eventually(warned, what="the Unauthorized Warning Event")
    assert not any("not-the-token" in (e.message or "") for e in events)
    # a host no name resolves to: unreachable (no network here, and .invalid never resolves)
    far = f"far-{uuid.uuid4().hex[:6]}"
    unreachable = spec.clone_url.replace(spec.host, "code.kiln.invalid")
    apply(
        cluster, namespace, token_secret(f"{far}-token", TOKEN), repository(far, unreachable, spec.provider)
    )
    found = with_condition(cluster, namespace, far, "SourceBound", timeout=90)
    assert condition(found, "SourceBound") == ("False", "Unreachable")


def test_generated_secret_verifies_a_delivery_through_the_receiver(
    operator: OperatorProcess, tenant: tuple[str, str]
) -> None:
    tenant_name, namespace = tenant
    cluster = operator.cluster
    name = f"gen-{uuid.uuid4().hex[:6]}"
    manual = repository(name, f"https://github.com/acme/{name}.git", Provider.GITHUB)
    manual["spec"]["source"]["webhook"] = {"autoRegister": False}
    del manual["spec"]["source"]["credentialsSecretRef"]
    apply(cluster, namespace, manual, rule(name, name))
    generated = eventually(
        lambda: client.CoreV1Api(cluster.api_client).read_namespaced_secret(f"{name}-webhook", namespace),
        what="the generated webhook Secret",
    )
    secret = base64.b64decode(generated.data["token"]).decode()
    payload = json.loads(PAYLOAD.read_bytes())
    payload["ref"] = "refs/heads/main"
    payload["repository"] = {**payload["repository"], "name": name, "full_name": f"acme/{name}"}
    body = json.dumps(payload).encode()
    url = f"http://{operator.RECEIVER}/hooks/github/{tenant_name}/{name}"
    forged = sign("github", body, SharedSecret("not-the-secret"), delivery_id=str(uuid.uuid4()))
    signed = sign("github", body, SharedSecret(secret), delivery_id=str(uuid.uuid4()))

    def delivered() -> tuple[int, Any] | None:
        answer = http("POST", url, body, signed)
        return answer if answer[0] not in (404, 503) else None

    status, answer = eventually(delivered, what="the receiver to know the Repository")
    assert status == 202, answer
    assert http("POST", url, body, forged)[0] == 401
