"""Code hosts' REST APIs: check access, register push webhooks, report build status, list refs.

`client_for(provider, clone_url, token)` gives the `CodeHost` client of one repository; the API's
base URL is derived from the clone URL (github.com -> api.github.com, a GitHub Enterprise host ->
https://host/api/v3, ...) unless `api_urls` maps the clone URL's host to another one (a proxy, an
Enterprise install at a different address, or a test's stand-in).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from kiln.api.constants import Provider
from kiln.codehosts.base import (
    CodeHost,
    CodeHostError,
    CommitState,
    CommitStatus,
    Hook,
    NotFound,
    Unauthorized,
    Unreachable,
)

__all__ = [
    "CodeHost",
    "CodeHostError",
    "CommitState",
    "CommitStatus",
    "Hook",
    "NotFound",
    "Unauthorized",
    "Unreachable",
    "api_url",
    "client_for",
    "repository_path",
]


def repository_path(provider: Provider, clone_url: str) -> str:
    """The repository's path as its host's API names it, from its HTTPS clone URL:
    `owner/name` (GitHub, Gitee), `group/sub/name` (GitLab), `workspace/slug` (Bitbucket Cloud),
    `PROJECT/slug` (Bitbucket Server, from `.../scm/PROJECT/slug.git`)."""
    path = urlsplit(clone_url).path.strip("/").removesuffix(".git")
    parts = [p for p in path.split("/") if p]
    if provider is Provider.BITBUCKET_SERVER:
        if "scm" not in parts or len(parts) < parts.index("scm") + 3:
            raise ValueError(
                f"{clone_url!r} is not a Bitbucket Server clone URL (https://host/scm/PROJECT/repo.git)"
            )
        at = len(parts) - 1 - parts[::-1].index("scm")
        return f"{parts[at + 1]}/{parts[at + 2]}"
    if len(parts) < 2:
        raise ValueError(f"{clone_url!r} names no repository (expected https://host/owner/name.git)")
    if provider is Provider.GITLAB:
        return "/".join(parts)
    return "/".join(parts[-2:])


def _context(clone_url: str) -> str:
    """A self-hosted server's context path, e.g. `/bitbucket` of https://host/bitbucket/scm/P/r.git."""
    path = urlsplit(clone_url).path
    return path[: path.find("/scm/")] if "/scm/" in path else ""


def api_url(provider: Provider, clone_url: str, api_urls: Mapping[str, str] | None = None) -> str:
    """The base URL of the host's REST API for a repository cloned from `clone_url`."""
    parts = urlsplit(clone_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    if api_urls and host in api_urls:
        return api_urls[host].rstrip("/")
    origin = f"https://{host}"
    if provider is Provider.GITHUB:
        return "https://api.github.com" if host == "github.com" else f"{origin}/api/v3"
    if provider is Provider.GITLAB:
        return origin  # python-gitlab adds /api/v4
    if provider is Provider.GITEE:
        return f"{origin}/api/v5"
    if provider is Provider.BITBUCKET:
        return "https://api.bitbucket.org/2.0" if host == "bitbucket.org" else f"{origin}/2.0"
    return f"{origin}{_context(clone_url)}/rest"  # Bitbucket Server: /rest/api/1.0, /rest/build-status/1.0


def client_for(
    provider: Provider, clone_url: str, token: str, api_urls: Mapping[str, str] | None = None
) -> CodeHost:
    """The client of the repository cloned from `clone_url`, authenticated with `token`."""
    base = api_url(provider, clone_url, api_urls)
    path = repository_path(provider, clone_url)
    if provider is Provider.GITHUB:
        from kiln.codehosts.github import GitHubClient

        return GitHubClient(base, path, token)
    if provider is Provider.GITLAB:
        from kiln.codehosts.gitlab import GitLabClient

        return GitLabClient(base, path, token)
    if provider is Provider.GITEE:
        from kiln.codehosts.gitee import GiteeClient

        return GiteeClient(base, path, token)
    if provider is Provider.BITBUCKET:
        from kiln.codehosts.bitbucket import BitbucketClient

        return BitbucketClient(base, path, token)
    from kiln.codehosts.bitbucket_server import BitbucketServerClient

    return BitbucketServerClient(base, path, token)
