"""`kiln job render`: BuildRun, BuildRule, Repository and tenant files -> the Job the operator would create."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kiln.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
FILES = [
    "-f", str(EXAMPLES / "buildrun.yaml"),
    "--rule", str(EXAMPLES / "buildrule-release.yaml"),
    "--repository", str(EXAMPLES / "repository.yaml"),
    "--tenant", str(EXAMPLES / "namespace.yaml"),
]  # fmt: skip


def render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["job", "render", *FILES, *args])
    out = capsys.readouterr()
    return code, [d for d in yaml.safe_load_all(out.out) if d], out.err


def test_examples_to_the_buildkit_job(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KILN_BUILD_STRATEGY", raising=False)
    code, documents, _ = render(capsys)
    assert code == 0
    (job,) = documents
    assert (job["kind"], job["metadata"]["name"], job["metadata"]["namespace"]) == (
        "Job",
        "release-d4ef3dc",
        "kiln-acme",
    )  # type: ignore[index]
    (build,) = job["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert build["image"].startswith("moby/buildkit:") and "--output" in build["command"]


def test_settings_file_and_strategy_choose_the_job(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(
        "# the local harness\nKILN_BUILDAH_IMAGE=localhost/kiln/builder:1\nKILN_INSECURE_REGISTRIES=registry.example.com\n"
    )
    code, documents, _ = render(capsys, "--strategy", "buildah", "--settings", str(settings))
    assert code == 0
    config_map, job = documents
    assert config_map["kind"] == "ConfigMap" and job["kind"] == "Job"
    (build,) = job["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert build["image"] == "localhost/kiln/builder:1"


def test_bad_settings_and_mismatched_objects_are_clear_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("KILN_BUILD_STRATEGY: kaniko\n")
    code, _, err = render(capsys, "--settings", str(settings))
    assert code == 2 and "KILN_BUILD_STRATEGY" in err
    code = main(["job", "render", *FILES[:2], "--rule", str(EXAMPLES / "buildrule-main.yaml"), *FILES[4:]])
    err = capsys.readouterr().err
    assert code == 2 and "InvalidRule" in err and "release" in err
