"""BuildRun -> Job: the parts every strategy shares, pinned for both strategies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kiln.api.constants import LABEL_BUILD_RULE, LABEL_BUILD_RUN, LABEL_NAMESPACE, LABEL_REPOSITORY
from kiln.builds import BuildConfig, BuildInputs, Strategy, job_manifest
from kiln.builds.inputs import SOURCE_DIR

from .objects import (
    NASTY,
    RULE_FILES,
    UID,
    build_container,
    clone_container,
    containers,
    inputs,
    plan,
    pod_spec,
)

STRATEGIES = list(Strategy)
LABELS = {
    LABEL_NAMESPACE: "acme",
    LABEL_REPOSITORY: "app",
    LABEL_BUILD_RULE: "main",
    LABEL_BUILD_RUN: "release-d4ef3dc",
}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_job_metadata_and_owner(strategy: Strategy) -> None:
    p = plan(strategy)
    job = p.job
    assert p.strategy is strategy
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"] == "release-d4ef3dc"  # the BuildRun's name
    assert job["metadata"]["namespace"] == "kiln-acme"
    assert job["metadata"]["labels"] == LABELS
    assert job["spec"]["template"]["metadata"]["labels"] == LABELS
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "BuildRun",
            "name": "release-d4ef3dc",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_job_runs_once_within_the_rule_timeout(strategy: Strategy) -> None:
    spec = plan(strategy).job["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 3600  # the default timeout, 1h
    assert "ttlSecondsAfterFinished" not in spec
    assert plan(strategy, rule={"timeout": "90m"}).job["spec"]["activeDeadlineSeconds"] == 5400
    assert plan(strategy, rule={"timeout": "1h30m15s"}).job["spec"]["activeDeadlineSeconds"] == 5415
    # buildrule-tags.yaml says 30m
    assert plan(strategy, rule_file="buildrule-tags.yaml").job["spec"]["activeDeadlineSeconds"] == 1800


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pod_identity_and_restart_policy(strategy: Strategy) -> None:
    spec = pod_spec(plan(strategy))
    assert spec["restartPolicy"] == "Never"
    assert spec["serviceAccountName"] == "kiln-builder"
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert "hostNetwork" not in spec and "hostPID" not in spec


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_container_gets_the_tenant_quota_and_a_termination_message(strategy: Strategy) -> None:
    for c in containers(plan(strategy)):
        assert c["resources"] == {
            "limits": {"cpu": "2", "memory": "4Gi"},
            "requests": {"cpu": "2", "memory": "4Gi"},
        }
        assert c["terminationMessagePath"] == "/dev/termination-log"
        assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
        assert c["imagePullPolicy"] == "IfNotPresent"
    custom = BuildInputs(**{**_fields(inputs()), "cpu": "500m", "memory": "1Gi"})
    for c in containers(job_manifest(custom, BuildConfig(), strategy)):
        assert c["resources"]["limits"] == c["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}


def _fields(i: BuildInputs) -> dict[str, Any]:
    return {name: getattr(i, name) for name in BuildInputs.__slots__}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_clone_checks_out_the_exact_commit_of_the_repository(strategy: Strategy) -> None:
    clone = clone_container(plan(strategy))
    assert clone["command"][:2] == ["/bin/sh", "-c"]
    script = clone["command"][2]
    assert "url=https://github.com/acme/app.git" in script
    assert "ref=refs/heads/release-v1" in script
    assert "commit=d4ef3dc3b77a011a5779eec7efdd45e1c0ffee42" in script
    assert f"dest={SOURCE_DIR}" in script
    assert "git rev-parse HEAD" in script
    assert clone["image"] == "alpine/git:v2.45.1"
    assert {"name": "workspace", "mountPath": "/workspace"} in clone["volumeMounts"]
    sec = clone["securityContext"]
    assert sec["allowPrivilegeEscalation"] is False and sec["privileged"] is False
    assert sec["capabilities"] == {"drop": ["ALL"]}
    # it runs as the build's user, so the build owns the source
    assert sec["runAsUser"] == build_container(plan(strategy)).get("securityContext", {}).get("runAsUser", 0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_git_token_is_a_file_read_by_a_credential_helper(strategy: Strategy) -> None:
    p = plan(strategy)
    clone = clone_container(p)
    volumes = {v["name"]: v for v in pod_spec(p)["volumes"]}
    assert volumes["git-credentials"]["secret"] == {
        "secretName": "github-token",
        "defaultMode": 0o440,
        "items": [{"key": "token", "path": "token"}],
    }
    assert {"name": "git-credentials", "mountPath": "/kiln/git", "readOnly": True} in clone["volumeMounts"]
    script = clone["command"][2]
    assert "cat /kiln/git/token" in script
    assert "credential.helper=" in script and "username=x-access-token" in script
    # only the clone sees the token: not the build, whose RUN steps run the repository's code
    assert all(m["name"] != "git-credentials" for m in build_container(p)["volumeMounts"])
    for c in containers(p):
        assert all("valueFrom" not in e for e in c.get("env", []))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_public_repository_mounts_no_git_credentials(strategy: Strategy) -> None:
    public = {
        "source": {"provider": "github", "url": "https://github.com/acme/app.git"},
    }
    p = plan(strategy, repository=public)
    assert all(v["name"] != "git-credentials" for v in pod_spec(p)["volumes"])
    script = clone_container(p)["command"][2]
    assert "credential.helper" not in script.replace("helper=''", "")
    assert "/kiln/git" not in script


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_secret_value_in_args_command_or_env(strategy: Strategy) -> None:
    """The manifests hold Secret names and file paths only; a token cannot be in them, and the
    only places that could carry one (env values, args) hold no credential-looking value."""
    p = plan(strategy)
    text = json.dumps(p.manifests)
    for c in containers(p):
        for e in c.get("env", []):
            assert set(e) == {"name", "value"}
            assert "token" not in e["value"].lower() and "password" not in e["value"].lower()
        assert "args" not in c  # everything is in command, checked above and below
    # the token reaches git only through `cat` of the mounted file
    assert text.count("/kiln/git/token") == 1
    assert "password=%s" in text and "password=" not in text.replace("password=%s", "")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_push_secret_is_an_optional_file(strategy: Strategy) -> None:
    p = plan(strategy)
    volumes = {v["name"]: v for v in pod_spec(p)["volumes"]}
    assert volumes["registry-auth"]["secret"] == {
        "secretName": "kiln-registry-push",
        "optional": True,
        "defaultMode": 0o440,
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
    }
    assert {"name": "registry-auth", "mountPath": "/kiln/registry", "readOnly": True} in build_container(p)[
        "volumeMounts"
    ]
    assert all(m["name"] != "registry-auth" for m in clone_container(p)["volumeMounts"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_source_is_shared_read_only_with_the_build(strategy: Strategy) -> None:
    p = plan(strategy)
    assert {"name": "workspace", "emptyDir": {}} in pod_spec(p)["volumes"]
    assert {"name": "workspace", "mountPath": "/workspace", "readOnly": True} in build_container(p)[
        "volumeMounts"
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_config_map_without_insecure_registries(strategy: Strategy) -> None:
    p = plan(strategy)
    assert p.config_map is None
    assert p.manifests == [p.job]
    assert all("configMap" not in v for v in pod_spec(p)["volumes"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_config_map_is_owned_and_mounted(strategy: Strategy) -> None:
    p = plan(strategy, BuildConfig(insecure_registries=("127.0.0.1:5000",)))
    assert p.config_map is not None
    assert p.manifests == [p.config_map, p.job]
    meta = p.config_map["metadata"]
    assert meta["name"] == "release-d4ef3dc-build-config"
    assert meta["namespace"] == "kiln-acme"
    assert meta["labels"] == LABELS
    assert meta["ownerReferences"] == p.job["metadata"]["ownerReferences"]
    assert {"name": "build-config", "configMap": {"name": meta["name"]}} in pod_spec(p)["volumes"]
    assert any(m["name"] == "build-config" for m in build_container(p)["volumeMounts"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_container_is_privileged_by_default(strategy: Strategy) -> None:
    for c in containers(plan(strategy)):
        assert c["securityContext"].get("privileged") is False


@pytest.mark.parametrize("rule_file", RULE_FILES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_example_rule_builds(strategy: Strategy, rule_file: str) -> None:
    p = plan(strategy, rule_file=rule_file)
    rule = rule_file.removeprefix("buildrule-").removesuffix(".yaml")
    name = {"tags": "versions"}.get(rule, rule)
    assert p.job["metadata"]["labels"][LABEL_BUILD_RULE] == name
    assert json.loads(json.dumps(p.manifests)) == p.manifests  # plain JSON, ready to send


def test_strategy_defaults_to_the_config() -> None:
    i = inputs()
    assert job_manifest(i, BuildConfig()).strategy is Strategy.BUILDKIT
    assert job_manifest(i, BuildConfig(strategy=Strategy.BUILDAH)).strategy is Strategy.BUILDAH
    assert (
        job_manifest(i, BuildConfig(strategy=Strategy.BUILDAH), Strategy.BUILDKIT).strategy
        is Strategy.BUILDKIT
    )


def test_same_inputs_same_manifests() -> None:
    for strategy in STRATEGIES:
        assert plan(strategy) == plan(strategy)
        assert (
            plan(strategy, rule={"buildArgs": {"B": "2", "A": NASTY}}).job
            == plan(strategy, rule={"buildArgs": {"A": NASTY, "B": "2"}}).job
        )


def test_image_name_is_the_repository_spec_name_or_its_metadata_name() -> None:
    assert inputs().image_refs == (
        "registry.example.com/acme/app:v1-202010151625-d4ef3dc3b77a011a5779eec7efdd45",
    )
    named = inputs(repository={"name": "web-app"})
    assert named.image_repository == "registry.example.com/acme/web-app"
    assert inputs(registry_server="127.0.0.1:5000/team").image_repository == "127.0.0.1:5000/team/acme/app"


def test_long_names_are_left_out_of_labels() -> None:
    long = "r" * 64
    i = inputs(rule={"repository": "app"})
    body = i.build_rule.model_copy(update={"metadata": {"name": long}})
    run = i.build_run.model_copy(update={"spec": i.build_run.spec.model_copy(update={"build_rule": long})})
    labels = BuildInputs(**{**_fields(i), "build_rule": body, "build_run": run}).labels
    assert LABEL_BUILD_RULE not in labels
    assert labels[LABEL_BUILD_RUN] == "release-d4ef3dc"


def test_inputs_must_belong_together() -> None:
    i = inputs()
    with pytest.raises(ValueError, match="BuildRule 'main'"):
        BuildInputs(**{**_fields(i), "build_rule": inputs("buildrule-release.yaml").build_rule})
    other = i.repository.model_copy(update={"metadata": {"name": "other"}})
    with pytest.raises(ValueError, match="Repository 'app', not 'other'"):
        BuildInputs(**{**_fields(i), "repository": other})
    with pytest.raises(ValueError, match="uid"):
        BuildInputs(**{**_fields(i), "build_run_uid": ""})
    long_run = i.build_run.model_copy(update={"metadata": {"name": "r" * 64}})
    with pytest.raises(ValueError, match="longer than 63"):
        BuildInputs(**{**_fields(i), "build_run": long_run})


def test_dockerfile_and_context_paths() -> None:
    tags = inputs("buildrule-tags.yaml")  # contextDir /server, dockerfile build/Dockerfile
    assert tags.context_dir == f"{SOURCE_DIR}/server"
    assert tags.dockerfile == f"{SOURCE_DIR}/server/build/Dockerfile"
    root = inputs()
    assert (root.context_dir, root.dockerfile) == (SOURCE_DIR, f"{SOURCE_DIR}/Dockerfile")
    odd = inputs(rule={"contextDir": "./a//b/", "dockerfile": "/c/./Dockerfile.prod"})
    assert (odd.context_dir, odd.dockerfile) == (f"{SOURCE_DIR}/a/b", f"{SOURCE_DIR}/a/b/c/Dockerfile.prod")
