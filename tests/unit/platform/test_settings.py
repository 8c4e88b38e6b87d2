"""KILN_* environment variables -> operator settings, and the errors naming a bad variable."""

from __future__ import annotations

import pytest

from kiln.platform.settings import METADATA_CIDR, Settings, SettingsError


def test_settings_from_env_parses_and_normalises_cidrs() -> None:
    s = Settings.from_env({"KILN_CLUSTER_CIDRS": " 10.0.0.0/8 , 172.16.0.0/12", "KILN_WEBHOOK_PORT": "8443"})
    assert s.cluster_cidrs == ("10.0.0.0/8", "172.16.0.0/12")
    assert s.blocked_egress_cidrs[-1] == METADATA_CIDR
    assert s.webhook_port == 8443
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KILN_CLUSTER_CIDRS": "10.0.0/8x"}, "KILN_CLUSTER_CIDRS"),
        ({"KILN_WEBHOOK_PORT": "https"}, "KILN_WEBHOOK_PORT"),
        ({"KILN_DEFAULT_MAX_CONCURRENT_BUILDS": "0"}, "KILN_DEFAULT_MAX_CONCURRENT_BUILDS"),
        ({"KILN_RECEIVER_SERVICE_ACCOUNT": "kiln-webhook"}, "KILN_RECEIVER_SERVICE_ACCOUNT"),
        ({"KILN_RECEIVER_SERVICE_ACCOUNT": "a/b/c"}, "KILN_RECEIVER_SERVICE_ACCOUNT"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize("value", ["two", "-1", "0", "+2"])
def test_default_build_resources_must_be_positive_quantities(value: str) -> None:
    with pytest.raises(SettingsError, match="KILN_DEFAULT_BUILD_CPU"):
        Settings.from_env({"KILN_DEFAULT_BUILD_CPU": value})


def test_build_settings_to_the_builders_config() -> None:
    s = Settings.from_env(
        {
            "KILN_BUILD_STRATEGY": "buildah",
            "KILN_BUILDAH_IMAGE": "localhost/kiln/builder:1",
            "KILN_INSECURE_REGISTRIES": "10.244.0.1:5000, registry.local",
            "KILN_GIT_URL_REWRITES": "https://github.com/acme/=git://mirror/acme/",
        }
    )
    config = s.build_config
    assert (config.strategy, config.buildah_image) == ("buildah", "localhost/kiln/builder:1")
    assert config.insecure_registries == ("10.244.0.1:5000", "registry.local")
    assert config.git_url_rewrites == (("https://github.com/acme/", "git://mirror/acme/"),)
    assert Settings().build_config.strategy == "buildkit"  # the builders' own default


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KILN_BUILD_STRATEGY": "kaniko"}, "KILN_BUILD_STRATEGY"),
        ({"KILN_BUILDKIT_MODE": "rootful"}, "KILN_BUILDKIT_MODE"),
        ({"KILN_INSECURE_REGISTRIES": "http://registry.local"}, "KILN_INSECURE_REGISTRIES"),
        ({"KILN_GIT_URL_REWRITES": "https://github.com/"}, "KILN_GIT_URL_REWRITES"),
        ({"KILN_CACHE_REPOSITORY": "{image}-cache"}, "KILN_CACHE_REPOSITORY"),
        ({"KILN_BUILD_IMAGE_PULL_POLICY": "Sometimes"}, "KILN_BUILD_IMAGE_PULL_POLICY"),
    ],
)
def test_bad_build_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}: "):
        Settings.from_env(env)


def test_trigger_users_default_to_the_charts_service_accounts() -> None:
    assert Settings.from_env({"KILN_OPERATOR_NAMESPACE": "builds"}).push_trigger_users == {
        "system:serviceaccount:builds:kiln-operator",
        "system:serviceaccount:builds:kiln-receiver",
    }
    assert Settings.from_env({"KILN_TRIGGER_USERS": "kiln-admin,ci"}).push_trigger_users == {
        "kiln-admin",
        "ci",
    }


def test_other_kiln_variables_are_not_settings() -> None:
    assert Settings.from_env({"KILN_WORK": "/tmp/kiln"}) == Settings()


POOLS = (
    '{"overseas": {"nodeSelector": {"topology.kubernetes.io/region": "ap-southeast-1"},'
    ' "tolerations": [{"key": "kiln.dev/overseas", "operator": "Exists"}],'
    ' "proxy": {"https": "http://proxy:3128", "noProxy": "10.0.0.0/8"},'
    ' "registryMirrors": {"docker.io": "mirror.overseas:5000"}}, "plain": {}}'
)


def test_build_pools_and_mirrors_to_the_builders_config() -> None:
    config = Settings.from_env(
        {"KILN_BUILD_POOLS": POOLS, "KILN_REGISTRY_MIRRORS": "docker.io=10.244.0.1:5001, quay.io=m:1/quay"}
    ).build_config
    assert config.registry_mirrors == (("docker.io", "10.244.0.1:5001"), ("quay.io", "m:1/quay"))
    overseas = config.pools["overseas"]
    assert overseas.node_selector == (("topology.kubernetes.io/region", "ap-southeast-1"),)
    assert overseas.tolerations == ({"key": "kiln.dev/overseas", "operator": "Exists"},)
    assert overseas.proxy is not None and overseas.proxy.env == {
        "HTTPS_PROXY": "http://proxy:3128",
        "https_proxy": "http://proxy:3128",
        "NO_PROXY": "10.0.0.0/8",
        "no_proxy": "10.0.0.0/8",
    }
    assert config.mirrors_for("overseas")["docker.io"] == "mirror.overseas:5000"
    assert config.pools["plain"].node_selector == ()
    assert Settings.from_env({}).build_config.pools == {}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("{not json", "KILN_BUILD_POOLS: not JSON"),
        ('{"Overseas!": {}}', "KILN_BUILD_POOLS: "),
        ('{"overseas": {"nodeSelectr": {}}}', "KILN_BUILD_POOLS: overseas.nodeSelectr: "),
        (
            '{"overseas": {"registryMirrors": {"docker.io": ""}}}',
            "KILN_BUILD_POOLS: overseas.registryMirrors: ",
        ),
    ],
)
def test_bad_build_pools_name_the_variable_and_the_place(value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}"):
        Settings.from_env({"KILN_BUILD_POOLS": value})


def test_bad_registry_mirrors_name_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^KILN_REGISTRY_MIRRORS: "):
        Settings.from_env({"KILN_REGISTRY_MIRRORS": "docker.io"})
