"""The thin HTTP layer: routes, body limit, readiness, metrics, create results (no cluster)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kiln.receiver.app import JsonFormatter, KubeCreator, ServerThread, make_app
from kiln.receiver.cache import ResourceCache
from kiln.webhooks import MAX_BODY_BYTES
from kiln.webhooks.config import SharedSecret
from kiln.webhooks.decisions import CreateResult, CreateRuns, CreateStatus, Delivery, PlannedRun, decide
from kiln.webhooks.organization import NewRepository
from tests.unit.webhooks.objects import EXPECTED_TAGS, ORG_SECRET, SECRET, org_world, signed, world

HOOK = "/hooks/github/acme/app"


class FakeCreator:
    """Answers every create with `status` and remembers what it was asked to create."""

    def __init__(self, status: CreateStatus = CreateStatus.CREATED) -> None:
        self.status = status
        self.created: list[PlannedRun] = []
        self.repositories: list[str] = []

    async def create(self, namespace: str, runs: Sequence[PlannedRun]) -> dict[str, CreateResult]:
        self.created.extend(runs)
        return {run.name: CreateResult(self.status, "fake") for run in runs}

    async def create_repository(self, namespace: str, new: NewRepository) -> CreateResult:
        self.repositories.append(new.name)
        return CreateResult(self.status, "fake")


@pytest.fixture
def creator() -> FakeCreator:
    return FakeCreator()


@pytest.fixture
async def http(creator: FakeCreator) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(make_app(world(), creator))) as test_client:
        yield test_client


def sample(text: str, line_start: str) -> float:
    """The value of the metric sample whose line starts with `line_start` (0 when absent)."""
    found = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


@pytest.fixture
def push(shared_payload: Callable[[str], bytes]) -> bytes:
    return shared_payload("github-push-branch.json")


async def test_signed_push_to_202_with_the_buildruns(
    http: TestClient[web.Request, web.Application], creator: FakeCreator, push: bytes
) -> None:
    response = await http.post(HOOK, data=push, headers=signed("github", push))
    assert response.status == 202
    body = await response.json()
    assert {run["rule"]: run["tags"] for run in body["buildRuns"]} == EXPECTED_TAGS
    assert [run.rule for run in creator.created] == ["changes", "pattern"]


async def test_organization_push_to_a_created_repository_and_its_buildruns(
    creator: FakeCreator, push: bytes
) -> None:
    async with TestClient(TestServer(make_app(org_world(), creator))) as http:
        response = await http.post(
            "/hooks/github/acme", data=push, headers=signed("github", push, SharedSecret(ORG_SECRET))
        )
        body = await response.json()
    assert response.status == 202, body
    assert creator.repositories == ["public-repo"]
    assert [run.rule for run in creator.created] == ["public-repo-changes"]
    assert body["repository"]["result"] == "created"


async def test_organization_push_whose_repository_is_refused_creates_no_buildrun(push: bytes) -> None:
    creator = FakeCreator(CreateStatus.REJECTED)
    async with TestClient(TestServer(make_app(org_world(), creator))) as http:
        response = await http.post(
            "/hooks/github/acme", data=push, headers=signed("github", push, SharedSecret(ORG_SECRET))
        )
    assert response.status == 500
    assert creator.repositories == ["public-repo"] and creator.created == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_to_405(http: TestClient[web.Request, web.Application], method: str) -> None:
    response = await http.request(method, HOOK)
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert (await response.json())["outcome"] == "method_not_allowed"


async def test_declared_oversize_body_to_413(http: TestClient[web.Request, web.Application]) -> None:
    headers = {"Content-Length": str(MAX_BODY_BYTES + 1), "Content-Type": "application/json"}
    response = await http.post(HOOK, data=b"x" * (MAX_BODY_BYTES + 1), headers=headers)
    assert response.status == 413


async def test_streamed_oversize_body_to_413(http: TestClient[web.Request, web.Application]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // (1 << 20) + 1):
            yield b"x" * (1 << 20)

    response = await http.post(HOOK, data=chunks())  # chunked: no Content-Length to refuse early
    assert response.status == 413
    assert (await response.json())["outcome"] == "too_large"


async def test_unknown_provider_to_404(http: TestClient[web.Request, web.Application], push: bytes) -> None:
    response = await http.post("/hooks/sourcehut/acme/app", data=push)
    assert response.status == 404
    assert (await response.json())["outcome"] == "not_found"


async def test_unreachable_api_server_to_503(push: bytes) -> None:
    creator = FakeCreator(CreateStatus.UNAVAILABLE)
    async with TestClient(TestServer(make_app(world(), creator))) as http:
        response = await http.post(HOOK, data=push, headers=signed("github", push))
        assert response.status == 503
        assert (await response.json())["outcome"] == "unavailable"


async def test_readiness_follows_the_cache(creator: FakeCreator, push: bytes) -> None:
    async with TestClient(TestServer(make_app(ResourceCache(), creator))) as http:
        assert (await http.get("/readyz")).status == 503
        response = await http.post(HOOK, data=push, headers=signed("github", push))
        assert (response.status, (await response.json())["outcome"]) == (503, "not_ready")
    async with TestClient(TestServer(make_app(world(), creator))) as http:
        assert (await http.get("/readyz")).status == 200
        assert (await http.get("/healthz")).status == 200


async def test_metrics_count_requests_by_provider_and_outcome(
    http: TestClient[web.Request, web.Application], push: bytes
) -> None:
    created = 'kiln_webhook_buildruns_created_total{provider="github"}'
    unauthorized = 'kiln_webhook_requests_total{outcome="unauthorized",provider="github"}'
    before = await (await http.get("/metrics")).text()
    await http.post(HOOK, data=push, headers=signed("github", push))
    await http.post(HOOK, data=push, headers={"X-GitHub-Event": "push"})
    after = await (await http.get("/metrics")).text()
    assert sample(after, created) - sample(before, created) == 2
    assert sample(after, unauthorized) - sample(before, unauthorized) == 1
    assert "kiln_webhook_request_duration_seconds_bucket" in after


async def test_metrics_can_be_left_to_another_port(creator: FakeCreator) -> None:
    async with TestClient(TestServer(make_app(world(), creator, expose_metrics=False))) as http:
        assert (await http.get("/metrics")).status == 404


def test_logs_never_contain_the_secret(push: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    with ServerThread(make_app(world(), FakeCreator())) as server:
        import urllib.request

        for headers in (signed("github", push), {"X-GitHub-Event": "push"}):
            request = urllib.request.Request(server.url + HOOK, data=push, headers=headers, method="POST")
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError as error:
                assert error.code == 401
    records = [r for r in caplog.records if r.name == "kiln.webhooks"]
    assert len(records) == 2
    from kiln.receiver.app import JsonFormatter

    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert '"outcome": "created"' in text
    assert "s3cret" not in text


def test_create_against_a_closed_port_is_unavailable() -> None:
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard port: nothing listens
    configuration.retries = 0
    with ThreadPoolExecutor(1) as executor:
        creator = KubeCreator(client.ApiClient(configuration), executor)
        result = creator.create_one("ns", {"metadata": {"name": "x"}})
    assert result.status is CreateStatus.UNAVAILABLE
    assert "Connection refused" in result.detail or "Max retries" in result.detail


SECRET_IN_MESSAGE = "leaked-s3cret-value"


class BrokenCreator(FakeCreator):
    async def create(self, namespace: str, runs: Sequence[PlannedRun]) -> dict[str, CreateResult]:
        raise RuntimeError(SECRET_IN_MESSAGE)


@pytest.mark.parametrize("where", ["decision", "create"])
async def test_unexpected_exception_to_500_json_counted_and_logged(
    push: bytes, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    cache = world()
    if where == "decision":
        monkeypatch.setattr(cache, "repository", mock.Mock(side_effect=KeyError(SECRET_IN_MESSAGE)))
    app = make_app(cache, BrokenCreator() if where == "create" else FakeCreator())
    errors = 'kiln_webhook_requests_total{outcome="error",provider="github"}'
    caplog.set_level(logging.INFO, logger="kiln.webhooks")
    async with TestClient(TestServer(app)) as http:
        before = await (await http.get("/metrics")).text()
        response = await http.post(HOOK, data=push, headers=signed("github", push))
        assert response.status == 500
        assert response.content_type == "application/json"
        body = await response.json()
        after = await (await http.get("/metrics")).text()
    error = "RuntimeError" if where == "create" else "KeyError"
    assert body["outcome"] == "error"
    assert error in body["reason"] and SECRET_IN_MESSAGE not in body["reason"]
    assert sample(after, errors) - sample(before, errors) == 1
    (record,) = [r for r in caplog.records if r.name == "kiln.webhooks"]
    assert record.levelno == logging.ERROR
    logged = JsonFormatter().format(record)
    assert f'"error": "{error}"' in logged and "Traceback" not in logged  # frames only
    assert "_answer" in logged  # the stack, to find the bug by
    assert SECRET_IN_MESSAGE not in logged


def test_api_exception_without_status_is_unavailable() -> None:
    # The kubernetes client raises ApiException(status=None) for failures without an HTTP answer.
    failure = ApiException(reason="connection reset by peer")
    assert failure.status is None
    with (
        ThreadPoolExecutor(1) as executor,
        mock.patch.object(client.CustomObjectsApi, "create_namespaced_custom_object", side_effect=failure),
    ):
        result = KubeCreator(client.ApiClient(), executor).create_one("ns", {"metadata": {"name": "x"}})
    assert (result.status, result.detail) == (CreateStatus.UNAVAILABLE, "connection reset by peer")


class SlowCreator(FakeCreator):
    """An API server that answers after `seconds`: the creates do finish, late."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.finished = asyncio.Event()

    async def create(self, namespace: str, runs: Sequence[PlannedRun]) -> dict[str, CreateResult]:
        await asyncio.sleep(self.seconds)
        result = await super().create(namespace, runs)
        self.finished.set()
        return result


