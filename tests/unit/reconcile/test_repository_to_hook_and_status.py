"""A Repository -> its webhook Secret, its hook on the code host, its status; a BuildRun's state ->
the commit status. The code host is the GitHub stand-in over real HTTP, spoken to by PyGithub; the
Kubernetes API is the reconcile layer's FakeKube."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kiln.api.constants import Provider
from kiln.codehosts import CodeHost, CommitState, client_for
from kiln.platform.settings import Settings
from kiln.reconcile.commit_status import pending_report, report
from kiln.reconcile.repository import reconcile_repository, remove_hook
from kiln.tenancy.tenant import Tenant
from tests.standins import HostState, github, serve
from tests.unit.reconcile.fake_kube import FakeKube

TOKEN = "ghp_" + "t" * 36
NAMESPACE = "kiln-acme"
RECEIVER = "https://kiln.example.com"
SETTINGS = Settings.from_env({"KILN_RECEIVER_URL": RECEIVER})
HOOK_URL = f"{RECEIVER}/hooks/github/acme/app"


def secret(name: str, **data: str) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": encoded,
    }


def repository(**source: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": "app", "namespace": NAMESPACE, "uid": "repo-uid", "generation": 1},
        "spec": {
            "source": {
                "provider": "github",
                "url": "https://github.com/acme/app.git",
                "credentialsSecretRef": {"name": "gh-token", "key": "token"},
                **source,
            }
        },
    }


TENANT = Tenant.of(
    {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Namespace",
        "metadata": {"name": "acme", "uid": "t-uid"},
        "spec": {"registry": {"server": "registry.example.com"}},
    },
    SETTINGS,
    SETTINGS.operator_namespace,
)


@pytest.fixture
def host() -> Iterator[tuple[HostState, str]]:
    state = HostState(token=TOKEN, repository="acme/app", branches={"main": "a" * 40})
    with serve(github, state) as base:
        yield state, base


def factory(base: str) -> Any:
    def make(provider: Provider, url: str, token: str, _: Mapping[str, str]) -> CodeHost:
        return client_for(provider, url, token, {"github.com": base})

    return make


def conditions(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_repository_to_one_hook_a_generated_secret_and_ready(host: tuple[HostState, str]) -> None:
    state, base = host
    kube = FakeKube(secret("gh-token", token=TOKEN))
    body = repository()
    result = reconcile_repository(kube, SETTINGS, body, TENANT, factory(base))
    assert conditions(result.status) == {
        "SourceBound": ("True", "Bound"),
        "WebhookRegistered": ("True", "Registered"),
        "Ready": ("True", "Ready"),
    }
    assert result.status["image"] == "registry.example.com/acme/app"
    (hook,) = state.hooks.values()
    generated = kube.get("v1", "Secret", "app-webhook", NAMESPACE)
    assert generated is not None and generated["metadata"]["ownerReferences"][0]["uid"] == "repo-uid"
    value = base64.b64decode(generated["data"]["token"]).decode()
    assert len(value) == 64 and hook["config"]["url"] == HOOK_URL and hook["config"]["secret"] == value
    assert result.status["webhook"]["url"] == HOOK_URL
    # a second reconcile (the status written) registers nothing new and changes nothing
    again = reconcile_repository(kube, SETTINGS, {**body, "status": result.status}, TENANT, factory(base))
    assert len(state.hooks) == 1 and again.status == result.status and again.events == ()
    assert [e[1] for e in result.events] == ["Bound", "Registered", "Ready"]


def test_rotated_secret_updates_the_hook(host: tuple[HostState, str]) -> None:
    state, base = host
    kube = FakeKube(secret("gh-token", token=TOKEN), secret("app-webhook", token="first"))
    first = reconcile_repository(kube, SETTINGS, repository(), TENANT, factory(base))
    kube.put(secret("app-webhook", token="second"))
    reconcile_repository(kube, SETTINGS, {**repository(), "status": first.status}, TENANT, factory(base))
    (hook,) = state.hooks.values()
    assert hook["config"]["secret"] == "second"


def test_wrong_token_to_unauthorized_and_no_hook(host: tuple[HostState, str]) -> None:
    state, base = host
    kube = FakeKube(secret("gh-token", token="wrong"))
    result = reconcile_repository(kube, SETTINGS, repository(), TENANT, factory(base))
    found = conditions(result.status)
    assert found["SourceBound"] == ("False", "Unauthorized") and found["Ready"][0] == "False"
    assert state.hooks == {}
    assert ("Warning", "Unauthorized") in [(t, r) for t, r, _ in result.events]
    assert all("wrong" not in m for _, _, m in result.events)


def test_unreachable_host_to_unreachable() -> None:
    kube = FakeKube(secret("gh-token", token=TOKEN))
    result = reconcile_repository(kube, SETTINGS, repository(), TENANT, factory("http://127.0.0.1:9"))
    assert conditions(result.status)["SourceBound"] == ("False", "Unreachable")


def test_public_or_manual_repositories_are_never_registered(host: tuple[HostState, str]) -> None:
    state, base = host
    public = repository()
    del public["spec"]["source"]["credentialsSecretRef"]
    result = reconcile_repository(FakeKube(), SETTINGS, public, TENANT, factory(base))
    assert conditions(result.status)["WebhookRegistered"] == ("False", "NoCredentials")
    manual = repository(webhook={"autoRegister": False})
    result = reconcile_repository(
        FakeKube(secret("gh-token", token=TOKEN)), SETTINGS, manual, TENANT, factory(base)
    )
    assert conditions(result.status) == {
        "SourceBound": ("True", "Bound"),
        "WebhookRegistered": ("False", "Manual"),
        "Ready": ("True", "Ready"),
    }
    no_receiver = reconcile_repository(
        FakeKube(secret("gh-token", token=TOKEN)), Settings.from_env({}), repository(), TENANT, factory(base)
    )
    assert conditions(no_receiver.status)["WebhookRegistered"] == ("False", "NoReceiverURL")
    assert state.hooks == {}


def test_a_secret_without_its_key_is_never_overwritten(host: tuple[HostState, str]) -> None:
    _, base = host
    kube = FakeKube(secret("gh-token", token=TOKEN), secret("app-webhook", other="x"))
    result = reconcile_repository(kube, SETTINGS, repository(), TENANT, factory(base))
    assert conditions(result.status)["WebhookRegistered"] == ("False", "SecretInvalid")
    assert base64.b64decode(kube.get("v1", "Secret", "app-webhook", NAMESPACE)["data"]["other"]) == b"x"  # type: ignore[index]


def test_deletion_removes_the_hook(host: tuple[HostState, str]) -> None:
    state, base = host
    kube = FakeKube(secret("gh-token", token=TOKEN))
    result = reconcile_repository(kube, SETTINGS, repository(), TENANT, factory(base))
    remove_hook(kube, SETTINGS, {**repository(), "status": result.status}, factory(base))
    assert state.hooks == {}
    remove_hook(kube, SETTINGS, {**repository(), "status": result.status}, factory(base))  # gone: fine


def buildrun(phase: str | None, reported: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if reported:
        status["commitStatus"] = {"state": reported}
    return {
        "metadata": {"name": "web-abc", "namespace": NAMESPACE},
        "spec": {"buildRule": "web", "repository": "app", "source": {"commit": "c" * 40}},
        "status": status,
    }


def test_buildrun_states_to_commit_statuses(host: tuple[HostState, str]) -> None:
    state, base = host
    kube = FakeKube(secret("gh-token", token=TOKEN))
    settings = Settings.from_env({"KILN_BUILD_LOG_URL": "https://kiln.example.com/logs/{namespace}/{name}"})
    for phase, expected in (("Pending", "pending"), ("Running", "pending"), ("Succeeded", "success")):
        run = buildrun(phase)
        pending = pending_report(run)
        assert pending is not None
        fields = report(kube, settings, run, repository(), pending, factory(base))
        assert fields == {"state": pending.value, "error": None}
        assert state.statuses[-1]["state"] == expected
    assert state.statuses[-1]["context"] == "kiln/web"
    assert state.statuses[-1]["target_url"] == f"https://kiln.example.com/logs/{NAMESPACE}/web-abc"
    assert pending_report(buildrun("Succeeded", reported="succeeded")) is None
    assert pending_report(buildrun(None)) is None


def test_a_failed_report_is_recorded_not_raised() -> None:
    kube = FakeKube(secret("gh-token", token=TOKEN))
    fields = report(
        kube, SETTINGS, buildrun("Failed"), repository(), CommitState.FAILED, factory("http://127.0.0.1:9")
    )
    assert fields is not None and fields["state"] == "failed" and fields["error"]
    public = repository()
    del public["spec"]["source"]["credentialsSecretRef"]
    assert report(kube, SETTINGS, buildrun("Failed"), public, CommitState.FAILED) is None


def test_repository_to_the_receivers_access_to_exactly_its_webhook_secret(
    host: tuple[HostState, str],
) -> None:
    _, base = host
    settings = Settings.from_env(
        {"KILN_RECEIVER_URL": RECEIVER, "KILN_RECEIVER_SERVICE_ACCOUNT": "kiln-system/kiln-webhook"}
    )
    kube = FakeKube(secret("gh-token", token=TOKEN))
    body = repository(webhook={"secretRef": {"name": "app-hook", "key": "value"}})
    kube.put(secret("app-hook", value="s3cret"))
    reconcile_repository(kube, settings, body, TENANT, factory(base))
    role = kube.get("rbac.authorization.k8s.io/v1", "Role", "kiln-receiver-app", NAMESPACE)
    binding = kube.get("rbac.authorization.k8s.io/v1", "RoleBinding", "kiln-receiver-app", NAMESPACE)
    assert role is not None and binding is not None
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["app-hook"], "verbs": ["get"]}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "kiln-receiver-app",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kiln-webhook", "namespace": "kiln-system"}
    ]
    for made in (role, binding):
        assert made["metadata"]["ownerReferences"][0]["uid"] == "repo-uid"  # they go with the Repository


def test_without_a_receiver_service_account_no_roles_are_made(host: tuple[HostState, str]) -> None:
    _, base = host
    kube = FakeKube(secret("gh-token", token=TOKEN))
    reconcile_repository(kube, SETTINGS, repository(), TENANT, factory(base))
    assert kube.list("rbac.authorization.k8s.io/v1", "Role", NAMESPACE) == []
