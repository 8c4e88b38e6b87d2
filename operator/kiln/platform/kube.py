"""A thin layer over the Kubernetes client: server-side apply, get and delete of any manifest."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

FIELD_MANAGER = "kiln-operator"


def _as_json(_client: object, data: Any) -> Any:
    """The dynamic client's response, as the API server's JSON: its default wraps every object in a
    tree of ResourceFields that `to_dict` then takes apart again (a measured share of the operator's
    time under load)."""
    return data


# Connections kept to the API server: kopf's handler threads, the build queue's starters and the
# receiver's creators all call it at once (the client's default, 5 per CPU, had them discarded
# and reopened under load).
CONNECTION_POOL_SIZE = 64
# (connect, read) seconds of every call but log streams: a call the API server never answers (as
# while etcd is down) must not hold a handler, or the build queue's namespace, forever
REQUEST_TIMEOUT = (10.0, 60.0)
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def api_message(error: ApiException) -> str:
    """The API server's answer as one line: status, reason and the Status object's message (what
    admission or RBAC said)."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    status = f"{error.status} " if error.status is not None else ""
    return f"{status}{error.reason}" + (f": {message}" if message else "")


def retriable(status: int | None) -> bool:
    """Whether a refused call may succeed when tried again. No status (None, or 0) means no HTTP
    answer at all: the client raises ApiException without one for connection-level failures."""
    return not status or status == 429 or status >= 500


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """The given kubeconfig, else $KUBECONFIG, else the in-cluster service account, else ~/.kube/config;
    of a kubeconfig, `context` or its current context."""
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG")
    configuration = client.Configuration()
    if not kubeconfig and context is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            kubeconfig = os.path.expanduser("~/.kube/config")
    if kubeconfig or context is not None:
        config.load_kube_config(
            config_file=kubeconfig or os.path.expanduser("~/.kube/config"),
            context=context,
            client_configuration=configuration,
        )
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    return client.ApiClient(configuration)


def kubeconfig_context(kubeconfig: str | None = None, context: str | None = None) -> dict[str, Any]:
    """The kubeconfig context in use (`context`, else the current one), as kubeconfig files write
    it: `{"name": ..., "context": {"cluster": ..., "user": ..., "namespace": ...}}`; in a Pod without
    a kubeconfig, the service account's namespace alone. Raises config.ConfigException."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if not path and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            with open(SERVICE_ACCOUNT_NAMESPACE) as file:
                return {"context": {"namespace": file.read().strip()}}
        except OSError:
            return {}
    contexts, current = config.list_kube_config_contexts(path or os.path.expanduser("~/.kube/config"))
    if context is None:
        return dict(current or {})
    found = next((c for c in contexts if c.get("name") == context), None)
    if found is None:
        raise config.ConfigException(f"no context {context!r} in the kubeconfig")
    return dict(found)


class Kube:
    """Generic object access by apiVersion/kind, with discovery cached by the dynamic client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self._dynamic = DynamicClient(api_client)
        # resourceVersion of each object as this process last applied it: lets watchers tell the
        # operator's own writes from changes made by someone else
        self._applied: dict[tuple[str, str, str | None, str], str] = {}

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply: creates the object or brings the fields Kiln owns back into shape."""
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        result = resource.server_side_apply(
            body=manifest,
            name=manifest["metadata"]["name"],
            namespace=manifest["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
            serializer=_as_json,
            _request_timeout=REQUEST_TIMEOUT,
        )
        meta = manifest["metadata"]
        key = (manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"])
        self._applied[key] = result["metadata"]["resourceVersion"]
        return dict(result)

    def applied_by_us(
        self, api_version: str, kind: str, namespace: str | None, name: str, resource_version: str | None
    ) -> bool:
        """Whether this version of the object is the one this process's last apply produced."""
        return self._applied.get((api_version, kind, namespace, name)) == resource_version

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create; None if an object of that name already exists (409)."""
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        try:
            result = resource.create(
                body=manifest,
                namespace=manifest["metadata"].get("namespace"),
                serializer=_as_json,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 409:
                return None
            raise
        return dict(result)

    def merge_patch(
        self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """JSON merge patch of the object (lists are replaced whole)."""
        result = self._resource(api_version, kind).patch(
            body=patch,
            name=name,
            namespace=namespace,
            content_type="application/merge-patch+json",
            serializer=_as_json,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return dict(result)

    def merge_patch_at(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        resource_version: str,
        patch: dict[str, Any],
    ) -> dict[str, Any] | None:
        """JSON merge patch of the object only if it is still at `resource_version` (as read); None if
        it changed or went away meanwhile (409, 404): read it again and decide anew."""
        body = {**patch, "metadata": {**patch.get("metadata", {}), "resourceVersion": resource_version}}
        try:
            return self.merge_patch(api_version, kind, name, namespace, body)
        except ApiException as error:
            if error.status in (404, 409):
                return None
            raise

    def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict[str, Any]
    ) -> None:
        """Merge-patch the status subresource."""
        self._resource(api_version, kind).status.patch(
            body={"status": status},
            name=name,
            namespace=namespace,
            content_type="application/merge-patch+json",
            serializer=_as_json,
            _request_timeout=REQUEST_TIMEOUT,
        )

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            obj = self._resource(api_version, kind).get(
                name=name, namespace=namespace, serializer=_as_json, _request_timeout=REQUEST_TIMEOUT
            )
        except NotFoundError:
            return None
        return dict(obj)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        propagation: str | None = None,
        grace_period: int | None = None,
    ) -> bool:
        """Delete if present (`propagation`: Background, Foreground or Orphan for dependents;
        `grace_period`: seconds a Pod gets to stop, instead of its own); True if a delete was issued."""
        options: dict[str, Any] = {}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        body = options or None
        try:
            self._resource(api_version, kind).delete(
                name=name, namespace=namespace, body=body, _request_timeout=REQUEST_TIMEOUT
            )
        except NotFoundError:
            return False
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        listed = self._resource(api_version, kind).get(namespace=namespace, serializer=_as_json, **kwargs)
        return [dict(i) for i in listed.get("items") or ()]

    def pod_log(
        self, namespace: str, name: str, container: str, *, follow: bool = False, timeout: float | None = None
    ) -> Iterator[str]:
        """The container's log, line by line (each without its newline); `follow` streams it until the
        container ends. `timeout` bounds the wait for each read."""
        core = client.CoreV1Api(self.api_client)
        # _preload_content=False: the raw urllib3 response, read as it arrives
        response: Any = core.read_namespaced_pod_log(
            name,
            namespace,
            container=container,
            follow=follow,
            _preload_content=False,
            _request_timeout=timeout,
        )
        pending = b""
        try:
            for chunk in response.stream(64 * 1024):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
            if pending:
                yield pending.decode(errors="replace")
        finally:
            response.release_conn()
