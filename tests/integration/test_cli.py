"""The `kiln` command against the real API server: each command a subprocess with a real kubeconfig.

Builds run as in test_builds (buildah on the local node, the tenant's registry the local one, the
source on the git daemon). The CLI reads a branch head with the user's own git: the Repository's
clone URL (https://github.com/kiln-e2e/...) is pointed at the git daemon by git's own
`url.<base>.insteadOf`, as a user's git config would point it at a mirror. Output is piped here, so
it must be plain text: no ANSI escape anywhere, unless FORCE_COLOR asks for colour.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from kiln.api.constants import BUILD_RUN, GROUP, VERSION
from kiln.receiver.app import ServerThread
from tests.conftest import CODEHOST_API_URLS, CODEHOST_PORTS, GitServer
from tests.integration import test_builds
from tests.integration.conftest import buildrun_creator, eventually
from tests.integration.test_builds import GITHUB_OWNER, BuildEnv, base_image, buildrun, create_as
from tests.standins import HostState, github

REPO = Path(__file__).resolve().parents[2]
KILN = REPO / ".venv" / "bin" / "kiln"
ESC = "\x1b["
# the module's tenant, whose registry is the local one, and its pushes (test_builds' fixture)
env = test_builds.env
# the harness kubeconfig's user, who creates the manual builds
USER = "kiln-admin"
TOKEN = "kiln-cli-token-" + "x" * 24


def cli_env(gitserver: GitServer, **extra: str) -> dict[str, str]:
    """The environment of a user whose git reaches the code repositories through the git daemon."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "KUBECONFIG")}
    return {
        **env,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.git://127.0.0.1:{gitserver.port}/.insteadOf",
        "GIT_CONFIG_VALUE_0": GITHUB_OWNER,
        **extra,
    }


class Kiln:
    """`kiln` with the cluster's kubeconfig, in the tenant's namespace unless told otherwise."""

    def __init__(self, env: BuildEnv) -> None:
        self.env = env
        self.process_env = cli_env(env.gitserver)

    def args(self, *args: str, namespace: bool = True, cluster: bool = True) -> list[str]:
        """The command line; `cluster=False`: a command that takes no cluster flags."""
        if not cluster:
            return [str(KILN), *args]
        where = ["-n", self.env.namespace] if namespace else []
        return [str(KILN), *args, "--kubeconfig", str(self.env.cluster.kubeconfig), *where]

    def __call__(
        self, *args: str, namespace: bool = True, cluster: bool = True, timeout: float = 300, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.args(*args, namespace=namespace, cluster=cluster),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**self.process_env, **extra_env},
        )
        if not extra_env.get("FORCE_COLOR"):
            assert ESC not in done.stdout + done.stderr, f"ANSI escapes in piped output: {done!r}"
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.process_env,
        )


@pytest.fixture(scope="module")
def kiln(env: BuildEnv) -> Kiln:
    return Kiln(env)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed if the test leaves them running."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def steps_dockerfile(env: BuildEnv) -> str:
    return "\n".join(
        [
            f"FROM {base_image(env)}",
            "RUN echo one > /one",
            "RUN sleep 3 && echo two > /two",
            'CMD ["cat", "/two"]',
        ]
    )


