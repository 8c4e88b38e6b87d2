"""`kiln webhook inspect` on the shared payloads: verdict, event, and the rules that would fire."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiln.cli import main
from kiln.webhooks import GiteeMode, GiteeSecret, GitLabSecret, SharedSecret, WebhookSecret, sign
from tests.unit.webhooks.objects import CHANGES_RULE, MAIN_RULE, PATTERN_RULE, SECRET, build_rule

# /work/shared/webhooks beside the repository checkout
SHARED_WEBHOOKS = Path(__file__).resolve().parents[3].parent / "shared" / "webhooks"

CASES: list[tuple[str, str, WebhookSecret, str | None, str]] = [
    # (payload, provider, secret, event header override, full ref)
    ("github-push-branch.json", "github", SharedSecret(SECRET), None, "refs/heads/changes"),
    ("github-push-tag.json", "github", SharedSecret(SECRET), None, "refs/tags/simple-tag"),
    ("gitlab-push-hook.json", "gitlab", GitLabSecret(token=SECRET), None, "refs/heads/master"),
    ("gitlab-tag-push-hook.json", "gitlab", GitLabSecret(token=SECRET), "Tag Push Hook", "refs/tags/v1.0.0"),
    ("gitee-push.json", "gitee", GiteeSecret(SECRET), None, "refs/heads/feat-2-1"),
    ("bitbucket-cloud-repo-push.json", "bitbucket", SharedSecret(SECRET), None, "refs/heads/master"),
    (
        "bitbucket-server-repo-refs-changed.json",
        "bitbucket-server",
        SharedSecret(SECRET),
        None,
        "refs/heads/master",
    ),
]


def payload(name: str) -> Path:
    path = SHARED_WEBHOOKS / name
    if not path.is_file():
        pytest.fail(f"shared webhook payload missing: {path}")
    return path


def write_rules(directory: Path, *rules: dict[str, Any]) -> Path:
    directory.mkdir(exist_ok=True)
    for rule in rules:
        manifest = {**rule, "metadata": {"name": rule["metadata"]["name"]}}  # as a user writes it
        (directory / f"{rule['metadata']['name']}.yaml").write_text(yaml.safe_dump(manifest))
    return directory


def inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["webhook", "inspect", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def inspect_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out = inspect(capsys, *args, "-o", "json")
    return code, json.loads(out)


def headers_file(tmp_path: Path, headers: dict[str, str]) -> str:
    path = tmp_path / "headers.json"
    path.write_text(json.dumps(headers))
    return str(path)


@pytest.mark.parametrize(("name", "provider", "key", "event", "ref"), CASES)
def test_every_shared_payload_verifies_and_fires_its_rule(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    provider: str,
    key: WebhookSecret,
    event: str | None,
    ref: str,
) -> None:
    body = payload(name)
    ref_type, short = ("Tag" if ref.startswith("refs/tags/") else "Branch"), ref.split("/", 2)[2]
    rules = write_rules(
        tmp_path / "rules",
        build_rule(
            "hit", ref_type=ref_type, branch=short, tags=[{"tag": "${ref}"}, {"tag": "x", "commitId": True}]
        ),
        build_rule("miss", branch="never-pushed"),
    )
    headers = sign(provider, body.read_bytes(), key, event=event)
    mode = ["--gitee-mode", "password"] if provider == "gitee" else []
    code, report = inspect_json(
        capsys,
        *("--provider", provider, "--headers", headers_file(tmp_path, headers), "--body", str(body)),
        *("--secret", SECRET, "--rules", str(rules), *mode),
    )
    assert code == 0
    assert report["verified"] is True
    assert report["event"]["ref"] == ref
    assert report["ignored"] is None
    commit = report["event"]["commit"]
    assert report["builds"] == [
        {"rule": "hit", "repository": "app", "ref": ref, "tags": [short, f"x-{commit[:6]}"]}
    ]


def test_json_output_for_the_branch_push(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = payload("github-push-branch.json")
    rules = write_rules(tmp_path / "rules", CHANGES_RULE, PATTERN_RULE, MAIN_RULE)
    headers = headers_file(
        tmp_path, sign("github", body.read_bytes(), SharedSecret(SECRET), delivery_id="d-1")
    )
    code, report = inspect_json(
        capsys,
        "--provider",
        "github",
        "--headers",
        headers,
        "--body",
        str(body),
        "--secret",
        SECRET,
        "--rules",
        str(rules),
    )
    assert code == 0
    assert {"verified", "event", "ignored", "builds"} <= set(report)
    assert report["event"]["delivery_id"] == "d-1"
    assert {b["rule"]: b["tags"] for b in report["builds"]} == {
        "changes": ["latest", "changes-0d1a26e"],
        "pattern": ["v-ges-20150506"],
    }


def test_rules_saved_from_a_cluster_fire_whatever_namespace_they_carry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `kubectl get buildrule -o yaml` keeps metadata.namespace (and adds server-set fields)
    rules = tmp_path / "rules"
    rules.mkdir()
    for rule, namespace in ((CHANGES_RULE, "kiln-acme"), (PATTERN_RULE, "kiln-other")):
        saved = {
            **rule,
            "metadata": {**rule["metadata"], "namespace": namespace, "uid": "1", "generation": 1},
        }
        (rules / f"{rule['metadata']['name']}.yaml").write_text(yaml.safe_dump(saved))
    body = payload("github-push-branch.json")
    headers = headers_file(tmp_path, sign("github", body.read_bytes(), SharedSecret(SECRET)))
    code, report = inspect_json(
        capsys, "--provider", "github", "--headers", headers, "--body", str(body), "--rules", str(rules)
    )
    assert code == 0
    assert {b["rule"]: b["tags"] for b in report["builds"]} == {
        "changes": ["latest", "changes-0d1a26e"],
        "pattern": ["v-ges-20150506"],
    }


def test_wrong_secret_is_reported_unverified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = payload("github-push-branch.json")
    headers = headers_file(tmp_path, sign("github", body.read_bytes(), SharedSecret("other")))
    code, report = inspect_json(
        capsys, "--provider", "github", "--headers", headers, "--body", str(body), "--secret", SECRET
    )
    assert code == 1
    assert (report["verified"], report["event"], report["status"]) == (False, None, 401)
    assert report["builds"] == []


def test_without_secret_verification_is_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = payload("github-ping.json")
    headers = headers_file(tmp_path, {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "p-1"})
    code, report = inspect_json(capsys, "--provider", "github", "--headers", headers, "--body", str(body))
    assert code == 0
    assert (report["verified"], report["event"], report["ping"]["delivery_id"]) == (None, None, "p-1")


def test_headers_as_lines_and_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = payload("github-push-branch.json")
    signed = sign("github", body.read_bytes(), SharedSecret(SECRET))
    headers = tmp_path / "headers.txt"
    headers.write_text("".join(f"{k}: {v}\n" for k, v in signed.items()))
    rules = write_rules(tmp_path / "rules", CHANGES_RULE)
    code, out = inspect(
        capsys,
        "--provider",
        "github",
        "--headers",
        str(headers),
        "--body",
        str(body),
        "--secret",
        SECRET,
        "--rules",
        str(rules),
    )
    assert code == 0
    assert "verified:  yes" in out
    assert "build:     changes (refs/heads/changes) -> latest, changes-0d1a26e" in out


def test_ignored_push_reports_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(payload("github-push-branch.json").read_bytes())
    document["head_commit"]["message"] = "wip [ci skip]"
    body = tmp_path / "body.json"
    body.write_text(json.dumps(document))
    headers = headers_file(tmp_path, {"X-GitHub-Event": "push"})
    code, report = inspect_json(capsys, "--provider", "github", "--headers", headers, "--body", str(body))
    assert code == 0
    assert report["ignored"] == "[ci skip] in the head commit message"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("invalid-rule", "invalid BuildRule"),
        ("no-yaml", "no *.yaml or *.yml files"),
        ("missing-body", "No such file"),
        ("bad-headers", "neither a JSON object nor"),
    ],
)
def test_user_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    body = str(payload("github-push-branch.json"))
    headers = headers_file(tmp_path, {"X-GitHub-Event": "push"})
    rules = tmp_path / "rules"
    rules.mkdir()
    if setup == "invalid-rule":
        bad = build_rule("bad", branch="main")
        bad["spec"]["tags"] = []
        write_rules(rules, bad)
    if setup == "missing-body":
        body = str(tmp_path / "absent.json")
    if setup == "bad-headers":
        Path(headers).write_text("no colon here")
    args = ["--provider", "github", "--headers", headers, "--body", body]
    code, out = inspect(
        capsys, *args, *(["--rules", str(rules)] if setup in ("invalid-rule", "no-yaml") else [])
    )
    assert code == 2
    assert message in out


def test_headers_file_that_is_not_utf8_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    headers = tmp_path / "headers.txt"
    headers.write_bytes(b"X-GitHub-Event: push\nX-GitHub-Delivery: \xff\xfe\n")
    body = str(payload("github-push-branch.json"))
    code, out = inspect(capsys, "--provider", "github", "--headers", str(headers), "--body", body)
    assert code == 2
    assert out.startswith("kiln: error: ")
    assert "not UTF-8" in out
    assert "Traceback" not in out


RECORDED = Path(__file__).resolve().parents[1] / "webhooks" / "payloads"
SIGNED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("provider", "key", "secret", "mode"),
    [
        (
            "gitlab",
            GitLabSecret(signing_token="whsec_" + base64.b64encode(b"k" * 32).decode()),
            "whsec_" + base64.b64encode(b"k" * 32).decode(),
            [],
        ),
        ("gitee", GiteeSecret(SECRET, GiteeMode.SIGNATURE), SECRET, ["--gitee-mode", "signature"]),
    ],
)
def test_recorded_timestamped_delivery_verifies_at_its_time(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    provider: str,
    key: WebhookSecret,
    secret: str,
    mode: list[str],
) -> None:
    """GitLab signing tokens and Gitee signatures hold only within a window around their timestamp:
    a recorded delivery is checked with --at as the clock."""
    body = payload("gitlab-push-hook.json" if provider == "gitlab" else "gitee-push.json")
    headers = headers_file(tmp_path, sign(provider, body.read_bytes(), key, now=SIGNED_AT))
    args = ["--provider", provider, "--headers", headers, "--body", str(body), "--secret", secret, *mode]
    code, late = inspect_json(capsys, *args)  # today: long past the window
    assert (code, late["verified"], late["status"]) == (1, False, 401)
    assert "away from the current time" in late["error"]
    code, report = inspect_json(capsys, *args, "--at", "2024-05-01T12:01:30Z")
    assert (code, report["verified"], report["error"]) == (0, True, None)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("yesterday", "not an ISO 8601 time"),
        ("2024-05-01T12:00:00", "no time zone"),
        ("9999-12-31T23:59:59-14:00", "ends of the calendar"),
    ],
)
def test_unusable_at_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at: str, message: str
) -> None:
    headers = headers_file(tmp_path, {"X-GitHub-Event": "push"})
    body = str(payload("github-push-branch.json"))
    code, out = inspect(capsys, "--provider", "github", "--headers", headers, "--body", body, "--at", at)
    assert code == 2
    assert message in out


def test_commit_date_past_the_calendar_to_the_arrival_time_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = RECORDED / "gitlab" / "own-push-far-future-commit.json"  # dated 9999-12-31T23:46:39-14:00
    headers = headers_file(tmp_path, {"X-Gitlab-Event": "Push Hook"})
    rules = write_rules(
        tmp_path / "rules", build_rule("main", branch="main", tags=[{"tag": "v", "buildTime": "yyyy"}])
    )
    args = ["--provider", "gitlab", "--headers", headers, "--body", str(body), "--rules", str(rules)]
    code, report = inspect_json(capsys, *args, "--at", "2024-05-01T20:30:00+08:00")
    assert code == 0
    assert report["event"]["pushed_at"] == "2024-05-01T20:30:00+08:00"
    assert report["builds"] == [
        {"rule": "main", "repository": "app", "ref": "refs/heads/main", "tags": ["v-2024"]}
    ]
    code, out = inspect(capsys, *args)
    assert code == 0
    assert "Traceback" not in out


def test_text_output_escapes_what_a_terminal_would_not_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(payload("github-push-branch.json").read_bytes())
    document["sender"]["login"] = "mallory\u202e\x1b[2J"
    body = tmp_path / "body.json"
    body.write_text(json.dumps(document))
    headers = headers_file(tmp_path, {"X-GitHub-Event": "push"})
    code, out = inspect(capsys, "--provider", "github", "--headers", headers, "--body", str(body))
    assert code == 0
    assert "by mallory\\u202e\\x1b[2J" in out
    assert "\u202e" not in out
    assert "\x1b" not in out


def test_delivery_with_more_refs_than_one_may_build_shows_the_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(payload("bitbucket-server-repo-refs-changed.json").read_bytes())
    change = document["changes"][0]
    document["changes"] = [{**change, "refId": f"refs/heads/b{i}", "ref": None} for i in range(150)]
    body = tmp_path / "body.json"
    body.write_text(json.dumps(document))
    headers = headers_file(tmp_path, {"X-Event-Key": "repo:refs_changed"})
    args = ["--provider", "bitbucket-server", "--headers", headers, "--body", str(body)]
    code, report = inspect_json(capsys, *args)
    assert code == 0
    assert len(report["events"]) == 100
    assert (report["cut"]["limit"], report["cut"]["count"]) == (100, 50)
    assert report["cut"]["refs"][0] == "refs/heads/b100"
    code, out = inspect(capsys, *args)
    assert "cut:       50 more ref(s) not built: one delivery builds at most 100 refs (see cut)" in out
