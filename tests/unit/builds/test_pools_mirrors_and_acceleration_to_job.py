"""Build pools, registry mirrors and eStargz variants -> the Job: where its pod runs, what its
containers' proxy is, which mirror each strategy's configuration names, which outputs BuildKit writes."""

from __future__ import annotations

import tomllib

import pytest

from kiln.api.pools import repository_pool_problems, template_pool_problems, tenant_pool_problems
from kiln.builds import BuildConfig, Strategy, buildctl_args
from kiln.builds.buildkit import CONFIG_FILE, accelerated_args
from kiln.builds.config import BuildPool, Proxy
from kiln.builds.scripts import buildkit_script, buildkitd_toml, registries_conf
from kiln.builds.status import acceleration_conditions

from .objects import build_container, clone_container, inputs, plan, pod_spec

TOLERATION = {"key": "kiln.dev/overseas", "operator": "Exists", "effect": "NoSchedule"}
OVERSEAS = BuildPool(
    node_selector=(("topology.kubernetes.io/region", "ap-southeast-1"),),
    tolerations=(TOLERATION,),
    proxy=Proxy(http="http://proxy.example:3128", https="http://proxy.example:3128", no_proxy="10.0.0.0/8"),
    registry_mirrors=(("quay.io", "mirror.overseas:5000"),),
)
CONFIG = BuildConfig(
    insecure_registries=("10.244.0.1:5001",),
    registry_mirrors=(("docker.io", "10.244.0.1:5001"), ("quay.io", "mirror.local:5000")),
    pools={"overseas": OVERSEAS},
)
STRATEGIES = list(Strategy)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pool_places_the_pod_and_sets_the_proxy_of_both_containers(strategy: Strategy) -> None:
    p = plan(strategy, CONFIG, repository={"build": {"pool": "overseas"}})
    assert pod_spec(p)["nodeSelector"] == {"topology.kubernetes.io/region": "ap-southeast-1"}
    assert pod_spec(p)["tolerations"] == [TOLERATION]
    for c in (clone_container(p), build_container(p)):
        env = {e["name"]: e["value"] for e in c["env"]}
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            assert env[name] == "http://proxy.example:3128"
        assert env["NO_PROXY"] == env["no_proxy"] == "10.0.0.0/8"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_pool_no_placement_and_no_proxy(strategy: Strategy) -> None:
    p = plan(strategy, CONFIG)
    assert "nodeSelector" not in pod_spec(p) and "tolerations" not in pod_spec(p)
    for c in (clone_container(p), build_container(p)):
        assert not any("proxy" in e["name"].lower() for e in c.get("env", []))


def test_mirrors_of_a_pool_override_the_operator_wide_ones() -> None:
    assert CONFIG.mirrors_for(None) == {"docker.io": "10.244.0.1:5001", "quay.io": "mirror.local:5000"}
    assert CONFIG.mirrors_for("overseas") == {
        "docker.io": "10.244.0.1:5001",
        "quay.io": "mirror.overseas:5000",
    }


def test_buildkitd_toml_names_each_mirror_and_plain_http_hosts_once() -> None:
    toml = tomllib.loads(buildkitd_toml(["10.244.0.1:5001", "10.244.0.1:5000"], CONFIG.mirrors_for(None)))
    assert toml == {
        "registry": {
            "docker.io": {"mirrors": ["10.244.0.1:5001"]},
            "quay.io": {"mirrors": ["mirror.local:5000"]},
            "10.244.0.1:5001": {"http": True},
            "10.244.0.1:5000": {"http": True},
        }
    }
    # a host both mirrored and plain HTTP is one table (TOML refuses a table twice)
    both = tomllib.loads(buildkitd_toml(["docker.io"], {"docker.io": "m:1"}))
    assert both == {"registry": {"docker.io": {"mirrors": ["m:1"], "http": True}}}


