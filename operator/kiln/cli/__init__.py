"""`kiln` command line (also installed as `kubectl-kiln`, so `kubectl kiln ...` works).

Each subcommand is a thin shell around a pure core: it reads files/flags, calls the core, prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiln import __version__
from kiln.cli.errors import CliError

Handler = Callable[[argparse.Namespace], int]


def _version(_: argparse.Namespace) -> int:
    print(f"kiln {__version__}")
    return 0


def _operator(args: argparse.Namespace) -> int:
    from kiln.controllers.operator import run
    from kiln.platform.settings import Settings, SettingsError

    try:
        Settings.from_env()
    except SettingsError as error:
        raise CliError(str(error)) from None
    webhook = _host_port("--webhook-listen", args.webhook_listen) if args.webhook_listen else None
    metrics = _host_port("--metrics-listen", args.metrics_listen) if args.metrics_listen else None
    run(
        args.kubeconfig,
        args.liveness,
        admission=not args.no_admission,
        verbose=args.verbose,
        webhook=webhook,
        metrics_listen=metrics,
        peering=args.peering or None,
    )
    return 0


def _crds(args: argparse.Namespace) -> int:
    from kiln.api.crdgen import dump_crds
    from kiln.cli.generate import write_all

    if args.write:
        for path in write_all(Path(args.root)):
            print(path)
    else:
        sys.stdout.write(dump_crds())
    return 0


def _load_manifest(path: str, kind: str) -> dict[str, Any]:
    """Read one manifest of `kind` from a YAML file (or `-` for stdin), validated by the API rules."""
    import yaml

    from kiln.api.validation import format_problems, user_written, validate

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
    problems = validate(kind, user_written(manifest))
    if problems:
        raise CliError(f"{path}: invalid {kind}: {format_problems(problems)}")
    return manifest


def _option_time(option: str, text: str | None) -> datetime:
    """The time an option gives (default now), or an error saying what is wrong with it."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{option}: {text!r} is not an ISO 8601 time such as 2020-10-15T08:25:00Z") from None
    if value.tzinfo is None:
        raise CliError(f"{option}: {text!r} has no time zone; add Z or an offset such as +08:00")
    return value


def _rule_test(args: argparse.Namespace) -> int:
    from kiln.api.buildrule import BuildRule
    from kiln.rules import rule_test_report

    rule = BuildRule.model_validate(_load_manifest(args.file, "BuildRule")).to_rule()
    try:
        report = rule_test_report(rule, args.ref, args.commit, _option_time("--pushed-at", args.pushed_at))
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


