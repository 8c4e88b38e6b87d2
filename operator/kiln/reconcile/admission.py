"""The admission webhook's CA and serving certificate, kept in a Secret so restarts keep the same CA,
and the webhook configuration's CA bundle and address, kept current (the configuration itself stays
registered when the operator stops: `kiln.api.admission`)."""

from __future__ import annotations

import base64
from typing import Any

from kiln.platform import certs
from kiln.platform.kube import Kube

WEBHOOK_TLS_SECRET = "kiln-webhook-tls"
_KEYS = {"ca.crt", "ca.key", "tls.crt", "tls.key"}


def _stored(kube: Kube, namespace: str) -> dict[str, bytes]:
    secret = kube.get("v1", "Secret", WEBHOOK_TLS_SECRET, namespace)
    return {k: base64.b64decode(v) for k, v in ((secret or {}).get("data") or {}).items()}


def ensure_webhook_tls(kube: Kube, namespace: str, hosts: list[str]) -> dict[str, bytes]:
    """The CA and a server certificate for `hosts`, from the Secret when still good, else renewed
    (the CA itself only when it is missing or expiring, so the apiserver's trust survives)."""
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    data = _stored(kube, namespace)
    if set(data) >= _KEYS and not certs.needs_renewal(data["tls.crt"], hosts):
        return data
    ca = (
        certs.KeyPair(data["ca.crt"], data["ca.key"])
        if {"ca.crt", "ca.key"} <= set(data) and not certs.needs_renewal(data["ca.crt"], [])
        else certs.make_ca()
    )
    server = certs.make_server_cert(ca, hosts)
    data = {
        "ca.crt": ca.cert_pem,
        "ca.key": ca.key_pem,
        "tls.crt": server.cert_pem,
        "tls.key": server.key_pem,
    }
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": WEBHOOK_TLS_SECRET,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "kiln"},
            },
            "type": "Opaque",
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
    )
    return data


def ensure_webhook_configuration(kube: Kube, desired: dict[str, Any]) -> None:
    """Create the configuration when the install did not, else bring each webhook's clientConfig (the
    CA bundle and where the operator listens) in line; failure policy, rules and timeout stay the
    install's."""
    meta = desired["metadata"]
    existing = kube.get(desired["apiVersion"], desired["kind"], meta["name"])
    if existing is None:
        if kube.create(desired) is not None:
            return
        existing = kube.get(desired["apiVersion"], desired["kind"], meta["name"])
        if existing is None:
            raise RuntimeError(f"{desired['kind']} {meta['name']} vanished while being created")
    ours = {w["name"]: w for w in desired["webhooks"]}
    present = {w["name"] for w in existing.get("webhooks") or ()}
    webhooks = [
        {**w, "clientConfig": ours[w["name"]]["clientConfig"]} if w["name"] in ours else w
        for w in existing.get("webhooks") or ()
    ] + [w for name, w in ours.items() if name not in present]
    if webhooks != existing.get("webhooks"):
        kube.merge_patch(desired["apiVersion"], desired["kind"], meta["name"], None, {"webhooks": webhooks})
