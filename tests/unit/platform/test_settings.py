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
        "system:serviceaccount:builds:kiln-webhook",
    }
    assert Settings.from_env({"KILN_TRIGGER_USERS": "kiln-admin,ci"}).push_trigger_users == {
        "kiln-admin",
        "ci",
    }


def test_other_kiln_variables_are_not_settings() -> None:
    assert Settings.from_env({"KILN_WORK": "/tmp/kiln"}) == Settings()
