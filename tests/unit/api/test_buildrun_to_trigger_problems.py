"""Who may create which BuildRun: the identity and the rule -> admission's problems (none: allowed)."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import BuildRun
from kiln.api.triggers import trigger_problems

TRUSTED = frozenset({"system:serviceaccount:kiln-system:kiln-webhook"})


def rule(**spec: Any) -> BuildRule:
    body = {"repository": "app", "source": {"type": "Branch", "name": "main"}, "tags": [{"tag": "latest"}]}
    return BuildRule.model_validate(
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "BuildRule",
            "metadata": {"name": "main"},
            "spec": body | spec,
        }
    )


def run(trigger: str, tags: list[str], ref: str = "refs/heads/main") -> BuildRun:
    return BuildRun.model_validate(
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "BuildRun",
            "metadata": {"name": "r"},
            "spec": {
                "buildRule": "main",
                "repository": "app",
                "trigger": {"type": trigger},
                "source": {"ref": ref, "commit": "a" * 40},
                "tags": tags,
            },
        }
    )


@pytest.mark.parametrize("trigger", ["Push", "Resync"])
def test_push_and_resync_runs_only_from_kilns_own_identities(trigger: str) -> None:
    assert trigger_problems(run(trigger, ["latest"]), rule(), next(iter(TRUSTED)), TRUSTED) == []
    (problem,) = trigger_problems(run(trigger, ["latest"]), rule(), "alice", TRUSTED)
    assert problem.field == "spec.trigger.type"
    assert (
        f"{trigger} BuildRuns are created by Kiln itself" in problem.message
        and "not by alice" in problem.message
    )
    (anonymous,) = trigger_problems(run(trigger, ["latest"]), rule(), None, TRUSTED)
    assert "an anonymous user" in anonymous.message


def test_manual_run_of_an_allowed_rule_with_its_own_tags_is_allowed() -> None:
    assert trigger_problems(run("Manual", ["latest"]), rule(), "alice", TRUSTED) == []
    with_ref = rule(tags=[{"tag": "${ref}"}, {"tag": "latest"}])
    assert trigger_problems(run("Manual", ["main", "latest"]), with_ref, "alice", TRUSTED) == []


@pytest.mark.parametrize(
    ("the_rule", "the_run", "field", "words"),
    [
        (None, run("Manual", ["latest"]), "spec.buildRule", "BuildRule 'main' not found"),
        (
            rule(tags=[{"tag": "v", "commitIdLength": 7}]),
            run("Manual", ["v-aaaaaaa"]),
            "spec.trigger.type",
            "cannot be built by hand: spec.tags[0] uses a commit id",
        ),
        (
            rule(source={"type": "Branch", "pattern": "release-(?<v>.*)"}),
            run("Manual", ["latest"], "refs/heads/release-1"),
            "spec.trigger.type",
            "the rule selects refs by pattern",
        ),
        (
            rule(),
            run("Manual", ["latest"], "refs/heads/dev"),
            "spec.source.ref",
            "not the ref BuildRule 'main' builds",
        ),
        (rule(), run("Manual", ["v9"]), "spec.tags", "must be what the rule renders: ['latest']"),
    ],
)
def test_manual_runs_the_rule_does_not_allow_are_refused(
    the_rule: BuildRule | None, the_run: BuildRun, field: str, words: str
) -> None:
    (problem,) = trigger_problems(the_run, the_rule, next(iter(TRUSTED)), TRUSTED)
    assert problem.field == field and words in problem.message
