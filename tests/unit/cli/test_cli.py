"""The installed `kiln` command, run as a user would (a real process, no cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
KILN = Path(sys.executable).with_name("kiln")
EXAMPLES = REPO / "docs" / "examples"


def kiln(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KILN), *args], capture_output=True, text=True, input=input, timeout=60, check=False
    )


def test_rule_test_renders_the_reference_documents_example() -> None:
    result = kiln(
        "rule", "test", "-f", str(EXAMPLES / "buildrule-release.yaml"), "--ref", "refs/heads/release-v1",
        "--commit", "d4ef3dc3b77a011a5779eec7efdd45aa11223344", "--pushed-at", "2020-10-15T08:25:00Z", "-o", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["matched"] is True
    assert report["groups"] == {"imageTag": "v1"}
    assert report["tags"] == ["v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45"]
    assert report["manualBuild"] == "Refused"
    assert "pattern" in report["reason"]


def test_rule_test_text_output_for_a_manual_rule() -> None:
    result = kiln(
        "rule", "test", "-f", str(EXAMPLES / "buildrule-main.yaml"), "--ref", "refs/heads/main", "--commit", "abcdef0"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "matched:       yes" in result.stdout
    assert "manual build:  Allowed" in result.stdout


def test_rule_test_errors_name_the_field_and_exit_nonzero() -> None:
    rule = yaml.safe_load((EXAMPLES / "buildrule-main.yaml").read_text())
    rule["spec"]["source"] = {"type": "Branch", "pattern": "release-(?<v>\\w*"}
    result = kiln(
        "rule",
        "test",
        "-f",
        "-",
        "--ref",
        "refs/heads/main",
        "--commit",
        "abcdef0",
        input=yaml.safe_dump(rule),
    )
    assert result.returncode == 2
    assert "spec.source.pattern" in result.stderr
    bad_ref = kiln(
        "rule", "test", "-f", str(EXAMPLES / "buildrule-main.yaml"), "--ref", "main", "--commit", "abcdef0"
    )
    assert bad_ref.returncode == 2 and "refs/heads/" in bad_ref.stderr
    missing = kiln(
        "rule", "test", "-f", "/nonexistent.yaml", "--ref", "refs/heads/main", "--commit", "abcdef0"
    )
    assert missing.returncode == 2 and "/nonexistent.yaml" in missing.stderr


def test_crds_prints_what_is_committed() -> None:
    result = kiln("crds")
    assert result.returncode == 0
    printed = {d["metadata"]["name"]: d for d in yaml.safe_load_all(result.stdout)}
    committed = {
        p.stem.removeprefix("kiln.dev_") + ".kiln.dev": yaml.safe_load(p.read_text())
        for p in (REPO / "crds").glob("*.yaml")
    }
    assert printed == committed


def test_operator_refuses_unusable_settings() -> None:
    result = subprocess.run(
        [str(KILN), "operator"], capture_output=True, text=True, timeout=60, check=False,
        env={"KILN_CLUSTER_CIDRS": "not-a-cidr", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "KILN_CLUSTER_CIDRS" in result.stderr