def test_registries_conf_mirrors_a_registry_and_speaks_http_to_an_insecure_mirror() -> None:
    conf = tomllib.loads(registries_conf(["10.244.0.1:5001"], {"docker.io": "10.244.0.1:5001/hub"}))
    assert conf == {
        "registry": [
            {
                "prefix": "docker.io",
                "location": "docker.io",
                "mirror": [{"location": "10.244.0.1:5001/hub", "insecure": True}],
            },
            {"location": "10.244.0.1:5001", "insecure": True},
        ]
    }
    assert registries_conf([], {}) == ""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_mirrors_reach_the_build_config_map(strategy: Strategy) -> None:
    p = plan(strategy, CONFIG, repository={"build": {"pool": "overseas"}})
    assert p.config_map is not None
    (text,) = p.config_map["data"].values()
    assert "mirror.overseas:5000" in text and "mirror.local:5000" not in text
    if strategy is Strategy.BUILDKIT:
        assert list(p.config_map["data"]) == [CONFIG_FILE]


@pytest.mark.parametrize(
    ("mirrors", "field"),
    [((("docker.io", ""),), "registry_mirrors"), ((("https://docker.io", "m:1"),), "registry_mirrors")],
)
def test_bad_mirrors_are_refused_by_name(mirrors: tuple[tuple[str, str], ...], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        BuildConfig(registry_mirrors=mirrors)
    with pytest.raises(ValueError, match=r"^pools: p\.registryMirrors: "):
        BuildConfig(pools={"p": BuildPool(registry_mirrors=mirrors)})


def test_accelerated_repository_pushes_estargz_variants_with_buildkit() -> None:
    i = inputs(repository={"build": {"accelerated": True}}, run={"tags": ["v1", "latest"]})
    second = accelerated_args(i, BuildConfig())
    assert second is not None
    output = second[second.index("--output") + 1]
    refs = ",".join(f"{ref}-accelerated" for ref in i.image_refs)
    assert (
        output
        == f'type=image,"name={refs}",push=true,compression=estargz,force-compression=true,oci-mediatypes=true'
    )
    assert "--export-cache" not in second and "--metadata-file" not in second
    assert second[: second.index("--output")] == buildctl_args(i, BuildConfig())[: second.index("--output")]
    script = build_container(plan(Strategy.BUILDKIT, repository={"build": {"accelerated": True}}))["command"][
        2
    ]
    assert script == buildkit_script(
        accelerated_args(inputs(repository={"build": {"accelerated": True}}), BuildConfig())
    )
    assert "compression=estargz" in script


def test_not_accelerated_runs_one_buildctl() -> None:
    assert accelerated_args(inputs(), BuildConfig()) is None
    assert build_container(plan(Strategy.BUILDKIT))["command"][2] == buildkit_script()


def test_a_tag_without_room_for_the_suffix_is_refused() -> None:
    with pytest.raises(ValueError, match="leave no room for '-accelerated'"):
        plan(Strategy.BUILDKIT, repository={"build": {"accelerated": True}}, run={"tags": ["x" * 120]})


def test_buildah_says_in_a_condition_that_it_cannot_accelerate() -> None:
    (condition,) = acceleration_conditions([], True, "buildah")
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "Accelerated",
        "False",
        "NotSupported",
    )
    assert "eStargz" in condition["message"]
    assert acceleration_conditions([], True, "buildkit") == []
    assert acceleration_conditions([], False, "buildah") == []


def test_pool_names_are_checked_against_the_operator_and_the_tenant() -> None:
    known = {"overseas", "gpu"}
    assert repository_pool_problems(None, known, [], "acme") == []
    assert repository_pool_problems("overseas", known, ["overseas"], "acme") == []
    (unknown,) = repository_pool_problems("moon", known, ["moon"], "acme")
    assert unknown.field == "spec.build.pool" and "unknown build pool 'moon'" in unknown.message
    assert "gpu, overseas" in unknown.message
    (refused,) = repository_pool_problems("gpu", known, ["overseas"], "acme")
    assert refused.field == "spec.build.pool"
    assert (
        refused.message
        == "build pool 'gpu' is not allowed by Kiln Namespace 'acme' (its spec.buildPools: overseas)"
    )
    problems = tenant_pool_problems(["gpu", "moon", "mars"], known)
    assert [p.field for p in problems] == ["spec.buildPools[1]", "spec.buildPools[2]"]
    (none,) = tenant_pool_problems(["x"], set())
    assert "KILN_BUILD_POOLS is empty" in none.message
    # an organization hook's template: refused on the Namespace, not on each Repository it creates
    (template,) = template_pool_problems("gpu", known, ["overseas"], "acme")
    assert template.field == "spec.repositoryTemplate.build.pool" and "not allowed" in template.message
    assert template_pool_problems("overseas", known, ["overseas"], "acme") == []
