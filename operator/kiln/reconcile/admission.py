"""The admission webhook's CA and serving certificate, kept in a Secret so restarts keep the same CA,
and the webhook configuration kept current: its CA bundle and address, and failing closed (the
configuration itself stays registered when the operator stops: `kiln.api.admission`).

Both are written only as read: a create that finds the object made meanwhile, or a patch that finds
it changed (409), reads it again and decides anew, so two replicas starting together end with one
CA and neither undoes the other's or the install's change unseen."""

from __future__ import annotations

import base64
from typing import Any

from kiln.api.admission import kept_current
from kiln.platform import certs
from kiln.platform.kube import Kube

WEBHOOK_TLS_SECRET = "kiln-webhook-tls"
_KEYS = {"ca.crt", "ca.key", "tls.crt", "tls.key"}
# reads and writes before giving up on an object that keeps changing under the operator
_ATTEMPTS = 5


def _decoded(secret: dict[str, Any] | None) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in ((secret or {}).get("data") or {}).items()}


def _renewed(data: dict[str, bytes], hosts: list[str]) -> dict[str, bytes]:
    """A server certificate for `hosts` from the stored CA (a new CA only when it is missing or
    expiring, so the apiserver's trust survives)."""
    ca = (
        certs.KeyPair(data["ca.crt"], data["ca.key"])
        if {"ca.crt", "ca.key"} <= set(data) and not certs.needs_renewal(data["ca.crt"], [])
        else certs.make_ca()
    )
    server = certs.make_server_cert(ca, hosts)
    return {
        "ca.crt": ca.cert_pem,
        "ca.key": ca.key_pem,
        "tls.crt": server.cert_pem,
        "tls.key": server.key_pem,
    }


def ensure_webhook_tls(kube: Kube, namespace: str, hosts: list[str]) -> dict[str, bytes]:
    """The CA and a server certificate for `hosts`, from the Secret when still good, else renewed.

    Created only if absent and patched only at the version read: the replica that loses a race to
    write it takes the winner's (and so its CA)."""
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for _ in range(_ATTEMPTS):
        secret = kube.get("v1", "Secret", WEBHOOK_TLS_SECRET, namespace)
        data = _decoded(secret)
        if set(data) >= _KEYS and not certs.needs_renewal(data["tls.crt"], hosts):
            return data
        data = _renewed(data, hosts)
        encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
        if secret is None:
            written = kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": WEBHOOK_TLS_SECRET,
                        "namespace": namespace,
                        "labels": {"app.kubernetes.io/managed-by": "kiln"},
                    },
                    "type": "Opaque",
                    "data": encoded,
                }
            )
        else:
            written = kube.merge_patch_at(
                "v1",
                "Secret",
                WEBHOOK_TLS_SECRET,
                namespace,
                secret["metadata"]["resourceVersion"],
                {"data": encoded},
            )
        if written is not None:
            return data
    raise RuntimeError(f"Secret {namespace}/{WEBHOOK_TLS_SECRET} kept changing while being written")


def ensure_webhook_configuration(kube: Kube, desired: dict[str, Any]) -> list[str]:
    """Create the configuration when there is none (the install did not, or it was deleted), else keep
    Kiln's webhooks in it current (`kiln.api.admission.kept_current`: CA bundle, address, Fail and
    the timeout; missing ones added, the install's other fields and webhooks kept), and the desired
    owner among its ownerReferences (so it goes when the owner goes). Writes only when
    something differs, so the operator's own write, seen again by its watch, changes nothing.

    Returns what an operator should hear of: what was changed, and an installed address of the
    other kind that was kept."""
    api_version, kind, name = desired["apiVersion"], desired["kind"], desired["metadata"]["name"]
    for _ in range(_ATTEMPTS):
        existing = kube.get(api_version, kind, name)
        if existing is None:
            if kube.create(desired) is not None:
                return [f"{kind} {name} was missing: created it"]
            continue  # created meanwhile: keep that one current
        webhooks, notes = kept_current(existing.get("webhooks"), desired)
        patch: dict[str, Any] = {} if webhooks == existing.get("webhooks") else {"webhooks": webhooks}
        owners = list(existing["metadata"].get("ownerReferences") or [])
        known = {o.get("uid") for o in owners}
        missing = [o for o in desired["metadata"].get("ownerReferences") or [] if o["uid"] not in known]
        if missing:
            patch["metadata"] = {"ownerReferences": owners + missing}
        if not patch:
            return notes
        version = existing["metadata"]["resourceVersion"]
        if kube.merge_patch_at(api_version, kind, name, None, version, patch) is not None:
            return notes
    raise RuntimeError(f"{kind} {name} kept changing while being brought in line")
