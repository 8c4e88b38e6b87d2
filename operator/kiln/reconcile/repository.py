"""Bind a Repository to its code host: its webhook Secret (generated when absent), access checked
with its token, exactly one push webhook registered (and removed on deletion), the image path and
webhook URL in status. The Repository controller's work, without kopf; the code host calls are
`kiln.codehosts`'.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kiln.api.conditions import ConditionDict, get_condition, set_condition
from kiln.api.constants import API_VERSION, REPOSITORY, ConditionType, GiteeMode, Provider
from kiln.api.repository import Repository, Source
from kiln.api.validation import checked_spec
from kiln.codehosts import CodeHost, CodeHostError, NotFound, Unauthorized, Unreachable, client_for
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.reconcile import metrics
from kiln.tenancy.manifests import receiver_secret_access
from kiln.tenancy.tenant import Tenant

Object = Mapping[str, Any]
# how a client is made (tests pass one bound to a stand-in): `kiln.codehosts.client_for`'s signature
ClientFactory = Callable[[Provider, str, str, Mapping[str, str] | None], CodeHost]
# 32 random bytes, as hex: every host takes it as a webhook secret (some refuse other characters)
SECRET_BYTES = 32
DEFAULT_SECRET_KEY = "token"
LABEL_REPOSITORY_SECRET = "kiln.dev/webhook-secret-of"
_REASONS: dict[type[CodeHostError], str] = {
    Unauthorized: "Unauthorized",
    NotFound: "NotFound",
    Unreachable: "Unreachable",
}


@dataclass(frozen=True, slots=True)
class RepositoryResult:
    """What a reconcile found: the status fields to write and the Events of changed conditions."""

    status: dict[str, Any]
    events: tuple[tuple[str, str, str], ...]


def hook_url(
    receiver_url: str | None, provider: Provider, tenant: str, repository: str | None = None
) -> str | None:
    """Where the code host delivers pushes: `<receiver URL>/hooks/<provider>/<tenant>/<repository>`,
    or `<receiver URL>/hooks/<provider>/<tenant>` for the tenant's organization hook."""
    if not receiver_url:
        return None
    url = f"{receiver_url.rstrip('/')}/hooks/{provider.value}/{tenant}"
    return f"{url}/{repository}" if repository is not None else url


def webhook_secret_ref(name: str, repository: Repository) -> tuple[str, str]:
    """(Secret name, key) of the Repository's webhook secret: its secretRef, else `<name>-webhook`/`token`."""
    ref = repository.spec.source.webhook.secret_ref
    return (ref.name, ref.key) if ref else (f"{name}-webhook", DEFAULT_SECRET_KEY)


def owner_reference(meta: Object) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": REPOSITORY.kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def ensure_webhook_secret(kube: Kube, body: Object, name: str, key: str) -> tuple[str, str]:
    """The Repository's webhook secret and its version (see `ensure_secret`), owned by the Repository."""
    meta = body["metadata"]
    labels = {LABEL_REPOSITORY_SECRET: meta["name"]}
    return ensure_secret(kube, meta["namespace"], name, key, owner_reference(meta), labels)


def ensure_secret(
    kube: Kube, namespace: str, name: str, key: str, owner: Mapping[str, Any], labels: Mapping[str, str]
) -> tuple[str, str]:
    """A webhook secret's value and version (`<uid>/<resourceVersion>` of its Secret, which changes
    when the secret is rotated). An absent Secret is created with 32 random bytes, owned by `owner`
    (deleted with it). A Secret without the key is the user's: ValueError, never overwritten."""
    found = kube.get("v1", "Secret", name, namespace)
    if found is None:
        value = secrets.token_hex(SECRET_BYTES)
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels),
                "ownerReferences": [dict(owner)],
            },
            "type": "Opaque",
            "data": {key: base64.b64encode(value.encode()).decode()},
        }
        created = kube.create(manifest)
        found = created if created is not None else kube.get("v1", "Secret", name, namespace)
        if found is None:
            raise ValueError(f"Secret {name!r} could not be created")
    data = found.get("data") or {}
    if key not in data:
        raise ValueError(f"Secret {name!r} has no key {key!r}")
    value = base64.b64decode(data[key]).decode(errors="replace").rstrip("\r\n")
    if not value:
        raise ValueError(f"key {key!r} of Secret {name!r} is empty")
    fmeta = found["metadata"]
    return value, f"{fmeta.get('uid', '')}/{fmeta.get('resourceVersion', '')}"


