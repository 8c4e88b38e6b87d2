"""Admission fails closed: with the operator down, no Kiln object is written unchecked.

The webhook configuration belongs to the install and stays registered when the operator stops
(failurePolicy Fail, a 5 s timeout); the API server then refuses writes of Kiln objects naming the
webhook it could not call, the receiver answers 503 so the code host redelivers, and once the
operator is back the same writes get the field's message, and the redelivered push builds. While it
runs, the operator puts back what a replace, a patch or a delete of the configuration took from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kiln.api.admission import webhook_configuration
from kiln.api.constants import BUILD_RUN, GROUP, VERSION
from kiln.platform.kube import load_api_client
from kiln.receiver.app import ServerThread, create_app
from tests.conftest import ADMISSION_WEBHOOK, REPO, OperatorProcess
from tests.integration.conftest import Tenants, admission_answers, buildrun_creator, eventually, tenant_spec
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
    address and CA bundle of an installed configuration (and keeps it failing closed)."""
    config = printed_config("--url", "https://127.0.0.1:1")
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


# kept current while the operator runs


def printed_config(*where: str) -> dict[str, Any]:
    """`kiln admission config` as an install applies it: no CA bundle."""
    printed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "kiln"), "admission", "config", *where],
        capture_output=True, text=True, check=True,
        env={**os.environ, "KILN_OPERATOR_NAMESPACE": "kiln-system"},
    ).stdout  # fmt: skip
    config: dict[str, Any] = yaml.safe_load(printed)
    return config


KILN_WEBHOOKS = [w["name"] for w in webhook_configuration(url="https://127.0.0.1:1")["webhooks"]]


def live_webhooks(operator: OperatorProcess) -> dict[str, Any]:
    """The live configuration's webhooks by name, as the API server returns them (camelCase JSON)."""
    proc = operator.cluster.kubectl(
        "get", "validatingwebhookconfiguration", ADMISSION_WEBHOOK, "-o", "json", check=False
    )
    if proc.returncode != 0:
        return {}
    return {w["name"]: w for w in json.loads(proc.stdout).get("webhooks") or ()}


def in_shape(operator: OperatorProcess, ca_bundle: str) -> bool:
    """Every Kiln webhook there, failing closed within 5 s, calling this operator with its CA."""
    hooks = live_webhooks(operator)
    return sorted(hooks) == sorted(KILN_WEBHOOKS) and all(
        (w.get("failurePolicy"), w.get("timeoutSeconds")) == ("Fail", 5)
        and w["clientConfig"].get("caBundle") == ca_bundle
        and f"127.0.0.1:{operator.WEBHOOK_PORT}/" in w["clientConfig"].get("url", "")
        for w in hooks.values()
    )


@pytest.fixture
def ca_bundle(operator: OperatorProcess) -> Iterator[str]:
    """The operator's CA bundle; afterwards the configuration is back in shape (if a test left it
    otherwise: deleted and the operator restarted, which creates it, so later tests do not depend on
    what this one found broken)."""
    operator.ensure_running()
    hooks = live_webhooks(operator)
    bundle: str = next(iter(hooks.values()))["clientConfig"]["caBundle"]
    yield bundle
    if not in_shape(operator, bundle):
        operator.cluster.kubectl("delete", "validatingwebhookconfiguration", ADMISSION_WEBHOOK, check=False)
        operator.stop()
        operator.start()


def replace(operator: OperatorProcess, config: dict[str, Any]) -> None:
    operator.cluster.kubectl("replace", "-f", "-", input=yaml.safe_dump(config))


def test_a_replaced_configuration_is_brought_back_within_seconds(
    operator: OperatorProcess, ca_bundle: str
) -> None:
    """`kubectl replace` of the printed configuration, as an older kopf-managed one was: no CA bundle,
    a webhook missing, one with Ignore and 30 s; the install's label stays."""
    config = printed_config("--url", f"https://127.0.0.1:{operator.WEBHOOK_PORT}")
    config["metadata"]["labels"]["app.kubernetes.io/instance"] = "kiln-test"
    config["webhooks"][0].update(failurePolicy="Ignore", timeoutSeconds=30)
    del config["webhooks"][-1]
    replace(operator, config)
    eventually(lambda: in_shape(operator, ca_bundle), timeout=10, what="the CA bundle, Fail and 5 s back")
    labels = (
        client.AdmissionregistrationV1Api(operator.cluster.api_client)
        .read_validating_webhook_configuration(ADMISSION_WEBHOOK)
        .metadata.labels
    )
    assert labels["app.kubernetes.io/instance"] == "kiln-test"
    assert eventually(lambda: admission_answers(operator.cluster), timeout=10, what="admission answering")


def test_a_stripped_ca_bundle_is_put_back_within_seconds(operator: OperatorProcess, ca_bundle: str) -> None:
    """As a chart that templates an empty caBundle would leave it."""
    patch = [
        {"op": "remove", "path": f"/webhooks/{i}/clientConfig/caBundle"} for i in range(len(KILN_WEBHOOKS))
    ]
    operator.cluster.kubectl(
        "patch", "validatingwebhookconfiguration", ADMISSION_WEBHOOK, "--type=json", "-p", json.dumps(patch)
    )
    eventually(lambda: in_shape(operator, ca_bundle), timeout=10, what="the CA bundle back")
    assert eventually(lambda: admission_answers(operator.cluster), timeout=10, what="admission answering")


def test_a_deleted_configuration_is_created_again_within_seconds(
    operator: OperatorProcess, ca_bundle: str
) -> None:
    operator.cluster.kubectl("delete", "validatingwebhookconfiguration", ADMISSION_WEBHOOK)
    eventually(lambda: in_shape(operator, ca_bundle), timeout=10, what="the configuration created again")
    assert eventually(lambda: admission_answers(operator.cluster), timeout=10, what="admission answering")


def test_an_installed_service_address_is_kept_by_an_operator_with_a_url(
    operator: OperatorProcess, ca_bundle: str
) -> None:
    """An in-cluster install (`--service kiln-operator`) and an operator started without
    KILN_WEBHOOK_SERVICE: the Service stays (the API server could not call 127.0.0.1), the CA bundle
    is set, and the operator's log names both addresses."""
    replace(operator, printed_config("--service", "kiln-operator"))

    def service_with_ca() -> bool:
        hooks = live_webhooks(operator)
        return sorted(hooks) == sorted(KILN_WEBHOOKS) and all(
            w["clientConfig"].get("caBundle") == ca_bundle
            and "url" not in w["clientConfig"]
            and (w["clientConfig"]["service"]["namespace"], w["clientConfig"]["service"]["name"])
            == ("kiln-system", "kiln-operator")
            for w in hooks.values()
        )

    eventually(service_with_ca, timeout=10, what="the CA bundle set beside the installed Service")
    warned = eventually(
        lambda: [
            line
            for line in operator.log_path.read_text(errors="replace").splitlines()
            if "kept the installed address" in line
            and "service kiln-system/kiln-operator:443" in line
            and f"url https://127.0.0.1:{operator.WEBHOOK_PORT}/validate-" in line
        ],
        timeout=10,
        what="a warning naming both addresses",
    )
    assert all(json.loads(line)["severity"] == "warn" for line in warned), warned
