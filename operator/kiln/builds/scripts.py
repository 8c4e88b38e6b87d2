"""The shell scripts build containers run, and the registry configuration files they read.

Generated as strings. Every user-provided value (URLs, refs, tags, build arguments, paths) reaches
a script either as a positional argument (`"$@"`) or quoted with `shlex.quote`, never spliced in
raw. Secrets are never in a script: they are files, read at run time.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kiln.api.constants import Provider

# Mounted files and scratch space shared by the containers' scripts and the pod spec.
GIT_TOKEN_DIR = "/kiln/git"
GIT_TOKEN_FILE = f"{GIT_TOKEN_DIR}/token"
# the push Secret's .dockerconfigjson as config.json: a DOCKER_CONFIG directory and an auth file
REGISTRY_AUTH_DIR = "/kiln/registry"
REGISTRY_AUTH_FILE = f"{REGISTRY_AUTH_DIR}/config.json"
WORK_DIR = "/tmp/kiln"
METADATA_FILE = f"{WORK_DIR}/metadata.json"
DIGEST_FILE = f"{WORK_DIR}/digest"
TERMINATION_LOG = "/dev/termination-log"
# the local name of a multi-platform build's manifest list (buildah)
MANIFEST_LIST = "kiln-build"

# The user name sent with a token over HTTPS where the code host wants a particular one; a URL
# with a user name in it (https://user@host/...) overrides this.
GIT_TOKEN_USERNAMES: dict[Provider, str] = {
    Provider.GITHUB: "x-access-token",
    Provider.GITLAB: "oauth2",
    Provider.GITEE: "oauth2",
    Provider.BITBUCKET: "x-token-auth",
    Provider.BITBUCKET_SERVER: "x-token-auth",
}

# Runs a command with its output to the log and to a file, keeping its exit status (POSIX sh has
# no pipefail; BusyBox ash and dash are what the BuildKit and clone images have).
_LOGGED = """\
logged() {
  { "$@" && echo 0 >"$work/rc" || echo "$?" >"$work/rc"; } 2>&1 | tee -a "$work/build.log"
  return "$(cat "$work/rc")"
}"""


@dataclass(frozen=True, slots=True)
class Raw:
    """Shell text put into a command unquoted: only ever one of this module's constants."""

    text: str


# buildah's --authfile, present only when the (optional) push Secret was mounted
AUTH_FLAG = Raw('${auth:+--authfile "$auth"}')
Word = str | Raw


def shell_command(argv: Sequence[Word]) -> str:
    """`argv` as one shell command line, every word quoted except the Raw ones."""
    return " ".join(w.text if isinstance(w, Raw) else shlex.quote(w) for w in argv)


def _lines(*parts: str | Iterable[str]) -> str:
    out: list[str] = []
    for part in parts:
        out.extend([part] if isinstance(part, str) else part)
    return "\n".join(out) + "\n"


def credential_helper(username: str, token_file: str = GIT_TOKEN_FILE) -> str:
    """A git credential helper (shell form) answering `get` with the token read from `token_file`.

    The token is read when git asks, so it is in no argument, command or environment variable.
    It answers whatever host git asks about: `clone_script` gives it to git for the repository's
    own host only (`credential_scope`).
    """
    return (
        '!f() { test "$1" = get || return 0; user=; '
        'while IFS= read -r line && [ -n "$line" ]; do case "$line" in username=*) user=1;; esac; done; '
        f'[ -n "$user" ] || echo username={shlex.quote(username)}; '
        f"printf 'password=%s\\n' \"$(cat {shlex.quote(token_file)})\"; }}; f"
    )


# `scheme://host[:port]` of a clone URL, after any user name; anything odd in it (a second `@`,
# `=`, quotes, percent-encoding) and the URL gets no token rather than a helper scoped to a
# misread host.
_URL_HOST = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#]*@)?"
    r"(?P<host>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?P<port>:[0-9]{1,5})?(?:[/?#]|$)"
)


def credential_scope(url: str) -> str | None:
    """`scheme://host[:port]` of `url` (lower case), the URL a credential helper is tied to with
    git's `credential.<url>.helper`; None for a URL whose host cannot be read unambiguously.

    git matches it against the URL it actually connects to, after any `url.<base>.insteadOf`
    rewrite: a helper tied to the code host's URL answers nothing for a mirror's.
    """
    match = _URL_HOST.match(url)
    if match is None:
        return None
    return f"{match['scheme']}://{match['host']}{match['port'] or ''}".lower()


