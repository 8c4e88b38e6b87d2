"""The operator and receiver Deployments against the code they run: their flags parse with the
`kiln` command's own parser, the operator's environment is settings the operator accepts (and with
the default values, its own defaults), and Services, probes and ports line up."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from kiln.cli import build_parser
from kiln.platform.settings import Settings
from kiln.receiver.app import make_app
from kiln.receiver.cache import ResourceCache
from tests.unit.chart.conftest import NAMESPACE, Manifest, all_values, container_env, find, render

# settings the chart leaves to the operator's default, and why
NOT_FROM_THE_CHART = {
    "webhook_host": "the address of an operator outside the cluster; in one the API server calls the Service",
}
# settings the chart sets to something else than the operator's default, by design
WIRED_BY_THE_CHART = {"webhook_service", "trigger_users", "receiver_service_account"}


def _container(deployment: Manifest) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _args(deployment: Manifest) -> Any:
    container = _container(deployment)
    assert container["command"] == ["kiln"]
    return build_parser().parse_args(container["args"])


def _settings(deployment: Manifest) -> Settings:
    return Settings.from_env(container_env(deployment))


@pytest.fixture(scope="module", params=["defaults", "all-values"])
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(all_values() if request.param == "all-values" else None)


def _operator(manifests: list[Manifest]) -> Manifest:
    (found,) = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    return found


def _receiver(manifests: list[Manifest]) -> Manifest:
    (found,) = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["labels"]["app.kubernetes.io/component"] == "receiver"
    ]
    return found


def _service_port(manifests: list[Manifest], name: str, port: int) -> str:
    """The targetPort (a container port's name) of `port` of Service `name`."""
    service = find(manifests, "Service", name)
    (entry,) = [p for p in service["spec"]["ports"] if p["port"] == port]
    return str(entry["targetPort"])


def _container_port(deployment: Manifest, name: str) -> int:
    (port,) = [p["containerPort"] for p in _container(deployment)["ports"] if p["name"] == name]
    return int(port)


def _selects(service: Manifest, deployment: Manifest) -> bool:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(k) == v for k, v in service["spec"]["selector"].items())


def test_every_setting_is_reachable_from_the_values() -> None:
    env = container_env(_operator(render()))
    fields = set(Settings.model_fields)
    assert {f"KILN_{f.upper()}" for f in fields - set(NOT_FROM_THE_CHART)} <= set(env)
    assert {name for name in env if name.startswith("KILN_")} <= {f"KILN_{f.upper()}" for f in fields}


def test_with_the_default_values_the_settings_are_the_operators_defaults() -> None:
    chart = _settings(_operator(render()))
    own = Settings.from_env({"KILN_OPERATOR_NAMESPACE": NAMESPACE})
    for field in set(Settings.model_fields) - WIRED_BY_THE_CHART:
        assert getattr(chart, field) == getattr(own, field), field


def test_every_value_reaches_the_operators_settings() -> None:
    settings = _settings(_operator(render(all_values())))
    assert settings.cluster_cidrs == ("10.0.0.0/14", "172.20.0.0/16", "fd00:10::/56")
    assert (
        settings.default_max_concurrent_builds,
        settings.default_build_cpu,
        settings.default_build_memory,
    ) == (
        8,
        "1500m",
        "6Gi",
    )
    assert settings.webhook_port == 9444
    assert settings.receiver_url == "https://kiln.example.com"
    assert settings.receiver_service_account == f"{NAMESPACE}/kiln-webhook"
    assert settings.resync_interval == 300
    assert settings.push_trigger_users == {
        f"system:serviceaccount:{NAMESPACE}:kiln-webhook",
        f"system:serviceaccount:{NAMESPACE}:kiln-operator-sa",
        "system:serviceaccount:ci:resync",
        "alice@example.com",
    }
    assert settings.codehost_api_url_map == {
        "github.example.com": "https://github.example.com/api/v3",
        "gitlab.example.com": "https://gitlab-proxy.example.com/api/v4",
    }
    assert settings.build_log_url == "https://kiln.example.com/logs/{namespace}/{name}"
    build = settings.build_config
    assert (build.strategy.value, build.buildkit_mode.value, build.image_pull_policy) == (
        "buildah",
        "privileged",
        "Always",
    )
    assert build.buildkit_image == "registry.example.com/moby/buildkit:v0.32.2-rootless"
    assert build.buildkit_privileged_image == "registry.example.com/moby/buildkit:v0.32.2"
    assert build.buildah_image == "registry.example.com/buildah/stable:v1.33"
    assert build.clone_image == "registry.example.com/alpine/git:v2.45.1"
    assert build.insecure_registries == ("registry.local:5000", "10.0.0.5:5000")
    assert build.cache_repository == "{image}-cache-{rule}"
    assert build.git_url_rewrites == (("https://github.com/", "https://git-mirror.example.com/github/"),)
    assert build.registry_mirrors == (
        ("docker.io", "mirror.example.com:5000"),
        ("quay.io", "quay-mirror.example.com"),
    )
    pool = build.pools["overseas"]
    assert pool.node_selector == (("example.com/region", "overseas"),)
    assert pool.tolerations == (
        {"key": "region", "operator": "Equal", "value": "overseas", "effect": "NoSchedule"},
    )
    assert pool.proxy is not None and pool.proxy.no_proxy == ".example.com,10.0.0.0/8"
    assert pool.registry_mirrors == (("docker.io", "overseas-mirror.example.com"),)


