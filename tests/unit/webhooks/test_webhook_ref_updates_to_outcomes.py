"""Ref updates (deletions, [skip ci], other events, several changes per delivery) to outcomes.

Variants are derived from the shared payloads and re-serialized, so they are signed afresh.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from kiln.rules import RefType
from kiln.webhooks import (
    GiteeSecret,
    GitLabSecret,
    Ignored,
    MalformedPayload,
    ParsedDelivery,
    Ping,
    Provider,
    PushEvent,
    SharedSecret,
    WebhookSecret,
    dispatch,
    sign,
)

ZERO = "0" * 40
SECRETS: dict[str, WebhookSecret] = {
    "github": SharedSecret("s"),
    "gitlab": GitLabSecret(token="s"),
    "gitee": GiteeSecret("s"),
    "bitbucket": SharedSecret("s"),
    "bitbucket-server": SharedSecret("s"),
}
FILES = {
    "github": "github-push-branch.json",
    "gitlab": "gitlab-push-hook.json",
    "gitee": "gitee-push.json",
    "bitbucket": "bitbucket-cloud-repo-push.json",
    "bitbucket-server": "bitbucket-server-repo-refs-changed.json",
}

Mutation = Callable[[dict[str, Any]], None]


def deliver(provider: str, body: bytes, now: datetime, event: str | None = None) -> ParsedDelivery:
    secret = SECRETS[provider]
    headers = sign(provider, body, secret, event=event, delivery_id="d-1", now=now)
    return dispatch(provider, headers, body, secret, now)


def variant(body: bytes, mutate: Mutation) -> bytes:
    document = json.loads(body)
    mutate(document)
    return json.dumps(document).encode()


def deliver_variant(
    shared_payload: Callable[[str], bytes], provider: str, mutate: Mutation, now: datetime
) -> ParsedDelivery:
    return deliver(provider, variant(shared_payload(FILES[provider]), mutate), now)


# -- deletions ----------------------------------------------------------------------------------------


def github_delete(d: dict[str, Any]) -> None:
    d.update(deleted=True, after=ZERO, head_commit=None, commits=[])


def gitlab_delete(d: dict[str, Any]) -> None:
    d.update(after=ZERO, checkout_sha=None, commits=[], total_commits_count=0)


def gitee_delete(d: dict[str, Any]) -> None:
    d.update(deleted=True, after=ZERO, head_commit=None, commits=[])


def bitbucket_delete(d: dict[str, Any]) -> None:
    d["push"]["changes"][0].update(new=None, closed=True)


def bitbucket_server_delete(d: dict[str, Any]) -> None:
    d["changes"][0].update(type="DELETE", toHash=ZERO)


@pytest.mark.parametrize(
    ("provider", "mutate", "ref"),
    [
        ("github", github_delete, "refs/heads/changes"),
        ("gitlab", gitlab_delete, "refs/heads/master"),
        ("gitee", gitee_delete, "refs/heads/feat-2-1"),
        ("bitbucket", bitbucket_delete, "refs/heads/master"),
        ("bitbucket-server", bitbucket_server_delete, "refs/heads/master"),
    ],
)
def test_deleted_ref_to_ignored(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str, mutate: Mutation, ref: str
) -> None:
    delivery = deliver_variant(shared_payload, provider, mutate, now)
    assert delivery.outcomes == (
        Ignored(Provider(provider), "d-1" if provider != "gitee" else None, "ref deleted", ref),
    )


# -- [skip ci] ----------------------------------------------------------------------------------------


def set_head_message(provider: str, message: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        if provider in ("github", "gitee"):
            d["head_commit"]["message"] = message
        elif provider == "gitlab":
            d["commits"][-1]["message"] = message  # the commit matching `after`
        elif provider == "bitbucket":
            d["push"]["changes"][0]["new"]["target"]["message"] = message
        else:
            d["toCommit"] = {"id": d["changes"][0]["toHash"], "message": message}

    return mutate


@pytest.mark.parametrize("provider", list(FILES))
@pytest.mark.parametrize(
    ("message", "marker"),
    [
        ("Fix typo [skip ci]", "[skip ci]"),
        ("[ci skip] docs only\n\nbody", "[ci skip]"),
        ("Release\n\n[SKIP CI]", "[skip ci]"),
    ],
)
def test_skip_ci_head_commit_to_ignored(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str, message: str, marker: str
) -> None:
    delivery = deliver_variant(shared_payload, provider, set_head_message(provider, message), now)
    assert len(delivery.outcomes) == 1
    ignored = delivery.outcomes[0]
    assert isinstance(ignored, Ignored)
    assert marker in ignored.reason
    assert ignored.ref is not None


@pytest.mark.parametrize("provider", list(FILES))
@pytest.mark.parametrize("message", ["skip ci", "[skip-ci]", "[skip  ci]", "(ci skip)"])
def test_near_skip_ci_messages_to_event(
    shared_payload: Callable[[str], bytes], now: datetime, provider: str, message: str
) -> None:
    delivery = deliver_variant(shared_payload, provider, set_head_message(provider, message), now)
    event = delivery.outcomes[0]
    assert isinstance(event, PushEvent)
    assert event.message == message


def test_gitlab_skip_ci_in_older_commit_to_event(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["commits"][0]["message"] = "wip [skip ci]"

    assert isinstance(deliver_variant(shared_payload, "gitlab", mutate, now).outcomes[0], PushEvent)


# -- other events and refs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "event"),
    [
        ("github", "issues"),
        ("gitlab", "Merge Request Hook"),
        ("gitlab", "System Hook"),
        ("gitee", "Issue Hook"),
        ("bitbucket", "pullrequest:created"),
        ("bitbucket-server", "pr:opened"),
    ],
)
def test_other_event_to_ignored_without_reading_body(now: datetime, provider: str, event: str) -> None:
    delivery = deliver(provider, b"not json at all", now, event)
    assert len(delivery.outcomes) == 1
    ignored = delivery.outcomes[0]
    assert isinstance(ignored, Ignored)
    assert event in ignored.reason
    assert "not handled" in ignored.reason


def test_bitbucket_server_diagnostics_ping_to_ping(now: datetime) -> None:
    delivery = deliver("bitbucket-server", b'{"test": true}', now, "diagnostics:ping")
    assert delivery.outcomes == (Ping(Provider.BITBUCKET_SERVER, "d-1"),)
    assert delivery.ping == Ping(Provider.BITBUCKET_SERVER, "d-1")


@pytest.mark.parametrize("ref", ["refs/notes/commits", "refs/heads/", "refs/pull/1/head", "main"])
def test_github_non_branch_ref_to_ignored(
    shared_payload: Callable[[str], bytes], now: datetime, ref: str
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["ref"] = ref

    ignored = deliver_variant(shared_payload, "github", mutate, now).outcomes[0]
    assert isinstance(ignored, Ignored)
    assert ignored.reason == "ref is neither a branch nor a tag"


def test_github_many_commits_to_files_unknown(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["commits"] = d["commits"] * 2048  # GitHub's cap: the list may be incomplete

    event = deliver_variant(shared_payload, "github", mutate, now).outcomes[0]
    assert isinstance(event, PushEvent)
    assert event.changed_files is None


def test_gitlab_all_commits_listed_to_sorted_file_union(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["total_commits_count"] = 2
        d["commits"][1].update(added=["z.txt"], removed=["CHANGELOG", "a/b.txt"])

    event = deliver_variant(shared_payload, "gitlab", mutate, now).outcomes[0]
    assert isinstance(event, PushEvent)
    assert event.changed_files == ("CHANGELOG", "a/b.txt", "app/controller/application.rb", "z.txt")


def test_gitee_more_than_ten_commits_to_files_unknown(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["commits_more_than_ten"] = True

    event = deliver_variant(shared_payload, "gitee", mutate, now).outcomes[0]
    assert isinstance(event, PushEvent)
    assert event.changed_files is None


def test_github_timestamp_without_offset_to_utc(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["repository"]["pushed_at"] = None
        d["head_commit"]["timestamp"] = "2020-02-02T10:00:00"

    event = deliver_variant(shared_payload, "github", mutate, now).outcomes[0]
    assert isinstance(event, PushEvent)
    assert event.pushed_at.isoformat() == "2020-02-02T10:00:00+00:00"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(after="0d1a26e6"),  # not a full commit id
        lambda d: d.update(after="zz" * 20),
        lambda d: d.pop("ref"),
        lambda d: d.update(repository=None),
        lambda d: d.update(commits="many"),
        lambda d: d["repository"].update(pushed_at="yesterday"),
    ],
)
def test_github_payload_with_wrong_fields_to_400(
    shared_payload: Callable[[str], bytes], now: datetime, mutate: Mutation
) -> None:
    with pytest.raises(MalformedPayload) as caught:
        deliver_variant(shared_payload, "github", mutate, now)
    assert caught.value.status == 400
    assert caught.value.reason.startswith("invalid payload: ")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["commits"][0].update(modified=[7]), "commits.0.modified.0"),
        (lambda d: d["head_commit"].update(timestamp="yesterday"), "head_commit.timestamp"),
        (lambda d: d["head_commit"].update(id="0d1a26e6"), "head_commit.id"),
    ],
)
def test_github_fields_kiln_reads_of_commits_to_400_naming_them(
    shared_payload: Callable[[str], bytes], now: datetime, mutate: Mutation, field: str
) -> None:
    with pytest.raises(MalformedPayload) as caught:
        deliver_variant(shared_payload, "github", mutate, now)
    assert caught.value.reason.startswith(f"invalid payload: {field}: ")


def test_github_listed_commits_are_read_for_their_paths_only(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    # the head commit's id, message, time and author come from head_commit; the list gives paths
    def mutate(d: dict[str, Any]) -> None:
        d["commits"][0].update(id="not-a-sha", timestamp="yesterday", author="someone")

    event = deliver_variant(shared_payload, "github", mutate, now).outcomes[0]
    assert isinstance(event, PushEvent)
    assert event.changed_files == ("README.md",)


def test_gitee_malformed_body_error_hides_password(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d.update(password="hunter2-secret", sign="c2lnbi1zZWNyZXQ=", after=12345)

    with pytest.raises(MalformedPayload) as caught:
        deliver_variant(shared_payload, "gitee", mutate, now)
    shown = str(caught.value) + repr(caught.value)
    assert "after" in shown
    assert "hunter2-secret" not in shown
    assert "c2lnbi1zZWNyZXQ=" not in shown
    assert "12345" not in shown


# -- Bitbucket Cloud: several changes per delivery ---------------------------------------------------------


def test_bitbucket_cloud_several_changes_to_one_outcome_each(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        update = d["push"]["changes"][0]
        tag = copy.deepcopy(update)
        tag.update(old=None, created=True)
        tag["new"].update(type="tag", name="v1.2.0")
        deleted = copy.deepcopy(update)
        deleted.update(new=None, closed=True)
        deleted["old"]["name"] = "old-feature"
        bookmark = copy.deepcopy(update)
        bookmark["new"]["type"] = "bookmark"
        d["push"]["changes"] = [update, tag, deleted, bookmark]

    delivery = deliver_variant(shared_payload, "bitbucket", mutate, now)
    assert delivery.delivery_id == "d-1"
    update, tag = delivery.events
    assert (update.ref, update.ref_type, update.created) == ("refs/heads/master", RefType.BRANCH, False)
    assert (tag.ref, tag.ref_type, tag.created, tag.before) == ("refs/tags/v1.2.0", RefType.TAG, True, None)
    assert tag.commit == update.commit == "141977fedf5cf35aa290ac87d4b5177ac4cd9de1"
    assert [(i.ref, i.reason) for i in delivery.ignored] == [
        ("refs/heads/old-feature", "ref deleted"),
        ("master", "ref is neither a branch nor a tag"),
    ]
    assert [type(o) for o in delivery.outcomes] == [PushEvent, PushEvent, Ignored, Ignored]


def test_bitbucket_cloud_no_changes_to_ignored(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["push"]["changes"] = []

    delivery = deliver_variant(shared_payload, "bitbucket", mutate, now)
    assert [i.reason for i in delivery.ignored] == ["push without ref changes"]
    assert delivery.events == ()


def test_bitbucket_cloud_without_links_to_clone_url_from_full_name(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["repository"]["links"]
        d["actor"] = {"nickname": "brad", "display_name": "Brad"}  # Cloud dropped `username` in 2019

    (event,) = deliver_variant(shared_payload, "bitbucket", mutate, now).events
    assert event.clone_url == "https://bitbucket.org/brydzewski/foo.git"
    assert event.sender == "brad"


# -- Bitbucket Server / Data Center: 7.x and 8.x shapes --------------------------------------------------

TO_HASH = "178864a7d521b6f5e720b386b2c2b0ef8563e0dc"


def server_8x(d: dict[str, Any]) -> None:
    """Bitbucket Data Center 8.x adds the pushed commits and `toCommit` to repo:refs_changed."""
    commit = {
        "id": TO_HASH,
        "displayId": TO_HASH[:11],
        "author": {"name": "Jane Doe", "emailAddress": "jane@example.com"},
        "authorTimestamp": 1505778300000,
        "committer": {"name": "Jane Doe", "emailAddress": "jane@example.com"},
        "committerTimestamp": 1505778332000,
        "message": "Bump version",
        "parents": [{"id": "ecddabb624f6f5ba43816f5926e580a5f680a932", "displayId": "ecddabb624f"}],
    }
    d["commits"] = [commit]
    d["toCommit"] = commit


def test_bitbucket_server_7x_shape_to_event(shared_payload: Callable[[str], bytes], now: datetime) -> None:
    (event,) = deliver(
        "bitbucket-server", shared_payload(FILES["bitbucket-server"]), now, "repo:refs_changed"
    ).events
    assert (event.ref, event.commit, event.message, event.author) == (
        "refs/heads/master",
        TO_HASH,
        None,
        None,
    )


def test_bitbucket_server_8x_shape_to_event_with_head_commit(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    (event,) = deliver_variant(shared_payload, "bitbucket-server", server_8x, now).events
    assert event.message == "Bump version"
    assert event.author is not None
    assert (event.author.name, event.author.email) == ("Jane Doe", "jane@example.com")
    assert event.pushed_at.isoformat() == "2017-09-19T09:45:32+10:00"  # the push date still wins


def test_bitbucket_server_8x_without_date_to_commit_time(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        server_8x(d)
        del d["date"]

    (event,) = deliver_variant(shared_payload, "bitbucket-server", mutate, now).events
    assert event.pushed_at == datetime.fromisoformat("2017-09-18T23:45:32+00:00")


@pytest.mark.parametrize(
    ("change", "ref"),
    [
        ({"refId": "refs/heads/master"}, "refs/heads/master"),
        ({"ref": {"id": "refs/heads/master", "displayId": "master", "type": "BRANCH"}}, "refs/heads/master"),
        ({"ref": {"displayId": "v2.0", "type": "TAG"}}, "refs/tags/v2.0"),
    ],
)
def test_bitbucket_server_ref_or_ref_id_to_full_ref(
    shared_payload: Callable[[str], bytes], now: datetime, change: dict[str, Any], ref: str
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        base = {k: v for k, v in d["changes"][0].items() if k not in ("ref", "refId")}
        d["changes"] = [{**base, **change}]

    (event,) = deliver_variant(shared_payload, "bitbucket-server", mutate, now).events
    assert event.ref == ref


def test_bitbucket_server_several_changes_to_one_outcome_each(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        server_8x(d)
        update = d["changes"][0]
        added_tag = {
            "ref": {"id": "refs/tags/v1.0", "displayId": "v1.0", "type": "TAG"},
            "refId": "refs/tags/v1.0",
            "fromHash": ZERO,
            "toHash": TO_HASH,
            "type": "ADD",
        }
        deleted = {**update, "refId": "refs/heads/gone", "ref": None, "toHash": ZERO, "type": "DELETE"}
        d["changes"] = [update, added_tag, deleted]

    delivery = deliver_variant(shared_payload, "bitbucket-server", mutate, now)
    update, tag = delivery.events
    assert (update.ref, update.created, update.message) == ("refs/heads/master", False, "Bump version")
    assert (tag.ref, tag.ref_type, tag.created, tag.before) == ("refs/tags/v1.0", RefType.TAG, True, None)
    assert [(i.ref, i.reason) for i in delivery.ignored] == [("refs/heads/gone", "ref deleted")]


def test_bitbucket_server_without_http_clone_link_to_event_without_clone_url(
    shared_payload: Callable[[str], bytes], now: datetime
) -> None:
    # The clone URL is only echoed (the Repository is matched by project key and slug): a payload
    # with only an ssh link builds as one with none (see payloads/bitbucket_server/).
    def mutate(d: dict[str, Any]) -> None:
        d["repository"]["links"]["clone"] = [
            c for c in d["repository"]["links"]["clone"] if c["name"] != "http"
        ]

    (event,) = deliver_variant(shared_payload, "bitbucket-server", mutate, now).events
    assert (event.repository, event.clone_url, event.commit) == ("PROJ/repository", None, TO_HASH)
