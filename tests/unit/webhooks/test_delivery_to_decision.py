"""The receiver's decisions (`decide` / `conclude`): every answer, without HTTP or a cluster.

The cache is the real `ResourceCache`, fed with API objects as the watches would feed it. The
builders live in `objects.py`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from kiln.api import BuildRun
from kiln.api.constants import LABEL_BUILD_RULE, LABEL_NAMESPACE, LABEL_REPOSITORY
from kiln.receiver.cache import Kind, ResourceCache
from kiln.webhooks import MAX_BODY_BYTES, GiteeSecret, GitLabSecret, SharedSecret, WebhookSecret
from kiln.webhooks.decisions import (
    CreateResult,
    CreateRuns,
    CreateStatus,
    DeliveryOutcome,
    buildrun_name,
    conclude,
)
from tests.unit.webhooks.objects import (
    CHANGES_RULE,
    EXPECTED_TAGS,
    GITHUB_COMMIT,
    GITHUB_URL,
    MAIN_RULE,
    NAMESPACE,
    REPOSITORY,
    SECRET,
    TENANT,
    Manifest,
    build_rule,
    create_of,
    deliver,
    fed_cache,
    kubernetes_namespace,
    reply_of,
    repository,
    secret,
    signed,
    tenant,
    world,
)


@pytest.fixture
def push(shared_payload: Callable[[str], bytes]) -> bytes:
    return shared_payload("github-push-branch.json")


def with_changes(body: bytes, **changes: Any) -> bytes:
    """The payload with top-level fields replaced (re-signed by the caller)."""
    document = json.loads(body)
    document.update(changes)
    return json.dumps(document).encode()


# --- not ready, unknown things -----------------------------------------------------------------------


def test_cache_not_loaded_to_503(push: bytes, now: datetime) -> None:
    cache = ResourceCache()
    cache.replace(Kind.TENANT, [tenant()])  # some kinds listed, not all
    reply = reply_of(deliver(cache, push, signed("github", push), now))
    assert (reply.status, reply.outcome) == (503, DeliveryOutcome.NOT_READY)


def test_unknown_provider_to_404(push: bytes, now: datetime) -> None:
    reply = reply_of(deliver(world(), push, signed("github", push), now, provider="sourcehut"))
    assert (reply.status, reply.outcome) == (404, DeliveryOutcome.NOT_FOUND)


def test_unknown_tenant_to_404(push: bytes, now: datetime) -> None:
    reply = reply_of(deliver(world(), push, signed("github", push), now, tenant_name="other"))
    assert reply.status == 404
    assert reply.body["reason"] == "no Kiln Namespace 'other'"


@pytest.mark.parametrize("label", [None, "someone-else"])
def test_tenant_namespace_without_the_tenants_label_to_404(
    push: bytes, now: datetime, label: str | None
) -> None:
    cache = fed_cache(tenant(), kubernetes_namespace(tenant=label), repository(), secret(), CHANGES_RULE)
    reply = reply_of(deliver(cache, push, signed("github", push), now))
    assert reply.status == 404


def test_custom_kubernetes_namespace_resolves(push: bytes, now: datetime) -> None:
    cache = fed_cache(
        tenant(kubernetes_namespace="team-a"),
        kubernetes_namespace("team-a"),
        repository(namespace="team-a"),
        secret(namespace="team-a"),
        build_rule("changes", branch="changes", namespace="team-a"),
    )
    create = create_of(deliver(cache, push, signed("github", push), now))
    assert create.namespace == "team-a"


def test_unknown_repository_to_404(push: bytes, now: datetime) -> None:
    reply = reply_of(deliver(world(), push, signed("github", push), now, repo="nope"))
    assert reply.status == 404
    assert "no Repository 'nope'" in str(reply.body["reason"])


def test_provider_mismatch_to_404_naming_the_right_url(push: bytes, now: datetime) -> None:
    body = push
    reply = reply_of(
        deliver(world(), body, signed("gitlab", body, GitLabSecret(token=SECRET)), now, provider="gitlab")
    )
    assert reply.status == 404
    assert "/hooks/github/acme/app" in str(reply.body["reason"])


def test_invalid_repository_spec_to_404_with_the_problem(push: bytes, now: datetime) -> None:
    bad = repository()
    bad["spec"]["source"]["url"] = "http://insecure.example.com/x.git"
    cache = fed_cache(tenant(), kubernetes_namespace(), bad, secret())
    reply = reply_of(deliver(cache, push, signed("github", push), now))
    assert reply.status == 404
    assert "spec.source.url" in str(reply.body["reason"])


# --- secrets and signatures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ((), "Secret 'app-hook' (key 'token') not found"),
        ((secret(data={"other": "x"}),), "Secret 'app-hook' (key 'token') not found"),
        ((secret(data={"token": ""}),), "unusable"),
    ],
)
def test_repository_without_a_usable_secret_to_401(
    push: bytes, now: datetime, objects: tuple[Manifest, ...], expected: str
) -> None:
    cache = fed_cache(tenant(), kubernetes_namespace(), repository(), CHANGES_RULE, *objects)
    reply = reply_of(deliver(cache, push, signed("github", push), now))
    assert (reply.status, reply.outcome) == (401, DeliveryOutcome.UNAUTHORIZED)
    assert expected in str(reply.body["reason"])


def test_secret_that_is_not_utf8_to_401(push: bytes, now: datetime) -> None:
    raw = secret()
    raw["data"]["token"] = base64.b64encode(b"\xff\xfe").decode()
    cache = fed_cache(tenant(), kubernetes_namespace(), repository(), raw)
    reply = reply_of(deliver(cache, push, signed("github", push), now))
    assert reply.status == 401
    assert "UTF-8" in str(reply.body["reason"])


def test_repository_without_secret_ref_uses_the_generated_secret(push: bytes, now: datetime) -> None:
    cache = world(secret(name="app-webhook", data={"token": "generated"}), secret_name=None)
    create_of(deliver(cache, push, signed("github", push, SharedSecret("generated")), now))
    reply = reply_of(deliver(cache, push, signed("github", push), now))
    assert reply.status == 401


def test_secret_with_a_trailing_newline_verifies(push: bytes, now: datetime) -> None:
    cache = fed_cache(
        tenant(), kubernetes_namespace(), repository(), secret(data={"token": SECRET + "\n"}), CHANGES_RULE
    )
    create_of(deliver(cache, push, signed("github", push), now))


def test_unsigned_delivery_to_401(push: bytes, now: datetime) -> None:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    reply = reply_of(deliver(world(), push, headers, now))
    assert (reply.status, reply.outcome) == (401, DeliveryOutcome.UNAUTHORIZED)


def test_bad_signature_to_401(push: bytes, now: datetime) -> None:
    reply = reply_of(deliver(world(), push, signed("github", push, SharedSecret("wrong")), now))
    assert reply.status == 401
    assert "does not match" in str(reply.body["reason"])


def test_body_changed_after_signing_to_401(push: bytes, now: datetime) -> None:
    headers = signed("github", push)
    reply = reply_of(deliver(world(), push.replace(b"changes", b"release"), headers, now))
    assert reply.status == 401


def test_gitlab_signing_token_secret_verifies_the_signature(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    token = "whsec_" + base64.b64encode(b"signing-key").decode()
    cache = fed_cache(
        tenant(),
        kubernetes_namespace(),
        repository(provider="gitlab", url="https://example.com/mike/diaspora.git"),
        secret(data={"token": token}),
        build_rule("master", branch="master"),
    )
    good = signed("gitlab", body, GitLabSecret(signing_token=token), now=now)
    create_of(deliver(cache, body, good, now, provider="gitlab"))
    plain = signed("gitlab", body, GitLabSecret(token=token), now=now)  # the token, but no signature
    assert reply_of(deliver(cache, body, plain, now, provider="gitlab")).status == 401


# --- malformed, unsupported, too large -----------------------------------------------------------------


def test_signed_but_malformed_body_to_400(now: datetime) -> None:
    body = b'{"ref": 42}'
    reply = reply_of(deliver(world(), body, signed("github", body), now))
    assert (reply.status, reply.outcome) == (400, DeliveryOutcome.BAD_REQUEST)


def test_missing_event_header_to_400(push: bytes, now: datetime) -> None:
    headers = {k: v for k, v in signed("github", push).items() if k != "X-GitHub-Event"}
    assert reply_of(deliver(world(), push, headers, now)).status == 400


def test_unsupported_content_type_to_415(push: bytes, now: datetime) -> None:
    reply = reply_of(deliver(world(), push, signed("github", push, content_type="text/plain"), now))
    assert (reply.status, reply.outcome) == (415, DeliveryOutcome.UNSUPPORTED_MEDIA_TYPE)


def test_body_over_the_limit_to_413(now: datetime) -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    reply = reply_of(deliver(world(), body, signed("github", body), now))
    assert (reply.status, reply.outcome) == (413, DeliveryOutcome.TOO_LARGE)


# --- verified deliveries that build nothing --------------------------------------------------------------


def test_ping_to_200(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    body = shared_payload("github-ping.json")
    reply = reply_of(deliver(world(), body, signed("github", body, event="ping"), now))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.PING)


def test_skip_ci_push_to_200_ignored(push: bytes, now: datetime) -> None:
    document = json.loads(push)
    document["head_commit"]["message"] = "docs [skip ci]"
    body = json.dumps(document).encode()
    reply = reply_of(deliver(world(), body, signed("github", body), now))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.IGNORED)
    assert "[skip ci]" in str(reply.body["reason"])


def test_branch_deletion_to_200_ignored(push: bytes, now: datetime) -> None:
    body = with_changes(push, deleted=True, after="0" * 40)
    reply = reply_of(deliver(world(), body, signed("github", body), now))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.IGNORED)


def test_auto_build_off_to_200(push: bytes, now: datetime) -> None:
    reply = reply_of(deliver(world(auto_build=False), push, signed("github", push), now))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.AUTO_BUILD_OFF)


def test_no_matching_rule_to_200(push: bytes, now: datetime) -> None:
    reply = reply_of(deliver(world(rules=(MAIN_RULE,)), push, signed("github", push), now))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.NO_MATCH)
    assert reply.body["reason"] == "no BuildRule builds refs/heads/changes"


def test_rules_of_another_repository_do_not_match(push: bytes, now: datetime) -> None:
    other = build_rule("changes", branch="changes", repository="other")
    reply = reply_of(deliver(world(rules=(other,)), push, signed("github", push), now))
    assert reply.outcome == DeliveryOutcome.NO_MATCH


def test_push_for_another_code_repository_to_400(push: bytes, now: datetime) -> None:
    cache = world(url="https://github.com/acme/elsewhere.git")
    reply = reply_of(deliver(cache, push, signed("github", push), now))
    assert reply.status == 400
    assert "baxterthehacker/public-repo" in str(reply.body["reason"])


def test_repository_url_comparison_ignores_scheme_host_and_case(push: bytes, now: datetime) -> None:
    cache = world(url="https://ghe.example.com/BaxterTheHacker/Public-Repo/")
    create_of(deliver(cache, push, signed("github", push), now))


# --- builds ---------------------------------------------------------------------------------------------


def test_matching_rules_to_one_buildrun_each_with_resolved_tags(push: bytes, now: datetime) -> None:
    create = create_of(deliver(world(), push, signed("github", push, delivery_id="d-1"), now))
    assert create.namespace == NAMESPACE
    assert create.report["deliveryId"] == "d-1"
    assert {run.rule: list(run.tags) for run in create.runs} == EXPECTED_TAGS
    for run in create.runs:
        manifest = run.manifest
        assert manifest["metadata"]["name"] == run.name
        assert manifest["metadata"]["namespace"] == NAMESPACE
        assert manifest["metadata"]["labels"] == {
            LABEL_NAMESPACE: TENANT,
            LABEL_REPOSITORY: REPOSITORY,
            LABEL_BUILD_RULE: run.rule,
        }
        BuildRun.model_validate(manifest)  # a valid BuildRun as the API defines it
        spec = manifest["spec"]
        assert spec["buildRule"] == run.rule
        assert spec["repository"] == REPOSITORY
        assert spec["trigger"] == {
            "type": "Push",
            "deliveryId": "d-1",
            "provider": "github",
            "sender": "baxterthehacker",
        }
        assert spec["source"] == {
            "ref": "refs/heads/changes",
            "commit": GITHUB_COMMIT,
            "pushedAt": "2015-05-05T23:40:17Z",
            "message": "Update README.md",
            "author": "baxterthehacker <baxterthehacker@users.noreply.github.com>",
            "changedFiles": ["README.md"],
        }
        assert spec["tags"] == EXPECTED_TAGS[run.rule]


def test_buildrun_names_follow_the_push_not_the_delivery(push: bytes, now: datetime) -> None:
    def names(delivery_id: str, body: bytes = push) -> list[str]:
        create = create_of(deliver(world(), body, signed("github", body, delivery_id=delivery_id), now))
        return [run.name for run in create.runs]

    first = names("d-1")
    # a redelivery, and the same push under another delivery id (an organization hook beside the
    # repository's, a resync): the same names, so the second create answers 409
    assert names("d-1") == first
    assert names("d-2") == first
    assert all(re.fullmatch(r"(changes|pattern)-[0-9a-f]{10}", name) for name in first), first
    payload = json.loads(push)
    payload["after"] = payload["head_commit"]["id"] = "c" * 40
    assert set(names("d-3", json.dumps(payload).encode())).isdisjoint(first)  # another commit


def test_without_delivery_id_names_follow_repository_ref_and_commit(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")  # Gitee sends no delivery id
    cache = world(
        build_rule("feat", branch="feat-2-1"),
        rules=(),
        provider="gitee",
        url="https://gitee.com/kit101/drone-yml-test.git",
        gitee_mode="password",
    )
    key = GiteeSecret(SECRET)
    first = create_of(deliver(cache, body, signed("gitee", body, key, now=now), now, provider="gitee"))
    later = now + timedelta(minutes=5)
    again = create_of(deliver(cache, body, signed("gitee", body, key, now=later), later, provider="gitee"))
    assert [r.name for r in first.runs] == [r.name for r in again.runs]
    assert first.runs[0].manifest["spec"]["trigger"].get("deliveryId") is None


def test_long_rule_names_give_valid_63_character_names(push: bytes, now: datetime) -> None:
    long_name = "a" * 40 + "." + "b" * 60
    create = create_of(
        deliver(world(rules=(build_rule(long_name, branch="changes"),)), push, signed("github", push), now)
    )
    (run,) = create.runs
    assert len(run.name) <= 63
    assert run.name.startswith("a" * 40 + "-b")
    assert LABEL_BUILD_RULE not in run.manifest["metadata"]["labels"]  # too long for a label value
    BuildRun.model_validate(run.manifest)


def test_failing_rules_are_reported_and_the_others_build(push: bytes, now: datetime) -> None:
    bad_tag = build_rule("bad-tag", pattern="chan(?<rest>.*)", tags=[{"tag": "-${rest}"}])
    body = with_changes(push, ref="refs/heads/changes-" + "a" * 40 + "b")
    slow = build_rule("slow", pattern="changes-(a|aa)+$")
    rules = (bad_tag, slow, build_rule("any", pattern=".*"))
    cache = fed_cache(tenant(), kubernetes_namespace(), repository(), secret(), *rules, match_timeout=0.01)
    create = create_of(deliver(cache, body, signed("github", body), now))
    assert [run.rule for run in create.runs] == ["any"]
    failures: Any = create.report["failures"]
    assert {f["rule"] for f in failures} == {"bad-tag", "slow"}
    assert any("backtracks" in f["error"] for f in failures)
    assert any("not a valid image tag" in f["error"] for f in failures)


def test_path_filters_skip_rules(push: bytes, now: datetime) -> None:
    only_src = build_rule("src", branch="changes", paths=["src/**"])
    not_docs = build_rule("no-md", branch="changes", ignorePaths=["**/*.md"])
    reply = reply_of(deliver(world(rules=(only_src, not_docs)), push, signed("github", push), now))
    assert reply.outcome == DeliveryOutcome.NO_MATCH
    skipped: Any = reply.body["skipped"]
    assert {s["rule"]: s["reason"] for s in skipped} == {
        "src": "no changed file matches spec.paths",
        "no-md": "every changed file matches spec.ignorePaths",
    }


PROVIDER_CASES = [
    # (payload, provider, secret config, Repository URL, rule source)
    (
        "github-push-tag.json",
        "github",
        SharedSecret(SECRET),
        "https://github.com/Codertocat/Hello-World.git",
        ("Tag", "simple-tag"),
    ),
    (
        "gitlab-push-hook.json",
        "gitlab",
        GitLabSecret(token=SECRET),
        "https://example.com/mike/diaspora.git",
        ("Branch", "master"),
    ),
    (
        "gitlab-tag-push-hook.json",
        "gitlab",
        GitLabSecret(token=SECRET),
        "https://example.com/jsmith/example.git",
        ("Tag", "v1.0.0"),
    ),
    (
        "gitee-push.json",
        "gitee",
        GiteeSecret(SECRET),
        "https://gitee.com/kit101/drone-yml-test.git",
        ("Branch", "feat-2-1"),
    ),
    (
        "bitbucket-cloud-repo-push.json",
        "bitbucket",
        SharedSecret(SECRET),
        "https://bitbucket.org/brydzewski/foo.git",
        ("Branch", "master"),
    ),
    (
        "bitbucket-server-repo-refs-changed.json",
        "bitbucket-server",
        SharedSecret(SECRET),
        "https://bitbucket.example.com/scm/proj/repository.git",
        ("Branch", "master"),
    ),
]


@pytest.mark.parametrize(("payload", "provider", "key", "url", "source"), PROVIDER_CASES)
def test_every_providers_push_builds(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    payload: str,
    provider: str,
    key: WebhookSecret,
    url: str,
    source: tuple[str, str],
) -> None:
    body = shared_payload(payload)
    rule = build_rule("r", ref_type=source[0], branch=source[1], tags=[{"tag": "${ref}"}])
    mode = "password" if provider == "gitee" else None
    cache = world(rule, rules=(), provider=provider, url=url, gitee_mode=mode)
    event = "Tag Push Hook" if payload == "gitlab-tag-push-hook.json" else None
    create = create_of(
        deliver(cache, body, signed(provider, body, key, now=now, event=event), now, provider=provider)
    )
    (run,) = create.runs
    assert list(run.tags) == [source[1]]
    BuildRun.model_validate(run.manifest)
    assert run.manifest["spec"]["trigger"]["provider"] == provider


def test_buildrun_name_is_stable() -> None:
    # Stored names must not change between releases: redeliveries after an upgrade would build twice.
    from kiln.api.constants import Provider
    from kiln.rules import RefType
    from kiln.webhooks.events import PushEvent

    event = PushEvent(
        Provider.GITHUB, "d-1", GITHUB_URL, "o/r", "refs/heads/main", RefType.BRANCH, GITHUB_COMMIT,
        None, datetime(2020, 1, 1).astimezone(), None, None, None, False, False, None,
    )  # fmt: skip
    assert buildrun_name("main", event, "app") == "main-" + _digest(
        f"main\0push\0app\0refs/heads/main\0{GITHUB_COMMIT}"
    )


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:10]


# --- concluding after the creates ---------------------------------------------------------------------


@pytest.fixture
def planned(push: bytes, now: datetime) -> CreateRuns:
    return create_of(deliver(world(), push, signed("github", push), now))


def results(create: CreateRuns, *statuses: CreateStatus) -> dict[str, CreateResult]:
    return {
        run.name: CreateResult(status, "detail") for run, status in zip(create.runs, statuses, strict=True)
    }


def test_all_created_to_202_listing_them(planned: CreateRuns) -> None:
    reply = conclude(planned, results(planned, CreateStatus.CREATED, CreateStatus.CREATED))
    assert (reply.status, reply.outcome) == (202, DeliveryOutcome.CREATED)
    runs: Any = reply.body["buildRuns"]
    assert [r["name"] for r in runs] == [r.name for r in planned.runs]
    assert {r["rule"]: r["tags"] for r in runs} == EXPECTED_TAGS
    assert {r["result"] for r in runs} == {"created"}
    assert reply.body["deliveryId"] is not None


def test_all_existing_to_200_duplicate(planned: CreateRuns) -> None:
    reply = conclude(planned, results(planned, CreateStatus.EXISTS, CreateStatus.EXISTS))
    assert (reply.status, reply.outcome) == (200, DeliveryOutcome.DUPLICATE)


def test_some_created_some_existing_to_202(planned: CreateRuns) -> None:
    reply = conclude(planned, results(planned, CreateStatus.EXISTS, CreateStatus.CREATED))
    assert reply.status == 202
    assert reply.body["reason"] == "1 BuildRun(s) created"


def test_any_unavailable_to_503_so_the_host_redelivers(planned: CreateRuns) -> None:
    reply = conclude(planned, results(planned, CreateStatus.CREATED, CreateStatus.UNAVAILABLE))
    assert (reply.status, reply.outcome) == (503, DeliveryOutcome.UNAVAILABLE)
    assert conclude(planned, {}).status == 503  # nothing attempted


def test_refused_create_to_500(planned: CreateRuns) -> None:
    reply = conclude(planned, results(planned, CreateStatus.CREATED, CreateStatus.REJECTED))
    assert (reply.status, reply.outcome) == (500, DeliveryOutcome.FAILED)
