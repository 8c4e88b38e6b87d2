"""The chart's ValidatingWebhookConfiguration is the one the operator builds for itself, so the two
cannot drift: same name, webhooks, rules and Service; only the CA bundle is left to the operator."""

from __future__ import annotations

import copy

import pytest

from kiln.api.admission import CONFIGURATION_NAME, kept_current, webhook_configuration
from kiln.platform.settings import Settings
from tests.unit.chart.conftest import Manifest, all_values, container_env, find, render


def _operator_settings(manifests: list[Manifest]) -> Settings:
    (operator,) = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    return Settings.from_env(container_env(operator))


@pytest.mark.parametrize(
    ("values", "namespace"),
    [(None, "kiln-system"), (None, "ci"), ("all", "platform")],
)
def test_the_template_is_the_operators_own_configuration(values: str | None, namespace: str) -> None:
    manifests = render(all_values() if values else None, namespace=namespace)
    settings = _operator_settings(manifests)
    rendered = find(manifests, "ValidatingWebhookConfiguration")
    assert settings.webhook_service is not None
    # what the operator builds and keeps current (kiln.controllers.operator._serve_admission)
    desired = webhook_configuration(service=(settings.operator_namespace, settings.webhook_service, 443))
    assert rendered["metadata"]["name"] == desired["metadata"]["name"] == CONFIGURATION_NAME
    assert rendered["webhooks"] == desired["webhooks"]
    assert not any("caBundle" in w["clientConfig"] for w in rendered["webhooks"])
    assert settings.operator_namespace == namespace


def test_the_operator_fills_in_only_the_ca_bundle() -> None:
    manifests = render()
    settings = _operator_settings(manifests)
    rendered = find(manifests, "ValidatingWebhookConfiguration")
    assert settings.webhook_service is not None
    with_ca = webhook_configuration(
        "Q0E=", service=(settings.operator_namespace, settings.webhook_service, 443)
    )
    webhooks, notes = kept_current(copy.deepcopy(rendered["webhooks"]), with_ca)
    assert webhooks == with_ca["webhooks"]
    assert notes == []  # nothing to warn about: no address of the other kind, Fail, the timeout
