"""Kiln's admission webhook configuration: one webhook per kind, failing closed, a short timeout."""

from __future__ import annotations

import kubernetes_validate
import pytest

from kiln.api.admission import CONFIGURATION_NAME, TIMEOUT_SECONDS, webhook_configuration
from kiln.api.constants import KINDS


def test_every_kind_has_a_webhook_that_fails_closed_within_seconds() -> None:
    config = webhook_configuration("Q0E=", url="https://127.0.0.1:9443/")
    assert config["metadata"]["name"] == CONFIGURATION_NAME
    hooks = config["webhooks"]
    assert [h["rules"][0]["resources"] for h in hooks] == [[k.plural] for k in KINDS]
    assert {(h["failurePolicy"], h["timeoutSeconds"], h["sideEffects"]) for h in hooks} == {
        ("Fail", TIMEOUT_SECONDS, "None")
    }
    assert TIMEOUT_SECONDS <= 5
    assert [h["clientConfig"] for h in hooks][2] == {
        "url": "https://127.0.0.1:9443/validate-buildrule",
        "caBundle": "Q0E=",
    }
    for version in ("1.30.0", "1.35.0"):
        kubernetes_validate.validate(config, version, strict=True)


def test_in_a_cluster_the_webhooks_call_the_operators_service() -> None:
    config = webhook_configuration(service=("kiln-system", "kiln-operator", 443))
    (first, *_) = config["webhooks"]
    assert first["clientConfig"] == {
        "service": {
            "namespace": "kiln-system",
            "name": "kiln-operator",
            "port": 443,
            "path": "/validate-kilnnamespace",
        }
    }


def test_a_webhook_needs_an_address() -> None:
    with pytest.raises(ValueError, match="url or a service"):
        webhook_configuration()