async def test_creates_slower_than_the_deadline_to_503_in_time_and_nothing_lost(push: bytes) -> None:
    slow = SlowCreator(1.0)
    async with TestClient(TestServer(make_app(world(), slow, deadline=0.3))) as http:
        started = asyncio.get_running_loop().time()
        response = await http.post(HOOK, data=push, headers=signed("github", push))
        answered = asyncio.get_running_loop().time() - started
        body = await response.json()
        assert (response.status, body["outcome"]) == (503, "deadline")
        assert response.headers["Retry-After"] == "10"
        assert answered < slow.seconds  # answered at the deadline, not when the creates ended
        assert sorted(run["rule"] for run in body["buildRuns"]) == ["changes", "pattern"]
        assert {run["result"] for run in body["buildRuns"]} == {"pending"}
        # the creates go on: a redelivery then finds the BuildRuns
        await asyncio.wait_for(slow.finished.wait(), 5)
        assert [run.rule for run in slow.created] == ["changes", "pattern"]
        metrics = await (await http.get("/metrics")).text()
        assert sample(metrics, 'kiln_webhook_requests_total{outcome="deadline",provider="github"}') >= 1


GITEE_URL = "https://gitee.com/kit101/drone-yml-test.git"


def gitee_world(mode: str) -> ResourceCache:
    from tests.unit.webhooks.objects import build_rule

    return world(
        rules=(build_rule("feat", branch="feat-2-1"),), provider="gitee", url=GITEE_URL, gitee_mode=mode
    )


