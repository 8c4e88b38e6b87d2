"""Recorded deliveries of every class (payloads/README.md says where each came from) through the
parser and the receiver's decision: the ref, the commit, the changed files, the push time and
what the receiver does with it.

The classes: tag pushes and branch creations (Gitee sends `commits: null`), null lists in commits,
annotated tags (the tag object is not the commit), Bitbucket Server payloads without clone links,
commit dates past the end of the calendar in UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kiln.api import BuildRun
from kiln.webhooks import (
    GiteeSecret,
    GitLabSecret,
    Ignored,
    PushEvent,
    SharedSecret,
    WebhookSecret,
    dispatch,
    inspect_result,
    planned_builds,
)
from kiln.webhooks.decisions import DeliveryOutcome
from tests.unit.webhooks.objects import (
    SECRET,
    build_rule,
    create_of,
    deliver,
    reply_of,
    signed,
    world,
)

PAYLOADS = Path(__file__).parent / "payloads"
NOW_ISO = "2024-05-01T12:00:00+00:00"  # the `now` fixture: the delivery's arrival
ZERO = "0" * 40
FAR_COMMIT = "efbc6d94eb09301deac48cc2ea8477903d921857"  # dated 9999-12-31T23:46:39-14:00
TAG_OBJECT = "cb478636edb8dcc4856bde59e756dcf9ea85a580"  # the annotated tag v1.0.0 on it

# Every branch and every tag builds; the tag rule filters on paths, which must not skip a tag
# (its changed files are unknown). `c-<commit>` shows the commit a tag is rendered from.
BRANCHES = build_rule(
    "branches",
    pattern=".*",
    tags=[{"tag": "b-${ref}", "buildTime": "yyyyMMddHHmm"}, {"tag": "c", "commitIdLength": 40}],
)
TAGS = build_rule(
    "tags",
    pattern=".*",
    ref_type="Tag",
    tags=[{"tag": "t-${ref}"}, {"tag": "c", "commitIdLength": 40}],
    paths=["src/**"],
)


@dataclass(frozen=True)
class Ref:
    """One expected outcome: a push to build (`commit`) or an ignored ref (`reason`)."""

    ref: str
    commit: str | None = None
    changed_files: tuple[str, ...] | None = None
    pushed_at: str = NOW_ISO
    reason: str | None = None


@dataclass(frozen=True)
class Case:
    file: str
    event: str
    url: str  # the Repository's spec.source.url
    refs: tuple[Ref, ...]

    @property
    def provider(self) -> str:
        return self.file.split("/")[0].replace("_", "-")

    @property
    def secret(self) -> WebhookSecret:
        match self.provider:
            case "gitlab":
                return GitLabSecret(token=SECRET)
            case "gitee":
                return GiteeSecret(SECRET)  # the Repository's giteeMode: password
            case _:
                return SharedSecret(SECRET)


def _id(case: Case) -> str:
    return case.file.removesuffix(".json")


CASES = [
    Case(
        "github/push-annotated-tag.json",
        "push",
        "https://github.com/test/hello_bb_ci.git",
        # `after` b8ec69cb... is the tag object; the head commit's time (no repository.pushed_at)
        (
            Ref(
                "refs/tags/v1.1.0",
                "258044d28288d5f6f1c5928b0e22580296fec666",
                None,
                "2021-02-12T13:26:23-05:00",
            ),
        ),
    ),
    Case(
        "github/push-tag-lightweight.json",
        "push",
        "https://github.com/bradrydzewski/drone-test-go.git",
        # head_commit lists .drone.yml as modified: that is the commit's diff, not what the tag brings
        (
            Ref(
                "refs/tags/v0.0.1",
                "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
                None,
                "2018-06-21T17:07:26+00:00",
            ),
        ),
    ),
    Case(
        "github/push-new-branch.json",
        "push",
        "https://github.com/Codertocat/Hello-World.git",
        (
            Ref(
                "refs/heads/master",
                "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                None,
                "2019-05-15T15:20:57+00:00",
            ),
        ),
    ),
    Case(
        "gitlab/tag-create.json",
        "Tag Push Hook",
        "https://gitlab.com/gitlab-org/hello-world.git",
        (
            Ref(
                "refs/tags/v1.0.0",
                "2adc9465c4edfc33834e173fe89436a7cb899a1d",
                None,
                "2017-12-10T08:26:38+00:00",
            ),
        ),
    ),
    Case(
        "gitlab/branch-create.json",
        "Push Hook",
        "https://gitlab.com/gitlab-org/hello-world.git",
        (
            Ref(
                "refs/heads/feature",
                "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
                None,
                "2017-12-10T08:28:36+00:00",
            ),
        ),
    ),
    Case(
        "gitlab/own-push-far-future-commit.json",
        "Push Hook",
        "https://gitlab.example.com/kiln-e2e/edge.git",
        # an update of an existing branch: its files are known; its commit's date is off the
        # calendar in UTC, so the push time is the arrival
        (Ref("refs/heads/main", FAR_COMMIT, ("app/Dockerfile",), NOW_ISO),),
    ),
    Case(
        "gitlab/own-tag-push-annotated.json",
        "Tag Push Hook",
        "https://gitlab.example.com/kiln-e2e/edge.git",
        (Ref("refs/tags/v1.0.0", FAR_COMMIT, None, NOW_ISO),),  # checkout_sha, not `after`
    ),
    Case(
        "gitee/tag-create.json",
        "Tag Push Hook",
        "https://gitee.com/kit101/drone-yml-test.git",
        (
            Ref(
                "refs/tags/1.3", "aa9d11518a64dcd0d591a2a4eb35dfb4d91d49d5", None, "2021-10-08T16:01:12+08:00"
            ),
        ),
    ),
    Case(
        "gitee/push-branch-create.json",
        "Push Hook",
        "https://gitee.com/kit101/drone-yml-test.git",
        (
            Ref(
                "refs/heads/feat-2-1",
                "6168d9dae737b47f00c59fafca10c913a6850c3a",
                None,
                "2021-10-08T17:39:43+08:00",
            ),
        ),
    ),
    Case(
        "gitee/push-docs-example.json",
        "Push Hook",
        "https://gitee.com/oschina/gitee.git",  # path_with_namespace; full_name is a display name
        (
            Ref(
                "refs/heads/change_commitlint_config",
                "1cdcd819599cbb4099289dbbec762452f006cb40",
                None,
                "2018-02-05T23:46:46+08:00",
            ),
        ),
    ),
    Case(
        "gitee/tag-delete.json",
        "Tag Push Hook",
        "https://gitee.com/kit101/drone-yml-test.git",
        (Ref("refs/tags/1.3", reason="ref deleted"),),
    ),
    Case(
        "bitbucket/push-tag-create.json",
        "repo:push",
        "https://bitbucket.org/brydzewski/foo.git",
        (
            Ref(
                "refs/tags/feature/x",
                "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
                None,
                "2018-07-02T20:26:56+00:00",
            ),
        ),
    ),
    Case(
        "bitbucket/push-branch-create.json",
        "repo:push",
        "https://bitbucket.org/brydzewski/foo.git",
        (
            Ref(
                "refs/heads/develop",
                "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
                None,
                "2018-07-02T20:26:56+00:00",
            ),
        ),
    ),
    Case(
        "bitbucket/own-push-far-future-and-annotated-tag.json",
        "repo:push",
        "https://bitbucket.org/kiln-e2e/edge.git",
        (
            Ref("refs/heads/main", FAR_COMMIT, None, NOW_ISO),
            Ref("refs/tags/v1.0.0", FAR_COMMIT, None, NOW_ISO),
        ),
    ),
    Case(
        "bitbucket_server/refs-changed-8x-docs.json",
        "repo:refs_changed",
        "https://bitbucket.example.com/scm/project_1/rep_1.git",
        (
            Ref(
                "refs/heads/master",
                "a00945762949b7b787ecabc388c0e20b1b85f0b4",
                None,
                "2023-01-13T22:26:25+11:00",
            ),
        ),
    ),
    Case(
        "bitbucket_server/push-7x.json",
        "repo:refs_changed",
        "https://bitbucket.example.com/scm/prj/my-repo.git",
        (
            Ref(
                "refs/heads/master",
                "823b2230a56056231c9425d63758fa87078a66b4",
                None,
                "2018-07-05T18:22:00+00:00",
            ),
        ),
    ),
    Case(
        "bitbucket_server/push-tag-create-7x.json",
        "repo:refs_changed",
        "https://bitbucket.example.com/scm/prj/my-repo.git",
        (
            Ref(
                "refs/tags/v1.1.0",
                "823b2230a56056231c9425d63758fa87078a66b4",
                None,
                "2018-07-05T18:26:11+00:00",
            ),
        ),
    ),
    Case(
        "bitbucket_server/push-branch-delete-7x.json",
        "repo:refs_changed",
        "https://bitbucket.example.com/scm/prj/my-repo.git",
        (Ref("refs/heads/develop", reason="ref deleted"),),
    ),
    Case(
        "bitbucket_server/own-refs-changed-annotated-tag-8x.json",
        "repo:refs_changed",
        "https://bitbucket.example.com/scm/kiln/edge.git",
        # toHash is the tag object; toCommit names the commit
        (Ref("refs/tags/v1.0.0", FAR_COMMIT, None, "2024-05-01T15:00:00+02:00"),),
    ),
]


def body_of(case: Case) -> bytes:
    return (PAYLOADS / case.file).read_bytes()


def headers_of(case: Case, now: datetime) -> dict[str, str]:
    return signed(case.provider, body_of(case), case.secret, event=case.event, delivery_id="d-1", now=now)


def outcome_of(outcome: Any) -> Ref:
    if isinstance(outcome, PushEvent):
        return Ref(outcome.ref, outcome.commit, outcome.changed_files, outcome.pushed_at.isoformat())
    assert isinstance(outcome, Ignored), outcome
    return Ref(str(outcome.ref), reason=outcome.reason)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_recorded_payload_to_refs_commits_files_and_times(case: Case, now: datetime) -> None:
    delivery = dispatch(case.provider, headers_of(case, now), body_of(case), case.secret, now)
    assert tuple(outcome_of(o) for o in delivery.outcomes) == case.refs
    assert delivery.cut == ()
    for event in delivery.events:
        assert event.commit != TAG_OBJECT  # never the annotated tag's own object


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_recorded_payload_to_the_receivers_decision(case: Case, now: datetime) -> None:
    gitee_mode = "password" if case.provider == "gitee" else None
    cache = world(BRANCHES, TAGS, rules=(), provider=case.provider, url=case.url, gitee_mode=gitee_mode)
    decision = deliver(cache, body_of(case), headers_of(case, now), now, provider=case.provider)
    to_build = [r for r in case.refs if r.commit is not None]
    if not to_build:
        reply = reply_of(decision)
        assert (reply.status, reply.outcome) == (200, DeliveryOutcome.IGNORED)
        assert reply.body["ignored"] == [{"ref": r.ref, "reason": r.reason} for r in case.refs]
        return
    create = create_of(decision)
    assert create.report["skipped"] == []  # the tag rule's paths filter never skips a tag
    built = {(run.rule, run.ref): run for run in create.runs}
    expected = {("tags" if r.ref.startswith("refs/tags/") else "branches", r.ref): r for r in to_build}
    assert set(built) == set(expected)
    for key, ref in expected.items():
        run = built[key]
        BuildRun.model_validate(run.manifest)
        source = run.manifest["spec"]["source"]
        assert source["commit"] == ref.commit
        assert f"c-{ref.commit}" in run.tags  # commitId tags name the commit, not a tag object
        assert datetime.fromisoformat(source["pushedAt"]) == datetime.fromisoformat(ref.pushed_at)
        assert source.get("changedFiles") == (list(ref.changed_files) if ref.changed_files else None)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_recorded_payload_inspected_offline_to_the_receivers_builds(case: Case, now: datetime) -> None:
    """`kiln webhook inspect`'s core shows what the receiver creates: the same rules, refs, tags."""
    inspection = inspect_result(case.provider, headers_of(case, now), body_of(case), case.secret, now)
    assert inspection.verified is True
    rules = [{**rule, "metadata": {"name": rule["metadata"]["name"]}} for rule in (BRANCHES, TAGS)]
    shown = planned_builds(rules, inspection.events)
    gitee_mode = "password" if case.provider == "gitee" else None
    cache = world(BRANCHES, TAGS, rules=(), provider=case.provider, url=case.url, gitee_mode=gitee_mode)
    decision = deliver(cache, body_of(case), headers_of(case, now), now, provider=case.provider)
    created = [] if not inspection.events else create_of(decision).runs
    builds: Any = shown["builds"]
    assert [(b["rule"], b["ref"], tuple(b["tags"])) for b in builds] == [
        (run.rule, run.ref, run.tags) for run in created
    ]
    assert json.loads(json.dumps(inspection.to_dict())) == inspection.to_dict()
