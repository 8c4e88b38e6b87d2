"""BuildRun -> buildah Job: the command lines, run for real by the generated script against a fake
buildah that records its argv."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiln.builds import BuildConfig, Strategy, buildah_commands, parse_termination_message
from kiln.builds.buildah import words
from kiln.builds.scripts import AUTH_FLAG, REGISTRY_AUTH_FILE, TERMINATION_LOG, WORK_DIR

from .objects import (
    DIGEST,
    NASTY,
    build_container,
    fake_program,
    inputs,
    plan,
    pod_spec,
    recorded_argv,
    run_script,
)

REF = "registry.example.com/acme/app:v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45"
CACHE = "registry.example.com/acme/app-kiln-cache-main"
BUILDAH = ["buildah", "--storage-driver", "vfs"]

# Prints what buildah 1.28 prints for a cached, remotely cached build (tests/bud.bats), and writes
# the digest file of a push.
FAKE_BUILDAH = f"""
if "bud" in args:
    print("STEP 1/3: FROM alpine")
    print("STEP 2/3: RUN echo hello")
    print("--> Cache pulled from remote {CACHE}:abc")
    print("STEP 3/3: RUN make")
    print("--> Pushing cache {CACHE}:def")
    print("COMMIT")
if "--digestfile" in args:
    pathlib.Path(args[args.index("--digestfile") + 1]).write_text({DIGEST!r})
"""


def script_of(**kwargs: Any) -> str:
    config = kwargs.pop("config", BuildConfig())
    c = build_container(plan(Strategy.BUILDAH, config, **kwargs))
    assert c["command"][:2] == ["/bin/bash", "-c"]
    script: str = c["command"][2]
    return script


def run(tmp_path: Path, script: str, *, auth: bool = False) -> tuple[list[list[str]], str]:
    """Run the script with the fake buildah; the argv of each call and the termination message."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_program(bin_dir, "buildah", FAKE_BUILDAH)
    auth_file = tmp_path / "config.json"
    if auth:
        auth_file.write_text("{}")
    result = run_script(
        script,
        [],
        shell="bash",
        bin_dir=bin_dir,
        work=tmp_path,
        replace={
            WORK_DIR: str(tmp_path / "work"),
            TERMINATION_LOG: str(tmp_path / "termination-log"),
            REGISTRY_AUTH_FILE: str(auth_file),
        },
    )
    assert result.returncode == 0, result.stderr
    return recorded_argv(bin_dir), (tmp_path / "termination-log").read_text()


def test_one_platform_builds_with_layers_and_cache() -> None:
    commands = buildah_commands(inputs(), BuildConfig())
    assert commands.build == (
        *BUILDAH,
        "bud",
        "--isolation",
        "chroot",
        "--layers",
        AUTH_FLAG,
        "--platform",
        "linux/amd64",
        "-f",
        "/workspace/source/Dockerfile",
        "--cache-from",
        CACHE,
        "--cache-to",
        CACHE,
        "-t",
        REF,
        "/workspace/source",
    )
    assert commands.pushes == (
        (*BUILDAH, "push", AUTH_FLAG, "--digestfile", "/tmp/kiln/digest", REF, f"docker://{REF}"),
    )
    assert commands.cache


