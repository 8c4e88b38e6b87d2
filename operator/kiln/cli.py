"""`kiln` command line (also installed as `kubectl-kiln`, so `kubectl kiln ...` works).

Each subcommand is a thin shell around a pure core: it reads files/flags, calls the core, prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiln import __version__

Handler = Callable[[argparse.Namespace], int]


def _version(_: argparse.Namespace) -> int:
    print(f"kiln {__version__}")
    return 0


def _operator(args: argparse.Namespace) -> int:
    from kiln.controllers.operator import run

    run(args.kubeconfig, args.liveness, admission=not args.no_admission, verbose=args.verbose)
    return 0


class CliError(Exception):
    """A user error: printed as `kiln: error: ...`, exit status 2."""


def _crds(args: argparse.Namespace) -> int:
    from kiln.api.crdgen import dump_crds
    from kiln.api.generate import write_all

    if args.write:
        for path in write_all(Path(args.root)):
            print(path)
    else:
        sys.stdout.write(dump_crds())
    return 0


def _load_manifest(path: str, kind: str) -> dict[str, Any]:
    """Read one manifest of `kind` from a YAML file (or `-` for stdin), validated by the API rules."""
    import yaml

    from kiln.api.validation import format_problems, validate

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except OSError as error:
        raise CliError(f"{path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise CliError(f"{path}: not valid YAML: {error}") from None
    matching = [d for d in documents if isinstance(d, dict) and d.get("kind") == kind]
    if len(matching) != 1:
        raise CliError(f"{path}: expected exactly one {kind} manifest, found {len(matching)}")
    manifest = matching[0]
    problems = validate(kind, {k: v for k, v in manifest.items() if k != "status"})
    if problems:
        raise CliError(f"{path}: invalid {kind}: {format_problems(problems)}")
    return manifest


def _parse_time(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--pushed-at: {text!r} is not an ISO 8601 time such as 2020-10-15T08:25:00Z"
        ) from None
    if value.tzinfo is None:
        raise CliError(f"--pushed-at: {text!r} has no time zone; add Z or an offset such as +08:00")
    return value


def _rule_test(args: argparse.Namespace) -> int:
    from kiln.api.buildrule import BuildRule, buildrule_to_rule
    from kiln.rules import rule_test_report

    manifest = _load_manifest(args.file, "BuildRule")
    rule_obj = BuildRule.model_validate(manifest)
    rule = buildrule_to_rule(str(rule_obj.metadata.get("name", "")), rule_obj.spec)
    try:
        report = rule_test_report(rule, args.ref, args.commit, _parse_time(args.pushed_at))
    except ValueError as error:
        raise CliError(str(error)) from None
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        print(f"rule:          {rule.name}")
        print(f"ref:           {args.ref}")
        print(f"matched:       {'yes' if report['matched'] else 'no'}")
        if report["groups"]:
            print("groups:        " + ", ".join(f"{k}={v}" for k, v in report["groups"].items()))
        if report["tags"]:
            print("tags:          " + ", ".join(report["tags"]))
        if report["error"]:
            print(f"error:         {report['error']}")
        reason = f" ({report['reason']})" if report["reason"] else ""
        print(f"manual build:  {report['manualBuild']}{reason}")
    return 1 if report["error"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description="Build container images from Git repositories.")
    parser.add_argument("--version", action="version", version=f"kiln {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(handler=_version)

    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions generated from the models")
    crds.add_argument(
        "--write", action="store_true", help="write crds/, charts/kiln/crds/ and docs/api.md under --root"
    )
    crds.add_argument("--root", default=".", help="repository root for --write (default: current directory)")
    crds.set_defaults(handler=_crds)

    rule = sub.add_parser("rule", help="work with BuildRules offline")
    rule_sub = rule.add_subparsers(dest="rule_command", metavar="COMMAND")
    rule_sub.required = True
    rule_test = rule_sub.add_parser(
        "test",
        help="show whether a push matches a BuildRule and which tags it would build (no cluster needed)",
    )
    rule_test.add_argument("-f", "--file", required=True, help="BuildRule manifest (YAML; - for stdin)")
    rule_test.add_argument("--ref", required=True, help="full ref pushed, e.g. refs/heads/release-v1")
    rule_test.add_argument("--commit", required=True, help="commit id pushed (hex)")
    rule_test.add_argument("--pushed-at", help="push time, ISO 8601 with zone (default: now)")
    rule_test.add_argument("-o", "--output", choices=["text", "json"], default="text")
    rule_test.set_defaults(handler=_rule_test)

    operator = sub.add_parser("operator", help="run the operator (all controllers and the admission webhook)")
    operator.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster config, then $KUBECONFIG)"
    )
    operator.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL (default: %(default)s)",
    )
    operator.add_argument("--no-admission", action="store_true", help="do not serve the admission webhook")
    operator.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    operator.set_defaults(handler=_operator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as error:
        print(f"kiln: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
