"""The pydantic models: wire format, defaults from the API sketch, the rules-engine converter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from kiln.api import MODELS, BuildRule, BuildRun, Namespace, Repository, buildrule_to_rule
from kiln.api.buildrule import BuildRuleSpec, Platform, RunPolicy, TagSpec
from kiln.api.common import Condition, ConditionStatus, Visibility, parse_duration
from kiln.api.constants import (
    API_VERSION,
    KINDS,
    LABEL_BUILD_RULE,
    LABEL_BUILD_RUN,
    LABEL_NAMESPACE,
    LABEL_REPOSITORY,
    GiteeMode,
    Provider,
)
from kiln.rules import Push, manual_build, match_ref, render_tags
from kiln.rules.types import RefType


def test_constants() -> None:
    assert API_VERSION == "kiln.dev/v1alpha1"
    assert [LABEL_NAMESPACE, LABEL_REPOSITORY, LABEL_BUILD_RULE, LABEL_BUILD_RUN] == [
        "kiln.dev/namespace",
        "kiln.dev/repository",
        "kiln.dev/build-rule",
        "kiln.dev/build-run",
    ]
    assert list(MODELS) == [k.kind for k in KINDS] == ["Namespace", "Repository", "BuildRule", "BuildRun"]
    assert [k.crd_name for k in KINDS][2] == "buildrules.kiln.dev"


def test_enums() -> None:
    assert [str(p) for p in Provider] == ["github", "gitlab", "gitee", "bitbucket", "bitbucket-server"]
    assert [str(p) for p in Platform] == [
        "linux/amd64",
        "linux/arm64",
        "linux/386",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/ppc64le",
        "linux/s390x",
        "linux/riscv64",
    ]
    assert [str(p) for p in RunPolicy] == ["Parallel", "Serial", "SerialLatestOnly"]


def test_defaults_follow_the_api_sketch(example: Any) -> None:
    ns = Namespace.model_validate(
        {"apiVersion": API_VERSION, "kind": "Namespace", "spec": {"registry": {"server": "r.example.com"}}}
    )
    assert ns.spec.auto_create_repositories is False
    assert ns.spec.default_repository_visibility is Visibility.PRIVATE
    repo = Repository.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "Repository",
            "spec": {"source": {"provider": "gitee", "url": "https://gitee.com/a/b.git"}},
        }
    )
    assert (repo.spec.build.auto_build, repo.spec.build.no_cache, repo.spec.build.accelerated) == (
        True,
        False,
        False,
    )
    assert repo.spec.source.webhook.auto_register is True
    assert repo.spec.source.webhook.gitee_mode is GiteeMode.SIGNATURE
    body = example("buildrule-main.yaml")
    del body["spec"]["contextDir"], body["spec"]["dockerfile"]
    rule = BuildRule.model_validate(body).spec
    assert (rule.context_dir, rule.dockerfile, rule.timeout) == ("/", "Dockerfile", "1h")
    assert rule.platforms == [Platform.LINUX_AMD64]
    assert rule.run_policy is RunPolicy.SERIAL
    assert rule.build_args == {}
    assert BuildRun.model_validate(example("buildrun.yaml")).spec.cancel is False


def test_camel_case_on_the_wire_and_snake_case_in_python(example: Any) -> None:
    run = BuildRun.model_validate(example("buildrun.yaml"))
    assert run.spec.build_rule == "release"
    assert run.spec.source.pushed_at == datetime(2020, 10, 15, 8, 25, tzinfo=UTC)
    wire = run.to_wire()
    assert wire["spec"]["buildRule"] == "release"
    assert wire["spec"]["source"]["pushedAt"] == "2020-10-15T08:25:00Z"
    assert "status" not in wire  # unset optionals are omitted, not sent as null
    assert BuildRun.model_validate(wire) == run
    # populate_by_name: Python names work too
    assert (
        TagSpec(commit_id_length=5).commit_id_length
        == TagSpec.model_validate({"commitIdLength": 5}).commit_id_length
    )


def test_condition() -> None:
    condition = Condition.model_validate(
        {
            "type": "Succeeded",
            "status": "False",
            "reason": "BuildFailed",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        }
    )
    assert condition.status is ConditionStatus.FALSE
    with pytest.raises(ValidationError):
        Condition.model_validate({"type": "Ready", "status": "Maybe"})
    with pytest.raises(ValidationError):
        Condition.model_validate({"type": "Ready", "status": "True", "reason": "two words"})


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("2h0m5s", 7205)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1d", "30m1h", "1.5h", "h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_converter_on_the_seed_example_renders_the_seed_tag(example: Any) -> None:
    spec = BuildRule.model_validate(example("buildrule-release.yaml")).spec
    rule = buildrule_to_rule("release", spec)
    assert rule.name == "release"
    assert rule.repository == "app"
    assert rule.source.type is RefType.BRANCH
    assert rule.source.pattern == r"release-(?<imageTag>\w*)"
    assert rule.source.name is None
    push = Push(
        "refs/heads/release-v1",
        "d4ef3dc3b77a011a5779eec7efdd45e1c0ffee42",
        datetime(2020, 10, 15, 8, 25, tzinfo=UTC),
    )
    match = match_ref(rule, push.ref)
    assert match is not None
    assert render_tags(rule, match, push) == ["v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45"]
    assert not manual_build(rule).allowed


def test_converter_on_the_main_example(example: Any) -> None:
    rule = buildrule_to_rule("main", BuildRule.model_validate(example("buildrule-main.yaml")).spec)
    assert rule.source.name == "main"
    assert [(t.tag, t.build_time, t.commit_id_length) for t in rule.tags] == [("latest", None, None)]
    assert manual_build(rule).allowed


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ({"tag": "x"}, ("x", None)),
        ({"commitId": True}, ("", 6)),
        ({"commitId": True, "commitIdLength": 12}, ("", 12)),
        ({"commitIdLength": 30}, ("", 30)),
        ({"tag": "x", "commitId": False}, ("x", None)),
    ],
)
def test_converter_commit_id(tag: dict[str, Any], expected: tuple[str, int | None]) -> None:
    spec = BuildRuleSpec.model_validate(
        {"repository": "app", "source": {"type": "Tag", "name": "v1"}, "tags": [tag]}
    )
    (template,) = buildrule_to_rule("r", spec).tags
    assert (template.tag, template.commit_id_length) == expected
