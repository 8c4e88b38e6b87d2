"""A manual build (rule, ref, resolved commit) -> the BuildRun `kiln build` creates, or why not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import BuildRun
from kiln.api.triggers import trigger_problems
from kiln.rules import Problem
from kiln.webhooks.decisions import PlannedRun
from kiln.webhooks.manual import ManualBuild, manual_ref, manual_run

COMMIT = "0123456789abcdef0123456789abcdef01234567"
NOW = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def rule(name: str = "main", **spec: Any) -> BuildRule:
    body = {"repository": "app", "source": {"type": "Branch", "name": "main"}, "tags": [{"tag": "latest"}]}
    return BuildRule.model_validate(
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "BuildRule",
            "metadata": {"name": name},
            "spec": body | spec,
        }
    )


def planned(build: ManualBuild, commit: str = COMMIT, tenant: str | None = "acme") -> PlannedRun:
    run = manual_run(build, "kiln-acme", tenant, commit, "alice", NOW, "0a1b2c3d4e")
    assert isinstance(run, PlannedRun), run
    return run


def test_branch_rule_to_a_manual_buildrun_admission_allows() -> None:
    run = planned(ManualBuild("main", rule(tags=[{"tag": "${ref}"}, {"tag": "latest"}])))
    assert run.name == "main-0a1b2c3d4e" and run.tags == ("main", "latest")
    meta, spec = run.manifest["metadata"], run.manifest["spec"]
    assert meta["namespace"] == "kiln-acme"
    assert meta["labels"] == {
        "kiln.dev/namespace": "acme",
        "kiln.dev/repository": "app",
        "kiln.dev/build-rule": "main",
    }
    assert spec["trigger"] == {"type": "Manual", "sender": "alice"}
    assert spec["source"] == {"ref": "refs/heads/main", "commit": COMMIT}
    body = rule(tags=[{"tag": "${ref}"}, {"tag": "latest"}])
    assert trigger_problems(BuildRun.model_validate(run.manifest), body, "alice", frozenset()) == []


def test_unknown_tenant_leaves_its_label_out() -> None:
    assert (
        "kiln.dev/namespace"
        not in planned(ManualBuild("main", rule()), tenant=None).manifest["metadata"]["labels"]
    )


def test_tag_rule_takes_a_short_or_full_ref_of_its_own_tag() -> None:
    tagged = rule("v1", source={"type": "Tag", "name": "v1.0"})
    assert manual_ref("v1", tagged, None) == "refs/tags/v1.0"
    assert manual_ref("v1", tagged, "v1.0") == manual_ref("v1", tagged, "refs/tags/v1.0") == "refs/tags/v1.0"


def test_another_ref_is_refused_saying_which_ref_the_rule_builds() -> None:
    problem = manual_ref("main", rule(), "dev")
    assert isinstance(problem, Problem) and problem.field == "spec.source.ref"
    assert "builds refs/heads/main only, not refs/heads/dev" in problem.message


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"source": {"type": "Branch", "pattern": "release-.*"}}, "the rule selects refs by pattern"),
        ({"tags": [{"tag": "v", "buildTime": "yyyyMMdd"}]}, "spec.tags[0] uses a build time"),
        ({"tags": [{"tag": "v", "commitId": True}]}, "spec.tags[0] uses a commit id"),
    ],
)
def test_rules_only_pushes_build_are_refused_in_admissions_words(spec: dict[str, Any], reason: str) -> None:
    refused = rule(**spec)
    result = manual_run(ManualBuild("main", refused), "kiln-acme", "acme", COMMIT, "alice", NOW, "0a1b2c3d4e")
    # what admission answers a hand-made Manual BuildRun of the rule
    hand_made = BuildRun.model_validate(
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "BuildRun",
            "metadata": {"name": "x"},
            "spec": {
                "buildRule": "main",
                "repository": "app",
                "trigger": {"type": "Manual"},
                "source": {"ref": "refs/heads/main", "commit": COMMIT},
                "tags": ["v"],
            },
        }
    )
    assert result == trigger_problems(hand_made, refused, "alice", frozenset())
    assert (
        isinstance(result, list)
        and reason in result[0].message
        and "only pushes can build it" in result[0].message
    )


def test_an_abbreviated_commit_is_refused() -> None:
    result = manual_run(
        ManualBuild("main", rule()), "kiln-acme", "acme", "0123abc", "alice", NOW, "0a1b2c3d4e"
    )
    assert isinstance(result, list) and result[0].field == "spec.source.commit"
    assert "not a full commit id" in result[0].message


def test_a_long_rule_name_is_cut_to_a_dns_label() -> None:
    name = "r" * 80
    run = planned(ManualBuild(name, rule(name)))
    assert len(run.name) == 63 and run.name.endswith("-0a1b2c3d4e")
