"""The command lines of the cluster commands (`kiln build`, `logs`, `cancel`, `get`, `describe`).

Only argparse here: `kiln.cli.builds`, which imports the Kubernetes client and the API models, is
imported when a command runs (or completes a name), so `kiln --help` and the offline commands stay
fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from kiln.cli.cluster import add_cluster_flags

# `kiln get` words -> the kind they name
RESOURCE_WORDS: dict[str, str] = {
    **dict.fromkeys(("buildruns", "buildrun", "runs", "run"), "BuildRun"),
    **dict.fromkeys(("rules", "rule", "buildrules", "buildrule"), "BuildRule"),
    **dict.fromkeys(("repos", "repo", "repositories", "repository"), "Repository"),
}


def _run(command: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from kiln.cli import builds

        run: Callable[[argparse.Namespace], int] = getattr(builds, command)
        return run(args)

    return handler


def _names(kind: str) -> Callable[..., list[str]]:
    """A completer of the names of `kind` objects (argcomplete calls it with the line parsed so far)."""

    def complete(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
        from kiln.cli.builds import names

        try:
            return names(kind, prefix, parsed_args)
        except Exception:  # completion must never break the shell: no names, then
            return []

    return complete


def _cluster_parser(sub: Any, name: str, help: str, command: str) -> Any:
    parser = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    add_cluster_flags(parser)
    parser.set_defaults(handler=_run(command))
    return parser


def add_build_commands(sub: Any) -> None:
    """`build`, `logs`, `cancel`, `get`, `describe` on the `kiln` parser's subcommands."""
    build = _cluster_parser(
        sub, "build", "build a BuildRule by hand: create a Manual BuildRun", "build_command"
    )
    build.add_argument("rule", metavar="RULE", help="the BuildRule").completer = _names("BuildRule")
    build.add_argument(
        "--ref", help="the ref to build (default and only choice: the rule's own branch or tag)"
    )
    build.add_argument(
        "--commit",
        metavar="SHA",
        help="full commit id to build (default: the ref's head, read from the code host)",
    )
    build.add_argument(
        "-f", "--follow", action="store_true", help="stream the build's log; exit 1 if the build fails"
    )

    logs = _cluster_parser(
        sub, "logs", "print a BuildRun's log: live while it runs, archived after", "logs_command"
    )
    logs.add_argument("buildrun", metavar="BUILDRUN").completer = _names("BuildRun")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="follow the log until the build ends; exit 1 if it fails"
    )

    cancel = _cluster_parser(sub, "cancel", "cancel a waiting or running BuildRun", "cancel_command")
    cancel.add_argument("buildrun", metavar="BUILDRUN").completer = _names("BuildRun")
    cancel.add_argument("--wait", action="store_true", help="wait until the build has stopped")

    get = _cluster_parser(sub, "get", "list BuildRuns, BuildRules or Repositories", "get_command")
    get.add_argument("resource", metavar="buildruns|rules|repos", choices=sorted(RESOURCE_WORDS))
    get.add_argument("names", metavar="NAME", nargs="*", help="only these (default: all in the namespace)")
    get.add_argument("--rule", help="only the BuildRuns of this BuildRule")
    get.add_argument("-o", "--output", choices=["wide", "json", "yaml"], help="more columns, or the objects")

    describe = _cluster_parser(
        sub,
        "describe",
        "show a BuildRun: trigger, source, timing, images, conditions, Events",
        "describe_command",
    )
    # `kiln describe NAME`, or `kiln describe buildrun NAME` as kubectl has it
    describe.add_argument("buildrun", metavar="BUILDRUN", nargs="+").completer = _names("BuildRun")