def _settings_file(path: str | None) -> Any:
    """Operator settings from a file of KILN_* variables (`KEY=value` lines or a YAML mapping), else
    from the environment, as the operator reads them."""
    import yaml

    from kiln.platform.settings import Settings, SettingsError

    env: dict[str, str] | None = None
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise CliError(f"{path}: {error.strerror}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if all("=" in line and ":" not in line.partition("=")[0] for line in lines):
            env = {key: value for key, _, value in (line.partition("=") for line in lines)}
        else:
            loaded = yaml.safe_load(text)
            if not isinstance(loaded, dict):
                raise CliError(f"{path}: expected KILN_* variables, as KEY=value lines or a YAML mapping")
            env = {str(k): str(v) for k, v in loaded.items()}
    try:
        return Settings.from_env(env)
    except SettingsError as error:
        raise CliError(f"{path or 'environment'}: {error}") from None


def _job_render(args: argparse.Namespace) -> int:
    import yaml

    from kiln.builds import Strategy, job_manifest
    from kiln.reconcile.buildrun import Refused, inputs_of
    from kiln.tenancy.tenant import Tenant

    run = _load_manifest(args.file, "BuildRun")
    tenant = _load_manifest(args.tenant, "Namespace")
    settings = _settings_file(args.settings)
    # offline there is no API server to give the BuildRun a namespace and uid: the tenant's namespace,
    # and a placeholder the operator's Job carries the real uid in place of
    meta = run.setdefault("metadata", {})
    meta.setdefault("uid", "00000000-0000-0000-0000-000000000000")
    if "namespace" not in meta:
        from kiln.api.constants import tenant_namespace

        meta["namespace"] = tenant_namespace(
            str(tenant["metadata"]["name"]), tenant["spec"].get("kubernetesNamespace")
        )
    inputs = inputs_of(
        run,
        _load_manifest(args.rule, "BuildRule"),
        _load_manifest(args.repository, "Repository"),
        Tenant.of(tenant, settings, settings.operator_namespace),
        settings,
    )
    if isinstance(inputs, Refused):
        raise CliError(f"{inputs.reason}: {inputs.message}")
    try:
        plan = job_manifest(inputs, settings.build_config, Strategy(args.strategy) if args.strategy else None)
    except ValueError as error:
        raise CliError(str(error)) from None
    sys.stdout.write(yaml.safe_dump_all(plan.manifests, sort_keys=False))
    return 0


def _admission_config(args: argparse.Namespace) -> int:
    import yaml

    from kiln.api.admission import webhook_configuration

    settings = _settings_file(None)
    if args.url:
        config = webhook_configuration(url=args.url)
    else:
        config = webhook_configuration(service=(settings.operator_namespace, args.service, 443))
    sys.stdout.write(yaml.safe_dump(config, sort_keys=False))
    return 0


def _host_port(flag: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"{flag}: {value!r} is not HOST:PORT, e.g. 0.0.0.0:8000")
    return host.strip("[]") or "0.0.0.0", int(port)


def _webhook_serve(args: argparse.Namespace) -> int:
    from kiln.receiver.app import serve

    host, port = _host_port("--listen", args.listen)
    serve(
        args.kubeconfig,
        host,
        port,
        metrics_port=args.metrics_port,
        verbose=args.verbose,
        deadline=args.deadline,
        max_refs=args.max_refs,
    )
    return 0


def _webhook_headers(path: str) -> dict[str, str]:
    """Request headers from a JSON object, or from `Name: value` lines as code hosts display them."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise CliError(f"{path}: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CliError(f"{path}: not UTF-8 text (byte {error.start} is {raw[error.start]:#04x})") from None
    try:
        document = json.loads(text)
    except ValueError:
        lines = [line.partition(":") for line in text.splitlines() if line.strip()]
        if not all(sep for _, sep, _ in lines):
            raise CliError(f"{path}: neither a JSON object nor 'Name: value' lines") from None
        return {name.strip(): value.strip() for name, _, value in lines}
    if not isinstance(document, dict):
        raise CliError(f"{path}: expected a JSON object of header names to values")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}


def _webhook_rules(path: str) -> list[dict[str, Any]]:
    """The BuildRule manifests of a YAML file or of every *.yaml / *.yml file of a directory."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise CliError(f"{path}: no *.yaml or *.yml files")
    else:
        files = [root]
    manifests = [_load_manifest(str(f), "BuildRule") for f in files]
    names = [str(m.get("metadata", {}).get("name", "")) for m in manifests]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CliError(f"{path}: BuildRule names used more than once: {', '.join(duplicates)}")
    return manifests


def _webhook_clock(text: str | None) -> datetime:
    """`--at`: the time the delivery is inspected at (default now)."""
    from kiln.webhooks.payloads import on_the_calendar

    value = _option_time("--at", text)
    if not on_the_calendar(value):
        raise CliError(f"--at: {text!r} is too close to the ends of the calendar (years 1 and 9999)")
    return value


def _webhook_inspect(args: argparse.Namespace) -> int:
    from kiln.webhooks import WebhookError, WebhookSecret, inspect_result, planned_builds
    from kiln.webhooks.decisions import webhook_secret
    from kiln.webhooks.events import printable

    headers = _webhook_headers(args.headers)
    try:
        body = Path(args.body).read_bytes()  # signatures are over the exact bytes
    except OSError as error:
        raise CliError(f"{args.body}: {error.strerror}") from None
    try:
        rules = _webhook_rules(args.rules) if args.rules else []
    except UnicodeDecodeError as error:
        raise CliError(f"{args.rules}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    now = _webhook_clock(args.at)
    secret: WebhookSecret | None = None
    if args.secret is not None:
        try:
            secret = webhook_secret(args.provider, args.secret, args.gitee_mode)
        except WebhookError:
            secret = None  # an unknown provider: the inspection reports it
        except ValueError as error:
            raise CliError(f"--secret: {error}") from None
    inspection = inspect_result(args.provider, headers, body, secret, now)
    report: dict[str, Any] = {**inspection.to_dict(), **planned_builds(rules, inspection.events)}
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        # Everything shown comes from the delivery: escape what a terminal would not show as itself.
        def show(label: str, text: object) -> None:
            print(f"{label + ':':<10} {printable(str(text))}")

        verified = {True: "yes", False: "NO", None: "not checked (no --secret)"}[inspection.verified]
        show("provider", args.provider)
        show("verified", verified)
        for event in inspection.events:
            show("event", f"push {event.ref} {event.commit[:12]} ({event.repository}) by {event.sender}")
        if inspection.ping is not None:
            show("event", "ping")
        if report["ignored"]:
            show("ignored", report["ignored"])
        cut = inspection.cut_note()
        if cut:
            show("cut", cut)
        if report["error"]:
            show("error", f"{report['error']} (HTTP {report['status']})")
        for build in report["builds"]:
            show("build", f"{build['rule']} ({build['ref']}) -> {', '.join(build['tags'])}")
        for item in report["skipped"]:
            show("skipped", f"{item['rule']}: {item['reason']}")
        for item in report["failures"]:
            show("failure", item["error"])
        if rules and inspection.events and not report["builds"]:
            show("builds", "no rule matched" if not report["failures"] else "none (see failure)")
    return 1 if inspection.error is not None else 0


KUBECONFIG_HELP = (
    "kubeconfig file (default: $KUBECONFIG, then the in-cluster service account, then ~/.kube/config)"
)


def _add_crds(sub: Any) -> None:
    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions generated from the models")
    crds.add_argument(
        "--write", action="store_true", help="write crds/, charts/kiln/crds/ and docs/api.md under --root"
    )
    crds.add_argument("--root", default=".", help="repository root for --write (default: current directory)")
    crds.set_defaults(handler=_crds)


def _group(sub: Any, name: str, help: str) -> Any:
    """A command that only holds subcommands (`kiln rule ...`): its subparsers."""
    group = sub.add_parser(name, help=help).add_subparsers(dest=f"{name}_command", metavar="COMMAND")
    group.required = True
    return group


def _add_rule(sub: Any) -> None:
    rule_test = _group(sub, "rule", "work with BuildRules offline").add_parser(
        "test",
        help="show whether a push matches a BuildRule and which tags it would build (no cluster needed)",
    )
    rule_test.add_argument("-f", "--file", required=True, help="BuildRule manifest (YAML; - for stdin)")
    rule_test.add_argument("--ref", required=True, help="full ref pushed, e.g. refs/heads/release-v1")
    rule_test.add_argument("--commit", required=True, help="commit id pushed (hex)")
    rule_test.add_argument("--pushed-at", help="push time, ISO 8601 with zone (default: now)")
    rule_test.add_argument("-o", "--output", choices=["text", "json"], default="text")
    rule_test.set_defaults(handler=_rule_test)


def _add_operator(sub: Any) -> None:
    operator = sub.add_parser("operator", help="run the operator (all controllers and the admission webhook)")
    operator.add_argument("--kubeconfig", help=KUBECONFIG_HELP)
    operator.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL (default: %(default)s)",
    )
    operator.add_argument("--no-admission", action="store_true", help="do not serve the admission webhook")
    operator.add_argument(
        "--webhook-listen",
        metavar="HOST:PORT",
        help="also serve the code hosts' webhook receiver (as `kiln webhook serve`) on HOST:PORT",
    )
    operator.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve Prometheus /metrics (builds, and the receiver's when hosted) on HOST:PORT",
    )
    operator.add_argument(
        "--peering",
        metavar="NAME",
        default=os.environ.get("KILN_PEERING"),
        help="run beside replicas of itself (one works, the others stand by) through the ClusterKopfPeering"
        " NAME (default: $KILN_PEERING; unset: alone)",
    )
    operator.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    operator.set_defaults(handler=_operator)


def _add_webhook(sub: Any) -> None:
    webhook_sub = _group(sub, "webhook", "receive code host webhooks, or inspect a recorded delivery")
    serve = webhook_sub.add_parser(
        "serve", help="serve POST /hooks/{provider}/{tenant}/{repository}, creating BuildRuns on pushes"
    )
    serve.add_argument("--kubeconfig", help=KUBECONFIG_HELP)
    serve.add_argument(
        "--listen", default="0.0.0.0:8000", help="HOST:PORT to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--metrics-port", type=int, help="serve /metrics on this port only (default: on the --listen port)"
    )
    serve.add_argument(
        "--deadline",
        type=float,
        default=8.0,
        metavar="SECONDS",
        help="answer every delivery within this time, 503 with Retry-After if the creates are slower "
        "(default: %(default)s; code hosts wait about 10 s)",
    )
    serve.add_argument(
        "--max-refs",
        type=int,
        default=100,
        metavar="N",
        help="build at most N refs of one delivery; the answer names the rest (default: %(default)s)",
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    serve.set_defaults(handler=_webhook_serve)
    inspect = webhook_sub.add_parser(
        "inspect",
        help="verify and parse a recorded delivery offline; with --rules, show which rules fire (no cluster)",
    )
    inspect.add_argument(
        "--provider", required=True, help="github, gitlab, gitee, bitbucket or bitbucket-server"
    )
    inspect.add_argument(
        "--headers", required=True, help="request headers: a JSON object, or 'Name: value' lines"
    )
    inspect.add_argument("--body", required=True, help="request body, exactly as delivered")
    inspect.add_argument(
        "--secret", help="webhook secret to verify with (GitLab: token or whsec_ signing token)"
    )
    inspect.add_argument(
        "--gitee-mode",
        choices=["password", "signature"],
        default="signature",
        help="how the Gitee secret is sent (default: %(default)s)",
    )
    inspect.add_argument("--rules", help="BuildRule manifest, or a directory of them (*.yaml, *.yml)")
    inspect.add_argument(
        "--at",
        metavar="TIME",
        help="inspect as if the delivery arrived at TIME, ISO 8601 with zone: the clock of the "
        "signatures' replay windows (GitLab signing tokens, Gitee signatures) and the push time "
        "when the payload gives none (default: now)",
    )
    inspect.add_argument("-o", "--output", choices=["text", "json"], default="text")
    inspect.set_defaults(handler=_webhook_inspect)
    from kiln.cli import post_receive

    post_receive.add_parser(webhook_sub)


def _add_job(sub: Any) -> None:
    render = _group(sub, "job", "see the build Jobs the operator creates").add_parser(
        "render", help="print the Job (and ConfigMap) the operator would create for a BuildRun (no cluster)"
    )
    render.add_argument("-f", "--file", required=True, help="BuildRun manifest (YAML; - for stdin)")
    render.add_argument("--rule", required=True, help="its BuildRule manifest")
    render.add_argument("--repository", required=True, help="its Repository manifest")
    render.add_argument("--tenant", required=True, help="the Kiln Namespace manifest of its tenant")
    render.add_argument("--strategy", choices=["buildkit", "buildah"], help="default: the settings' strategy")
    render.add_argument(
        "--settings", help="KILN_* settings, as KEY=value lines or a YAML mapping (default: the environment)"
    )
    render.set_defaults(handler=_job_render)


def _add_admission(sub: Any) -> None:
    config = _group(sub, "admission", "the admission webhook's configuration").add_parser(
        "config",
        help="print the ValidatingWebhookConfiguration to install (the operator fills in its CA bundle)",
    )
    where = config.add_mutually_exclusive_group()
    where.add_argument(
        "--service",
        default="kiln-operator",
        help="the operator's Service in $KILN_OPERATOR_NAMESPACE, port 443 (default: %(default)s)",
    )
    where.add_argument("--url", help="https://HOST:PORT of an operator outside the cluster")
    config.set_defaults(handler=_admission_config)


SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def _completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    # both names: `kiln ...` and `kubectl-kiln ...` (kubectl's own completion of plugins is its own)
    sys.stdout.write(shellcode(["kiln", "kubectl-kiln"], shell=args.shell))
    return 0


def _add_completion(sub: Any) -> None:
    completion = sub.add_parser(
        "completion",
        help="print the shell completion script, e.g. `source <(kiln completion bash)` (docs/cli.md)",
    )
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(handler=_completion)


def build_parser() -> argparse.ArgumentParser:
    from kiln.cli.commands import add_build_commands

    parser = argparse.ArgumentParser(prog="kiln", description="Build container images from Git repositories.")
    parser.add_argument("--version", action="version", version=f"kiln {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("version", help="print the version").set_defaults(handler=_version)
    add_build_commands(sub)
    for add in (_add_crds, _add_rule, _add_job, _add_operator, _add_admission, _add_webhook, _add_completion):
        add(sub)
    return parser


# Cobra's ShellCompDirective bits, which kubectl's completion of a plugin reads last: no file
# names of the shell's own (the candidates list them where kiln takes a file), no space after a
# candidate that goes on (a directory, `--flag=`)
_NO_FILE_COMPLETION = 4
_NO_SPACE = 2
_CONTINUED = ("/", "=", ":")


class _Completed(Exception):
    pass


def kubectl_complete(argv: Sequence[str] | None = None) -> int:
    """`kubectl_complete-kiln`, which kubectl 1.26 and later run to complete `kubectl kiln ...`: the
    words after `kiln` are its arguments, the last one the word being completed. It answers in
    Cobra's format (a candidate per line, a tab and its description, then `:<directive>`), with
    the candidates argcomplete finds for `kiln`."""
    import contextlib
    import io
    import shlex

    import argcomplete.io
    from argcomplete.finders import CompletionFinder

    class _KubectlCompletion(CompletionFinder):
        def _init_debug_stream(self) -> None:
            # argcomplete's own takes file descriptor 9 if open (and closes it when done): kubectl
            # opens none for us, and in-process callers may hold one
            argcomplete.io.debug_stream = sys.stderr

    words = list(sys.argv[1:] if argv is None else argv) or [""]
    line = " ".join(["kiln", *(shlex.quote(w) for w in words)])
    request = {
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_DFS": "\t",
        "_ARGCOMPLETE_SUPPRESS_SPACE": "1",
        "_ARGCOMPLETE_SHELL": "fish",  # no escaping: kubectl's completion script quotes for its shell
    }
    found = io.StringIO()

    def done(code: int = 0) -> None:
        raise _Completed(code)

    saved = {name: os.environ.get(name) for name in request}
    os.environ.update(request)  # how argcomplete is asked
    try:
        with contextlib.suppress(_Completed):
            # flags once a `-` is typed, as kubectl's own completion offers them
            _KubectlCompletion()(
                build_parser(), always_complete_options=False, output_stream=found, exit_method=done
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    candidates = [c.rstrip("\t") for c in found.getvalue().split("\n") if c]
    last = words[-1]
    if last.startswith("-") and "=" in last:
        # `--output=j`: Cobra's scripts complete the value alone (argcomplete answers `--output=json`)
        flag = last.split("=", 1)[0] + "="
        candidates = [c.removeprefix(flag) for c in candidates]
    directive = _NO_FILE_COMPLETION
    if any(c.split("\t", 1)[0].endswith(_CONTINUED) for c in candidates):
        directive |= _NO_SPACE
    sys.stdout.write("".join(f"{c}\n" for c in candidates) + f":{directive}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import argcomplete

    parser = build_parser()
    argcomplete.autocomplete(parser)  # answers the shell's completion request and exits; else nothing
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
