"""rule_test_report: the JSON `kiln rule test -o json` prints."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from kiln.rules import TagTemplate, rule_test_report

from ._helpers import EXAMPLE_1, EXAMPLE_2, EXAMPLE_2_REASON, EXAMPLE_COMMIT, EXAMPLE_PUSHED_AT, branch, rule


def test_example_2_report() -> None:
    report = rule_test_report(EXAMPLE_2, "refs/heads/release-v1", EXAMPLE_COMMIT, EXAMPLE_PUSHED_AT)
    assert json.loads(json.dumps(report)) == {
        "matched": True,
        "groups": {"imageTag": "v1"},
        "tags": ["v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45"],
        "manualBuild": "Refused",
        "reason": EXAMPLE_2_REASON,
        "error": None,
    }


def test_example_1_report() -> None:
    report = rule_test_report(EXAMPLE_1, "refs/heads/main", EXAMPLE_COMMIT, EXAMPLE_PUSHED_AT)
    assert report == {
        "matched": True,
        "groups": {},
        "tags": ["latest"],
        "manualBuild": "Allowed",
        "reason": None,
        "error": None,
    }


def test_no_match_report() -> None:
    report = rule_test_report(EXAMPLE_2, "refs/heads/release-v1-hotfix", EXAMPLE_COMMIT, EXAMPLE_PUSHED_AT)
    assert (report["matched"], report["groups"], report["tags"], report["error"]) == (False, {}, [], None)
    assert report["manualBuild"] == "Refused"


def test_tag_failure_is_reported_in_error() -> None:
    report = rule_test_report(
        rule(branch(pattern=r"rc(?<n>\d*)"), "${n}", name="rc"),
        "refs/heads/rc",
        EXAMPLE_COMMIT,
        EXAMPLE_PUSHED_AT,
    )
    assert report["matched"] is True
    assert report["tags"] == []
    assert report["error"] == "rule 'rc': spec.tags[0]: rendered tag '' is not a valid image tag: it is empty"


def test_timeout_is_reported_in_error() -> None:
    evil = rule(branch(pattern="(a|aa)+$"), "x", name="evil")
    report = rule_test_report(
        evil, "refs/heads/" + "a" * 40 + "!", EXAMPLE_COMMIT, EXAMPLE_PUSHED_AT, timeout=0.02
    )
    assert report["matched"] is False
    assert report["error"] is not None and "20 ms" in report["error"]


@pytest.mark.parametrize(
    ("ref", "complaint"),
    [
        ("main", "must start with refs/heads/"),
        ("refs/pull/1/head", "must start with refs/heads/"),
        ("refs/heads/", "empty"),
        ("refs/heads/a..b", "'..'"),
    ],
)
def test_ref_must_be_a_branch_or_tag_ref(ref: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        rule_test_report(EXAMPLE_1, ref, EXAMPLE_COMMIT, EXAMPLE_PUSHED_AT)


@pytest.mark.parametrize("commit", ["abc", "xyz1234", "a" * 41, "a" * 63, "", "d4ef3dc3 "])
def test_commit_must_be_4_to_40_hex_digits_or_a_sha256_id(commit: str) -> None:
    with pytest.raises(ValueError, match="hexadecimal"):
        rule_test_report(EXAMPLE_1, "refs/heads/main", commit, EXAMPLE_PUSHED_AT)


def test_commit_is_lower_cased_and_may_be_sha256() -> None:
    r = rule(branch(name="main"), TagTemplate(commit_id_length=8))
    report = rule_test_report(r, "refs/heads/main", "ABCDEF01", EXAMPLE_PUSHED_AT)
    assert report["tags"] == ["abcdef01"]
    assert rule_test_report(r, "refs/heads/main", "b" * 64, EXAMPLE_PUSHED_AT)["tags"] == ["b" * 8]


def test_commit_shorter_than_a_tags_commit_id_length_is_refused() -> None:
    with pytest.raises(ValueError, match=r"has 8 digits but spec.tags\[0\].commitIdLength is 30"):
        rule_test_report(EXAMPLE_2, "refs/heads/release-v1", EXAMPLE_COMMIT[:8], EXAMPLE_PUSHED_AT)


def test_push_time_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        rule_test_report(EXAMPLE_1, "refs/heads/main", EXAMPLE_COMMIT, datetime(2020, 10, 15, 16, 25))
