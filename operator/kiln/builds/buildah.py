"""The buildah strategy: `buildah bud`, then `buildah push` (or `manifest push`) of every tag.

Runs unprivileged, as measured on the local node: root in the container with SETFCAP added,
the vfs storage driver and chroot isolation build and run RUN steps without privileged or
hostNetwork. Written for buildah 1.28 (Debian bookworm); its flags are checked against that
release in tests/unit/builds/test_buildah_flags.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from kiln.builds.config import BuildConfig, Strategy
from kiln.builds.inputs import BuildInputs
from kiln.builds.parts import BuilderSpec, Manifest
from kiln.builds.scripts import (
    AUTH_FLAG,
    DIGEST_FILE,
    MANIFEST_LIST,
    Word,
    buildah_script,
    registries_conf,
)

# buildah's global flags: vfs needs no overlay or fuse support from the node
BUILDAH = ("buildah", "--storage-driver", "vfs")
STORAGE_DIR = "/var/lib/containers"
# A drop-in beside the image's own registries.conf(.d), which keep their short names and mirrors
# (buildah 1.28.2 pulls over plain HTTP from a registry listed there; its --registries-conf-dir
# flag does not read drop-ins, so the file is mounted into the default directory).
REGISTRIES_DROP_IN = "/etc/containers/registries.conf.d/50-kiln-insecure.conf"
REGISTRIES_KEY = "registries.conf"


@dataclass(frozen=True, slots=True)
class BuildahCommands:
    """What the build container runs: one build, then one push per tag."""

    build: tuple[Word, ...]
    pushes: tuple[tuple[Word, ...], ...]
    # whether the build reads and writes the registry cache
    cache: bool


def _one_file(path: str) -> str:
    """`path` as one value of buildah 1.28's -f, a comma-separated list (pflag StringSlice)."""
    if "," not in path and '"' not in path:
        return path
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([path])
    return out.getvalue()


def buildah_commands(inputs: BuildInputs, config: BuildConfig) -> BuildahCommands:
    """The buildah command lines of the build.

    One platform: `bud --layers` with the rule's registry cache, tagged with every ref, then a
    push per ref. Several: a manifest list built with --layers=false (with --layers, buildah 1.28
    reuses the first platform's layers for the next one, as measured), which allows no layer
    cache, then `manifest push --all` per ref.
    """
    platforms = inputs.platforms
    multi = len(platforms) > 1
    cache = not multi and not inputs.no_cache
    build: list[Word] = [
        *BUILDAH,
        "bud",
        "--isolation",
        "chroot",
        "--layers=false" if multi else "--layers",
        AUTH_FLAG,
        "--platform",
        ",".join(platforms),
        "-f",
        _one_file(inputs.dockerfile),
    ]
    for name, value in inputs.build_args:
        build += ["--build-arg", f"{name}={value}"]
    if inputs.no_cache:
        build.append("--no-cache")
    if cache:
        repo = inputs.cache_repository(config)
        build += ["--cache-from", repo, "--cache-to", repo]
    pushes: list[tuple[Word, ...]]
    if multi:
        build += ["--manifest", MANIFEST_LIST]
        pushes = [
            (
                *BUILDAH,
                "manifest",
                "push",
                "--all",
                AUTH_FLAG,
                "--digestfile",
                DIGEST_FILE,
                MANIFEST_LIST,
                f"docker://{ref}",
            )
            for ref in inputs.image_refs
        ]
    else:
        for ref in inputs.image_refs:
            build += ["-t", ref]
        pushes = [
            (*BUILDAH, "push", AUTH_FLAG, "--digestfile", DIGEST_FILE, ref, f"docker://{ref}")
            for ref in inputs.image_refs
        ]
    build.append(inputs.context_dir)
    return BuildahCommands(build=tuple(build), pushes=tuple(pushes), cache=cache)


def _security() -> Manifest:
    return {
        "runAsUser": 0,
        "runAsGroup": 0,
        "privileged": False,
        # buildah needs no setuid program; no_new_privs keeps RUN steps from gaining through one
        "allowPrivilegeEscalation": False,
        # extracting layers whose files carry capabilities
        "capabilities": {"add": ["SETFCAP"]},
    }


def builder(inputs: BuildInputs, config: BuildConfig) -> BuilderSpec:
    """The buildah build container."""
    commands = buildah_commands(inputs, config)
    script = buildah_script(commands.build, commands.pushes, cache=commands.cache)
    conf = registries_conf(config.insecure_registries, config.mirrors_for(inputs.pool))
    return BuilderSpec(
        image=config.image_for(Strategy.BUILDAH),
        command=("/bin/bash", "-c", script),
        user=0,
        security_context=_security(),
        scratch={"containers-storage": STORAGE_DIR},
        config_files={REGISTRIES_KEY: conf} if conf else {},
        config_mount=REGISTRIES_DROP_IN if conf else None,
        config_subpath=REGISTRIES_KEY if conf else None,
    )


def words(argv: Sequence[Word]) -> list[str]:
    """The plain words of a command (AUTH_FLAG dropped): what the flag tables are checked against."""
    return [w for w in argv if isinstance(w, str)]