def test_the_receivers_identity_is_its_service_accounts(manifests: list[Manifest]) -> None:
    receiver = _receiver(manifests)
    account = receiver["spec"]["template"]["spec"]["serviceAccountName"]
    find(manifests, "ServiceAccount", account)
    settings = _settings(_operator(manifests))
    assert settings.receiver_service_account == f"{NAMESPACE}/{account}"
    assert f"system:serviceaccount:{NAMESPACE}:{account}" in settings.push_trigger_users


def test_the_operator_peers_through_the_releases_clusterkopfpeering(manifests: list[Manifest]) -> None:
    operator = _operator(manifests)
    args = _args(operator)
    assert args.command == "operator"
    (peering,) = [m for m in manifests if m["kind"] == "ClusterKopfPeering"]
    assert args.peering == peering["metadata"]["name"] == "kiln"
    env = _container(operator)["env"]
    assert {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env
    assert operator["spec"]["replicas"] >= 2


def test_the_operators_ports_line_up(manifests: list[Manifest]) -> None:
    operator = _operator(manifests)
    args = _args(operator)
    settings = _settings(operator)
    # the API server calls the admission Service at 443, which sends to the webhook server's port
    assert settings.webhook_service is not None
    service = find(manifests, "Service", settings.webhook_service)
    assert _selects(service, operator)
    assert (
        _container_port(operator, _service_port(manifests, settings.webhook_service, 443))
        == settings.webhook_port
    )
    assert settings.webhook_listen == "0.0.0.0"
    # liveness on kopf's liveness endpoint; ready when the admission webhook listens
    liveness = urlsplit(args.liveness)
    container = _container(operator)
    get = container["livenessProbe"]["httpGet"]
    assert get["path"] == liveness.path == "/healthz"
    assert _container_port(operator, get["port"]) == liveness.port
    assert (
        _container_port(operator, container["readinessProbe"]["tcpSocket"]["port"]) == settings.webhook_port
    )
    # metrics
    host, _, port = args.metrics_listen.rpartition(":")
    assert host == "0.0.0.0"
    (metrics,) = [
        m
        for m in manifests
        if m["kind"] == "Service"
        and m["metadata"]["labels"].get("kiln.dev/metrics") == "true"
        and _selects(m, operator)
    ]
    (entry,) = metrics["spec"]["ports"]
    assert _container_port(operator, entry["targetPort"]) == int(port)


def test_the_receivers_ports_and_probes_line_up(manifests: list[Manifest]) -> None:
    receiver = _receiver(manifests)
    args = _args(receiver)
    assert (args.command, args.webhook_command) == ("webhook", "serve")
    host, _, port = args.listen.rpartition(":")
    assert host == "0.0.0.0"
    name = receiver["metadata"]["name"]
    service = find(manifests, "Service", name)
    assert _selects(service, receiver)
    (entry,) = service["spec"]["ports"]
    assert _container_port(receiver, entry["targetPort"]) == int(port)
    assert _container_port(receiver, "metrics") == args.metrics_port
    routes = {r.canonical for r in make_app(ResourceCache(), creator=object()).router.resources()}  # type: ignore[arg-type]
    container = _container(receiver)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz"} <= routes
    for probe in ("livenessProbe", "readinessProbe"):
        assert _container_port(receiver, container[probe]["httpGet"]["port"]) == int(port)


def test_the_ingress_routes_hooks_to_the_receiver() -> None:
    manifests = render(all_values())
    ingress = find(manifests, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert rule["host"] == "kiln.example.com"
    assert path["backend"]["service"]["name"] == _receiver(manifests)["metadata"]["name"]
    assert path["backend"]["service"]["port"] == {"name": "http"}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["kiln.example.com"], "secretName": "kiln-tls"}]


@pytest.mark.parametrize("component", ["operator", "receiver"])
def test_pods_run_unprivileged_with_a_read_only_root(manifests: list[Manifest], component: str) -> None:
    deployment = _operator(manifests) if component == "operator" else _receiver(manifests)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(deployment)
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert "emptyDir" in volume
    assert container["resources"], "resources come from the values"
    assert (
        pod["serviceAccountName"]
        == find(manifests, "ServiceAccount", pod["serviceAccountName"])["metadata"]["name"]
    )


def test_image_values_reach_both_deployments() -> None:
    for manifests, image, policy in (
        (render(), "localhost/kiln/kiln:0.1.0", "IfNotPresent"),
        (render({"image": {"tag": "dev-1"}}), "localhost/kiln/kiln:dev-1", "IfNotPresent"),
        (render(all_values()), "registry.example.com/platform/kiln:0.1.0-rc1", "Always"),
    ):
        for deployment in (_operator(manifests), _receiver(manifests)):
            container = _container(deployment)
            assert (container["image"], container["imagePullPolicy"]) == (image, policy)
