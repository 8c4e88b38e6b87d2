"""What the webhook receiver needs of each API object, parsed from its raw form (dicts, camelCase).

Pure: the receiver's watch-fed cache (`kiln.receiver.cache`) stores what these return, and
`kiln webhook inspect` plans with the same records fed from files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kiln.api import BuildRule, Repository
from kiln.api.constants import LABEL_NAMESPACE, GiteeMode, tenant_namespace
from kiln.api.namespace import Namespace, RepositoryTemplate
from kiln.api.validation import checked_spec, spec_of
from kiln.rules import Rule
from kiln.webhooks.paths import PathFilter

Object = Mapping[str, Any]
Key = tuple[str, str]  # (Kubernetes namespace, name); namespace "" for cluster-scoped kinds

# The Secret a Repository without spec.source.webhook.secretRef is verified with:
# `<metadata.name>-webhook`, key `token`. Its user creates it (docs/webhooks.md): no controller
# generates it yet, so a missing one refuses deliveries with 401 naming it.
DEFAULT_SECRET_SUFFIX = "-webhook"
DEFAULT_SECRET_KEY = "token"


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """What the receiver needs of a Repository; `problem` is set when its spec does not validate."""

    namespace: str
    name: str
    provider: str
    url: str
    auto_build: bool
    secret_name: str
    secret_key: str
    gitee_mode: GiteeMode
    problem: str | None = None
    path: str = ""  # `/owner/name` of the URL, as `url_path` gives it

    def builds(self, path: str) -> bool:
        """Whether this Repository is bound to the code repository `path` (`owner/name`, any case).

        Only the end of the URL's path is compared: hosts behind proxies report other host names and
        schemes (GitLab's http URLs), and self-hosted instances add path prefixes.
        """
        return self.path.endswith("/" + code_repository_path(path))


def code_repository_path(path: str) -> str:
    """The comparable form of a code repository's path: lowercase, no slashes around, no `.git`."""
    return path.strip().strip("/").lower().removesuffix(".git")


def url_path(url: str) -> str:
    """`/owner/name` of a clone URL, comparable with `code_repository_path`."""
    return "/" + code_repository_path(urlsplit(url).path)


@dataclass(frozen=True, slots=True)
class OrganizationHook:
    """A tenant's organization webhook: where its secret is, and what it may create."""

    provider: str
    secret_name: str
    secret_key: str
    gitee_mode: GiteeMode
    auto_create: bool
    template: RepositoryTemplate


@dataclass(frozen=True, slots=True)
class TenantEntry:
    """What the receiver needs of a Kiln Namespace: its Kubernetes namespace and organization hook
    (None when it has none; `problem` says why when its spec does not validate)."""

    namespace: str
    organization: OrganizationHook | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """A BuildRule as the receiver plans with it (its pattern is compiled by the `RuleIndex`)."""

    rule: Rule
    filter: PathFilter


def key_of(obj: Object) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _deleting(obj: Object) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def parse_tenant(obj: Object) -> TenantEntry | None:
    """The Kubernetes namespace a Kiln Namespace owns and its organization hook; None while it is
    being deleted (its namespace goes with it, and BuildRuns created there now would be refused)."""
    if _deleting(obj):
        return None
    name = key_of(obj)[1]
    configured = spec_of(obj).get("kubernetesNamespace")
    namespace = tenant_namespace(name, str(configured) if configured else None)
    checked = checked_spec(Namespace, obj)
    if isinstance(checked, str):
        # per-Repository hooks still work (they need only the namespace); organization hooks do not
        return TenantEntry(namespace, problem=checked)
    spec = checked.spec
    hook = spec.organization_webhook
    if hook is None:
        return TenantEntry(namespace)
    secret_name, secret_key = hook.secret()
    return TenantEntry(
        namespace,
        OrganizationHook(
            hook.provider.value,
            secret_name,
            secret_key,
            hook.gitee_mode,
            spec.auto_create_repositories,
            spec.repository_template or RepositoryTemplate(),
        ),
    )


def parse_namespace(obj: Object) -> str | None:
    """The tenant a Kubernetes namespace is labelled for, if any."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    tenant = labels.get(LABEL_NAMESPACE)
    return str(tenant) if tenant else None


def parse_repository(obj: Object) -> RepositoryEntry | None:
    """What the receiver needs of a Repository; None while it is being deleted."""
    if _deleting(obj):
        return None
    namespace, name = key_of(obj)
    checked = checked_spec(Repository, obj)
    if isinstance(checked, str):
        source = spec_of(obj).get("source")
        source = source if isinstance(source, Mapping) else {}
        return RepositoryEntry(
            namespace,
            name,
            str(source.get("provider", "")),
            str(source.get("url", "")),
            auto_build=False,
            secret_name="",
            secret_key="",
            gitee_mode=GiteeMode.SIGNATURE,
            problem=checked,
            path=url_path(str(source.get("url", ""))),
        )
    spec = checked.spec
    ref = spec.source.webhook.secret_ref
    return RepositoryEntry(
        namespace,
        name,
        spec.source.provider.value,
        spec.source.url,
        spec.build.auto_build,
        ref.name if ref else f"{name}{DEFAULT_SECRET_SUFFIX}",
        ref.key if ref else DEFAULT_SECRET_KEY,
        spec.source.webhook.gitee_mode,
        path=url_path(spec.source.url),
    )


def parse_build_rule(obj: Object) -> RuleEntry | str:
    """The rule, or the problems of a spec that does not validate (such a rule matches nothing)."""
    checked = checked_spec(BuildRule, obj)
    if isinstance(checked, str):
        return checked
    spec = checked.spec
    return RuleEntry(checked.to_rule(), PathFilter.of(spec.paths, spec.ignore_paths))


def parse_secret(obj: Object) -> dict[str, str]:
    """The Secret's data, still base64-encoded: most Secrets are never read, so decoding waits."""
    data = obj.get("data") or {}
    return {str(k): str(v) for k, v in data.items()}
