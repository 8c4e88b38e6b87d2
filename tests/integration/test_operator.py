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


def test_logs_are_json_lines_routine_at_debug_warnings_naming_the_object(
    operator: OperatorProcess, tenants: Tenants
) -> None:
    fine = tenants.create(tenant_spec())
    eventually(lambda: tenants.ready(fine), what="Ready condition")
    # a push Secret that does not exist: not Ready, a Warning
    broken = tenants.create(tenant_spec("no-such-push-secret"))
    selector = f"involvedObject.name={broken},reason=PushSecretMissing"
    core = client.CoreV1Api(operator.cluster.api_client)
    eventually(lambda: core.list_event_for_all_namespaces(field_selector=selector).items, what="Event")

    def records() -> list[dict[str, object]]:
        lines = operator.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    warnings = eventually(
        lambda: [
            r
            for r in records()
            if r.get("severity") == "warn"
            and "PushSecretMissing" in str(r["message"])
            and _object_name(r) == broken
        ],
        what="a warning log line",
    )
    assert all({"message", "timestamp", "severity"} <= r.keys() for r in records())
    assert warnings[0]["object"] == {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Namespace",
        "name": broken,
        "uid": tenants.get(broken)["metadata"]["uid"],
    }
    # handled events, admission requests and probes are routine: not at info (only with --verbose)
    routine = ("' succeeded.", "is processed:", '"POST /validate', '"GET /healthz')
    noisy = [r for r in records() if r["severity"] == "info" and any(m in str(r["message"]) for m in routine)]
    assert not noisy, noisy[:3]


def _object_name(record: dict[str, object]) -> object:
    ref = record.get("object")
    return ref.get("name") if isinstance(ref, dict) else None


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
