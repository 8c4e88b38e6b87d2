"""The admission configuration kept current (`ensure_webhook_configuration`) and the webhook CA made
once (`ensure_webhook_tls`), against a small fake of `kiln.platform.kube.Kube` that records writes
and defaults what it stores as the API server does."""

from __future__ import annotations

import base64
import logging
from typing import Any, cast

import pytest

from kiln.api.admission import CONFIGURATION_NAME, TIMEOUT_SECONDS, webhook_configuration
from kiln.controllers.runtime import make_runtime
from kiln.platform import certs
from kiln.platform.kube import Kube
from kiln.platform.settings import Settings
from kiln.reconcile.admission import WEBHOOK_TLS_SECRET, ensure_webhook_configuration, ensure_webhook_tls
from tests.unit.reconcile.fake_kube import FakeKube as BaseFakeKube

API = "admissionregistration.k8s.io/v1"
KIND = "ValidatingWebhookConfiguration"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nours\n").decode()
URL = "https://127.0.0.1:9443"
SERVICE = ("kiln-system", "kiln-operator", 443)


class FakeKube(BaseFakeKube):
    """The shared fake, with the configuration at hand."""

    def configuration(self) -> dict[str, Any]:
        found = self.get(API, KIND, CONFIGURATION_NAME)
        assert found is not None
        return found

    def hooks(self) -> dict[str, dict[str, Any]]:
        return {w["name"]: w for w in self.configuration().get("webhooks") or ()}


def ensure(fake: FakeKube, desired: dict[str, Any]) -> list[str]:
    return ensure_webhook_configuration(cast(Kube, fake), desired)


def installed(**address: Any) -> dict[str, Any]:
    """As `kiln admission config [--url | --service]` prints it: no CA bundle."""
    return webhook_configuration(**address)


def ours(**address: Any) -> dict[str, Any]:
    return webhook_configuration(CA, **address)


KILN_HOOKS = sorted(w["name"] for w in ours(url=URL)["webhooks"])


def test_a_missing_configuration_is_created_and_then_left_alone() -> None:
    fake = FakeKube()
    notes = ensure(fake, ours(url=URL))
    assert fake.writes == [("create", KIND, CONFIGURATION_NAME)]
    assert notes == [f"{KIND} {CONFIGURATION_NAME} was missing: created it"]
    # its own write, seen again by the watch, changes nothing
    assert ensure(fake, ours(url=URL)) == []
    assert len(fake.writes) == 1


def test_a_configuration_with_no_webhooks_is_filled() -> None:
    """What kopf's managed configuration left behind when its operator stopped."""
    fake = FakeKube()
    fake.put(
        {"apiVersion": API, "kind": KIND, "metadata": {"name": CONFIGURATION_NAME, "labels": {"team": "a"}}}
    )
    notes = ensure(fake, ours(url=URL))
    assert fake.writes == [("merge_patch_at", KIND, CONFIGURATION_NAME)]
    hooks = fake.hooks()
    assert sorted(hooks) == KILN_HOOKS
    assert {
        (w["failurePolicy"], w["timeoutSeconds"], w["clientConfig"]["caBundle"]) for w in hooks.values()
    } == {("Fail", TIMEOUT_SECONDS, CA)}
    assert all(w["clientConfig"]["url"].startswith(f"{URL}/validate-") for w in hooks.values())
    assert fake.configuration()["metadata"]["labels"] == {"team": "a"}
    assert any("added the missing webhooks" in n for n in notes)