def test_build_follow_to_a_pushed_image_then_get_describe_and_the_archived_log(
    env: BuildEnv, kiln: Kiln
) -> None:
    repo = f"cli-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("main", repo, tags=[{"tag": "latest"}, {"tag": "${ref}"}])
    commit = env.gitserver.create(repo, {"Dockerfile": steps_dockerfile(env)})

    built = kiln("build", "main", "--follow")
    assert built.returncode == 0, built
    name, *log = built.stdout.splitlines()
    run = env.build_run(name)
    # the head of main, read with git; the Manual trigger names the kubeconfig's user
    assert run["spec"]["source"] == {"ref": "refs/heads/main", "commit": commit}
    assert run["spec"]["trigger"] == {"type": "Manual", "sender": USER}
    assert run["spec"]["tags"] == ["latest", "main"]
    assert run["status"]["phase"] == "Succeeded"
    assert "STEP 3/4: RUN sleep 3 && echo two > /two" in log  # the build's log, streamed
    digest = env.registry.manifest_digest(f"{env.tenant}/{repo}", "latest")
    assert f"BuildRun {name} succeeded: pushed " in built.stderr and f":latest@{digest}" in built.stderr

    table = kiln("get", "buildruns").stdout.splitlines()
    assert table[0].split() == [
        "NAME", "RULE", "REF", "COMMIT", "PHASE", "PROGRESS", "TAGS", "DIGEST", "DURATION", "AGE",
    ]  # fmt: skip
    (row,) = [line.split() for line in table[1:] if line.startswith(name)]
    assert row[:5] == [name, "main", "main", commit[:7], "Succeeded"]
    assert row[5:7] == ["latest,main", digest[:19]]  # no progress once finished; sha256: and 12 hex
    wide = kiln("get", "buildruns", name, "-o", "wide").stdout
    assert f"Manual by {USER}" in wide and "Pushed" in wide
    listed = json.loads(kiln("get", "buildruns", "--rule", "main", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == [name]
    assert (
        yaml.safe_load(kiln("get", "buildruns", name, "-o", "yaml").stdout)["spec"]["source"]["commit"]
        == commit
    )

    rules = kiln("get", "rules", "--tenant", env.tenant, namespace=False)
    assert rules.returncode == 0, rules
    (rule_row,) = [line for line in rules.stdout.splitlines() if line.startswith("main ")]
    assert rule_row.split()[:6] == ["main", repo, "Branch", "main", "latest,", "${ref}"]
    (repo_row,) = [line.split() for line in kiln("get", "repos").stdout.splitlines() if line.startswith(repo)]
    assert repo_row[:3] == [repo, "github", f"{GITHUB_OWNER}{repo}.git"]

    def described() -> str | None:
        # the operator posts its Events from a queue: Pushed may come a moment after the status
        text = kiln("describe", name).stdout
        return text if "Normal   Pushed" in text else None

    text = eventually(described, what="Events in kiln describe")
    assert f"Triggered by: Manual by {USER}" in text
    assert f"Source:       refs/heads/main at {commit}" in text
    assert "Phase:        Succeeded (Pushed)" in text
    assert f":latest   {digest}" in text
    assert "Normal   Started" in text and "  Started:" in text and "  Finished:" in text
    assert kiln("describe", "buildrun", name).stdout.splitlines()[0] == f"Name:         {name}"

    # after the Pod is gone: the archived log
    eventually(
        lambda: (env.build_run(name)["status"].get("logs") or {}).get("archive"), what="the log archived"
    )
    env.cluster.kubectl(
        "delete", "job", name, "-n", env.namespace, "--cascade=foreground", "--wait=true", timeout=120
    )
    eventually(lambda: not env.pods(name), what="the build pod gone")
    archived = kiln("logs", name)
    assert archived.returncode == 0, archived
    assert "STEP 3/4: RUN sleep 3 && echo two > /two" in archived.stdout.splitlines()


def test_build_follow_on_a_terminal_shows_a_progress_line_and_colour(env: BuildEnv, kiln: Kiln) -> None:
    repo = f"tty-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("tty", repo)
    env.gitserver.create(repo, {"Dockerfile": steps_dockerfile(env)})
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            kiln.args("build", "tty", "--follow"),
            stdin=secondary, stdout=secondary, stderr=secondary,
            env={**kiln.process_env, "TERM": "xterm-256color", "COLUMNS": "200"},
        )  # fmt: skip
    finally:
        os.close(secondary)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(60) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert ESC in screen  # colour and the redrawn progress line
    # the progress line: while waiting for the Pod, and at the steps (parsed from the log)
    assert re.search(r"waiting for a build Pod|tty-[0-9a-f]+: (Pending|not seen)", screen), screen
    assert "step 3/4" in screen, screen
    assert "STEP 3/4: RUN sleep 3 && echo two > /two" in screen


def token_repository(repo: str) -> list[dict[str, Any]]:
    """A GitHub Repository `repo` whose source.credentialsSecretRef holds TOKEN, and that Secret."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{repo}-token"},
        "stringData": {"token": TOKEN},
    }
    source = {
        "provider": "github",
        "url": f"{GITHUB_OWNER}{repo}.git",
        "credentialsSecretRef": {"name": f"{repo}-token", "key": "token"},
        "webhook": {"autoRegister": False},
    }
    repository = {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": repo},
        "spec": {"source": source},
    }
    return [secret, repository]


def test_build_reads_the_head_through_the_code_host_with_the_repositorys_token(
    env: BuildEnv, kiln: Kiln
) -> None:
    """One who may read the Repository's token Secret gets the head from the host's API (the GitHub
    stand-in, at KILN_CODEHOST_API_URLS as the operator's): the git daemon has no such repository,
    so git could not have answered."""
    repo = f"api-{uuid.uuid4().hex[:6]}"
    head = "a" * 40
    state = HostState(token=TOKEN, repository=f"kiln-e2e/{repo}", branches={"main": head, "dev": "b" * 40})
    with ServerThread(github.make_app(state), port=CODEHOST_PORTS["github.com"]):
        env.apply(*token_repository(repo))
        env.rule("from-api", repo)
        built = kiln(
            "build", "from-api", KILN_CODEHOST_API_URLS=f"github.com={CODEHOST_API_URLS['github.com']}"
        )
    assert built.returncode == 0, built
    (name,) = built.stdout.splitlines()
    assert env.build_run(name)["spec"]["source"]["commit"] == head
    assert any(f"/repos/kiln-e2e/{repo}/branches" in path for _, path in state.requests), state.requests
    # (it cannot clone: the run fails, and is cancelled here so that it does not linger)
    env.custom.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, BUILD_RUN.plural, name)


def developer_kubeconfig(env: BuildEnv, user: str, directory: Path) -> Path:
    """A kubeconfig of `user`, a tenant's developer: a client certificate the cluster signed through
    a CertificateSigningRequest the admin approved, the context's namespace the tenant's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]))
        .sign(key, hashes.SHA256())
    )
    name = f"{user}-{uuid.uuid4().hex[:6]}"
    request = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
        },
    }
    env.cluster.kubectl("create", "-f", "-", input=json.dumps(request))
    try:
        env.cluster.kubectl("certificate", "approve", name)
        certificate = eventually(
            lambda: env.cluster.kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout,
            what="the signed certificate",
        )
    finally:
        env.cluster.kubectl("delete", "csr", name)
    admin = yaml.safe_load(env.cluster.kubeconfig.read_text())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": certificate,
                    "client-key-data": base64.b64encode(key_pem).decode(),
                },
            }
        ],
        "contexts": [
            {
                "name": "dev",
                "context": {
                    "cluster": admin["clusters"][0]["name"],
                    "user": user,
                    "namespace": env.namespace,
                },
            }
        ],
        "current-context": "dev",
    }
    path = directory / f"{user}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_developer_who_may_not_read_the_token_builds_the_head_their_git_reads(
    env: BuildEnv, kiln: Kiln, tmp_path: Path
) -> None:
    """No access to Secrets (nor to Namespace objects): the head comes from the user's own git,
    although the Repository has a token; the namespace is the context's."""
    repo = f"dev-{uuid.uuid4().hex[:6]}"
    # a build that outlasts the test: its cancel below is refused for want of access, not for its end
    commit = env.gitserver.create(repo, {"Dockerfile": f"FROM {base_image(env)}\nRUN sleep 600\n"})
    env.apply(
        *token_repository(repo),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "kiln-developer"},
            "rules": [
                {
                    "apiGroups": ["kiln.dev"],
                    "resources": ["buildrules", "repositories", "buildruns"],
                    "verbs": ["get", "list", "create"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "carol-develops"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kiln-developer"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}],
        },
    )  # fmt: skip
    env.rule("dev", repo)
    config = developer_kubeconfig(env, "carol", tmp_path)

    def carol(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(KILN), *args, "--kubeconfig", str(config)]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, env=kiln.process_env
        )

    forbidden = carol(
        "get", "repos", "--tenant", env.tenant
    )  # she may not read Kiln Namespaces: kiln-<tenant>
    assert forbidden.returncode == 0, forbidden
    built = carol("build", "dev")
    assert built.returncode == 0, built
    (name,) = built.stdout.splitlines()
    run = env.build_run(name)
    assert run["spec"]["source"]["commit"] == commit
    assert run["spec"]["trigger"] == {"type": "Manual", "sender": "carol"}
    assert "kiln.dev/namespace" not in run["metadata"]["labels"]  # she may not read the namespace's labels
    listed = carol("get", "buildruns", name)
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[0] == name
    cancel = carol("cancel", name)  # not granted: the answer says what to ask for
    assert (
        cancel.returncode == 2
        and "forbidden: " in cancel.stderr
        and "ask the tenant's administrator" in cancel.stderr
    )
    env.custom.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, BUILD_RUN.plural, name)


