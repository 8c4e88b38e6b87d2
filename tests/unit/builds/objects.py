"""Build inputs for the kiln.builds tests, made from the objects in docs/examples/.

The tenant `acme` of namespace.yaml, the Repository `app` of repository.yaml, the BuildRun of
buildrun.yaml, and any of the BuildRule examples (the BuildRun is renamed to match the rule).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kiln.api import BuildRule, BuildRun, Namespace, Repository
from kiln.builds import BuildConfig, BuildInputs, BuildkitMode, JobPlan, Strategy, job_manifest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "docs" / "examples"
RULE_FILES = ("buildrule-main.yaml", "buildrule-release.yaml", "buildrule-tags.yaml")
UID = "0b5c9a4e-1f0e-4d5c-9a53-4b3c2a1d0e9f"
DIGEST = "sha256:" + "ab" * 32
# A build argument value a shell would run if it were spliced into a script unquoted.
NASTY = "two words \"double\" 'single' $(rm -rf /) `id` $HOME ; | & \\ end"

Manifest = dict[str, Any]


@cache
def _example(name: str) -> Manifest:
    body: Manifest = yaml.safe_load((EXAMPLES / name).read_text())
    return body


def example(name: str) -> Manifest:
    """A fresh (mutable) copy of a docs/examples object."""
    return copy.deepcopy(_example(name))


def inputs(
    rule_file: str = "buildrule-main.yaml",
    *,
    tenant: str | None = None,
    rule: Mapping[str, Any] | None = None,
    repository: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    registry_server: str | None = None,
) -> BuildInputs:
    """BuildInputs of the examples; the mappings update the spec of the rule, Repository or BuildRun."""
    ns = Namespace.model_validate(example("namespace.yaml"))
    rule_body = example(rule_file)
    rule_body["spec"].update(rule or {})
    repo_body = example("repository.yaml")
    repo_body["spec"].update(repository or {})
    run_body = example("buildrun.yaml")
    run_body["spec"]["buildRule"] = rule_body["metadata"]["name"]
    run_body["spec"].update(run or {})
    name = tenant or str(ns.metadata["name"])
    quota = ns.spec.quota
    assert quota is not None and quota.cpu is not None and quota.memory is not None
    return BuildInputs(
        build_run=BuildRun.model_validate(run_body),
        build_rule=BuildRule.model_validate(rule_body),
        repository=Repository.model_validate(repo_body),
        tenant=name,
        namespace=f"kiln-{name}",
        registry_server=registry_server or ns.spec.registry.server,
        cpu=str(quota.cpu),
        memory=str(quota.memory),
        build_run_uid=UID,
    )


def plan(strategy: Strategy = Strategy.BUILDKIT, config: BuildConfig | None = None, **kwargs: Any) -> JobPlan:
    return job_manifest(inputs(**kwargs), config or BuildConfig(), strategy)


def pod_spec(p: JobPlan) -> Manifest:
    spec: Manifest = p.job["spec"]["template"]["spec"]
    return spec


def build_container(p: JobPlan) -> Manifest:
    c: Manifest = pod_spec(p)["containers"][0]
    assert c["name"] == "build"
    return c


def clone_container(p: JobPlan) -> Manifest:
    c: Manifest = pod_spec(p)["initContainers"][0]
    assert c["name"] == "clone"
    return c


def containers(p: JobPlan) -> list[Manifest]:
    spec = pod_spec(p)
    return [*spec["initContainers"], *spec["containers"]]


def fake_program(directory: Path, name: str, body: str) -> Path:
    """An executable `name` in `directory`: a Python program recording its argv in `argv.jsonl`
    beside it, then running `body` (Python, with `args` = sys.argv[1:])."""
    path = directory / name
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, pathlib\n"
        "args = sys.argv[1:]\n"
        f"with open({str(directory / 'argv.jsonl')!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv) + '\\n')\n" + body + "\n"
    )
    path.chmod(0o755)
    return path


def recorded_argv(directory: Path) -> list[list[str]]:
    log = directory / "argv.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def run_script(
    script: str,
    args: Sequence[str],
    *,
    shell: str,
    bin_dir: Path,
    work: Path,
    replace: Mapping[str, str],
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a generated script with the fakes in `bin_dir` first on PATH and its fixed paths
    (scratch directory, termination log...) moved under `work`."""
    for old, new in replace.items():
        script = script.replace(old, new)
    return subprocess.run(
        [shell, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **(env or {})},
        timeout=60,
        check=False,
    )


def variants() -> dict[str, JobPlan]:
    """One Job per option that changes its shape, for checks every generated Job must pass (the
    schemas of current Kubernetes here, the real API server's dry run in tests/integration)."""
    insecure = BuildConfig(insecure_registries=("registry.example.com",))
    privileged = BuildConfig(buildkit_mode=BuildkitMode.PRIVILEGED)
    rewrites = BuildConfig(git_url_rewrites=(("https://github.com/", "git://mirror.example.com/"),))
    public = {"source": {"provider": "github", "url": "https://github.com/acme/app.git"}}
    options: dict[str, tuple[BuildConfig, dict[str, Any]]] = {
        "default": (BuildConfig(), {}),
        "privileged buildkit": (privileged, {}),
        "insecure registry": (insecure, {}),
        "clone url rewrites": (rewrites, {}),
        "public repository": (BuildConfig(), {"repository": public}),
        "no cache": (BuildConfig(), {"repository": {"build": {"noCache": True}}}),
        "two platforms and build args": (
            BuildConfig(),
            {"rule": {"platforms": ["linux/amd64", "linux/arm64"], "buildArgs": {"A": NASTY, "B": "2"}}},
        ),
        "context dir and dockerfile": (
            BuildConfig(),
            {"rule": {"contextDir": "/web", "dockerfile": "docker/Dockerfile.prod"}},
        ),
        **{f"rule {name}": (BuildConfig(), {"rule_file": name}) for name in RULE_FILES},
    }
    return {
        f"{strategy} / {name}": plan(strategy, config, **kwargs)
        for strategy in Strategy
        for name, (config, kwargs) in options.items()
        if not (strategy is Strategy.BUILDAH and config is privileged)
    }
