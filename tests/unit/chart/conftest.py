"""The Helm chart, linted and rendered offline by helm-python-sdk (Helm 4's Go SDK; no helm binary)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from helm_python import _native

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "kiln"
ALL_VALUES_FILE = Path(__file__).with_name("all-values.yaml")
RELEASE = "kiln"
NAMESPACE = "kiln-system"
# the oldest Kubernetes Kiln supports (the local cluster's) and a current one
OLDEST = "1.20.2"
CURRENT = "1.35.0"

Manifest = dict[str, Any]


def all_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(ALL_VALUES_FILE.read_text())
    return values


def render_templates(
    values: Mapping[str, Any] | None = None,
    *,
    kube_version: str = OLDEST,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """The chart's templates rendered as an install of release `name` into `namespace` would on a
    cluster of `kube_version` (its .Capabilities.KubeVersion): template path -> text.

    `Chart.render` exposes no kube version, but the library's render takes one (`kube_version`,
    as `helm template --kube-version`), so it is called directly here."""
    options = {"name": name, "namespace": namespace, "is_install": True, "kube_version": f"v{kube_version}"}
    with helm.Chart.load(CHART) as chart:
        rendered = _native.call_string(
            "helm_render",
            chart._raw(),
            None if values is None else json.dumps(values),
            json.dumps(options),
        )
    templates: dict[str, str] = json.loads(rendered)
    return templates


def documents(text: str) -> Iterator[Manifest]:
    for doc in yaml.safe_load_all(text):
        if doc:
            yield doc


def render(
    values: Mapping[str, Any] | None = None, *, kube_version: str = OLDEST, **kwargs: Any
) -> list[Manifest]:
    """Every object the templates render (the crds/ are not templates: see `crds`)."""
    templates = render_templates(values, kube_version=kube_version, **kwargs)
    return [doc for path in sorted(templates) if path.endswith(".yaml") for doc in documents(templates[path])]


def crds() -> list[Manifest]:
    """The CRDs Helm installs from crds/ before the templates."""
    with helm.Chart.load(CHART) as chart:
        return [doc for crd in chart.crds for doc in documents(crd["data"])]


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} rendered"
    return found[0]


def container_env(deployment: Manifest) -> dict[str, str]:
    """The plain-valued environment of a Deployment's first container."""
    (container, *_) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container.get("env", ()) if "value" in e}


@pytest.fixture(scope="session")
def default_manifests() -> list[Manifest]:
    return render()


@pytest.fixture(scope="session")
def full_manifests() -> list[Manifest]:
    return render(all_values())
