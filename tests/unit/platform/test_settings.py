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
