"""How the cluster commands (`kiln build`, `logs`, `cancel`, `get`, `describe`) reach the cluster:
the kubeconfig and context (kubectl's), the Kubernetes namespace (`-n`, `--tenant`, the context's),
and the API server's refusals worded as what to do about them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from kiln.cli.errors import CliError

if TYPE_CHECKING:  # the Kubernetes client is imported when a command runs, not for `kiln --help`
    from kiln.platform.kube import Kube

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """A connection to the cluster and the namespace a command works in."""

    kube: Kube
    namespace: str
    tenant: str | None  # the Kiln Namespace owning `namespace`, when it could be read
    user: str | None  # the kubeconfig's user of the context (a manual build's sender)
    context: str | None  # the context's name, for messages

    def hint(self) -> str:
        """The flags that point another command at this namespace."""
        return f"-n {self.namespace}"


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, as kubectl)"
    )
    parser.add_argument("--context", help="kubeconfig context (default: its current context)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-n", "--namespace", help="Kubernetes namespace of the tenant (default: the context's namespace)"
    )
    where.add_argument("--tenant", help="the Kiln Namespace (tenant) whose Kubernetes namespace to use")


def _status_message(body: object) -> str | None:
    """The `message` of the API server's Status answer (an admission webhook's refusal is in it)."""
    try:
        status = json.loads(body) if isinstance(body, (str, bytes)) else None
    except ValueError:
        return None
    message = status.get("message") if isinstance(status, dict) else None
    return str(message) if message else None


_NO_CRDS = CliError(
    "the API server does not serve Kiln's kinds (kiln.dev/v1alpha1): install the CRDs "
    "(`kiln crds | kubectl apply -f -`, or the chart), or pick the cluster Kiln runs in with --context"
)


def _api_error(error: Any, target: str) -> CliError:
    """An ApiException as what to do about it."""
    status = getattr(error, "status", None)
    message = _status_message(getattr(error, "body", None)) or getattr(error, "reason", "") or str(error)
    if status == 404 and _status_message(getattr(error, "body", None)) is None:
        return _NO_CRDS  # the path itself is unknown (no Status object): no such API
    if status == 401:
        return CliError(
            f"the API server does not accept the credentials of {target} (HTTP 401): log in again, "
            "or pick another context with --context"
        )
    if status == 403:
        return CliError(
            f"forbidden: {message}; ask the tenant's administrator for that access (RBAC), "
            "or check the namespace (-n) and context (--context)"
        )
    return CliError(f"the API server answered HTTP {status}: {message}")


@contextmanager
def api_errors(target: str = "your kubeconfig context") -> Iterator[None]:
    """Turn the API client's failures into CliErrors saying what to do."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as error:
        raise _api_error(error, target) from None
    except ResourceNotFoundError:  # discovery does not know the kind
        raise _NO_CRDS from None
    except (HTTPError, OSError) as error:
        raise CliError(
            f"cannot reach the API server of {target} ({type(error).__name__}: {error}); is the cluster "
            "up, and is it the right context? (`kubectl config current-context`, or --context)"
        ) from None


def call(action: Callable[[], T], target: str = "your kubeconfig context") -> T:
    with api_errors(target):
        return action()


def _context(args: argparse.Namespace) -> dict[str, Any]:
    from kubernetes.config import ConfigException

    from kiln.platform.kube import kubeconfig_context

    try:
        return kubeconfig_context(args.kubeconfig, args.context)
    except (ConfigException, OSError) as error:
        if str(error).startswith("no context"):
            raise CliError(f"{error}: `kubectl config get-contexts` lists them") from None
        raise CliError(
            f"no usable kubeconfig ({error}): pass --kubeconfig FILE, set KUBECONFIG, or write "
            "~/.kube/config (as kubectl reads it)"
        ) from None


def connect(args: argparse.Namespace) -> Target:
    """The cluster and namespace the flags name (kubectl's defaults for what they leave out)."""
    from kubernetes.config import ConfigException

    from kiln.platform.kube import Kube, load_api_client

    context = _context(args)
    details = context.get("context") or {}
    name = context.get("name")
    where = f"context {name!r}" if name else "the in-cluster service account"
    try:
        api_client = load_api_client(args.kubeconfig, args.context)
    except (ConfigException, OSError) as error:
        raise CliError(
            f"cannot use {where} of the kubeconfig ({error}): pass --kubeconfig FILE or --context NAME"
        ) from None
    kube = call(lambda: Kube(api_client), where)  # the dynamic client asks the server at once
    user = details.get("user")
    if args.tenant:
        namespace = _tenant_namespace(kube, args.tenant, where)
        return Target(kube, namespace, args.tenant, user, name)
    namespace = args.namespace or details.get("namespace") or "default"
    return Target(kube, namespace, _tenant_of(kube, namespace), user, name)


def _tenant_namespace(kube: Kube, tenant: str, where: str) -> str:
    """The Kubernetes namespace of Kiln Namespace `tenant`: its status says; one who may not read
    Kiln Namespaces gets the default name, `kiln-<tenant>`."""
    from kubernetes.client.exceptions import ApiException

    from kiln.api.constants import API_VERSION, NAMESPACE, tenant_namespace

    with api_errors(where):
        try:
            body = kube.get(API_VERSION, NAMESPACE.kind, tenant)
        except ApiException as error:
            if error.status != 403:
                raise
            return tenant_namespace(tenant, None)
    if body is None:
        raise CliError(
            f"Kiln Namespace {tenant!r} not found: list the tenants with `kubectl get kilnnamespaces`, "
            "or name the Kubernetes namespace with -n"
        )
    status_namespace = (body.get("status") or {}).get("kubernetesNamespace")
    return str(
        status_namespace or tenant_namespace(tenant, (body.get("spec") or {}).get("kubernetesNamespace"))
    )


def _tenant_of(kube: Kube, namespace: str) -> str | None:
    """The tenant a Kubernetes namespace belongs to (its label), when one may read namespaces."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from kiln.api.constants import LABEL_NAMESPACE

    try:
        found = kube.get("v1", "Namespace", namespace)
    except (ApiException, HTTPError, OSError):
        return None  # a tenant's developer may not read Namespace objects: the label is left out
    labels = ((found or {}).get("metadata") or {}).get("labels") or {}
    value = labels.get(LABEL_NAMESPACE)
    return str(value) if value else None
