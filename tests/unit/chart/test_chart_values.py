"""The chart as Helm sees it: lint, render, its schema refusing what it should, every value
commented and documented, all-values.yaml setting every one of them."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.unit.chart import values_doc
from tests.unit.chart.conftest import CHART, CURRENT, OLDEST, REPO, all_values, render

# values all-values.yaml keeps at their default, and why
SAME_AS_DEFAULT = {
    ("operator", "podDisruptionBudget", "enabled"): "so that minAvailable renders",
}
# the objects of the schema whose keys are the user's (labels, annotations, selectors, Kubernetes
# structures passed through as they are)
FREE_FORM = {
    *(
        f"{component}.{key}"
        for component in ("operator", "receiver")
        for key in ("resources", "affinity", "podAnnotations", "podLabels", "nodeSelector")
    ),
    "commonLabels",
    "operator.serviceAccount.annotations",
    "receiver.serviceAccount.annotations",
    "receiver.service.annotations",
    "receiver.ingress.annotations",
    "settings.codehostAPIURLs",
    "settings.build.gitURLRewrites",
    "settings.build.registryMirrors",
    "settings.build.pools",
    "metrics.serviceMonitor.labels",
    "dashboard.annotations",
}
# lint findings that are not problems: severity 1 is "info"
INFO = 1


def test_chart_version_is_the_project_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"]) == ("v2", "kiln")
    assert chart["version"] == chart["appVersion"] == project
    assert chart["kubeVersion"] == ">=1.20.0-0"


@pytest.mark.parametrize("kube_version", [OLDEST, CURRENT])
@pytest.mark.parametrize("values", ["defaults", "all-values"])
def test_lint_is_clean(values: str, kube_version: str) -> None:
    report = helm.lint(
        CHART,
        all_values() if values == "all-values" else None,
        strict=True,
        namespace="kiln-system",
        kube_version=f"v{kube_version}",
    )
    problems = [m for m in report["messages"] if m["severity"] > INFO]
    assert report["total_charts_linted"] == 1
    assert not problems and not report["errors"], problems or report["errors"]


@pytest.mark.parametrize("kube_version", [OLDEST, CURRENT])
def test_renders_with_defaults_and_with_every_value_set(kube_version: str) -> None:
    defaults = {(m["kind"], m["metadata"]["name"]) for m in render(kube_version=kube_version)}
    assert ("Deployment", "kiln-operator") in defaults and ("Deployment", "kiln-receiver") in defaults
    everything = {(m["kind"], m["metadata"]["name"]) for m in render(all_values(), kube_version=kube_version)}
    # the optional objects, all on
    assert {
        ("Ingress", "builds-receiver"),
        ("ServiceMonitor", "builds-operator"),
        ("ConfigMap", "builds-dashboard"),
    } <= everything


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"replicas": 3}, "replicas"),
        ({"operator": {"replica": 3}}, "replica"),
        ({"receiver": {"ingress": {"hosts": ["a"]}}}, "hosts"),
        ({"settings": {"build": {"strategy": "buildkit", "mirrors": {}}}}, "mirrors"),
        ({"settings": {"build": {"pools": {"p": {"nodeselector": {}}}}}}, "nodeselector"),
    ],
)
def test_schema_refuses_an_unknown_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=f"additional properties '{key}' not allowed"):
        render(values)
    report = helm.lint(CHART, values)
    assert any(key in error for error in report["errors"]), report


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"operator": {"replicas": "two"}}, "/operator/replicas"),
        ({"receiver": {"publicURL": 8000}}, "/receiver/publicURL"),
        ({"settings": {"clusterCIDRs": "10.0.0.0/8"}}, "/settings/clusterCIDRs"),
        ({"settings": {"build": {"strategy": "kaniko"}}}, "/settings/build/strategy"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"dashboard": {"enabled": "yes"}}, "/dashboard/enabled"),
    ],
)
def test_schema_refuses_a_wrong_type_or_value(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=f"at '{where}'"):
        render(values)


def test_schema_refuses_unknown_keys_at_every_object_level() -> None:
    """additionalProperties: false on every object of the schema but the free-form maps."""
    root = values_doc.schema()
    free = []
    for path in [(), *values_doc.schema_paths(root)]:
        node = values_doc.schema_node(path, root) if path else root
        assert node is not None
        if node.get("type") != "object" and "properties" not in node:
            continue
        if "properties" in node:
            assert node.get("additionalProperties") is False, path
        else:
            free.append(".".join(path))
    assert set(free) == FREE_FORM


def test_every_value_has_a_comment_and_a_place_in_the_schema() -> None:
    found = values_doc.documented()
    assert [v.path for v in found] == values_doc.schema_paths(), "values.yaml and values.schema.json differ"
    uncommented = [f"values.yaml:{v.line}: {v.name}" for v in found if not v.comment]
    assert not uncommented, uncommented
    # and no key of values.yaml is outside the schema (helm would refuse the defaults anyway)
    text = values_doc.VALUES.read_text()
    names = set(values_doc.schema_paths())
    stray = [
        v.name
        for v in values_doc.keys(text)
        if v.path not in names and not any(v.path[: len(p)] == p for p in values_doc.leaves())
    ]
    assert not stray, stray


def test_all_values_sets_every_value_to_something_else() -> None:
    defaults = yaml.safe_load(values_doc.VALUES.read_text())
    everything = all_values()
    for path in values_doc.leaves():
        try:
            value = values_doc.lookup(everything, path)
        except KeyError:
            pytest.fail(f"all-values.yaml does not set {'.'.join(path)}")
        if path in SAME_AS_DEFAULT:
            continue
        assert value != values_doc.lookup(defaults, path), (
            f"all-values.yaml leaves {'.'.join(path)} at its default"
        )


def test_the_values_table_in_docs_is_current() -> None:
    doc = values_doc.DOC.read_text()
    assert values_doc.with_table(doc) == doc, (
        "docs/chart.md is stale: run `python -m tests.unit.chart.values_doc`"
    )


def test_merged_values_are_the_defaults_overridden() -> None:
    """What an install uses (Helm's own coalescing): values.yaml under the user's values."""
    with helm.Chart.load(CHART) as chart:
        merged = chart.merge_values({"operator": {"replicas": 1}})
        defaults = copy.deepcopy(chart.values)
    defaults["operator"]["replicas"] = 1
    assert merged == defaults
