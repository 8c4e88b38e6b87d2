"""kiln.api.validation: the examples are valid; invalid objects give Problems naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.api.validation import field_path, format_problems, validate, validate_update
from kiln.rules.types import Problem

from .conftest import EXAMPLE_FILES, load_example


def test_every_kind_has_an_example() -> None:
    assert {load_example(n)["kind"] for n in EXAMPLE_FILES} == {
        "Namespace",
        "Repository",
        "BuildRule",
        "BuildRun",
    }
    assert {"buildrule-main.yaml", "buildrule-release.yaml"} <= set(EXAMPLE_FILES)  # the seed's two rules


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_is_valid(name: str) -> None:
    body = load_example(name)
    assert validate(body["kind"], body) == []


def fields(kind: str, body: dict[str, Any]) -> list[str]:
    return [p.field for p in validate(kind, body)]


def rule(example: Any, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = example("buildrule-main.yaml")
    body["spec"].update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tags": [{"tag": f"t{i}"} for i in range(4)]}, "spec.tags"),
        ({"tags": []}, "spec.tags"),
        ({"buildArgs": {f"ARG_{i}": "x" for i in range(21)}}, "spec.buildArgs"),
        ({"buildArgs": {"A=B": "x"}}, "spec.buildArgs"),
        ({"platforms": ["linux/amd64", "windows/amd64"]}, "spec.platforms[1]"),
        ({"platforms": ["linux/amd64", "linux/amd64"]}, "spec.platforms"),
        ({"platforms": []}, "spec.platforms"),
        ({"tags": [{"tag": "x", "commitIdLength": 41}]}, "spec.tags[0].commitIdLength"),
        ({"tags": [{"tag": "x", "commitId": False, "commitIdLength": 8}]}, "spec.tags[0].commitId"),
        ({"source": {"type": "Branch", "name": "main", "pattern": "ma.*"}}, "spec.source"),
        ({"source": {"type": "Branch"}}, "spec.source"),
        ({"source": {"type": "Branch", "pattern": "release-(?<v>\\w*"}}, "spec.source.pattern"),
        (
            {"source": {"type": "Branch", "pattern": "release-(?<v>\\w*)"}, "tags": [{"tag": "${imageTag}"}]},
            "spec.tags[0].tag",
        ),
        ({"tags": [{"tag": "latest"}, {"tag": "${version}"}]}, "spec.tags[1].tag"),
        ({"source": {"type": "Commit", "name": "main"}}, "spec.source.type"),
        ({"contextDir": "../outside"}, "spec.contextDir"),
        ({"timeout": "0s"}, "spec.timeout"),
        ({"timeout": "1d"}, "spec.timeout"),
        ({"runPolicy": "Sometimes"}, "spec.runPolicy"),
        ({"bogus": True}, "spec.bogus"),
    ],
)
def test_invalid_buildrule_names_the_field(example: Any, changes: dict[str, Any], field: str) -> None:
    assert field in fields("BuildRule", rule(example, **changes))


def test_missing_required_field(example: Any) -> None:
    body = rule(example)
    del body["spec"]["repository"]
    assert validate("BuildRule", body) == [Problem("spec.repository", "required field is missing")]


def test_kind_and_api_version_are_checked(example: Any) -> None:
    body = rule(example)
    assert fields("Repository", body)[:1] == ["kind"]
    body["apiVersion"] = "kiln.dev/v1"
    assert fields("BuildRule", body) == ["apiVersion"]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown kind 'Pod'"):
        validate("Pod", {})


@pytest.mark.parametrize(
    ("name", "path", "value", "field"),
    [
        ("namespace.yaml", ("quota", "cpu"), "two", "spec.quota.cpu"),
        ("namespace.yaml", ("quota", "memory"), 1.5, "spec.quota.memory"),
        ("namespace.yaml", ("registry", "server"), "https://registry.example.com", "spec.registry.server"),
        ("namespace.yaml", ("buildPools",), ["Default"], "spec.buildPools[0]"),
        ("repository.yaml", ("source", "provider"), "svn", "spec.source.provider"),
        ("repository.yaml", ("source", "url"), "git@github.com:acme/app.git", "spec.source.url"),
        ("repository.yaml", ("source", "webhook", "giteeMode"), "plain", "spec.source.webhook.giteeMode"),
        ("buildrun.yaml", ("source", "commit"), "d4ef3dc", "spec.source.commit"),
        ("buildrun.yaml", ("source", "ref"), "release-v1", "spec.source.ref"),
        ("buildrun.yaml", ("tags",), ["a", "b", "c", "d"], "spec.tags"),
        ("buildrun.yaml", ("tags",), ["-bad"], "spec.tags[0]"),
        ("buildrun.yaml", ("trigger", "type"), "Cron", "spec.trigger.type"),
    ],
)
def test_invalid_other_kinds_name_the_field(
    example: Any, name: str, path: tuple[str, ...], value: Any, field: str
) -> None:
    body = example(name)
    node = body["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert field in fields(body["kind"], body)


def test_quantities_accept_integers_and_strings(example: Any) -> None:
    body = example("namespace.yaml")
    body["spec"]["quota"] = {"cpu": "500m", "memory": 1073741824}
    assert validate("Namespace", body) == []


def test_status_is_validated(example: Any) -> None:
    body = example("buildrun.yaml")
    body["status"] = {"phase": "Done", "conditions": [{"type": "Succeeded", "status": "True"}]}
    assert fields("BuildRun", body) == ["status.phase"]


def test_buildrun_spec_is_immutable_except_cancel(example: Any) -> None:
    old = example("buildrun.yaml")
    new = example("buildrun.yaml")
    new["spec"]["cancel"] = True
    assert validate_update("BuildRun", old, new) == []
    new["spec"]["tags"] = ["other"]
    new["spec"]["source"]["commit"] = "0" * 40
    assert [p.field for p in validate_update("BuildRun", old, new)] == ["spec.source", "spec.tags"]


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [("namespace.yaml", "kubernetesNamespace", "elsewhere"), ("repository.yaml", "name", "renamed")],
)
def test_immutable_fields(example: Any, name: str, key: str, value: str) -> None:
    old = example(name)
    new = example(name)
    new["spec"][key] = value
    problems = validate_update(old["kind"], old, new)
    assert [p.field for p in problems] == [f"spec.{key}"]
    assert "immutable" in problems[0].message


def test_mutable_fields_may_change(example: Any) -> None:
    old = example("buildrule-main.yaml")
    new = example("buildrule-main.yaml")
    new["spec"]["tags"] = [{"tag": "stable"}]
    assert validate_update("BuildRule", old, new) == []


def test_field_path() -> None:
    assert field_path(("spec", "tags", 0, "tag")) == "spec.tags[0].tag"
    assert field_path(("spec",)) == "spec"
    assert field_path(()) == ""


def test_format_problems() -> None:
    one = [Problem("spec.tags", "too many")]
    assert format_problems(one) == "spec.tags: too many"
    two = [*one, Problem("spec.source.pattern", "does not compile")]
    assert format_problems(two) == "2 problems: spec.tags: too many; spec.source.pattern: does not compile"
    assert format_problems([]) == "no problems"


def test_messages_are_readable(example: Any) -> None:
    problems = validate("BuildRule", rule(example, timeout="0s", bogus=1))
    messages = {p.field: p.message for p in problems}
    assert messages["spec.timeout"] == "duration must be greater than zero"
    assert messages["spec.bogus"] == "unknown field"
