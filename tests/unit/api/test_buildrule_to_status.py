"""BuildRule object -> the status the operator writes (Valid, manualBuild)."""

from __future__ import annotations

from pathlib import Path

import yaml

from kiln.api.status import buildrule_status

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


def example(name: str) -> dict[str, object]:
    body: dict[str, object] = yaml.safe_load((EXAMPLES / name).read_text())
    body["metadata"] = {**body["metadata"], "generation": 3}  # type: ignore[dict-item]
    return body


def test_valid_manual_rule_is_valid_and_allowed() -> None:
    status = buildrule_status(example("buildrule-main.yaml"), None)
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Valid", "True", "Valid")
    ]
    assert (status["manualBuild"], status["manualBuildReason"]) == ("Allowed", None)
    assert status["observedGeneration"] == 3


def test_pattern_rule_is_refused_for_manual_builds_with_the_reason() -> None:
    status = buildrule_status(example("buildrule-release.yaml"), None)
    assert status["manualBuild"] == "Refused"
    assert "pattern" in status["manualBuildReason"]
    assert status["tagSummary"] == "${imageTag}-yyyyMMddHHmm-<commit:30>"


def test_invalid_rule_gets_valid_false_naming_the_field() -> None:
    body = example("buildrule-release.yaml")
    body["spec"]["tags"] = [{"tag": "${version}"}]  # type: ignore[index]
    status = buildrule_status(body, None)
    valid = status["conditions"][0]
    assert (valid["status"], valid["reason"]) == ("False", "InvalidRule")
    assert "spec.tags[0].tag" in valid["message"] and "version" in valid["message"]
    assert status["manualBuild"] is None and status["tagSummary"] is None


def test_status_field_of_the_object_is_not_validated() -> None:
    body = example("buildrule-main.yaml")
    body["status"] = {"kopf": {"progress": {}}, "unknown": 1}
    assert buildrule_status(body, None)["conditions"][0]["status"] == "True"