def clone_script(
    url: str, ref: str, commit: str, dest: str, helper: str | None, rewrites: Sequence[tuple[str, str]] = ()
) -> str:
    """Check out exactly `commit` of `url` into `dest`, and only if it is on `ref`.

    The commit is never fetched by id: `ref` is fetched (its whole history, no files but the
    commit's: `--filter=blob:none`, or in full from a server that refuses filters), and the commit
    must be its head or in its history, else the script fails with a `kiln:` line. A commit of
    another branch, or of a fork a code host serves by id, is not built under `ref`'s name; nor is
    one force-pushed away or deleted since. Not shallow: the check needs the history between the
    commit and the head.

    `helper` (a git credential helper) is given to git for `url`'s own `scheme://host[:port]`
    only. `rewrites` are git's `url.<replacement>.insteadOf <prefix>` (a mirror of the code host,
    say), in the clone's own config; the token is not sent to a mirror on another host.
    """
    scope = credential_scope(url) if helper else None
    if scope is not None:
        key = shlex.quote(f"credential.{scope}.helper")
        git = f'git -c credential.helper= -c {key}="$helper"'
    else:
        git = "git -c credential.helper=" if helper else "git"
    return _lines(
        "set -eu",
        f"url={shlex.quote(url)} ref={shlex.quote(ref)} commit={shlex.quote(commit)} dest={shlex.quote(dest)}",
        f"helper={shlex.quote(helper or '')}",
        'fail() { echo "kiln: $*" >&2; exit 1; }',
        ['echo "kiln: warning: cannot read the host of $url; not sending it the git token" >&2']
        if helper and scope is None
        else [],
        # git's own error in a file, shown after ours: a transport child may write after git
        # exits, so its output goes through a file rather than straight to the log
        f'fetch() {{ {git} fetch -q --no-tags "$@" origin "+$ref:refs/kiln/source" 2>.git/kiln-fetch.err; }}',
        'fetch_failed() { cat .git/kiln-fetch.err >&2; fail "cannot fetch $ref from $url"; }',
        'git -c init.defaultBranch=kiln init -q "$dest"',
        'cd "$dest"',
        *(
            f"git config --add {shlex.quote(f'url.{replacement}.insteadOf')} {shlex.quote(prefix)}"
            for prefix, replacement in rewrites
        ),
        'git remote add origin "$url"',
        # the commits and trees of the ref's history, without file contents
        "if fetch --filter=blob:none; then :",
        "else",
        '  echo "kiln: blobless fetch of $ref from $url failed; fetching it in full" >&2',
        "  fetch --no-filter || fetch_failed",
        "fi",
        # local objects only (GIT_NO_LAZY_FETCH, git >= 2.44): a commit that is not in the
        # fetched history is not on the ref, however the server would answer for it by id
        'GIT_NO_LAZY_FETCH=1 git merge-base --is-ancestor "$commit" refs/kiln/source 2>/dev/null \\',
        '  || fail "commit $commit is not on $ref of $url (not its head nor in its history)"',
        # the checkout fetches the commit's files by id, which a server may refuse even though it
        # filters (git daemon with uploadpack.allowFilter over protocol v0, without
        # uploadpack.allowAnySHA1InWant): then everything, as a full clone would
        f'checkout() {{ {git} -c advice.detachedHead=false checkout -q -f --detach "$commit" 2>.git/kiln-checkout.err; }}',
        "if ! checkout; then",
        '  echo "kiln: cannot check out $commit from the blobless fetch; fetching $ref in full" >&2',
        "  fetch --refetch --no-filter || fetch_failed",
        '  checkout || { cat .git/kiln-checkout.err >&2; fail "cannot check out $commit"; }',
        "fi",
        "head=$(git rev-parse HEAD)",
        '[ "$head" = "$commit" ] || fail "checked out $head instead of $commit"',
        'tip=$(git rev-parse "refs/kiln/source^{commit}")',
        'if [ "$tip" = "$commit" ]; then where="its head"',
        'else where="in its history, $(git rev-list --count "$commit..$tip") behind its head $tip"',
        "fi",
        'echo "kiln: checked out $commit of $ref ($where)"',
    )


def _termination_message(digest: str, imported: str, exported: str) -> str:
    """The line writing the result JSON; the three arguments are shell expressions."""
    return (
        f'printf \'{{"digest":"%s","cacheImported":%s,"cacheExported":%s}}\\n\' '
        f'"{digest}" "{imported}" "{exported}" >{TERMINATION_LOG}'
    )


# The cache export vertex of BuildKit's plain progress (`#12 exporting cache to registry` ...
# `#12 DONE 0.4s`): exported only if that vertex finished without error.
_BUILDKIT_CACHE_EXPORTED = (
    'awk \'$2 == "exporting" && $3 == "cache" { id = $1 } '
    'id != "" && $1 == id && $2 == "DONE" { ok = 1 } END { exit !ok }\' "$work/build.log"'
)