def test_several_platforms_build_a_manifest_list_without_layers() -> None:
    commands = buildah_commands(inputs("buildrule-tags.yaml", run={"tags": ["1.2.3", "1.2"]}), BuildConfig())
    build = words(commands.build)
    assert build[:6] == [*BUILDAH, "bud", "--isolation", "chroot"]
    assert "--layers=false" in build and "--layers" not in build
    assert build[build.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert build[build.index("--manifest") + 1] == "kiln-build"
    assert "--cache-from" not in build and "--cache-to" not in build and "-t" not in build
    assert build[build.index("-f") + 1] == "/workspace/source/server/build/Dockerfile"
    assert build[-1] == "/workspace/source/server"
    assert [words(p) for p in commands.pushes] == [
        [
            *BUILDAH,
            "manifest",
            "push",
            "--all",
            "--digestfile",
            "/tmp/kiln/digest",
            "kiln-build",
            f"docker://registry.example.com/acme/app:{t}",
        ]
        for t in ("1.2.3", "1.2")
    ]
    assert not commands.cache


def test_no_cache() -> None:
    build = words(buildah_commands(inputs(repository={"build": {"noCache": True}}), BuildConfig()).build)
    assert "--no-cache" in build
    assert "--cache-from" not in build and "--cache-to" not in build


def test_cache_repository_is_per_tenant_and_rule() -> None:
    repos = set()
    for rule_file in ("buildrule-main.yaml", "buildrule-release.yaml"):
        for tenant in ("acme", "globex"):
            build = words(buildah_commands(inputs(rule_file, tenant=tenant), BuildConfig()).build)
            assert build[build.index("--cache-from") + 1] == build[build.index("--cache-to") + 1]
            repos.add(build[build.index("--cache-to") + 1])
    assert len(repos) == 4
    assert "registry.example.com/globex/app-kiln-cache-release" in repos


def test_script_runs_every_tag_push_and_reports_the_digest(tmp_path: Path) -> None:
    tags = ["1.2.3", "1.2", "latest"]
    calls, message = run(tmp_path, script_of(run={"tags": tags}))
    refs = [f"registry.example.com/acme/app:{t}" for t in tags]
    build, *pushes = calls
    assert build[1:5] == ["--storage-driver", "vfs", "bud", "--isolation"]
    assert [build[i + 1] for i, a in enumerate(build) if a == "-t"] == refs
    assert "--authfile" not in build  # no push Secret mounted: no --authfile
    assert [p[4:] for p in pushes] == [
        ["--digestfile", str(tmp_path / "work" / "digest"), r, f"docker://{r}"] for r in refs
    ]
    result = parse_termination_message(message)
    assert (result.digest, result.cache_imported, result.cache_exported) == (DIGEST, True, True)
    assert json.loads(message) == {"digest": DIGEST, "cacheImported": True, "cacheExported": True}


def test_script_passes_the_authfile_when_the_push_secret_is_mounted(tmp_path: Path) -> None:
    calls, _ = run(tmp_path, script_of(), auth=True)
    for argv in calls:
        assert argv[argv.index("--authfile") + 1] == str(tmp_path / "config.json")


def test_script_passes_build_args_verbatim(tmp_path: Path) -> None:
    """Values with spaces, quotes and command substitutions reach buildah as one word each."""
    args = {"EVIL": NASTY, "EMPTY": "", "NEWLINE": "a\nb", "QUOTE": "'"}
    calls, _ = run(tmp_path, script_of(rule={"buildArgs": args}))
    build = calls[0]
    assert [build[i + 1] for i, a in enumerate(build) if a == "--build-arg"] == [
        f"{k}={v}" for k, v in sorted(args.items())
    ]
    assert not (tmp_path / "bin" / "id").exists()


def test_script_quotes_odd_paths(tmp_path: Path) -> None:
    calls, _ = run(tmp_path, script_of(rule={"contextDir": "/my dir/$(x)", "dockerfile": "a,b.Dockerfile"}))
    build = calls[0]
    assert build[-1] == "/workspace/source/my dir/$(x)"
    # -f is a comma-separated list in buildah 1.28: a comma in the path is CSV-quoted
    assert build[build.index("-f") + 1] == '"/workspace/source/my dir/$(x)/a,b.Dockerfile"'


def test_multi_platform_script_pushes_the_list(tmp_path: Path) -> None:
    calls, message = run(tmp_path, script_of(rule_file="buildrule-tags.yaml"))
    assert [c[3:6] for c in calls[1:]] == [["manifest", "push", "--all"]]
    # no layer cache with several platforms: nothing to report as imported or exported
    assert json.loads(message) == {"digest": DIGEST, "cacheImported": False, "cacheExported": False}


def test_failed_build_writes_no_message_and_keeps_the_status(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_program(
        bin_dir,
        "buildah",
        'print("STEP 1/1: RUN false"); print("Error: building at STEP \\"RUN false\\": exit status 1"); sys.exit(3)',
    )
    result = run_script(
        script_of(),
        [],
        shell="bash",
        bin_dir=bin_dir,
        work=tmp_path,
        replace={WORK_DIR: str(tmp_path / "work"), TERMINATION_LOG: str(tmp_path / "termination-log")},
    )
    assert result.returncode == 3
    assert "Error: building at STEP" in result.stdout
    assert len(recorded_argv(bin_dir)) == 1  # nothing pushed
    assert not (tmp_path / "termination-log").exists()


def test_pod() -> None:
    p = plan(
        Strategy.BUILDAH,
        BuildConfig(buildah_image="kiln/builder:bookworm-1", insecure_registries=("127.0.0.1:5000",)),
    )
    c = build_container(p)
    assert c["image"] == "kiln/builder:bookworm-1"
    assert c["securityContext"] == {
        "runAsUser": 0,
        "runAsGroup": 0,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "capabilities": {"add": ["SETFCAP"]},
    }
    assert "env" not in c
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/var/lib/containers"]["name"] == "containers-storage"
    assert mounts["/etc/containers/registries.conf.d/50-kiln-insecure.conf"] == {
        "name": "build-config",
        "mountPath": "/etc/containers/registries.conf.d/50-kiln-insecure.conf",
        "readOnly": True,
        "subPath": "registries.conf",
    }
    assert p.config_map is not None
    assert p.config_map["data"] == {
        "registries.conf": '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n\n'
    }
    assert "annotations" not in p.job["spec"]["template"]["metadata"]
    assert "securityContext" not in pod_spec(p)
    # plain HTTP is allowed through the drop-in for the listed registries only, not --tls-verify=false
    assert "tls-verify" not in c["command"][2]


@pytest.mark.parametrize("tags", [["a"], ["a", "b", "c"]])
def test_every_tag_has_a_push(tags: list[str]) -> None:
    for rule_file in ("buildrule-main.yaml", "buildrule-tags.yaml"):
        commands = buildah_commands(inputs(rule_file, run={"tags": tags}), BuildConfig())
        assert [words(p)[-1] for p in commands.pushes] == [
            f"docker://registry.example.com/acme/app:{t}" for t in tags
        ]