def source_client(
    kube: Kube, settings: Settings, namespace: str, source: Source, factory: ClientFactory = client_for
) -> CodeHost | None:
    """The code host client of a source with credentials, authenticated with the token of its
    credentialsSecretRef; None when the source has none or the Secret (or its key) is missing."""
    ref = source.credentials_secret_ref
    found = kube.get("v1", "Secret", ref.name, namespace) if ref else None
    raw = ((found or {}).get("data") or {}).get(ref.key) if ref else None
    if not raw:
        return None
    token = base64.b64decode(raw).decode(errors="replace").strip()
    return factory(source.provider, source.url, token, settings.codehost_api_url_map)


class _Conditions:
    """The Repository's conditions as they change in one reconcile, with an Event per change."""

    def __init__(self, current: list[ConditionDict], generation: int | None) -> None:
        self.items, self.generation = current, generation
        self.events: list[tuple[str, str, str]] = []

    def set(self, type_: ConditionType, ok: bool | None, reason: str, message: str) -> None:
        status = {True: "True", False: "False", None: "Unknown"}[ok]
        before = get_condition(self.items, type_)
        self.items = set_condition(self.items, type_, status, reason, message, self.generation)
        if before is None or (before.get("status"), before.get("reason")) != (status, reason):
            self.events.append(("Normal" if ok else "Warning", reason, f"{type_}: {message}"))

    def status(self, type_: ConditionType) -> str | None:
        found = get_condition(self.items, type_)
        return found.get("status") if found else None


def _error_message(error: CodeHostError) -> str:
    return f"{error.message} (HTTP {error.status})" if error.status else error.message