def test_kubectl_get_buildrules_shows_the_tag_summary_not_json(env: BuildEnv) -> None:
    repo = f"tags-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule(
        "release", repo,
        source={"type": "Branch", "pattern": "release-(?<imageTag>\\w*)"},
        tags=[{"tag": "${imageTag}", "buildTime": "yyyyMMddHHmm", "commitIdLength": 30}],
    )  # fmt: skip

    def tags_column() -> str | None:
        out = env.cluster.kubectl("get", "buildrules", "release", "-n", env.namespace).stdout.splitlines()
        header, row = out
        value = row[header.index("TAGS") :].split()[0]
        return value if value != "<none>" else None

    assert eventually(tags_column, what="the operator's tagSummary") == "${imageTag}-yyyyMMddHHmm-<commit:30>"


def test_cancel_of_a_followed_build_stops_it_and_the_follower_exits_1(
    env: BuildEnv,
    kiln: Kiln,
    started: list[subprocess.Popen[str]],
) -> None:
    repo = f"cancel-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("slow", repo)
    env.gitserver.create(repo, {"Dockerfile": f"FROM {base_image(env)}\nRUN echo sleeping && sleep 600\n"})
    follower = kiln.start("build", "slow", "--follow")
    started.append(follower)
    printed = _lines(follower.stdout)
    name = eventually(lambda: printed[:1], what="the BuildRun's name printed")[0]
    assert name.startswith("slow-"), name
    # the long step runs: the follower is streaming the build's log
    eventually(
        lambda: any("sleeping" in line for line in printed[1:]), timeout=240, what=f"the log in {printed}"
    )

    # without -f: the Pod's log so far, and done (the build goes on)
    so_far = kiln("logs", name)
    assert so_far.returncode == 0, so_far
    assert "STEP 2/2: RUN echo sleeping && sleep 600" in so_far.stdout.splitlines()
    assert env.build_run(name)["status"]["phase"] == "Running"

    cancelled = kiln("cancel", name, "--wait")
    assert cancelled.returncode == 0, cancelled
    assert cancelled.stdout == f"BuildRun {name}: cancel requested\n"
    assert follower.wait(120) == 1
    assert follower.stderr is not None
    assert f"BuildRun {name} cancelled" in follower.stderr.read()
    assert env.build_run(name)["status"]["phase"] == "Cancelled"

    again = kiln("cancel", name)
    assert again.returncode == 2 and "has ended (Cancelled): there is nothing to cancel" in again.stderr
    no_log = kiln("logs", name)
    assert no_log.returncode == 2 and "was cancelled: its Pod was deleted at once" in no_log.stderr