async def test_a_gitee_signature_used_twice_is_a_replay_unless_the_first_use_failed(
    shared_payload: Callable[[str], bytes],
) -> None:
    from kiln.api.constants import GiteeMode
    from kiln.webhooks import GiteeSecret

    body = shared_payload("gitee-push.json")
    headers = signed("gitee", body, GiteeSecret(SECRET, GiteeMode.SIGNATURE))
    hook = "/hooks/gitee/acme/app"
    failing = FakeCreator(CreateStatus.UNAVAILABLE)
    async with TestClient(TestServer(make_app(gitee_world("signature"), failing))) as http:
        # the API server is down: 503, and the host's retry with the same token is let through
        assert (await http.post(hook, data=body, headers=headers)).status == 503
        assert (await http.post(hook, data=body, headers=headers)).status == 503
    creator = FakeCreator()
    async with TestClient(TestServer(make_app(gitee_world("signature"), creator))) as http:
        assert (await http.post(hook, data=body, headers=headers)).status == 202
        again = await http.post(hook, data=b'{"forged": "body"}', headers=headers)
        assert again.status == 401
        assert "refused as a replay" in (await again.json())["reason"]
        assert len(creator.created) == 1
        fresh = signed("gitee", body, GiteeSecret(SECRET, GiteeMode.SIGNATURE))  # a new timestamp
        assert (await http.post(hook, data=body, headers=fresh)).status in (200, 202)


async def test_a_gitee_password_is_the_same_every_time_and_no_replay(
    shared_payload: Callable[[str], bytes],
) -> None:
    from kiln.webhooks import GiteeSecret

    body = shared_payload("gitee-push.json")
    headers = signed("gitee", body, GiteeSecret(SECRET))
    async with TestClient(TestServer(make_app(gitee_world("password"), FakeCreator()))) as http:
        assert (await http.post("/hooks/gitee/acme/app", data=body, headers=headers)).status == 202
        assert (
            await http.post("/hooks/gitee/acme/app", data=body, headers=headers)
        ).status == 202  # not refused (the API server would answer it as a duplicate)


def test_organization_repository_created_meanwhile_for_another_code_repository_is_refused(
    push: bytes,
) -> None:
    """Two pushes racing for one name (the cache not told of the first Repository yet): the second
    finds it (409), reads it, and refuses to build its push there."""
    decision = decide(
        Delivery("github", "acme", None, signed("github", push, SharedSecret(ORG_SECRET)), push),
        org_world(),
        datetime.now(UTC),
    )
    assert isinstance(decision, CreateRuns) and decision.repository is not None
    taken = ApiException(status=409, reason="Conflict")
    other = {"spec": {"source": {"url": "https://github.com/someone-else/public-repo.git"}}}
    same = {"spec": {"source": {"url": "https://github.com/baxterthehacker/public-repo.git"}}}
    with (
        ThreadPoolExecutor(1) as executor,
        mock.patch.object(client.CustomObjectsApi, "create_namespaced_custom_object", side_effect=taken),
        mock.patch.object(client.CustomObjectsApi, "get_namespaced_custom_object", side_effect=[other, same]),
    ):
        creator = KubeCreator(client.ApiClient(), executor)
        refused = creator.create_repository_now("kiln-acme", decision.repository)
        found = creator.create_repository_now("kiln-acme", decision.repository)
    assert refused.status is CreateStatus.REJECTED
    assert "exists and builds https://github.com/someone-else/public-repo.git" in refused.detail
    assert found.status is CreateStatus.EXISTS
