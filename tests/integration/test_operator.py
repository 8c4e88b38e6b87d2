"""The operator process itself: liveness, structured logs, bookkeeping kept out of annotations."""

from __future__ import annotations

import json
import urllib.request

from kubernetes import client

from tests.conftest import OperatorProcess
from tests.integration.conftest import Tenants, eventually, tenant_spec


def test_liveness_endpoint_answers(operator: OperatorProcess) -> None:
    with urllib.request.urlopen(operator.LIVENESS, timeout=5) as response:
        assert response.status == 200
        assert isinstance(json.loads(response.read()), dict)


def test_logs_are_json_lines_naming_the_object(operator: OperatorProcess, tenants: Tenants) -> None:
    name = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(name), what="Ready condition")
    records = [json.loads(line) for line in operator.log_path.read_text().splitlines() if line.strip()]
    assert all({"message", "timestamp", "severity"} <= r.keys() for r in records)
    about_tenant = [r for r in records if (r.get("object") or {}).get("name") == name]
    assert about_tenant, "no log record names the Namespace object"
    assert about_tenant[0]["object"]["kind"] == "Namespace"
    children = [r for r in records if (r.get("object") or {}).get("namespace") == f"kiln-{name}"]
    assert children, "no log record names an object in the tenant's namespace"


def test_webhook_ca_survives_a_restart(operator: OperatorProcess) -> None:
    admission = client.AdmissionregistrationV1Api(operator.cluster.api_client)
    before = (
        admission.read_validating_webhook_configuration("validate.kiln.dev")
        .webhooks[0]
        .client_config.ca_bundle
    )
    operator.stop()
    operator.start()
    after = (
        admission.read_validating_webhook_configuration("validate.kiln.dev")
        .webhooks[0]
        .client_config.ca_bundle
    )
    assert before == after
