"""Each shared provider payload, signed correctly, through its parser to the normalized outcome.

Expected values are read off the payload files in /work/shared/webhooks.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime

import pytest

from kiln.webhooks import (
    GiteeMode,
    GiteeSecret,
    GitLabSecret,
    ParsedDelivery,
    Ping,
    Provider,
    PushEvent,
    SharedSecret,
    WebhookSecret,
    dispatch,
    sign,
)

HMAC_SECRET = SharedSecret("It's a Secret to Everybody")
GITLAB_SECRET = GitLabSecret(
    token="gitlab-token", signing_token="whsec_" + base64.b64encode(b"k" * 32).decode()
)
GITEE_SECRET = GiteeSecret("gitee-signing-key", GiteeMode.SIGNATURE)
NOW_ISO = "2024-05-01T12:00:00+00:00"


def deliver(
    provider: str,
    body: bytes,
    secret: WebhookSecret,
    now: datetime,
    event: str | None = None,
) -> ParsedDelivery:
    headers = sign(provider, body, secret, event=event, delivery_id="delivery-1", now=now)
    return dispatch(provider, headers, body, secret, now)


def only_event(delivery: ParsedDelivery) -> PushEvent:
    assert len(delivery.outcomes) == 1
    event = delivery.outcomes[0]
    assert isinstance(event, PushEvent), event
    return event


CASES = [
    pytest.param(
        "github",
        "github-push-branch.json",
        HMAC_SECRET,
        "push",
        {
            "provider": "github",
            "delivery_id": "delivery-1",
            "clone_url": "https://github.com/baxterthehacker/public-repo.git",
            "repository": "baxterthehacker/public-repo",
            "ref": "refs/heads/changes",
            "ref_type": "branch",
            "commit": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
            "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
            "pushed_at": "2015-05-05T23:40:17+00:00",  # repository.pushed_at 1430869217
            "message": "Update README.md",
            "author": {"name": "baxterthehacker", "email": "baxterthehacker@users.noreply.github.com"},
            "changed_files": ["README.md"],
            "created": False,
            "deleted": False,
            "sender": "baxterthehacker",
        },
        id="github-branch",
    ),
    pytest.param(
        "github",
        "github-push-tag.json",
        HMAC_SECRET,
        "push",
        {
            "provider": "github",
            "delivery_id": "delivery-1",
            "clone_url": "https://octocoders.github.io/Codertocat/Hello-World.git",
            "repository": "Codertocat/Hello-World",
            "ref": "refs/tags/simple-tag",
            "ref_type": "tag",
            "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "before": None,  # created: all-zero before
            "pushed_at": "2019-05-15T19:38:23+00:00",  # repository.pushed_at 1557949103
            "message": "Adding a .gitignore file",
            "author": {"name": "Codertocat", "email": "Codertocat@Octocoders.io"},
            "changed_files": None,  # a new tag: what it brings is unknown (not the head commit's diff)
            "created": True,
            "deleted": False,
            "sender": "Codertocat",
        },
        id="github-tag",
    ),
    pytest.param(
        "gitlab",
        "gitlab-push-hook.json",
        GITLAB_SECRET,
        "Push Hook",
        {
            "provider": "gitlab",
            "delivery_id": "delivery-1",
            "clone_url": "http://example.com/mike/diaspora.git",
            "repository": "mike/diaspora",
            "ref": "refs/heads/master",
            "ref_type": "branch",
            "commit": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
            "pushed_at": "2012-01-03T23:36:29+02:00",  # the head commit's timestamp
            "message": "fixed readme",
            "author": {"name": "GitLab dev user", "email": "gitlabdev@dv6700.(none)"},
            "changed_files": None,  # total_commits_count 4, only 2 listed
            "created": False,
            "deleted": False,
            "sender": "jsmith",
        },
        id="gitlab-branch",
    ),
    pytest.param(
        "gitlab",
        "gitlab-tag-push-hook.json",
        GITLAB_SECRET,
        "Tag Push Hook",
        {
            "provider": "gitlab",
            "delivery_id": "delivery-1",
            "clone_url": "http://example.com/jsmith/example.git",
            "repository": "jsmith/example",
            "ref": "refs/tags/v1.0.0",
            "ref_type": "tag",
            "commit": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
            "before": None,
            "pushed_at": NOW_ISO,  # no commits, no push time in the payload
            "message": None,
            "author": None,
            "changed_files": None,
            "created": True,
            "deleted": False,
            "sender": "John Smith",
        },
        id="gitlab-tag",
    ),
    pytest.param(
        "gitee",
        "gitee-push.json",
        GITEE_SECRET,
        "Push Hook",
        {
            "provider": "gitee",
            "delivery_id": None,  # Gitee sends no delivery id
            "clone_url": "https://gitee.com/kit101/drone-yml-test.git",
            "repository": "kit101/drone-yml-test",
            "ref": "refs/heads/feat-2-1",
            "ref_type": "branch",
            "commit": "9921e45e570db8e57e544650baf837932fb2100f",
            "before": "6168d9dae737b47f00c59fafca10c913a6850c3a",
            "pushed_at": "2021-10-08T17:53:18+08:00",  # repository.pushed_at
            "message": "feat-2-1\n",
            "author": {"name": "kit101", "email": "qkssk1711@163.com"},
            "changed_files": ["modify.txt"],
            "created": False,
            "deleted": False,
            "sender": "kit101",
        },
        id="gitee-branch",
    ),
    pytest.param(
        "bitbucket",
        "bitbucket-cloud-repo-push.json",
        HMAC_SECRET,
        "repo:push",
        {
            "provider": "bitbucket",
            "delivery_id": "delivery-1",
            "clone_url": "https://bitbucket.org/brydzewski/foo.git",
            "repository": "brydzewski/foo",
            "ref": "refs/heads/master",
            "ref_type": "branch",
            "commit": "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
            "before": "40e7580cf11311d84a6e5e97e2cbba6df1675750",
            "pushed_at": "2018-07-02T20:26:56+00:00",  # new.target.date
            "message": "Update README\n",
            "author": {"name": "Brad Rydzewski", "email": "brad.rydzewski@gmail.com"},
            "changed_files": None,
            "created": False,
            "deleted": False,
            "sender": "brydzewski",
        },
        id="bitbucket-cloud-branch",
    ),
    pytest.param(
        "bitbucket-server",
        "bitbucket-server-repo-refs-changed.json",
        HMAC_SECRET,
        "repo:refs_changed",
        {
            "provider": "bitbucket-server",
            "delivery_id": "delivery-1",
            "clone_url": "http://localhost:7990/bitbucket/scm/PROJ/repository.git",
            "repository": "PROJ/repository",
            "ref": "refs/heads/master",
            "ref_type": "branch",
            "commit": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
            "before": "ecddabb624f6f5ba43816f5926e580a5f680a932",
            "pushed_at": "2017-09-19T09:45:32+10:00",  # the payload's date
            "message": None,  # 7.x payloads list no commits
            "author": None,
            "changed_files": None,
            "created": False,
            "deleted": False,
            "sender": "admin",
        },
        id="bitbucket-server-branch",
    ),
]


@pytest.mark.parametrize(("provider", "filename", "secret", "event", "expected"), CASES)
def test_shared_payload_to_push_event(
    shared_payload: Callable[[str], bytes],
    now: datetime,
    provider: str,
    filename: str,
    secret: WebhookSecret,
    event: str,
    expected: dict[str, object],
) -> None:
    delivery = deliver(provider, shared_payload(filename), secret, now, event)
    pushed = only_event(delivery)
    assert pushed.to_json() == expected
    assert delivery.provider == Provider(provider)
    assert pushed.pushed_at.tzinfo is not None


def test_github_ping_to_ping(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    delivery = deliver("github", shared_payload("github-ping.json"), HMAC_SECRET, now, "ping")
    assert delivery.outcomes == (
        Ping(
            Provider.GITHUB,
            "delivery-1",
            hook_id="109948940",
            zen="Anything added dilutes everything else.",
            repository="Octocoders/Hello-World",
        ),
    )


def test_push_event_to_rules_push(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    pushed = only_event(deliver("github", shared_payload("github-push-branch.json"), HMAC_SECRET, now))
    push = pushed.to_push()
    assert (push.ref, push.commit, push.pushed_at) == (pushed.ref, pushed.commit, pushed.pushed_at)
    assert pushed.short_ref == "changes"


def test_gitee_body_password_and_sign_never_reach_the_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    body = shared_payload("gitee-push.json")
    assert b'"sign": "OyjGt7PDU9xXl5khawx5APOUmODD+SaulKYnS/Nifew="' in body  # the body carries them
    pushed = only_event(deliver("gitee", body, GITEE_SECRET, now))
    shown = repr(pushed) + repr(pushed.to_json())
    assert "OyjGt7PDU9xXl5khawx5APOUmODD" not in shown
    assert "password" not in shown
    assert "sign" not in pushed.to_json()
