"""Resync against the real API server and operator: a push whose delivery was dropped is built by the
next resync; the heads there at binding are not; a late redelivery of that push, and a head whose
push was delivered, leave one BuildRun. The code host is the GitHub stand-in (its REST API over real
HTTP, spoken to by PyGithub) at the address the session's operator was given; the session's
operator resyncs at every reconcile tick (KILN_RESYNC_INTERVAL=1 in tests/conftest.py)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from kubernetes import client

from kiln.api.constants import BUILD_RUN, GROUP, VERSION, Provider
from kiln.receiver.app import ServerThread
from kiln.webhooks import SharedSecret, sign
from tests.conftest import CODEHOST_PORTS, OperatorProcess
from tests.integration.conftest import eventually
from tests.integration.test_codehosts import TOKEN, apply, get_repository, repository, rule, token_secret
from tests.integration.test_webhook_receiver import PAYLOAD, http
from tests.standins import HostState, github

A, B, C = "a" * 40, "b" * 40, "c" * 40
TICK = 150  # seconds: the Repository timer (60 s) twice, and the listing


def runs_of(operator: OperatorProcess, namespace: str, commit: str) -> list[dict[str, Any]]:
    listed: Any = client.CustomObjectsApi(operator.cluster.api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, BUILD_RUN.plural
    )
    return [r for r in listed["items"] if r["spec"]["source"]["commit"] == commit]


def deliver(
    operator: OperatorProcess, tenant_name: str, namespace: str, name: str, commit: str
) -> tuple[int, Any]:
    """GitHub's push of `commit` to main, signed with the Repository's generated webhook secret."""
    secret = client.CoreV1Api(operator.cluster.api_client).read_namespaced_secret(
        f"{name}-webhook", namespace
    )
    payload = json.loads(PAYLOAD.read_bytes())
    payload.update(ref="refs/heads/main", before=A, after=commit)
    payload["head_commit"] = {**payload["head_commit"], "id": commit}
    payload["repository"] = {**payload["repository"], "name": name, "full_name": f"acme/{name}"}
    body = json.dumps(payload).encode()
    headers = sign(
        "github",
        body,
        SharedSecret(base64.b64decode(secret.data["token"]).decode()),
        delivery_id=str(uuid.uuid4()),
    )
    return http("POST", f"http://{operator.RECEIVER}/hooks/github/{tenant_name}/{name}", body, headers)


def resynced_after(operator: OperatorProcess, namespace: str, name: str, since: str | None) -> dict[str, Any]:
    """The Repository's status.resync once a listing later than `since` is recorded."""

    def later() -> dict[str, Any] | None:
        resync = (get_repository(operator.cluster, namespace, name).get("status") or {}).get("resync") or {}
        return resync if resync.get("lastTime") and resync.get("lastTime") != since else None

    return eventually(later, timeout=TICK, what=f"a resync of {name} after {since}")


def test_dropped_push_to_a_resync_buildrun_and_never_two(
    operator: OperatorProcess, tenant: tuple[str, str]
) -> None:
    tenant_name, namespace = tenant
    name = f"rs-{uuid.uuid4().hex[:6]}"
    state = HostState(token=TOKEN, repository=f"acme/{name}", branches={"main": A}, tags={"v1": (A, None)})
    with ServerThread(github.make_app(state), port=CODEHOST_PORTS["github.com"]):
        apply(
            operator.cluster,
            namespace,
            token_secret(f"{name}-token", TOKEN),
            repository(name, f"https://github.com/acme/{name}.git", Provider.GITHUB),
            rule(name, name),
        )
        # the binding: the heads there are the baseline, never built
        baseline = resynced_after(operator, namespace, name, None)
        assert baseline["baselineTime"] and (baseline["heads"], baseline["created"]) == (2, 0)
        assert runs_of(operator, namespace, A) == []

        # a push whose delivery was dropped: the next resync builds it, and only it
        state.branches["main"] = B
        eventually(
            lambda: runs_of(operator, namespace, B),
            timeout=TICK,
            what="the resync BuildRun of the dropped push",
        )
        (run,) = runs_of(operator, namespace, B)
        assert (run["spec"]["trigger"]["type"], run["spec"]["source"]["ref"]) == ("Resync", "refs/heads/main")
        assert runs_of(operator, namespace, A) == []

        def resync_events() -> list[Any] | None:
            # kopf posts Events from a queue, after the BuildRun was created
            listed = client.CoreV1Api(operator.cluster.api_client).list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name},reason=Resync"
            )
            return list(listed.items) or None

        events = eventually(resync_events, what="the Resync Event on the Repository")
        assert "refs/heads/main (bbbbbbb)" in events[0].message

        # the host redelivers it late: the receiver finds resync's BuildRun
        status, answer = deliver(operator, tenant_name, namespace, name, B)
        assert (status, answer["outcome"]) == (200, "duplicate"), answer
        assert len(runs_of(operator, namespace, B)) == 1

        # a push delivered in time: the next resync lists its head and creates nothing
        status, answer = deliver(operator, tenant_name, namespace, name, C)
        assert status == 202, answer
        state.branches["main"] = C
        before = get_repository(operator.cluster, namespace, name)["status"]["resync"]["lastTime"]
        after = resynced_after(operator, namespace, name, before)  # it listed C
        assert after["created"] == 0 and after.get("error") is None, after
        assert [r["spec"]["trigger"]["type"] for r in runs_of(operator, namespace, C)] == ["Push"]
