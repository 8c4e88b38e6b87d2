"""Kiln's ValidatingWebhookConfiguration `validate.kiln.dev`: one webhook per kind. Pure.

It belongs to the install (`kiln admission config | kubectl apply -f -`, or the Helm chart) and
stays registered while the operator is down: `failurePolicy: Fail`, so no write of a Kiln object
skips the rules only admission enforces; a short timeout, well under a code host's wait for the
receiver. The operator keeps Kiln's webhooks in it current (`kept_current`: CA bundle, address,
Fail and the timeout) and leaves the rest to the install.
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
    ca_bundle: str | None = None,
    *,
    url: str | None = None,
    service: tuple[str, str, int] | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole configuration; `ca_bundle` (base64 PEM) may be left to the operator to fill in.
    `owner`: an ownerReference to a cluster-scoped object whose deletion takes the configuration along."""
    metadata: dict[str, Any] = {
        "name": CONFIGURATION_NAME,
        "labels": {"app.kubernetes.io/managed-by": "kiln"},
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": metadata,
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


def _address_kind(config: dict[str, Any]) -> str | None:
    return "service" if config.get("service") else "url" if config.get("url") else None


def _address(config: dict[str, Any]) -> str:
    service = config.get("service")
    if service:
        return f"service {service.get('namespace')}/{service.get('name')}:{service.get('port', 443)}"
    return f"url {config.get('url')}"


def _kept_current(installed: dict[str, Any], ours: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """One of Kiln's webhooks as installed, with what the operator owns brought in line."""
    name = installed["name"]
    have: dict[str, Any] = installed.get("clientConfig") or {}
    want: dict[str, Any] = ours["clientConfig"]
    if _address_kind(have) not in (None, _address_kind(want)):
        # an in-cluster install calls a Service, an operator outside it gives a url (or the other way
        # round): the install's address is what the API server can reach, so only the CA is the
        # operator's
        config = {k: v for k, v in have.items() if k != "caBundle"}
        if want.get("caBundle"):
            config["caBundle"] = want["caBundle"]
        notes.append(
            f"webhook {name}: installed with {_address(have)}, this operator would be called at "
            f"{_address(want)}; kept the installed address and set only the CA bundle"
        )
    else:
        config = want
    hook = {**installed, "clientConfig": config}
    if hook.get("failurePolicy") != "Fail":
        notes.append(f"webhook {name}: failurePolicy {hook.get('failurePolicy')} set to Fail")
        hook["failurePolicy"] = "Fail"
    timeout = hook.get("timeoutSeconds")
    if not isinstance(timeout, int) or timeout > TIMEOUT_SECONDS:
        if timeout is not None:
            notes.append(f"webhook {name}: timeoutSeconds {timeout} set to {TIMEOUT_SECONDS}")
        hook["timeoutSeconds"] = TIMEOUT_SECONDS
    return hook


def kept_current(
    installed: list[dict[str, Any]] | None, desired: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The installed configuration's webhooks with Kiln's own kept current, and what was changed that
    an operator should hear of.

    Of each of Kiln's webhooks (by name) the operator owns the CA bundle and the address (unless the
    install gave an address of the other kind: a Service where the operator has a url, or the other
    way round, which then stays), `failurePolicy: Fail` and a `timeoutSeconds` of at most
    TIMEOUT_SECONDS; its rules, selectors and the rest stay the install's. Kiln's webhooks missing
    from the install are added; the install's other webhooks are left alone."""
    ours = {w["name"]: w for w in desired["webhooks"]}
    notes: list[str] = []
    webhooks = [
        _kept_current(w, ours[w["name"]], notes) if w.get("name") in ours else w for w in installed or ()
    ]
    present = {w.get("name") for w in installed or ()}
    missing = [w for name, w in ours.items() if name not in present]
    if missing:
        notes.append(f"added the missing webhooks {', '.join(w['name'] for w in missing)}")
    return webhooks + missing, notes
