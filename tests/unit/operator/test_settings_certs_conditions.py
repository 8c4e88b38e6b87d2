"""Operator settings from the environment, admission certificates, condition bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from kiln.api.conditions import set_condition
from kiln.platform import certs
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


def test_server_certificate_is_signed_by_the_ca_and_covers_its_hosts() -> None:
    ca = certs.make_ca()
    server = certs.make_server_cert(ca, ["127.0.0.1", "kiln-webhook.kiln-system.svc"])
    cert = x509.load_pem_x509_certificate(server.cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    assert not certs.needs_renewal(server.cert_pem, ["127.0.0.1"])
    assert certs.needs_renewal(server.cert_pem, ["10.0.0.1"])  # a new host needs a new certificate


def test_certificate_close_to_expiry_needs_renewal() -> None:
    long_ago = datetime.now(UTC) - certs.SERVER_VALIDITY + timedelta(days=10)
    old = certs.make_server_cert(certs.make_ca(), ["127.0.0.1"], now=long_ago)
    assert certs.needs_renewal(old.cert_pem, ["127.0.0.1"])


def test_condition_transition_time_moves_only_on_status_change() -> None:
    first = set_condition([], "Ready", "False", "Conflict", "taken", 1, now="2026-01-01T00:00:00Z")
    same = set_condition(first, "Ready", "False", "Conflict", "still taken", 2, now="2026-01-02T00:00:00Z")
    flipped = set_condition(same, "Ready", "True", "Reconciled", "", 3, now="2026-01-03T00:00:00Z")
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["message"] == "still taken"
    assert flipped[0]["lastTransitionTime"] == "2026-01-03T00:00:00Z"
    assert [c["type"] for c in flipped] == ["Ready"]


@pytest.mark.parametrize("value", ["two", "-1", "0", "+2"])
def test_default_build_resources_must_be_positive_quantities(value: str) -> None:
    with pytest.raises(SettingsError, match="KILN_DEFAULT_BUILD_CPU"):
        Settings.from_env({"KILN_DEFAULT_BUILD_CPU": value})
