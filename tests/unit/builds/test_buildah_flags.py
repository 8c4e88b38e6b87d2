"""The buildah command lines -> only flags buildah 1.28 has, used the way 1.28 parses them.

The tables are data copied from the help of Debian bookworm's buildah 1.28.2 (package
1.28.2+ds1-3+deb12u1+b3: `buildah --help`, `buildah bud --help`, `buildah push --help`,
`buildah manifest push --help`), which match containers/buildah v1.28.2 (pkg/cli/common.go,
cmd/buildah/main.go, push.go, manifest.go). The same command lines were also fed to that
binary's flag parser (each with --help, so nothing ran) and accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from kiln.builds import BUILDAH_VERSION, BuildConfig, BuildInputs, buildah_commands
from kiln.builds.buildah import BUILDAH
from kiln.builds.scripts import AUTH_FLAG, Raw, Word

from .objects import NASTY, RULE_FILES, inputs

# `buildah --help` (cmd/buildah/main.go): global flags before the subcommand; name -> takes a value
GLOBAL_FLAGS = {
    "--cgroup-manager": True,
    "--log-level": True,
    "--registries-conf": True,
    "--registries-conf-dir": True,
    "--root": True,
    "--runroot": True,
    "--short-name-alias-conf": True,
    "--storage-driver": True,
    "--storage-opt": True,
    "--userns-gid-map": True,
    "--userns-uid-map": True,
}
# `buildah bud --help` (pkg/cli/common.go): the flags Kiln uses and their kind, as printed there
BUD_FLAGS = {
    "--authfile": "string",
    "--build-arg": "stringArray",  # argument=value, never split
    "--cache-from": "string",  # one remote repository (a list only from buildah 1.30 on)
    "--cache-to": "string",
    "-f": "strings",  # -f, --file: a comma-separated (CSV) list
    "--file": "strings",
    "--isolation": "string",
    "--layers": "bool",
    "--manifest": "string",
    "--no-cache": "bool",
    "--platform": "strings",
    "-t": "stringArray",  # -t, --tag
    "--tag": "stringArray",
    "--tls-verify": "bool",
}
# `--isolation type ... (default "oci")`: buildah-build(1) lists oci, rootless and chroot
ISOLATIONS = {"oci", "rootless", "chroot"}
# `buildah push --help` (cmd/buildah/push.go)
PUSH_FLAGS = {"--all": "bool", "--authfile": "string", "--digestfile": "string", "--tls-verify": "bool"}
# `buildah manifest push --help` (cmd/buildah/manifest.go)
MANIFEST_PUSH_FLAGS = {
    "--all": "bool",
    "--authfile": "string",
    "--digestfile": "string",
    "--tls-verify": "bool",
}
SUBCOMMANDS = {
    ("bud",): (BUD_FLAGS, 1),  # flags, then the context directory
    ("push",): (PUSH_FLAGS, 2),  # image, destination
    ("manifest", "push"): (MANIFEST_PUSH_FLAGS, 2),  # list, destination
}


def every_variant() -> Iterator[BuildInputs]:
    for rule_file in RULE_FILES:
        yield inputs(rule_file)
        yield inputs(rule_file, repository={"build": {"noCache": True}})
        yield inputs(rule_file, rule={"buildArgs": {"X": NASTY, "Y": "a,b"}}, run={"tags": ["a", "b"]})


def expand(argv: Sequence[Word]) -> list[str]:
    """The argv the shell runs when the push Secret is mounted (AUTH_FLAG -> --authfile FILE)."""
    out: list[str] = []
    for word in argv:
        if isinstance(word, Raw):
            assert word == AUTH_FLAG
            out += ["--authfile", "/kiln/registry/config.json"]
        else:
            out.append(word)
    return out


def check(argv: list[str]) -> None:
    assert argv[:3] == list(BUILDAH)
    i = 1
    while argv[i].startswith("-"):
        assert argv[i] in GLOBAL_FLAGS, argv[i]
        i += 2 if GLOBAL_FLAGS[argv[i]] else 1
    subcommand = next(s for s in SUBCOMMANDS if tuple(argv[i : i + len(s)]) == s)
    flags, positionals = SUBCOMMANDS[subcommand]
    i += len(subcommand)
    while i < len(argv) and argv[i].startswith("-"):
        name, has_value, _ = argv[i].partition("=")
        assert name in flags, f"{name} is not a flag of buildah {' '.join(subcommand)} {BUILDAH_VERSION}"
        if flags[name] == "bool":
            assert not has_value or argv[i].split("=", 1)[1] in ("true", "false")
            i += 1
        else:
            assert not has_value
            if name == "--isolation":
                assert argv[i + 1] in ISOLATIONS
            i += 2
    # buildah 1.28 refuses options after the first positional argument
    assert len(argv) - i == positionals, argv[i:]
    assert not any(a.startswith("--") for a in argv[i:])


@pytest.mark.parametrize("i", list(every_variant()))
def test_every_flag_is_buildah_1_28s(i: BuildInputs) -> None:
    commands = buildah_commands(i, BuildConfig())
    for argv in (commands.build, *commands.pushes):
        check(expand(argv))


def test_cache_needs_layers() -> None:
    """--cache-from/--cache-to cache layers: only with --layers, i.e. one platform."""
    for i in every_variant():
        build = expand(buildah_commands(i, BuildConfig()).build)
        if "--cache-to" in build:
            assert "--layers" in build and len(i.platforms) == 1


def test_version() -> None:
    assert BUILDAH_VERSION == "v1.28"
