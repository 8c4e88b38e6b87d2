"""Raw bytes and headers through verification: which deliveries are accepted, and which status the rest get."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import pytest

from kiln.webhooks import (
    BadSignature,
    GiteeMode,
    GiteeSecret,
    GitLabSecret,
    Ignored,
    MalformedPayload,
    MissingHeader,
    MissingSignature,
    PushEvent,
    SharedSecret,
    StaleTimestamp,
    UnsupportedMediaType,
    WebhookError,
    WebhookSecret,
    dispatch,
    sign,
)

SIGNING_KEY = b"0123456789abcdef0123456789abcdef"
SIGNING_TOKEN = "whsec_" + base64.b64encode(SIGNING_KEY).decode()

# provider, shared payload, a secret, a different secret of the same kind, the push event name
PROVIDERS = [
    ("github", "github-push-branch.json", SharedSecret("right"), SharedSecret("wrong"), "push"),
    ("github", "github-push-tag.json", SharedSecret("right"), SharedSecret("wrong"), "push"),
    (
        "gitlab",
        "gitlab-push-hook.json",
        GitLabSecret(token="right"),
        GitLabSecret(token="wrong"),
        "Push Hook",
    ),
    (
        "gitlab",
        "gitlab-tag-push-hook.json",
        GitLabSecret(signing_token=SIGNING_TOKEN),
        GitLabSecret(signing_token="whsec_" + base64.b64encode(b"x" * 32).decode()),
        "Tag Push Hook",
    ),
    ("gitee", "gitee-push.json", GiteeSecret("right"), GiteeSecret("wrong"), "Push Hook"),
    (
        "gitee",
        "gitee-push.json",
        GiteeSecret("right", GiteeMode.SIGNATURE),
        GiteeSecret("wrong", GiteeMode.SIGNATURE),
        "Push Hook",
    ),
    (
        "bitbucket",
        "bitbucket-cloud-repo-push.json",
        SharedSecret("right"),
        SharedSecret("wrong"),
        "repo:push",
    ),
    (
        "bitbucket-server",
        "bitbucket-server-repo-refs-changed.json",
        SharedSecret("right"),
        SharedSecret("wrong"),
        "repo:refs_changed",
    ),
]
IDS = [f"{p[0]}-{p[1]}-{type(p[2]).__name__}" for p in PROVIDERS]
SIGNATURE_HEADERS = {
    "github": ["X-Hub-Signature-256"],
    "gitlab": ["X-Gitlab-Token", "webhook-signature"],
    "gitee": ["X-Gitee-Token"],
    "bitbucket": ["X-Hub-Signature"],
    "bitbucket-server": ["X-Hub-Signature"],
}
EVENT_HEADERS = {
    "github": "X-GitHub-Event",
    "gitlab": "X-Gitlab-Event",
    "gitee": "X-Gitee-Event",
    "bitbucket": "X-Event-Key",
    "bitbucket-server": "X-Event-Key",
}


def expect(error: type[WebhookError], status: int, call: Callable[[], object]) -> WebhookError:
    with pytest.raises(error) as caught:
        call()
    assert caught.value.status == status
    return caught.value


# -- every provider --------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "filename", "secret", "other", "event"), PROVIDERS, ids=IDS)
def test_body_signed_with_other_secret_to_401(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    filename: str,
    secret: WebhookSecret,
    other: WebhookSecret,
    event: str,
) -> None:
    body = shared_payload(filename)
    headers = sign(provider, body, other, event=event, now=now)
    expect(BadSignature, 401, lambda: dispatch(provider, headers, body, secret, now))


@pytest.mark.parametrize(("provider", "filename", "secret", "other", "event"), PROVIDERS, ids=IDS)
def test_headers_without_signature_to_401(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    filename: str,
    secret: WebhookSecret,
    other: WebhookSecret,
    event: str,
) -> None:
    body = shared_payload(filename)
    signed = sign(provider, body, secret, event=event, now=now)
    dispatch(provider, signed, body, secret, now)  # the intact delivery is accepted
    present = [h for h in SIGNATURE_HEADERS[provider] if h in signed]
    assert present
    for header in present:
        headers = {k: v for k, v in signed.items() if k != header}
        expect(MissingSignature, 401, partial(dispatch, provider, headers, body, secret, now))


@pytest.mark.parametrize(("provider", "filename", "secret", "other", "event"), PROVIDERS, ids=IDS)
def test_headers_without_event_name_to_400(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    filename: str,
    secret: WebhookSecret,
    other: WebhookSecret,
    event: str,
) -> None:
    body = shared_payload(filename)
    headers = sign(provider, body, secret, event=event, now=now)
    del headers[EVENT_HEADERS[provider]]
    error = expect(MissingHeader, 400, lambda: dispatch(provider, headers, body, secret, now))
    assert EVENT_HEADERS[provider] in error.reason


@pytest.mark.parametrize(("provider", "filename", "secret", "other", "event"), PROVIDERS, ids=IDS)
def test_truncated_body_signed_as_sent_to_400(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    filename: str,
    secret: WebhookSecret,
    other: WebhookSecret,
    event: str,
) -> None:
    body = shared_payload(filename)
    for cut in (0, 1, len(body) // 2, len(body) - 2):
        truncated = body[:cut]
        headers = sign(provider, truncated, secret, event=event, now=now)
        expect(MalformedPayload, 400, partial(dispatch, provider, headers, truncated, secret, now))


@pytest.mark.parametrize(
    ("provider", "filename", "secret", "other", "event"),
    [p for p in PROVIDERS if not isinstance(p[2], GiteeSecret)],  # Gitee's token does not cover the body
    ids=[i for i, p in zip(IDS, PROVIDERS, strict=True) if not isinstance(p[2], GiteeSecret)],
)
def test_truncated_body_with_signature_of_whole_body_to_401(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    filename: str,
    secret: WebhookSecret,
    other: WebhookSecret,
    event: str,
) -> None:
    body = shared_payload(filename)
    headers = sign(provider, body, secret, event=event, now=now)
    if isinstance(secret, GitLabSecret) and secret.token:
        # The plain token does not cover the body either; only the signing token does.
        secret = GitLabSecret(token=secret.token, signing_token=SIGNING_TOKEN)
        headers = sign(provider, body, secret, event=event, now=now)
    expect(BadSignature, 401, lambda: dispatch(provider, headers, body[: len(body) // 2], secret, now))


@pytest.mark.parametrize(("provider", "filename", "secret", "other", "event"), PROVIDERS, ids=IDS)
def test_header_names_in_any_case_to_event(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    filename: str,
    secret: WebhookSecret,
    other: WebhookSecret,
    event: str,
) -> None:
    body = shared_payload(filename)
    signed = sign(provider, body, secret, event=event, now=now)
    for rename in (str.lower, str.upper):
        headers = {rename(k): v for k, v in signed.items()}
        assert isinstance(dispatch(provider, headers, body, secret, now).outcomes[0], PushEvent)


# -- hex HMAC of the body (GitHub, Bitbucket Cloud, Bitbucket Server) -------------------------------


def test_github_documented_signature_to_accepted(now: datetime) -> None:
    # The example from GitHub's "Validating webhook deliveries" documentation.
    headers = {
        "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "X-GitHub-Event": "issues",
    }
    secret = SharedSecret("It's a Secret to Everybody")
    delivery = dispatch("github", headers, b"Hello, World!", secret, now)
    assert isinstance(delivery.outcomes[0], Ignored)
    expect(BadSignature, 401, lambda: dispatch("github", headers, b"Hello, World?", secret, now))


@pytest.mark.parametrize("provider", ["github", "bitbucket", "bitbucket-server"])
def test_hex_signature_independently_computed_to_accepted(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str
) -> None:
    filename, header, event_header, event = {
        "github": ("github-push-branch.json", "X-Hub-Signature-256", "X-GitHub-Event", "push"),
        "bitbucket": ("bitbucket-cloud-repo-push.json", "X-Hub-Signature", "X-Event-Key", "repo:push"),
        "bitbucket-server": (
            "bitbucket-server-repo-refs-changed.json",
            "X-Hub-Signature",
            "X-Event-Key",
            "repo:refs_changed",
        ),
    }[provider]
    body = shared_payload(filename)
    digest = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    secret = SharedSecret("s3cret")
    headers = {header: f"sha256={digest}", event_header: event}
    assert isinstance(dispatch(provider, headers, body, secret, now).outcomes[0], PushEvent)
    headers[header] = f"sha256={digest.upper()}"  # hex digits are case-insensitive
    assert isinstance(dispatch(provider, headers, body, secret, now).outcomes[0], PushEvent)
    headers[header] = f"sha1={digest}"
    expect(BadSignature, 401, lambda: dispatch(provider, headers, body, secret, now))
    headers[header] = digest  # no algorithm prefix
    expect(BadSignature, 401, lambda: dispatch(provider, headers, body, secret, now))


def test_bitbucket_with_github_header_name_to_401(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("bitbucket-cloud-repo-push.json")
    secret = SharedSecret("s3cret")
    headers = sign("bitbucket", body, secret)
    headers["X-Hub-Signature-256"] = headers.pop("X-Hub-Signature")
    expect(MissingSignature, 401, lambda: dispatch("bitbucket", headers, body, secret, now))


# -- GitHub content types ----------------------------------------------------------------------------


def test_github_form_encoded_body_to_same_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    secret = SharedSecret("s3cret")
    json_body = shared_payload("github-push-branch.json")
    form_body = b"payload=" + urllib.parse.quote_plus(json_body).encode()
    form_headers = sign(
        "github", form_body, secret, delivery_id="d", content_type="application/x-www-form-urlencoded"
    )
    json_headers = sign("github", json_body, secret, delivery_id="d")
    from_form = dispatch("github", form_headers, form_body, secret, now)
    assert from_form == dispatch("github", json_headers, json_body, secret, now)
    assert isinstance(from_form.outcomes[0], PushEvent)


def test_github_form_signed_over_json_to_401(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    secret = SharedSecret("s3cret")
    json_body = shared_payload("github-push-branch.json")
    form_body = b"payload=" + urllib.parse.quote_plus(json_body).encode()
    headers = sign("github", json_body, secret, content_type="application/x-www-form-urlencoded")
    expect(BadSignature, 401, lambda: dispatch("github", headers, form_body, secret, now))


@pytest.mark.parametrize(
    "form_body",
    [b"", b"other=1", b"payload=1&payload=2", b"payload=%ZZ", b"payload=%FF", "payload=\u00e9".encode()],
)
def test_github_form_without_one_json_payload_to_400(now: datetime, form_body: bytes) -> None:
    secret = SharedSecret("s3cret")
    headers = sign("github", form_body, secret, content_type="application/x-www-form-urlencoded")
    expect(MalformedPayload, 400, lambda: dispatch("github", headers, form_body, secret, now))


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_github_unsupported_content_type_to_415(
    shared_payload: Callable[[str], bytes], now: datetime, content_type: str
) -> None:
    secret = SharedSecret("s3cret")
    body = shared_payload("github-push-branch.json")
    headers = sign("github", body, secret, content_type=content_type)
    expect(UnsupportedMediaType, 415, lambda: dispatch("github", headers, body, secret, now))


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", None])
def test_github_json_content_type_variants_to_event(
    shared_payload: Callable[[str], bytes], now: datetime, content_type: str | None
) -> None:
    secret = SharedSecret("s3cret")
    body = shared_payload("github-push-branch.json")
    headers = sign("github", body, secret)
    del headers["Content-Type"]
    if content_type is not None:
        headers["content-type"] = content_type
    assert isinstance(dispatch("github", headers, body, secret, now).outcomes[0], PushEvent)


def test_bitbucket_non_json_content_type_to_415(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    secret = SharedSecret("s3cret")
    body = shared_payload("bitbucket-cloud-repo-push.json")
    headers = sign("bitbucket", body, secret, content_type="application/x-www-form-urlencoded")
    expect(UnsupportedMediaType, 415, lambda: dispatch("bitbucket", headers, body, secret, now))


# -- GitLab token and signing token -------------------------------------------------------------------


def gitlab_signed(body: bytes, timestamp: datetime, webhook_id: str = "msg-1") -> dict[str, str]:
    """Headers as GitLab sends them with a signing token, computed independently of kiln."""
    seconds = str(int(timestamp.timestamp()))
    digest = hmac.new(SIGNING_KEY, f"{webhook_id}.{seconds}.".encode() + body, hashlib.sha256).digest()
    return {
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": "tok",
        "webhook-id": webhook_id,
        "webhook-timestamp": seconds,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


GITLAB_BOTH = GitLabSecret(token="tok", signing_token=SIGNING_TOKEN)


def test_gitlab_standard_webhooks_example_to_accepted() -> None:
    # The example from the Standard Webhooks specification, whose format GitLab's signing token follows.
    secret = GitLabSecret(signing_token="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = {
        "X-Gitlab-Event": "Note Hook",
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    at = datetime.fromtimestamp(1614265330).astimezone()
    delivery = dispatch("gitlab", headers, b'{"test": 2432232314}', secret, at)
    assert isinstance(delivery.outcomes[0], Ignored)


def test_gitlab_signed_headers_to_event(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now - timedelta(minutes=4))
    assert isinstance(dispatch("gitlab", headers, body, GITLAB_BOTH, now).outcomes[0], PushEvent)
    signing_only = GitLabSecret(signing_token=SIGNING_TOKEN)
    assert isinstance(dispatch("gitlab", headers, body, signing_only, now).outcomes[0], PushEvent)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=-400)])
def test_gitlab_signed_headers_stale_timestamp_to_401(
    shared_payload: Callable[[str], bytes], now: datetime, offset: timedelta
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now + offset)
    expect(StaleTimestamp, 401, lambda: dispatch("gitlab", headers, body, GITLAB_BOTH, now))


def test_gitlab_signature_of_other_id_to_401(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now)
    headers["webhook-id"] = "msg-2"
    expect(BadSignature, 401, lambda: dispatch("gitlab", headers, body, GITLAB_BOTH, now))


def test_gitlab_signature_of_other_timestamp_to_401(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now)
    headers["webhook-timestamp"] = str(int(now.timestamp()) + 1)
    expect(BadSignature, 401, lambda: dispatch("gitlab", headers, body, GITLAB_BOTH, now))


def test_gitlab_several_signatures_one_matching_to_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now)
    good = headers["webhook-signature"]
    wrong = "v1," + base64.b64encode(b"\0" * 32).decode()
    for value in (f"{wrong} {good}", f"{good} {wrong}", f"v1a,xyz v2,{good[3:]} {good}", f"v1,!!! {good}"):
        headers["webhook-signature"] = value
        assert isinstance(dispatch("gitlab", headers, body, GITLAB_BOTH, now).outcomes[0], PushEvent)
    for value in (wrong, f"v2,{good[3:]}", good[3:], "v1,!!!", f"{wrong} {wrong}"):
        headers["webhook-signature"] = value
        expect(BadSignature, 401, lambda: dispatch("gitlab", headers, body, GITLAB_BOTH, now))


@pytest.mark.parametrize(
    "timestamp", ["soon", "-1", "+1714564800", "1714564800.5", "\uff11\uff17\uff11\uff14"]
)
def test_gitlab_non_integer_timestamp_to_401(
    shared_payload: Callable[[str], bytes], now: datetime, timestamp: str
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now)
    headers["webhook-timestamp"] = timestamp
    expect(BadSignature, 401, lambda: dispatch("gitlab", headers, body, GITLAB_BOTH, now))


@pytest.mark.parametrize("dropped", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_gitlab_signing_configured_but_headers_missing_to_401(
    shared_payload: Callable[[str], bytes], now: datetime, dropped: str
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now)
    del headers[dropped]
    error = expect(MissingSignature, 401, lambda: dispatch("gitlab", headers, body, GITLAB_BOTH, now))
    assert dropped in error.reason


def test_gitlab_signed_headers_without_configured_key_to_token_only(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    # Without a signing key there is nothing to check the signature with: the token decides.
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now - timedelta(days=1))
    token_only = GitLabSecret(token="tok")
    assert isinstance(dispatch("gitlab", headers, body, token_only, now).outcomes[0], PushEvent)
    headers["X-Gitlab-Token"] = "tok2"
    expect(BadSignature, 401, lambda: dispatch("gitlab", headers, body, token_only, now))


def test_gitlab_token_wrong_but_signature_right_to_401(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    headers = gitlab_signed(body, now)
    headers["X-Gitlab-Token"] = "TOK"
    expect(BadSignature, 401, lambda: dispatch("gitlab", headers, body, GITLAB_BOTH, now))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Idempotency-Key": "idem", "X-Gitlab-Event-UUID": "uuid"}, "idem"),
        ({"X-Gitlab-Event-UUID": "uuid"}, "uuid"),
        ({}, None),
    ],
)
def test_gitlab_delivery_headers_to_delivery_id(
    shared_payload: Callable[[str], bytes], now: datetime, headers: dict[str, str], expected: str | None
) -> None:
    body = shared_payload("gitlab-push-hook.json")
    sent = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "tok", **headers}
    delivery = dispatch("gitlab", sent, body, GitLabSecret(token="tok"), now)
    assert delivery.delivery_id == expected
    assert delivery.events[0].delivery_id == expected


@pytest.mark.parametrize("token", ["whsec_not base64!", "whsec_", "", None])
def test_gitlab_secret_config_invalid_to_value_error(token: str | None) -> None:
    with pytest.raises(ValueError):
        GitLabSecret(token=None, signing_token=token)


# -- Gitee password and signature modes ----------------------------------------------------------------


def gitee_sign(secret: str, timestamp_ms: int) -> str:
    """The signature as Gitee documents it, computed independently of kiln."""
    message = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def gitee_headers(token: str, timestamp_ms: int) -> dict[str, str]:
    return {"X-Gitee-Event": "Push Hook", "X-Gitee-Token": token, "X-Gitee-Timestamp": str(timestamp_ms)}


GITEE_SIGNING = GiteeSecret("SECd8f7e1", GiteeMode.SIGNATURE)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_gitee_payload_with_its_own_timestamp_to_event(shared_payload: Callable[[str], bytes]) -> None:
    body = shared_payload("gitee-push.json")
    timestamp = json.loads(body)["timestamp"]  # 1633686799688, when the sample was sent
    at = datetime.fromtimestamp(int(timestamp) / 1000).astimezone()
    headers = gitee_headers(gitee_sign(GITEE_SIGNING.value, int(timestamp)), int(timestamp))
    assert isinstance(dispatch("gitee", headers, body, GITEE_SIGNING, at).outcomes[0], PushEvent)


@pytest.mark.parametrize(
    "encode", [lambda s: s, lambda s: urllib.parse.quote(s, safe=""), urllib.parse.quote_plus]
)
def test_gitee_signature_plain_or_url_encoded_to_event(
    shared_payload: Callable[[str], bytes], now: datetime, encode: Callable[[str], str]
) -> None:
    body = shared_payload("gitee-push.json")
    # Pick a timestamp whose signature has characters URL encoding changes, so both forms differ.
    stamp = next(
        t for t in range(ms(now), ms(now) + 1000) if set("+/=") & set(gitee_sign(GITEE_SIGNING.value, t))
    )
    headers = gitee_headers(encode(gitee_sign(GITEE_SIGNING.value, stamp)), stamp)
    assert isinstance(dispatch("gitee", headers, body, GITEE_SIGNING, now).outcomes[0], PushEvent)


@pytest.mark.parametrize("offset", [timedelta(minutes=61), timedelta(minutes=-61), timedelta(days=3)])
def test_gitee_signature_stale_timestamp_to_401(
    shared_payload: Callable[[str], bytes], now: datetime, offset: timedelta
) -> None:
    body = shared_payload("gitee-push.json")
    stamp = ms(now + offset)
    headers = gitee_headers(gitee_sign(GITEE_SIGNING.value, stamp), stamp)
    expect(StaleTimestamp, 401, lambda: dispatch("gitee", headers, body, GITEE_SIGNING, now))


def test_gitee_signature_within_an_hour_to_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")
    stamp = ms(now - timedelta(minutes=59))
    headers = gitee_headers(gitee_sign(GITEE_SIGNING.value, stamp), stamp)
    assert isinstance(dispatch("gitee", headers, body, GITEE_SIGNING, now).outcomes[0], PushEvent)


def test_gitee_signature_of_other_timestamp_to_401(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")
    headers = gitee_headers(gitee_sign(GITEE_SIGNING.value, ms(now)), ms(now) + 1)
    expect(BadSignature, 401, lambda: dispatch("gitee", headers, body, GITEE_SIGNING, now))


def test_gitee_signature_mode_given_plain_secret_to_401(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")
    headers = gitee_headers(GITEE_SIGNING.value, ms(now))
    expect(BadSignature, 401, lambda: dispatch("gitee", headers, body, GITEE_SIGNING, now))


def test_gitee_signature_mode_without_timestamp_to_401(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")
    headers = gitee_headers(gitee_sign(GITEE_SIGNING.value, ms(now)), ms(now))
    del headers["X-Gitee-Timestamp"]
    expect(MissingSignature, 401, lambda: dispatch("gitee", headers, body, GITEE_SIGNING, now))
    headers["X-Gitee-Timestamp"] = "yesterday"
    expect(BadSignature, 401, lambda: dispatch("gitee", headers, body, GITEE_SIGNING, now))


@pytest.mark.parametrize("password", ["hunter2", "p@ss w+rd/=%41", "密码"])
def test_gitee_password_plain_or_url_encoded_to_event(
    shared_payload: Callable[[str], bytes], now: datetime, password: str
) -> None:
    body = shared_payload("gitee-push.json")
    secret = GiteeSecret(password)
    for token in (password, urllib.parse.quote(password, safe="")):
        headers = gitee_headers(token, 0)  # password mode: no signed timestamp to check
        assert isinstance(dispatch("gitee", headers, body, secret, now).outcomes[0], PushEvent)
    expect(BadSignature, 401, lambda: dispatch("gitee", gitee_headers(password + "x", 0), body, secret, now))


def test_gitee_password_mode_given_signature_to_401(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")
    secret = GiteeSecret("hunter2")
    headers = gitee_headers(gitee_sign("hunter2", ms(now)), ms(now))
    expect(BadSignature, 401, lambda: dispatch("gitee", headers, body, secret, now))