def reconcile_repository(
    kube: Kube, settings: Settings, body: Object, tenant: Tenant | None, factory: ClientFactory = client_for
) -> RepositoryResult:
    """Bring the Repository's webhook Secret, code-host hook and status in line with its spec."""
    meta, old = body["metadata"], body.get("status") or {}
    name, namespace = str(meta["name"]), str(meta["namespace"])
    conditions = _Conditions(list(old.get("conditions") or []), meta.get("generation"))
    status: dict[str, Any] = {"observedGeneration": meta.get("generation")}
    repository = checked_spec(Repository, body)
    if isinstance(repository, str):
        conditions.set(ConditionType.READY, False, "InvalidSpec", repository)
        return RepositoryResult({**status, "conditions": conditions.items}, tuple(conditions.events))
    if tenant is None or tenant.spec is None:
        conditions.set(
            ConditionType.READY, False, "InvalidTenant", f"namespace {namespace} has no valid Kiln Namespace"
        )
        return RepositoryResult({**status, "conditions": conditions.items}, tuple(conditions.events))
    source = repository.spec.source
    status["image"] = f"{tenant.spec.registry.server}/{tenant.name}/{repository.spec.name or name}"
    url = hook_url(settings.receiver_url, source.provider, tenant.name, name)
    webhook: dict[str, Any] = {"url": url, "id": (old.get("webhook") or {}).get("id")}
    secret_name, secret_key = webhook_secret_ref(name, repository)
    if settings.receiver_service_account:
        # before the secret is read or made: the receiver may verify the first delivery at once
        for manifest in receiver_secret_access(
            namespace, name, owner_reference(meta), secret_name, settings.receiver_service_account
        ):
            kube.apply(manifest)
    try:
        secret, version = ensure_webhook_secret(kube, body, secret_name, secret_key)
    except ValueError as error:
        secret, version = None, None
        conditions.set(ConditionType.WEBHOOK_REGISTERED, False, "SecretInvalid", str(error))
    client = None
    credentials = source.credentials_secret_ref
    if credentials is None:
        conditions.set(
            ConditionType.SOURCE_BOUND,
            True,
            "Public",
            "no credentialsSecretRef: a public repository, cloned without a token; access is not checked",
        )
    else:
        client = source_client(kube, settings, namespace, source, factory)
        if client is None:
            conditions.set(
                ConditionType.SOURCE_BOUND,
                False,
                "CredentialsMissing",
                f"Secret {credentials.name!r} (key {credentials.key!r}) not found",
            )
        else:
            try:
                client.check_access()
                conditions.set(
                    ConditionType.SOURCE_BOUND, True, "Bound", f"the token may administer {source.url}"
                )
            except CodeHostError as error:
                metrics.code_host_error(source.provider.value, "access", error)
                client = None
                conditions.set(
                    ConditionType.SOURCE_BOUND,
                    False,
                    _REASONS.get(type(error), "Error"),
                    _error_message(error),
                )
    if not source.webhook.auto_register:
        conditions.set(
            ConditionType.WEBHOOK_REGISTERED,
            False,
            "Manual",
            "webhook.autoRegister is false: add the webhook on the code host with status.webhook.url and the secret",
        )
    elif secret is None:
        pass  # SecretInvalid, set above
    elif credentials is None:
        conditions.set(
            ConditionType.WEBHOOK_REGISTERED,
            False,
            "NoCredentials",
            "registering the webhook needs source.credentialsSecretRef; or set webhook.autoRegister false",
        )
    elif source.provider is Provider.GITEE and source.webhook.gitee_mode is GiteeMode.PASSWORD:
        conditions.set(
            ConditionType.WEBHOOK_REGISTERED,
            False,
            "PasswordMode",
            "the operator registers Gitee hooks in signature mode: set webhook.giteeMode to signature, or "
            "webhook.autoRegister to false and add the hook yourself",
        )
    elif url is None:
        conditions.set(
            ConditionType.WEBHOOK_REGISTERED,
            False,
            "NoReceiverURL",
            "the operator has no KILN_RECEIVER_URL to register",
        )
    elif client is not None:
        try:
            hook_id = _register(
                client,
                url,
                secret,
                webhook.get("id"),
                version != (old.get("webhook") or {}).get("secretVersion"),
            )
            webhook.update(id=hook_id, secretVersion=version)
            conditions.set(
                ConditionType.WEBHOOK_REGISTERED, True, "Registered", f"hook {hook_id} delivers to {url}"
            )
        except CodeHostError as error:
            metrics.code_host_error(source.provider.value, "hook", error)
            conditions.set(
                ConditionType.WEBHOOK_REGISTERED,
                False,
                _REASONS.get(type(error), "Error"),
                _error_message(error),
            )
    bound = conditions.status(ConditionType.SOURCE_BOUND) == "True"
    registered = conditions.status(ConditionType.WEBHOOK_REGISTERED) == "True"
    if bound and (registered or not source.webhook.auto_register):
        conditions.set(ConditionType.READY, True, "Ready", "builds on pushes delivered to status.webhook.url")
    else:
        conditions.set(
            ConditionType.READY, False, "NotReady", "see the SourceBound and WebhookRegistered conditions"
        )
    status.update(webhook=webhook, conditions=conditions.items)
    return RepositoryResult(status, tuple(conditions.events))


def _register(client: CodeHost, url: str, secret: str, known: str | None, rotated: bool) -> str:
    """Exactly one hook delivering to `url`: the one with that URL is kept (and updated when the
    secret changed, or it is not the one in status), others with it are deleted, none: one is created."""
    same = [h for h in client.hooks() if h.url == url]
    if not same:
        return client.create_hook(url, secret).id
    keep = next((h for h in same if h.id == known), same[0])
    for extra in same:
        if extra.id != keep.id:
            client.delete_hook(extra.id)
    if rotated or keep.id != known:
        client.update_hook(keep.id, url, secret)
    return keep.id


def remove_hook(kube: Kube, settings: Settings, body: Object, factory: ClientFactory = client_for) -> None:
    """On deletion: remove the hook the operator registered. Raises CodeHostError while the host
    cannot be reached (the finalizer retries); a hook or token that is gone is not an error."""
    hook_id = ((body.get("status") or {}).get("webhook") or {}).get("id")
    repository = checked_spec(Repository, body)
    if not hook_id or isinstance(repository, str) or repository.spec.source.credentials_secret_ref is None:
        return
    client = source_client(kube, settings, body["metadata"]["namespace"], repository.spec.source, factory)
    if client is None:
        return  # nothing to authenticate with: the hook stays; the delete must not wait forever
    try:
        client.delete_hook(str(hook_id))
    except (NotFound, Unauthorized):
        return
