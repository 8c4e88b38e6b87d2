"""Kiln's ValidatingWebhookConfiguration `validate.kiln.dev`: one webhook per kind. Pure.

It belongs to the install (`kiln admission config | kubectl apply -f -`, or the Helm chart) and
stays registered while the operator is down: `failurePolicy: Fail`, so no write of a Kiln object
skips the rules only admission enforces; a short timeout, well under a code host's wait for the
receiver. The operator only keeps its CA bundle and address current.
"""

from __future__ import annotations

from typing import Any

from kiln.api.constants import GROUP, KINDS, VERSION, KindInfo

CONFIGURATION_NAME = f"validate.{GROUP}"
# a code host waits about 10 s for the receiver's answer, which includes the BuildRun's admission
TIMEOUT_SECONDS = 5


def handler_id(info: KindInfo) -> str:
    """The admission handler's id, which is also its URL path on the operator's webhook server."""
    return f"validate-{info.singular}"


def webhook_name(info: KindInfo) -> str:
    return f"{handler_id(info)}.{CONFIGURATION_NAME}"


def client_config(
    info: KindInfo,
    ca_bundle: str | None,
    *,
    url: str | None = None,
    service: tuple[str, str, int] | None = None,
) -> dict[str, Any]:
    """Where the API server calls the kind's webhook: `url` (https://host:port, the operator outside
    the cluster) or `service` (namespace, name, port)."""
    path = f"/{handler_id(info)}"
    config: dict[str, Any]
    if service is not None:
        namespace, name, port = service
        config = {"service": {"namespace": namespace, "name": name, "port": port, "path": path}}
    elif url is not None:
        config = {"url": url.rstrip("/") + path}
    else:
        raise ValueError("the webhook needs a url or a service")
    if ca_bundle:
        config["caBundle"] = ca_bundle
    return config


def webhook_configuration(
    ca_bundle: str | None = None, *, url: str | None = None, service: tuple[str, str, int] | None = None
) -> dict[str, Any]:
    """The whole configuration; `ca_bundle` (base64 PEM) may be left to the operator to fill in."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": CONFIGURATION_NAME, "labels": {"app.kubernetes.io/managed-by": "kiln"}},
        "webhooks": [
            {
                "name": webhook_name(info),
                "rules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": [VERSION],
                        "resources": [info.plural],
                        "operations": ["CREATE", "UPDATE"],
                        "scope": "*",
                    }
                ],
                "clientConfig": client_config(info, ca_bundle, url=url, service=service),
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": TIMEOUT_SECONDS,
                "admissionReviewVersions": ["v1", "v1beta1"],
            }
            for info in KINDS
        ],
    }
