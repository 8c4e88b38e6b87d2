"""Admission fails closed: with the operator down, no Kiln object is written unchecked.

The webhook configuration belongs to the install and stays registered when the operator stops
(failurePolicy Fail, a 5 s timeout); the API server then refuses writes of Kiln objects naming the
webhook it could not call, the receiver answers 503 so the code host redelivers, and once the
operator is back the same writes get the field's message, and the redelivered push builds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from kiln.api.constants import BUILD_RUN, GROUP, VERSION
from kiln.platform.kube import load_api_client
from kiln.receiver.app import ServerThread, create_app
from tests.conftest import ADMISSION_WEBHOOK, REPO, OperatorProcess
from tests.integration.conftest import Tenants, buildrun_creator, eventually, tenant_spec
from tests.integration.test_webhook_receiver import Tenant, deliver, wait_ready
from tests.unit.webhooks.objects import CHANGES_RULE, repository, secret

PAYLOAD = REPO.parent / "shared" / "webhooks" / "github-push-branch.json"


@pytest.fixture
def env(operator: OperatorProcess, tenants: Tenants) -> Iterator[Tenant]:
    name = tenants.create(tenant_spec())
    ready = eventually(lambda: tenants.ready(name), what=f"Namespace {name} reconciled")
    assert ready["status"] == "True", ready
    t = Tenant(name, tenants.get(name)["status"]["kubernetesNamespace"], operator.cluster)
    t.apply(secret(), repository(), CHANGES_RULE, *buildrun_creator("alice"))
    yield t
    operator.ensure_running()


def broken_rule() -> dict[str, object]:
    rule = yaml.safe_load((REPO / "docs" / "examples" / "buildrule-release.yaml").read_text())
    rule["metadata"]["name"] = f"broken-{uuid.uuid4().hex[:6]}"
    rule["spec"]["source"] = {"type": "Branch", "pattern": "(unclosed"}
    return rule


def hand_made_run() -> dict[str, object]:
    run = yaml.safe_load((REPO / "docs" / "examples" / "buildrun.yaml").read_text())
    run["metadata"]["name"] = f"forged-{uuid.uuid4().hex[:6]}"
    run["spec"]["buildRule"] = CHANGES_RULE["metadata"]["name"]
    return run


def create(env: Tenant, body: dict[str, object], *user: str) -> tuple[int, str]:
    proc = env.cluster.kubectl(
        "create", "-n", env.namespace, "-f", "-", *user, input=yaml.safe_dump(body), check=False
    )
    return proc.returncode, proc.stderr


def test_configuration_fails_closed_with_a_short_timeout(operator: OperatorProcess) -> None:
    api = client.AdmissionregistrationV1Api(operator.cluster.api_client)
    webhooks = api.read_validating_webhook_configuration(ADMISSION_WEBHOOK).webhooks
    assert sorted(w.name for w in webhooks) == [
        "validate-buildrule.validate.kiln.dev",
        "validate-buildrun.validate.kiln.dev",
        "validate-kilnnamespace.validate.kiln.dev",
        "validate-repository.validate.kiln.dev",
    ]
    assert {(w.failure_policy, w.timeout_seconds) for w in webhooks} == {("Fail", 5)}
    assert all(w.client_config.ca_bundle for w in webhooks)


def test_writes_while_the_operator_is_down_are_refused_and_the_push_waits(
    operator: OperatorProcess, env: Tenant
) -> None:
    body = PAYLOAD.read_bytes()
    delivery = str(uuid.uuid4())
    rule, run = broken_rule(), hand_made_run()
    with ServerThread(create_app(load_api_client(str(env.cluster.kubeconfig)))) as receiver:
        wait_ready(receiver.url)
        operator.stop()
        try:
            api = client.AdmissionregistrationV1Api(operator.cluster.api_client)
            # still registered, every webhook of it
            assert len(api.read_validating_webhook_configuration(ADMISSION_WEBHOOK).webhooks) == 4
            code, err = create(env, rule)
            assert code != 0 and 'failed calling webhook "validate-buildrule.validate.kiln.dev"' in err, err
            code, err = create(env, run)
            assert code != 0 and 'failed calling webhook "validate-buildrun.validate.kiln.dev"' in err, err
            status, answer = deliver(receiver, env, body, delivery)
            assert status == 503, answer
            assert answer["outcome"] == "unavailable" and "failed calling webhook" in answer["reason"]
        finally:
            operator.start()
        # back: the same writes get the field's message
        code, err = create(env, rule)
        assert code != 0 and "spec.source.pattern" in err and "failed calling webhook" not in err, err
        code, err = create(env, run, "--as", "alice")
        assert code != 0 and "spec.trigger.type: Push BuildRuns are created by Kiln itself" in err, err
        # the code host redelivers, and the push becomes its BuildRun
        status, answer = deliver(receiver, env, body, delivery)
        assert status == 202, answer
    custom = client.CustomObjectsApi(env.cluster.api_client)
    rules = custom.list_namespaced_custom_object(GROUP, VERSION, env.namespace, "buildrules")["items"]
    assert [r["metadata"]["name"] for r in rules] == [
        CHANGES_RULE["metadata"]["name"]
    ]  # nothing invalid got in
    runs = custom.list_namespaced_custom_object(GROUP, VERSION, env.namespace, BUILD_RUN.plural)["items"]
    assert [r["spec"]["trigger"].get("deliveryId") for r in runs] == [delivery]
    # and the operator builds it: its Job exists
    batch = client.BatchV1Api(env.cluster.api_client)
    eventually(lambda: batch.list_namespaced_job(env.namespace).items, what="the redelivered push's Job")


def test_the_install_owns_the_configuration(operator: OperatorProcess, tmp_path: Path) -> None:
    """`kiln admission config` prints what the operator keeps current; the operator changes only the
    address and CA bundle of an installed configuration."""
    import subprocess

    printed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "kiln"), "admission", "config", "--url", "https://127.0.0.1:1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    config = yaml.safe_load(printed)
    api = client.AdmissionregistrationV1Api(operator.cluster.api_client)
    live = api.read_validating_webhook_configuration(ADMISSION_WEBHOOK)
    assert [w["name"] for w in config["webhooks"]] == [w.name for w in live.webhooks]
    for printed_hook, live_hook in zip(config["webhooks"], live.webhooks, strict=True):
        assert (
            printed_hook["clientConfig"]["url"].removeprefix("https://127.0.0.1:1")
            == (live_hook.client_config.url.split(f":{operator.WEBHOOK_PORT}", 1)[1])
        )
        assert (printed_hook["failurePolicy"], printed_hook["timeoutSeconds"]) == (
            live_hook.failure_policy,
            live_hook.timeout_seconds,
        )
