"""BuildRuns, BuildRules and Repositories as the API returns them -> the rows `kiln get` prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kiln.views import Tone, age, buildrun_table, duration, format_table, repository_table, rule_table

NOW = datetime(2026, 1, 2, 3, 10, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


def run(name: str, created: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {
            "buildRule": "main",
            "repository": "app",
            "trigger": {"type": "Manual", "sender": "alice"},
            "source": {"ref": "refs/heads/main", "commit": "0123456789" * 4},
            "tags": ["latest", "main"],
        },
        "status": status,
    }


def rows(table: Any) -> list[dict[str, str]]:
    return [dict(zip(table.headers, (c.text for c in row), strict=True)) for row in table.rows]


def test_buildruns_oldest_first_with_phase_tags_digest_progress_duration_and_age() -> None:
    done = run(
        "main-b", "2026-01-02T03:00:00Z", phase="Succeeded", shortCommit="0123456",
        startTime="2026-01-02T03:00:05Z", completionTime="2026-01-02T03:01:30Z",
        images=[{"ref": "r/app:latest", "digest": DIGEST}, {"ref": "r/app:main", "digest": DIGEST}],
    )  # fmt: skip
    running = run(
        "main-a", "2026-01-02T03:08:00Z", phase="Running",
        startTime="2026-01-02T03:08:20Z", progress={"summary": "3/7 (2 cached)"},
    )  # fmt: skip
    table = buildrun_table([running, done], NOW)
    assert table.headers == (
        "NAME", "RULE", "REF", "COMMIT", "PHASE", "PROGRESS", "TAGS", "DIGEST", "DURATION", "AGE",
    )  # fmt: skip
    assert rows(table) == [
        {
            "NAME": "main-b", "RULE": "main", "REF": "main", "COMMIT": "0123456", "PHASE": "Succeeded",
            "PROGRESS": "", "TAGS": "latest,main", "DIGEST": "sha256:abababababab", "DURATION": "1m25s",
            "AGE": "10m",
        },
        {
            "NAME": "main-a", "RULE": "main", "REF": "main", "COMMIT": "0123456", "PHASE": "Running",
            "PROGRESS": "3/7 (2 cached)", "TAGS": "latest,main", "DIGEST": "", "DURATION": "1m40s",
            "AGE": "2m",
        },
    ]  # fmt: skip
    assert [row[4].tone for row in table.rows] == [Tone.GOOD, Tone.BUSY]


def test_wide_buildruns_add_trigger_reason_image_and_message_before_the_age() -> None:
    failed = run(
        "main-c", "2026-01-02T03:00:00Z", phase="Failed", message="step 2: RUN make\nexit 2",
        conditions=[{"type": "Succeeded", "status": "False", "reason": "BuildFailed"}],
        images=[{"ref": "r/app:latest"}],
    )  # fmt: skip
    (row,) = rows(buildrun_table([failed], NOW, wide=True))
    assert list(row)[-5:] == ["TRIGGER", "REASON", "IMAGE", "MESSAGE", "AGE"]
    assert (row["TRIGGER"], row["REASON"], row["IMAGE"]) == ("Manual by alice", "BuildFailed", "r/app:latest")
    assert row["MESSAGE"] == "step 2: RUN make"  # the first line: a table row stays one line


def test_a_buildrun_the_operator_has_not_seen_has_empty_cells() -> None:
    (row,) = rows(buildrun_table([{"metadata": {"name": "new"}, "spec": {}}], NOW))
    assert row["NAME"] == "new" and row["PHASE"] == "" and row["AGE"] == "<unknown>"


def test_rules_show_the_tag_summary_written_or_worked_out() -> None:
    written = {
        "metadata": {"name": "release", "creationTimestamp": "2026-01-01T03:10:00Z"},
        "spec": {"repository": "app", "source": {"type": "Branch", "pattern": "release-.*"}, "tags": [{"tag": "x"}]},
        "status": {"tagSummary": "${imageTag}-yyyyMMddHHmm-<commit:30>", "manualBuild": "Refused",
                   "conditions": [{"type": "Valid", "status": "True"}]},
    }  # fmt: skip
    unseen = {
        "metadata": {"name": "main", "creationTimestamp": "2026-01-02T03:09:00Z"},
        "spec": {"repository": "app", "source": {"type": "Branch", "name": "main"},
                 "tags": [{"tag": "v", "commitId": True}]},
    }  # fmt: skip
    table = rule_table([unseen, written], NOW)
    assert [(r["NAME"], r["SOURCE"], r["TAGS"], r["MANUAL"], r["VALID"], r["AGE"]) for r in rows(table)] == [
        ("release", "Branch /release-.*/", "${imageTag}-yyyyMMddHHmm-<commit:30>", "Refused", "True", "24h"),
        ("main", "Branch main", "v-<commit:6>", "", "", "1m"),
    ]


def test_repositories_with_readiness_and_image() -> None:
    repo = {
        "metadata": {"name": "app", "creationTimestamp": "2026-01-02T03:09:59Z"},
        "spec": {"source": {"provider": "github", "url": "https://github.com/acme/app.git"}},
        "status": {
            "image": "r/acme/app",
            "conditions": [{"type": "Ready", "status": "False", "message": "no token"}],
        },
    }
    table = repository_table([repo], NOW, wide=True)
    (row,) = rows(table)
    assert (row["PROVIDER"], row["URL"], row["READY"], row["IMAGE"]) == (
        "github",
        "https://github.com/acme/app.git",
        "False",
        "r/acme/app",
    )
    assert (row["AUTO BUILD"], row["REASON"], row["AGE"]) == ("true", "no token", "1s")
    assert table.rows[0][3].tone is Tone.BAD


def test_plain_lines_align_columns_as_kubectl_does() -> None:
    lines = format_table(buildrun_table([run("a-long-name", "2026-01-02T03:09:00Z", phase="Pending")], NOW))
    assert lines[0].index("RULE") == lines[1].index("main") == len("a-long-name") + 3
    assert lines[0].endswith("AGE") and lines[1].endswith("1m")


def test_ages_and_durations_in_kubectls_units() -> None:
    assert [age(f"2026-01-02T{t}Z", NOW) for t in ("03:09:55", "03:05:30", "02:00:00", "01:10:00")] == [
        "5s", "4m30s", "1h10m", "2h",
    ]  # fmt: skip
    assert age("2025-12-30T03:10:00Z", NOW) == "3d"
    assert duration(None, None, NOW) == ""
    assert duration("2026-01-02T03:09:00Z", None, NOW) == "1m"  # running: until now