def test_the_installs_fields_and_other_webhooks_are_kept() -> None:
    config = installed(url=URL)
    config["metadata"]["labels"]["app.kubernetes.io/instance"] = "kiln-prod"
    config["metadata"]["annotations"] = {"meta.helm.sh/release-name": "kiln"}
    selector = {"matchExpressions": [{"key": "kiln.dev/skip", "operator": "DoesNotExist"}]}
    config["webhooks"][0]["namespaceSelector"] = selector
    foreign = {
        "name": "policy.example.com",
        "rules": [
            {
                "apiGroups": ["example.com"],
                "apiVersions": ["v1"],
                "resources": ["widgets"],
                "operations": ["CREATE"],
            }
        ],
        "clientConfig": {"service": {"namespace": "policy", "name": "policy", "path": "/check"}},
        "failurePolicy": "Ignore",
        "timeoutSeconds": 30,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    config["webhooks"].insert(1, foreign)
    fake = FakeKube()
    fake.put(config)
    before = fake.configuration()
    ensure(fake, ours(url=URL))
    after = fake.configuration()
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["metadata"]["annotations"] == {"meta.helm.sh/release-name": "kiln"}
    # same webhooks, same order; the foreign one exactly as it was (its Ignore and 30 s too)
    assert [w["name"] for w in after["webhooks"]] == [w["name"] for w in before["webhooks"]]
    assert after["webhooks"][1] == before["webhooks"][1]
    assert after["webhooks"][0]["namespaceSelector"] == selector
    for hook, was in zip(after["webhooks"], before["webhooks"], strict=True):
        if hook["name"] in KILN_HOOKS:
            assert hook["clientConfig"]["caBundle"] == CA
            assert {k: v for k, v in hook.items() if k != "clientConfig"} == {
                k: v for k, v in was.items() if k != "clientConfig"
            }


@pytest.mark.parametrize(
    ("install", "operator", "installed_at", "operator_at"),
    [
        ({"service": SERVICE}, {"url": URL}, "service kiln-system/kiln-operator:443", f"url {URL}/validate-"),
        (
            {"url": "https://kiln.example:8443"},
            {"service": SERVICE},
            "url https://kiln.example:8443/validate-",
            "service kiln-system/kiln-operator:443",
        ),
    ],
)
def test_an_address_of_the_other_kind_is_kept_and_only_the_ca_bundle_set(
    install: dict[str, Any], operator: dict[str, Any], installed_at: str, operator_at: str
) -> None:
    """An in-cluster install (a Service) and an operator started without KILN_WEBHOOK_SERVICE (a url):
    the API server can reach the Service, not 127.0.0.1, so the install's address stays."""
    fake = FakeKube()
    fake.put(installed(**install))
    before = fake.hooks()
    notes = ensure(fake, ours(**operator))
    for name, hook in fake.hooks().items():
        expected = {**before[name]["clientConfig"], "caBundle": CA}
        assert hook["clientConfig"] == expected
    assert len(notes) == len(KILN_HOOKS)
    assert all(installed_at in n and operator_at in n and "kept the installed address" in n for n in notes)
    # nothing left to change: no write, but the operator still hears of the mismatch
    writes = len(fake.writes)
    assert len(ensure(fake, ours(**operator))) == len(KILN_HOOKS)
    assert len(fake.writes) == writes


def test_an_address_of_the_same_kind_is_brought_to_the_operators() -> None:
    fake = FakeKube()
    fake.put(installed(url="https://old-host:1"))
    assert ensure(fake, ours(url=URL)) == []
    for name, hook in fake.hooks().items():
        path = name.split(".", 1)[0]
        assert hook["clientConfig"] == {"url": f"{URL}/{path}", "caBundle": CA}
    fake.put(installed(service=("old-ns", "old-svc", 8443)))
    ensure(fake, ours(service=SERVICE))
    for name, hook in fake.hooks().items():
        service = hook["clientConfig"]["service"]
        assert (service["namespace"], service["name"], service["port"]) == SERVICE
        assert service["path"] == "/" + name.split(".", 1)[0]


def test_nothing_is_written_when_all_is_in_shape() -> None:
    fake = FakeKube()
    fake.put(ours(url=URL))
    assert ensure(fake, ours(url=URL)) == []
    assert fake.writes == []


def test_fail_and_a_short_timeout_are_enforced_on_kilns_webhooks() -> None:
    """As an older kopf-managed configuration left them: 30 s, Ignore; a shorter timeout stays."""
    config = installed(url=URL)
    hooks = config["webhooks"]
    hooks[0]["failurePolicy"], hooks[0]["timeoutSeconds"] = "Ignore", 30
    del hooks[1]["timeoutSeconds"]  # the API server's default: 10 s
    hooks[2]["timeoutSeconds"] = 2
    fake = FakeKube()
    fake.put(config)
    notes = ensure(fake, ours(url=URL))
    after = fake.hooks()
    assert {w["failurePolicy"] for w in after.values()} == {"Fail"}
    assert after[hooks[0]["name"]]["timeoutSeconds"] == TIMEOUT_SECONDS
    assert after[hooks[1]["name"]]["timeoutSeconds"] == TIMEOUT_SECONDS
    assert after[hooks[2]["name"]]["timeoutSeconds"] == 2
    assert after[hooks[3]["name"]]["timeoutSeconds"] == TIMEOUT_SECONDS
    assert f"webhook {hooks[0]['name']}: failurePolicy Ignore set to Fail" in notes
    assert f"webhook {hooks[0]['name']}: timeoutSeconds 30 set to {TIMEOUT_SECONDS}" in notes
    assert f"webhook {hooks[1]['name']}: timeoutSeconds 10 set to {TIMEOUT_SECONDS}" in notes


def test_a_change_made_meanwhile_is_read_again_not_overwritten() -> None:
    """The patch is made at the version read: someone's webhook added between read and write survives."""
    fake = FakeKube()
    fake.put(installed(url=URL))
    extra = {"name": "audit.example.com", "clientConfig": {"url": "https://audit.example.com/"}}

    def install_adds_a_webhook() -> None:
        config = fake.configuration()
        config["webhooks"].append(extra)
        fake.put(config)

    fake.before_write = (KIND, install_adds_a_webhook)
    ensure(fake, ours(url=URL))
    hooks = fake.hooks()
    assert "audit.example.com" in hooks
    assert all(hooks[name]["clientConfig"]["caBundle"] == CA for name in KILN_HOOKS)
    assert [w[0] for w in fake.writes] == ["merge_patch_at", "merge_patch_at"]


def test_a_configuration_created_meanwhile_is_kept_current_not_replaced() -> None:
    fake = FakeKube()
    fake.before_write = (KIND, lambda: fake.put(installed(service=SERVICE)))
    ensure(fake, ours(url=URL))
    hooks = fake.hooks()
    assert all("service" in w["clientConfig"] and w["clientConfig"]["caBundle"] == CA for w in hooks.values())


def test_the_handler_keeps_the_configuration_current_and_logs_what_it_did(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kiln.controllers.admission_config import webhook_configuration_changed

    fake = FakeKube()
    runtime = make_runtime(Settings(), cast(Kube, fake))
    logger = logging.getLogger("test.admission_config")
    webhook_configuration_changed(memo=runtime, logger=logger)
    assert fake.writes == []  # not serving admission: not its configuration to keep
    runtime.webhook_configuration = ours(url=URL)
    fake.put(installed(service=SERVICE))
    with caplog.at_level(logging.WARNING, logger="test.admission_config"):
        webhook_configuration_changed(memo=runtime, logger=logger)
    assert all(w["clientConfig"]["caBundle"] == CA for w in fake.hooks().values())
    assert sum("kept the installed address" in r.getMessage() for r in caplog.records) == len(KILN_HOOKS)


# the webhook CA: made once, even by two replicas starting together

HOSTS = ["127.0.0.1", "localhost"]


def _secret(data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": WEBHOOK_TLS_SECRET, "namespace": "kiln-system"},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def _pair(hosts: list[str], ca: certs.KeyPair | None = None) -> dict[str, bytes]:
    ca = ca or certs.make_ca()
    server = certs.make_server_cert(ca, hosts)
    return {
        "ca.crt": ca.cert_pem,
        "ca.key": ca.key_pem,
        "tls.crt": server.cert_pem,
        "tls.key": server.key_pem,
    }


def test_the_first_start_creates_the_secret_and_the_next_reuses_it() -> None:
    fake = FakeKube()
    first = ensure_webhook_tls(cast(Kube, fake), "kiln-system", HOSTS)
    assert ("create", "Secret", WEBHOOK_TLS_SECRET) in fake.writes
    writes = len(fake.writes)
    assert ensure_webhook_tls(cast(Kube, fake), "kiln-system", HOSTS) == first
    assert len(fake.writes) == writes + 1  # the Namespace create (409) only


def test_two_first_starts_end_with_one_ca() -> None:
    """The other replica creates the Secret between this one's read and its create: this one takes it."""
    fake = FakeKube()
    theirs = _pair(HOSTS)
    fake.before_write = ("Secret", lambda: fake.put(_secret(theirs)))
    assert ensure_webhook_tls(cast(Kube, fake), "kiln-system", HOSTS) == theirs
    stored = fake.get("v1", "Secret", WEBHOOK_TLS_SECRET, "kiln-system")
    assert stored is not None and base64.b64decode(stored["data"]["ca.crt"]) == theirs["ca.crt"]
    assert [w for w in fake.writes if w[1] == "Secret"] == [("create", "Secret", WEBHOOK_TLS_SECRET)]


def test_a_server_certificate_for_other_hosts_is_reissued_from_the_same_ca_at_the_version_read() -> None:
    fake = FakeKube()
    ca = certs.make_ca()
    fake.put(_secret(_pair(["elsewhere"], ca)))
    renewed = ensure_webhook_tls(cast(Kube, fake), "kiln-system", HOSTS)
    assert renewed["ca.crt"] == ca.cert_pem
    assert not certs.needs_renewal(renewed["tls.crt"], HOSTS)
    assert fake.writes[-1] == ("merge_patch_at", "Secret", WEBHOOK_TLS_SECRET)


def test_a_renewal_that_loses_a_race_takes_the_winners() -> None:
    fake = FakeKube()
    ca = certs.make_ca()
    fake.put(_secret(_pair(["elsewhere"], ca)))
    winner = _pair(HOSTS, ca)
    fake.before_write = ("Secret", lambda: fake.put(_secret(winner)))
    assert ensure_webhook_tls(cast(Kube, fake), "kiln-system", HOSTS) == winner
    assert [w for w in fake.writes if w[1] == "Secret"] == [("merge_patch_at", "Secret", WEBHOOK_TLS_SECRET)]


PEERING = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "name": "kiln", "uid": "peering-uid"}


def test_the_peering_becomes_an_owner_of_the_installed_configuration_and_of_a_recreated_one() -> None:
    fake = FakeKube(installed(service=SERVICE))  # as the chart templates it: no owner
    desired = webhook_configuration(CA, service=SERVICE, owner=PEERING)
    ensure(fake, desired)
    assert fake.configuration()["metadata"]["ownerReferences"] == [PEERING]
    assert ensure(fake, desired) == [] and fake.configuration()["metadata"]["ownerReferences"] == [PEERING]
    fake.delete(API, KIND, CONFIGURATION_NAME)  # deleted while a replica still runs: back, owned
    ensure(fake, desired)
    assert fake.configuration()["metadata"]["ownerReferences"] == [PEERING]


def test_other_owners_of_the_configuration_are_kept() -> None:
    other = {"apiVersion": "v1", "kind": "Namespace", "name": "x", "uid": "other-uid"}
    fake = FakeKube(
        installed(service=SERVICE) | {"metadata": {"name": CONFIGURATION_NAME, "ownerReferences": [other]}}
    )
    ensure(fake, webhook_configuration(CA, service=SERVICE, owner=PEERING))
    assert fake.configuration()["metadata"]["ownerReferences"] == [other, PEERING]
