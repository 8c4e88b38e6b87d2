"""A ref's head read with the git client (`git ls-remote`): the way to a code repository without
the code host's API (a public repository, a git daemon, a user's own git credentials).

The user's git configuration applies: `url.<base>.insteadOf` points a clone URL at a mirror, a
credential helper answers for a private repository. git never prompts here: a terminal prompt
would hang a command that is waiting on it.
"""

from __future__ import annotations

import os
import subprocess

from kiln.codehosts.base import CodeHostError

LS_REMOTE_TIMEOUT = 60.0


def ls_remote(url: str, ref: str, timeout: float = LS_REMOTE_TIMEOUT) -> str | None:
    """The commit `ref` (full: `refs/heads/main`) points at in the repository at `url`, or None when it
    has no such ref. Raises CodeHostError with git's own words when the repository cannot be read."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    try:
        done = subprocess.run(
            ["git", "ls-remote", "--", url, ref, f"{ref}^{{}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise CodeHostError("git is not installed (it reads the branch head)") from None
    except subprocess.TimeoutExpired:
        raise CodeHostError(f"git ls-remote {url} did not answer within {timeout:g} s") from None
    if done.returncode != 0:
        words = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise CodeHostError(f"git ls-remote {url}: {words}")
    heads: dict[str, str] = {}
    for line in done.stdout.splitlines():
        commit, _, name = line.partition("\t")
        heads[name] = commit
    # an annotated tag: the commit it points at (`^{}`), not the tag object
    return heads.get(f"{ref}^{{}}") or heads.get(ref)
