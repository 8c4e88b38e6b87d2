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


def test_mirrors_pools_and_estargz_show_in_the_rendered_job(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KILN_BUILD_STRATEGY", raising=False)
    settings = tmp_path / "settings.env"
    settings.write_text(
        "KILN_REGISTRY_MIRRORS=docker.io=mirror.local:5000\n"
        'KILN_BUILD_POOLS={"overseas": {"nodeSelector": {"region": "sg"}}}\n'
    )
    repository = yaml.safe_load((EXAMPLES / "repository.yaml").read_text())
    repository["spec"]["build"] = {"accelerated": True, "pool": "overseas"}
    tenant = yaml.safe_load((EXAMPLES / "namespace.yaml").read_text())
    tenant["spec"]["buildPools"] = ["overseas"]
    (tmp_path / "repository.yaml").write_text(yaml.safe_dump(repository))
    (tmp_path / "namespace.yaml").write_text(yaml.safe_dump(tenant))
    files = [
        *FILES[:4],
        "--repository",
        str(tmp_path / "repository.yaml"),
        "--tenant",
        str(tmp_path / "namespace.yaml"),
    ]
    code = main(["job", "render", *files, "--settings", str(settings)])
    out = capsys.readouterr()
    assert code == 0, out.err
    config_map, job = [d for d in yaml.safe_load_all(out.out) if d]
    assert 'mirrors = ["mirror.local:5000"]' in config_map["data"]["buildkitd.toml"]
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"region": "sg"}
    (build,) = pod["containers"]
    assert "compression=estargz" in build["command"][2]
    # a tenant that does not allow the pool: the reason, not a Job
    tenant["spec"]["buildPools"] = []
    (tmp_path / "namespace.yaml").write_text(yaml.safe_dump(tenant))
    code = main(["job", "render", *files, "--settings", str(settings)])
    err = capsys.readouterr().err
    assert code == 2 and "InvalidRepository" in err and "spec.build.pool" in err
