"""The operator process itself: liveness, structured logs, bookkeeping kept out of annotations."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.request

import pytest
from kubernetes import client

from kiln.platform import certs
from tests.conftest import ADMISSION_WEBHOOK, OperatorProcess
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


def _handshake(port: int, ca_pem: bytes, timeout: float = 15) -> None:
    """A TLS handshake with the webhook server that must verify against `ca_pem`; retried while it starts."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    deadline = time.monotonic() + timeout
    while True:
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_webhook_ca_survives_a_restart(operator: OperatorProcess) -> None:
    admission = client.AdmissionregistrationV1Api(operator.cluster.api_client)
    config = admission.read_validating_webhook_configuration(ADMISSION_WEBHOOK)
    before = base64.b64decode(config.webhooks[0].client_config.ca_bundle)
    operator.stop()
    operator.ensure_running()
    # the restarted server's certificate must verify against the CA the API server already trusts
    _handshake(operator.WEBHOOK_PORT, before)
    wrong_ca = certs.make_ca().cert_pem
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(operator.WEBHOOK_PORT, wrong_ca)
    after = admission.read_validating_webhook_configuration(ADMISSION_WEBHOOK)
    assert base64.b64decode(after.webhooks[0].client_config.ca_bundle) == before