def _lines(stream: IO[str] | None) -> list[str]:
    """The lines `stream` gives, as they come (read on a thread: a test never blocks on a pipe)."""
    assert stream is not None
    lines: list[str] = []

    def read() -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_logs_follow_of_a_pushed_build_that_fails_exits_1_naming_the_step(env: BuildEnv, kiln: Kiln) -> None:
    repo = f"fail-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("broken", repo)
    _, name = env.push(repo, {"Dockerfile": f"FROM {base_image(env)}\nRUN echo no such tool >&2 && exit 3\n"})
    followed = kiln("logs", "-f", name)
    assert followed.returncode == 1, followed
    assert "no such tool" in followed.stdout  # the log, live
    assert f"BuildRun {name} failed: " in followed.stderr and "RUN echo no such tool" in followed.stderr


def test_refusals_say_why_and_what_to_do(env: BuildEnv, kiln: Kiln) -> None:
    repo = f"refuse-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("stamped", repo, tags=[{"tag": "v", "buildTime": "yyyyMMddHHmm"}])
    env.rule("by-hand", repo)

    refused = kiln("build", "stamped")
    assert refused.returncode == 2, refused
    # the same words as admission's, for a Manual BuildRun made by hand
    env.apply(*buildrun_creator("bob"))
    by_hand = create_as(env, "bob", buildrun("stamp-1", "stamped", repo, "Manual", ["v-202601010000"]))
    reason = "BuildRule 'stamped' cannot be built by hand: spec.tags[0] uses a build time; only pushes can build it"
    assert refused.stderr == f"kiln: error: {reason}\n"
    assert reason in by_hand.stderr

    other_ref = kiln("build", "by-hand", "--ref", "dev")
    assert other_ref.returncode == 2 and "builds refs/heads/main only, not refs/heads/dev" in other_ref.stderr
    no_branch = kiln("build", "by-hand")  # the code repository was never pushed
    assert no_branch.returncode == 2 and "pass --commit SHA" in no_branch.stderr
    missing = kiln("build", "nope")
    assert missing.returncode == 2
    assert (
        f"BuildRule 'nope' not found in namespace {env.namespace}: list them with `kiln get rules -n {env.namespace}`"
        in missing.stderr
    )
    assert "`kiln get buildruns -n" in kiln("logs", "nope").stderr
    assert "`kiln get buildruns -n" in kiln("describe", "nope").stderr
    assert "`kiln get buildruns -n" in kiln("cancel", "nope").stderr
    assert [r for r in env.build_runs() if r["spec"]["buildRule"] in ("stamped", "by-hand")] == []

    with tempfile.TemporaryDirectory() as home:
        lost = subprocess.run(
            [str(KILN), "get", "buildruns"], capture_output=True, text=True, timeout=60, check=False,
            env={**cli_env(env.gitserver), "HOME": home},
        )  # fmt: skip
    assert lost.returncode == 2
    assert "no usable kubeconfig" in lost.stderr and "--kubeconfig FILE, set KUBECONFIG" in lost.stderr