# Runs `buildctl-daemonless.sh "$@"` (the arguments follow the script: `sh -c SCRIPT kiln-build
# build --frontend ...`), then reports the pushed digest and the cache use. The daemon is new in
# every pod, so a CACHED step can only come from the imported registry cache.
def buildkit_script(accelerated: Sequence[str] | None = None) -> str:
    """Run `buildctl-daemonless.sh "$@"`, then report the pushed digest and the cache use; with
    `accelerated`, run that second buildctl (the eStargz variant) in between, quoted word by word."""
    second = ["logged buildctl-daemonless.sh " + shell_command(accelerated)] if accelerated else []
    return _lines(
        "set -eu",
        f"work={WORK_DIR}",
        'mkdir -p "$work"',
        _LOGGED,
        'logged buildctl-daemonless.sh "$@"',
        'digest=$(sed -n \'s/^ *"containerimage\\.digest": *"\\(sha256:[0-9a-f]\\{64\\}\\)".*/\\1/p\' '
        + METADATA_FILE
        + " 2>/dev/null || true)",
        '[ -n "$digest" ] || { echo "kiln: buildctl reported no image digest" >&2; exit 1; }',
        "imported=false",
        "grep -Eq '^#[0-9]+ CACHED$' \"$work/build.log\" && imported=true",
        "exported=false",
        f"{_BUILDKIT_CACHE_EXPORTED} && exported=true",
        second,
        _termination_message("$digest", "$imported", "$exported"),
    )


BUILDKIT_SCRIPT = buildkit_script()


def buildah_script(build: Sequence[Word], pushes: Sequence[Sequence[Word]], *, cache: bool) -> str:
    """Run the `build` command, then each push (each writing the digest to WORK_DIR/digest), and
    report the digest of the first push and, if `cache`, whether the remote cache was used.

    The push Secret is optional and buildah refuses an --authfile that does not exist, so the
    commands carry AUTH_FLAG, set only when the file is there. Every push should write the same
    digest; a different one is reported in the log.
    """
    pushes_then_check = [
        line
        for argv in pushes
        for line in (
            shell_command(argv),
            'd=$(cat "$work/digest")',
            '[ -n "$digest" ] || digest=$d',
            '[ "$d" = "$digest" ] || echo "kiln: warning: pushed $d, the first push was $digest" >&2',
        )
    ]
    return _lines(
        "set -eu",
        f"work={WORK_DIR}",
        'mkdir -p "$work"',
        f"auth={REGISTRY_AUTH_FILE}",
        '[ -f "$auth" ] || auth=',
        _LOGGED,
        "logged " + shell_command(build),
        "digest=",
        pushes_then_check,
        'case "$digest" in sha256:*) ;; *) echo "kiln: buildah reported no image digest" >&2; exit 1;; esac',
        "imported=false",
        "exported=false",
        [
            "grep -q -- '^--> Cache pulled from remote' \"$work/build.log\" && imported=true",
            "grep -q -- '^--> Pushing cache' \"$work/build.log\" && exported=true",
        ]
        if cache
        else [],
        _termination_message("$digest", "$imported", "$exported"),
    )


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def buildkitd_toml(insecure_registries: Iterable[str], mirrors: Mapping[str, str] | None = None) -> str:
    """buildkitd.toml reaching these registries over plain HTTP, and pulling base images of each
    registry in `mirrors` from its mirror first (docs/buildkitd.toml.md: `mirrors` of a
    `[registry."host"]` table). BuildKit falls back to the registry itself when the mirror fails.

    `http = true` alone: BuildKit's docs say not to combine it with `insecure = true`, which is for
    HTTPS with an untrusted certificate.
    """
    tables: dict[str, list[str]] = {}
    for registry, mirror in sorted((mirrors or {}).items()):
        tables.setdefault(registry, []).append(f"  mirrors = [{_toml_string(mirror)}]")
    for host in sorted(set(insecure_registries)):
        tables.setdefault(host, []).append("  http = true")
    return "".join(
        f"[registry.{_toml_string(host)}]\n" + "\n".join(keys) + "\n\n"
        for host, keys in sorted(tables.items())
    )


def registries_conf(insecure_registries: Iterable[str], mirrors: Mapping[str, str] | None = None) -> str:
    """A containers-registries.conf(5) drop-in letting buildah use plain HTTP with these registries
    only, and pull images of each registry in `mirrors` from its mirror first (then the registry
    itself); a mirror on an insecure host is spoken to over plain HTTP too. A drop-in's entry for a
    location replaces the image's own.

    Narrower than `--tls-verify=false`, which would also drop TLS verification of every base
    image pulled from a public registry.
    """
    insecure, mirrors = set(insecure_registries), dict(mirrors or {})

    def flag(host: str) -> str:
        return "insecure = true\n" if host.split("/", 1)[0] in insecure else ""

    entries = [
        f"[[registry]]\nprefix = {_toml_string(registry)}\nlocation = {_toml_string(registry)}\n{flag(registry)}\n"
        f"[[registry.mirror]]\nlocation = {_toml_string(mirror)}\n{flag(mirror)}\n"
        for registry, mirror in sorted(mirrors.items())
    ]
    entries += [
        f"[[registry]]\nlocation = {_toml_string(host)}\n{flag(host)}\n"
        for host in sorted(insecure - set(mirrors))
    ]
    return "".join(entries)
