"""BuildRun -> BuildKit Job: the buildctl command line, both modes' pods, the buildkitd.toml."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.builds import BUILDKIT_VERSION, BuildConfig, BuildkitMode, Strategy, buildctl_args, cache_ref
from kiln.builds.scripts import BUILDKIT_SCRIPT

from .objects import NASTY, build_container, clone_container, inputs, plan, pod_spec

PRIVILEGED = BuildConfig(buildkit_mode=BuildkitMode.PRIVILEGED)
REF = "registry.example.com/acme/app:v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45"
CACHE = "registry.example.com/acme/app-kiln-cache-main:buildkit"


def args(config: BuildConfig | None = None, **kwargs: Any) -> list[str]:
    return buildctl_args(inputs(**kwargs), config or BuildConfig())


def opts(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_command_runs_the_script_with_buildctl_arguments() -> None:
    c = build_container(plan(Strategy.BUILDKIT))
    assert c["command"][:4] == ["/bin/sh", "-c", BUILDKIT_SCRIPT, "kiln-build"]
    assert c["command"][4:] == args()
    assert 'buildctl-daemonless.sh "$@"' in BUILDKIT_SCRIPT


def test_default_command_line() -> None:
    assert args() == [
        "build",
        "--frontend",
        "dockerfile.v0",
        "--local",
        "context=/workspace/source",
        "--local",
        "dockerfile=/workspace/source",
        "--opt",
        "filename=Dockerfile",
        "--opt",
        "platform=linux/amd64",
        "--output",
        f'type=image,"name={REF}",push=true',
        "--export-cache",
        f"type=registry,ref={CACHE},mode=max,ignore-error=true",
        "--import-cache",
        f"type=registry,ref={CACHE}",
        "--metadata-file",
        "/tmp/kiln/metadata.json",
        "--progress",
        "plain",
    ]


def test_context_dir_and_dockerfile() -> None:
    argv = args(rule_file="buildrule-tags.yaml")
    assert opts(argv, "--local") == [
        "context=/workspace/source/server",
        "dockerfile=/workspace/source/server/build",
    ]
    assert "filename=Dockerfile" in opts(argv, "--opt")


def test_platforms_and_build_args() -> None:
    argv = args(rule_file="buildrule-tags.yaml")
    assert opts(argv, "--opt") == [
        "filename=Dockerfile",
        "platform=linux/amd64,linux/arm64",
        "build-arg:CGO_ENABLED=0",
        "build-arg:GO_VERSION=1.22",
    ]


def test_build_arg_values_are_passed_untouched() -> None:
    """The value is one argv word after `"$@"`: no shell ever parses it, and buildctl splits an
    --opt at the first '=' only."""
    argv = args(rule={"buildArgs": {"EVIL": NASTY, "EQ": "a=b,c"}})
    assert f"build-arg:EVIL={NASTY}" in argv
    assert "build-arg:EQ=a=b,c" in argv
    assert NASTY not in BUILDKIT_SCRIPT


def test_every_tag_is_pushed_in_one_output() -> None:
    tags = ["1.2.3", "1.2", "latest"]
    argv = args(run={"tags": tags})
    names = ",".join(f"registry.example.com/acme/app:{t}" for t in tags)
    assert opts(argv, "--output") == [f'type=image,"name={names}",push=true']


def test_no_cache_skips_the_registry_cache() -> None:
    argv = args(repository={"build": {"noCache": True}})
    assert "no-cache=" in opts(argv, "--opt")
    assert "--export-cache" not in argv and "--import-cache" not in argv


def test_cache_ref_is_per_tenant_and_rule() -> None:
    config = BuildConfig()
    refs = {
        cache_ref(inputs(rule_file, tenant=tenant), config)
        for rule_file in ("buildrule-main.yaml", "buildrule-release.yaml")
        for tenant in ("acme", "globex")
    }
    assert refs == {
        "registry.example.com/acme/app-kiln-cache-main:buildkit",
        "registry.example.com/acme/app-kiln-cache-release:buildkit",
        "registry.example.com/globex/app-kiln-cache-main:buildkit",
        "registry.example.com/globex/app-kiln-cache-release:buildkit",
    }
    custom = BuildConfig(cache_repository="cache/{image}/{rule}")
    assert cache_ref(inputs(), custom) == "registry.example.com/acme/cache/app/main:buildkit"
    assert cache_ref(inputs(registry_server="127.0.0.1:5000/team"), config) == (
        "127.0.0.1:5000/team/acme/app-kiln-cache-main:buildkit"
    )


def test_insecure_registry() -> None:
    config = BuildConfig(insecure_registries=("127.0.0.1:5000", "mirror.local"))
    argv = args(registry_server="127.0.0.1:5000", config=config)
    assert opts(argv, "--output")[0].endswith(",push=true,registry.insecure=true")
    assert opts(argv, "--export-cache")[0].endswith(",registry.insecure=true")
    assert opts(argv, "--import-cache")[0].endswith(",registry.insecure=true")
    # a secure tenant registry gets none of it, even with insecure registries configured
    assert "registry.insecure" not in " ".join(args(config=config))
    p = plan(Strategy.BUILDKIT, config, registry_server="127.0.0.1:5000")
    assert p.config_map is not None
    assert p.config_map["data"] == {
        "buildkitd.toml": '[registry."127.0.0.1:5000"]\n  http = true\n\n[registry."mirror.local"]\n  http = true\n\n'
    }


def test_rootless_pod() -> None:
    p = plan(Strategy.BUILDKIT, BuildConfig(insecure_registries=("127.0.0.1:5000",)))
    c = build_container(p)
    assert c["image"] == f"moby/buildkit:{BUILDKIT_VERSION}-rootless"
    assert c["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "privileged": False,
        "allowPrivilegeEscalation": True,
        "seccompProfile": {"type": "Unconfined"},
    }
    assert p.job["spec"]["template"]["metadata"]["annotations"] == {
        "container.apparmor.security.beta.kubernetes.io/build": "unconfined"
    }
    assert {"name": "BUILDKITD_FLAGS", "value": "--oci-worker-no-process-sandbox"} in c["env"]
    assert {"name": "DOCKER_CONFIG", "value": "/kiln/registry"} in c["env"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/home/user/.local/share/buildkit"]["name"] == "buildkitd"
    assert mounts["/home/user/.config/buildkit"] == {
        "name": "build-config",
        "mountPath": "/home/user/.config/buildkit",
        "readOnly": True,
    }
    spec = pod_spec(p)
    assert {"name": "buildkitd", "emptyDir": {}} in spec["volumes"]
    assert spec["securityContext"] == {"fsGroup": 1000}
    assert clone_container(p)["securityContext"]["runAsUser"] == 1000


def test_privileged_pod() -> None:
    p = plan(
        Strategy.BUILDKIT, BuildConfig(buildkit_mode=BuildkitMode.PRIVILEGED, insecure_registries=("r:1",))
    )
    c = build_container(p)
    assert c["image"] == f"moby/buildkit:{BUILDKIT_VERSION}"
    assert c["securityContext"] == {"privileged": True}
    assert all(e["name"] != "BUILDKITD_FLAGS" for e in c["env"])
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/var/lib/buildkit"] == "buildkitd"
    assert mounts["/etc/buildkit"] == "build-config"
    assert "annotations" not in p.job["spec"]["template"]["metadata"]
    assert "securityContext" not in pod_spec(p)
    assert clone_container(p)["securityContext"]["runAsUser"] == 0


def test_config_validates() -> None:
    with pytest.raises(ValueError, match="host"):
        BuildConfig(insecure_registries=("http://127.0.0.1:5000",))
    with pytest.raises(ValueError, match="cache_repository"):
        BuildConfig(cache_repository="{image}-cache")
    with pytest.raises(ValueError, match="cache_repository"):
        BuildConfig(cache_repository="{image}-{rule}-{tenant}")
    with pytest.raises(ValueError, match="image"):
        BuildConfig(clone_image="")
    with pytest.raises(ValueError, match="pull policy"):
        BuildConfig(image_pull_policy="Sometimes")
    assert PRIVILEGED.image_for(Strategy.BUILDKIT) == f"moby/buildkit:{BUILDKIT_VERSION}"
