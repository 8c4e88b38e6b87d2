"""Command lines of the cluster commands that are wrong before any cluster is asked: the installed
`kiln`, run as a user would, with no kubeconfig at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KILN = Path(sys.executable).with_name("kiln")


def kiln(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    return subprocess.run(
        [str(KILN), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "HOME": str(home)},
    )


def test_no_kubeconfig_says_how_to_point_at_one(tmp_path: Path) -> None:
    for args in (["get", "buildruns"], ["logs", "x"], ["build", "main"], ["cancel", "x"], ["describe", "x"]):
        done = kiln(*args, home=tmp_path)
        assert done.returncode == 2, done
        assert done.stderr.startswith("kiln: error: no usable kubeconfig")
        assert "pass --kubeconfig FILE, set KUBECONFIG, or write ~/.kube/config" in done.stderr


def test_a_context_the_kubeconfig_lacks_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\n"
    )
    done = kiln("get", "rules", "--kubeconfig", str(config), "--context", "b", home=tmp_path)
    assert done.returncode == 2 and "no context 'b' in the kubeconfig" in done.stderr
    unreachable = kiln("get", "rules", "--kubeconfig", str(config), home=tmp_path)
    assert unreachable.returncode == 2, unreachable
    assert "cannot reach the API server of context 'a'" in unreachable.stderr
    assert "is it the right context?" in unreachable.stderr


def test_namespace_and_tenant_exclude_each_other(tmp_path: Path) -> None:
    done = kiln("get", "buildruns", "-n", "a", "--tenant", "b", home=tmp_path)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_describe_takes_one_buildrun(tmp_path: Path) -> None:
    done = kiln("describe", "a", "b", home=tmp_path)
    assert done.returncode == 2 and "describe takes one BuildRun" in done.stderr


def test_completion_scripts_register_both_names(tmp_path: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        done = kiln("completion", shell, home=tmp_path)
        assert done.returncode == 0, done
        assert "kubectl-kiln" in done.stdout and "kiln" in done.stdout
