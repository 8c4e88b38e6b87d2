"""Provider names, request limits, header containers and secret configs through `dispatch`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from multidict import CIMultiDict

from kiln.webhooks import (
    MAX_BODY_BYTES,
    BadSignature,
    GiteeMode,
    GiteeSecret,
    GitLabSecret,
    MissingSignature,
    ParsedDelivery,
    PayloadTooLarge,
    PushEvent,
    SharedSecret,
    UnknownProvider,
    WebhookError,
    WebhookSecret,
    dispatch,
    parse_bitbucket,
    parse_bitbucket_server,
    parse_gitee,
    parse_github,
    parse_gitlab,
    sign,
)


@pytest.mark.parametrize("provider", ["gitea", "GitHub", "", "github/../gitlab", "x" * 500])
def test_unknown_provider_to_404(now: datetime, provider: str) -> None:
    with pytest.raises(UnknownProvider) as caught:
        dispatch(provider, {}, b"{}", SharedSecret("s"), now)
    assert caught.value.status == 404
    assert len(caught.value.reason) < 80


def test_oversized_body_to_413_before_verification(now: datetime) -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    with pytest.raises(PayloadTooLarge) as caught:
        dispatch("github", {}, body, SharedSecret("s"), now)
    assert caught.value.status == 413


def test_body_at_size_limit_to_verified(now: datetime) -> None:
    body = b" " * MAX_BODY_BYTES
    secret = SharedSecret("s")
    headers = sign("github", body, secret, event="issues")
    assert dispatch("github", headers, body, secret, now).ignored


def test_naive_now_to_value_error(shared_payload: Callable[[str], bytes]) -> None:
    body = shared_payload("github-push-branch.json")
    secret = SharedSecret("s")
    with pytest.raises(ValueError, match="timezone-aware"):
        dispatch("github", sign("github", body, secret), body, secret, datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("provider", "secret"),
    [
        ("github", GitLabSecret(token="t")),
        ("gitlab", SharedSecret("s")),
        ("gitee", SharedSecret("s")),
        ("bitbucket", GiteeSecret("s")),
    ],
)
def test_secret_of_other_provider_to_type_error(now: datetime, provider: str, secret: WebhookSecret) -> None:
    with pytest.raises(TypeError, match=provider):
        dispatch(provider, {}, b"{}", secret, now)


def test_per_provider_functions_to_same_result_as_dispatch(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    cases: list[tuple[Callable[..., ParsedDelivery], str, str, WebhookSecret]] = [
        (parse_github, "github", "github-push-branch.json", SharedSecret("s")),
        (parse_gitlab, "gitlab", "gitlab-push-hook.json", GitLabSecret(token="s")),
        (parse_gitee, "gitee", "gitee-push.json", GiteeSecret("s", GiteeMode.SIGNATURE)),
        (parse_bitbucket, "bitbucket", "bitbucket-cloud-repo-push.json", SharedSecret("s")),
        (
            parse_bitbucket_server,
            "bitbucket-server",
            "bitbucket-server-repo-refs-changed.json",
            SharedSecret("s"),
        ),
    ]
    for parse, provider, filename, secret in cases:
        body = shared_payload(filename)
        headers = sign(provider, body, secret, delivery_id="d", now=now)
        assert parse(headers, body, secret, now) == dispatch(provider, headers, body, secret, now)


def test_multidict_headers_first_value_wins(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    body = shared_payload("github-push-branch.json")
    secret = SharedSecret("s")
    signed = sign("github", body, secret)
    headers: CIMultiDict[str] = CIMultiDict(signed)
    headers.add("x-hub-signature-256", "sha256=" + "0" * 64)  # a later duplicate is not consulted
    assert isinstance(dispatch("github", headers, body, secret, now).outcomes[0], PushEvent)
    reordered: CIMultiDict[str] = CIMultiDict({"X-HUB-SIGNATURE-256": "sha256=" + "0" * 64})
    reordered.extend(signed)
    with pytest.raises(BadSignature):
        dispatch("github", reordered, body, secret, now)


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_signature_header_to_missing_signature(
    shared_payload: Callable[[str], bytes], now: datetime, blank: str
) -> None:
    body = shared_payload("github-push-branch.json")
    secret = SharedSecret("s")
    headers = {**sign("github", body, secret), "X-Hub-Signature-256": blank}
    with pytest.raises(MissingSignature):
        dispatch("github", headers, body, secret, now)


def test_signature_header_with_surrounding_space_to_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("github-push-branch.json")
    secret = SharedSecret("s")
    headers = sign("github", body, secret)
    headers["X-Hub-Signature-256"] = f"  {headers['X-Hub-Signature-256']} "
    assert dispatch("github", headers, body, secret, now).events


@pytest.mark.parametrize(
    "secret",
    [
        SharedSecret("top-secret-value"),
        GitLabSecret(token="top-secret-value", signing_token="whsec_dG9wLXNlY3JldC12YWx1ZQ=="),
        GiteeSecret("top-secret-value", GiteeMode.SIGNATURE),
    ],
)
def test_secret_configs_to_repr_without_secret(secret: object) -> None:
    assert "top-secret-value" not in repr(secret)
    assert "dG9wLXNlY3JldC12YWx1ZQ" not in repr(secret)


@pytest.mark.parametrize("make", [lambda: SharedSecret(""), lambda: GiteeSecret(""), lambda: GitLabSecret()])
def test_empty_secret_configs_to_value_error(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    ("provider", "secret", "token_header"),
    [
        ("github", SharedSecret("top-secret-value"), "X-Hub-Signature-256"),
        ("gitlab", GitLabSecret(token="top-secret-value"), "X-Gitlab-Token"),
        ("gitee", GiteeSecret("top-secret-value"), "X-Gitee-Token"),
    ],
)
def test_rejected_token_to_error_without_secret_or_token(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    secret: WebhookSecret,
    token_header: str,
) -> None:
    body = shared_payload("gitee-push.json")
    headers = {**sign(provider, body, secret), token_header: "top-secret-valuX"}
    with pytest.raises(WebhookError) as caught:
        dispatch(provider, headers, body, secret, now)
    assert caught.value.status == 401
    assert "top-secret-valu" not in caught.value.reason