def test_colour_only_when_asked_for_off_a_terminal(env: BuildEnv, kiln: Kiln) -> None:
    repo = f"colour-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    env.rule("colour", repo)
    eventually(lambda: "Allowed" in kiln("get", "rules", "colour").stdout, what="the rule's status")
    piped = kiln("get", "rules", "colour")  # asserts no escapes itself
    forced = kiln("get", "rules", "colour", FORCE_COLOR="1")
    assert ESC in forced.stdout
    # the same table but for the colours (and the AGE column, a second older perhaps)
    assert [line.split()[:-1] for line in piped.stdout.splitlines()] == [
        line.split()[:-1] for line in _strip_ansi(forced.stdout).splitlines()
    ]


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_kubectl_kiln_runs_the_same_command(env: BuildEnv, kiln: Kiln) -> None:
    repo = f"plugin-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    path = f"{KILN.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        [env.cluster.kubectl_path, "kiln", *kiln.args("get", "repos", repo)[1:]],
        capture_output=True, text=True, timeout=60, check=False, env={**kiln.process_env, "PATH": path},
    )  # fmt: skip
    assert done.returncode == 0, done
    header, row = done.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "PROVIDER", "URL"] and row.split()[:2] == [repo, "github"]


def test_completion_names_the_buildruns_of_the_namespace(env: BuildEnv, kiln: Kiln) -> None:
    script = kiln("completion", "bash", cluster=False)
    assert script.returncode == 0 and "complete" in script.stdout and "kubectl-kiln" in script.stdout
    repo = f"comp-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    name = f"comp-{uuid.uuid4().hex[:6]}"
    env.apply({**buildrun(name, "none", repo, "Push", ["latest"])})
    with tempfile.NamedTemporaryFile("r") as answer:
        line = f"kiln logs --kubeconfig {env.cluster.kubeconfig} -n {env.namespace} comp-"
        done = subprocess.run(
            [str(KILN)], capture_output=True, text=True, timeout=60, check=False,
            env={
                **cli_env(env.gitserver), "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
                "_ARGCOMPLETE_STDOUT_FILENAME": answer.name, "_ARGCOMPLETE_IFS": "\n",
            },
        )  # fmt: skip
        assert done.returncode == 0, done
        completions = answer.read().split("\n")
    assert [c.strip() for c in completions] == [name]


def test_kubectl_complete_kiln_answers_kubectl_in_cobras_format(env: BuildEnv, kiln: Kiln) -> None:
    """`kubectl kiln <TAB>` (kubectl 1.26+) runs `kubectl_complete-kiln` with the words after `kiln`
    and reads a candidate per line (a tab, then its description), then `:<directive>`."""
    complete = str(KILN.parent / "kubectl_complete-kiln")
    repo = f"kcomp-{uuid.uuid4().hex[:6]}"
    env.repository(repo)
    name = f"kcomp-{uuid.uuid4().hex[:6]}"
    env.apply({**buildrun(name, "none", repo, "Push", ["latest"])})

    def answer(*words: str) -> list[str]:
        done = subprocess.run(
            [complete, *words], capture_output=True, text=True, timeout=60, check=False, env=kiln.process_env
        )
        assert done.returncode == 0, done
        *candidates, directive = done.stdout.splitlines()
        assert directive == ":4", done.stdout  # no file names
        return candidates

    commands = dict(c.split("\t") for c in answer(""))
    assert commands["logs"].startswith("print a BuildRun's log") and "--help" not in commands
    assert answer("logs", "--kubeconfig", str(env.cluster.kubeconfig), "-n", env.namespace, "kcomp-") == [
        name
    ]
    assert [c.split("\t")[0] for c in answer("get", "buildruns", "--out")] == ["--output"]
