"""The buildctl command line -> only flags and keys the pinned BuildKit release documents.

The tables below are data copied from moby/buildkit at the tag BUILDKIT_VERSION (v0.32.2), file
by file, so a flag or key BuildKit does not know fails here rather than in a build pod.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterator

import pytest

from kiln.builds import BUILDKIT_VERSION, BuildConfig, BuildInputs, BuildkitMode, Strategy, buildctl_args
from kiln.builds.buildkit import CONFIG_DIRS, STATE_DIRS, accelerated_args
from kiln.builds.scripts import BUILDKIT_SCRIPT

from .objects import NASTY, RULE_FILES, build_container, inputs, plan

# cmd/buildctl/build.go @ v0.32.2: the urfave/cli flags of `buildctl build` (name: takes a value)
BUILDCTL_BUILD_FLAGS = {
    "--output": True,
    "-o": True,
    "--progress": True,
    "--trace": True,
    "--local": True,
    "--oci-layout": True,
    "--frontend": True,
    "--opt": True,
    "--no-cache": False,
    "--export-cache": True,
    "--import-cache": True,
    "--secret": True,
    "--allow": True,
    "--ssh": True,
    "--metadata-file": True,
    "--source-policy-file": True,
    "--proxy-network": False,
    "--ref-file": True,
    "--registry-auth-tlscontext": True,
    "--debug-json-cache-metrics": True,
}
# cmd/buildctl/build.go @ v0.32.2: --progress "Set type of progress (auto, plain, tty, rawjson)"
PROGRESS_TYPES = {"auto", "plain", "tty", "rawjson"}
# frontend/dockerui/context.go @ v0.32.2: DefaultLocalNameContext, DefaultLocalNameDockerfile
LOCAL_NAMES = {"context", "dockerfile"}
# frontend/dockerui/config.go and context.go @ v0.32.2: the Dockerfile frontend's option keys,
# plus the `build-arg:` and `label:` prefixes (buildArgPrefix, labelPrefix)
FRONTEND_OPTS = {
    "filename",
    "contextsubdir",
    "contextkey",
    "dockerfilekey",
    "target",
    "cgroup-parent",
    "force-network-mode",
    "add-hosts",
    "hostname",
    "image-resolve-mode",
    "multi-platform",
    "no-cache",
    "shm-size",
    "platform",
    "ulimit",
    "memory",
    "memswap",
    "cpushares",
    "cpuperiod",
    "cpuquota",
    "cpusetcpus",
    "cpusetmems",
    "cache-from",
    "cache-imports",
}
FRONTEND_OPT_PREFIXES = ("build-arg:", "label:")
# the Dockerfile frontend's name (README.md @ v0.32.2, "Building a Dockerfile with buildctl")
FRONTENDS = {"dockerfile.v0"}
# README.md @ v0.32.2 "Keys supported by image output" (exporter/containerimage/exptypes/keys.go),
# with `type` (cmd/buildctl/build/output.go)
IMAGE_OUTPUT_KEYS = {
    "type",
    "name",
    "push",
    "push-by-digest",
    "registry.insecure",
    "oci-mediatypes",
    "oci-artifact",
    "unpack",
    "dangling-name-prefix",
    "name-canonical",
    "compression",
    "compression-level",
    "rewrite-timestamp",
    "force-compression",
    "store",
}
# README.md @ v0.32.2 "--export-cache options" of the registry cache, plus `registry.insecure`
# (cache/remotecache/registry/registry.go attrInsecure)
EXPORT_CACHE_KEYS = {
    "type",
    "mode",
    "ref",
    "image-manifest",
    "oci-mediatypes",
    "compression",
    "compression-level",
    "force-compression",
    "ignore-error",
    "registry.insecure",
}
CACHE_MODES = {"min", "max"}
# README.md @ v0.32.2 "Keys supported by image output": compression=<uncompressed|gzip|estargz|zstd>
COMPRESSIONS = {"uncompressed", "gzip", "estargz", "zstd"}
# README.md @ v0.32.2 "--import-cache options", plus registry.go's attrInsecure
IMPORT_CACHE_KEYS = {"type", "ref", "registry.insecure"}
# cmd/buildkitd/main_oci_worker.go @ v0.32.2 (what BUILDKITD_FLAGS may pass to buildkitd)
BUILDKITD_FLAGS = {"--oci-worker-no-process-sandbox", "--config"}
# docs/buildkitd.toml.md @ v0.32.2: the keys of a [registry."host"] table
REGISTRY_TOML_KEYS = {"mirrors", "http", "insecure", "ca", "keypair"}
# examples/kubernetes/job.rootless.yaml and job.privileged.yaml @ v0.32.2; docs/buildkitd.toml.md
# (config paths) and cmd/buildkitd/main.go defaultConfigPath
EXAMPLE_PATHS = {
    "rootless state": "/home/user/.local/share/buildkit",
    "rootless config": "/home/user/.config/buildkit",
    "privileged config": "/etc/buildkit",
}
# examples/buildctl-daemonless/buildctl-daemonless.sh @ v0.32.2: "Usage: buildctl-daemonless.sh build ..."
DAEMONLESS = "buildctl-daemonless.sh"


def every_variant() -> Iterator[tuple[BuildInputs, BuildConfig]]:
    insecure = BuildConfig(insecure_registries=("127.0.0.1:5000",))
    for rule_file in RULE_FILES:
        yield inputs(rule_file), BuildConfig()
        yield inputs(rule_file, repository={"build": {"noCache": True}}), BuildConfig()
        yield inputs(rule_file, rule={"buildArgs": {"X": NASTY}}, run={"tags": ["a", "b"]}), BuildConfig()
        yield inputs(rule_file, registry_server="127.0.0.1:5000"), insecure
        yield inputs(rule_file, repository={"build": {"accelerated": True}}), BuildConfig()
        yield (
            inputs(rule_file, registry_server="127.0.0.1:5000", repository={"build": {"accelerated": True}}),
            insecure,
        )


VARIANTS = list(every_variant())


def flag_values(argv: list[str]) -> list[tuple[str, str | None]]:
    """(flag, value) pairs of a buildctl build command line, checked against the flag table."""
    assert argv[0] == "build"
    pairs: list[tuple[str, str | None]] = []
    i = 1
    while i < len(argv):
        flag = argv[i]
        assert flag in BUILDCTL_BUILD_FLAGS, f"{flag} is not a flag of buildctl build {BUILDKIT_VERSION}"
        if BUILDCTL_BUILD_FLAGS[flag]:
            pairs.append((flag, argv[i + 1]))
            i += 2
        else:
            pairs.append((flag, None))
            i += 1
    return pairs


def csv_keys(value: str) -> dict[str, str]:
    """The key=value fields of an --output / --export-cache / --import-cache value, parsed as
    buildctl does (CSV, then each field cut at its first '=')."""
    (fields,) = list(csv.reader([value]))
    pairs = [field.split("=", 1) for field in fields]
    assert all(len(p) == 2 for p in pairs), value
    return dict((k.lower(), v) for k, v in pairs)


def test_pinned_version_is_what_the_tables_were_copied_from() -> None:
    assert BUILDKIT_VERSION == "v0.32.2"
    assert BuildConfig().buildkit_image == "moby/buildkit:v0.32.2-rootless"
    assert BuildConfig().buildkit_privileged_image == "moby/buildkit:v0.32.2"


@pytest.mark.parametrize(("i", "config"), VARIANTS)
def test_every_flag_and_key_is_documented(i: BuildInputs, config: BuildConfig) -> None:
    # the build, and the eStargz variant's second build when the Repository asks for it
    argvs = [buildctl_args(i, config), *filter(None, [accelerated_args(i, config)])]
    for flag, value in (pair for argv in argvs for pair in flag_values(argv)):
        if flag == "--frontend":
            assert value in FRONTENDS
        elif flag == "--progress":
            assert value in PROGRESS_TYPES
        elif flag == "--local":
            assert value is not None and value.split("=", 1)[0] in LOCAL_NAMES
        elif flag == "--opt":
            assert value is not None and "=" in value
            key = value.split("=", 1)[0]
            assert key in FRONTEND_OPTS or key.startswith(FRONTEND_OPT_PREFIXES), key
        elif flag == "--output":
            assert value is not None
            keys = csv_keys(value)
            assert keys["type"] == "image"
            assert set(keys) <= IMAGE_OUTPUT_KEYS, set(keys) - IMAGE_OUTPUT_KEYS
            assert keys.get("compression", "gzip") in COMPRESSIONS
        elif flag == "--export-cache":
            assert value is not None
            keys = csv_keys(value)
            assert keys["type"] == "registry" and keys["mode"] in CACHE_MODES
            assert set(keys) <= EXPORT_CACHE_KEYS, set(keys) - EXPORT_CACHE_KEYS
        elif flag == "--import-cache":
            assert value is not None
            keys = csv_keys(value)
            assert keys["type"] == "registry"
            assert set(keys) <= IMPORT_CACHE_KEYS, set(keys) - IMPORT_CACHE_KEYS
        else:
            assert flag == "--metadata-file", flag


def test_output_names_survive_csv() -> None:
    i = inputs(run={"tags": ["1.2.3", "1.2", "latest"]})
    (output,) = [v for f, v in flag_values(buildctl_args(i, BuildConfig())) if f == "--output"]
    assert output is not None
    assert csv_keys(output)["name"].split(",") == list(i.image_refs)


def test_the_pod_follows_the_examples() -> None:
    assert STATE_DIRS[BuildkitMode.ROOTLESS] == EXAMPLE_PATHS["rootless state"]
    assert CONFIG_DIRS[BuildkitMode.ROOTLESS] == EXAMPLE_PATHS["rootless config"]
    assert CONFIG_DIRS[BuildkitMode.PRIVILEGED] == EXAMPLE_PATHS["privileged config"]
    assert f"logged {DAEMONLESS} " in BUILDKIT_SCRIPT
    env = {e["name"]: e["value"] for e in build_container(plan(Strategy.BUILDKIT))["env"]}
    assert set(env["BUILDKITD_FLAGS"].split()) <= BUILDKITD_FLAGS


def test_buildkitd_toml_uses_documented_registry_keys() -> None:
    config = BuildConfig(insecure_registries=("127.0.0.1:5000", "10.0.0.1:5000"))
    p = plan(Strategy.BUILDKIT, config)
    assert p.config_map is not None
    doc = tomllib.loads(p.config_map["data"]["buildkitd.toml"])
    assert set(doc) == {"registry"}
    assert doc["registry"] == {"127.0.0.1:5000": {"http": True}, "10.0.0.1:5000": {"http": True}}
    for table in doc["registry"].values():
        assert set(table) <= REGISTRY_TOML_KEYS
    mirrored = BuildConfig(
        insecure_registries=("10.0.0.1:5000",), registry_mirrors=(("docker.io", "10.0.0.1:5000"),)
    )
    p = plan(Strategy.BUILDKIT, mirrored)
    assert p.config_map is not None
    doc = tomllib.loads(p.config_map["data"]["buildkitd.toml"])
    assert doc["registry"]["docker.io"] == {"mirrors": ["10.0.0.1:5000"]}
    for table in doc["registry"].values():
        assert set(table) <= REGISTRY_TOML_KEYS
