"""What one build is made of: the BuildRun and the objects it names, and the names derived from them.

`BuildInputs` is what the BuildRun controller has gathered (from the API server and the tenant's
Namespace); everything here is computed from it without I/O: the image references to push, the
cache repository, the labels, the source paths inside the Job's workspace.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass

from kiln.api.buildrule import BuildRule
from kiln.api.buildrun import BuildRun
from kiln.api.constants import (
    API_VERSION,
    BUILD_RUN,
    LABEL_BUILD_RULE,
    LABEL_BUILD_RUN,
    LABEL_NAMESPACE,
    LABEL_REPOSITORY,
)
from kiln.api.repository import Repository
from kiln.builds.config import BuildConfig
from kiln.rules.refs import MAX_TAG_LENGTH

# A label value holds at most 63 characters; a longer name is left out rather than truncated into
# a value that would select the wrong objects.
MAX_LABEL_VALUE_LENGTH = 63
# The distribution spec's limit on a repository name (the part after the registry host).
MAX_REPOSITORY_PATH_LENGTH = 255
# A shortened name keeps at least this many characters: a few of the name and a 10-digit hash.
_MIN_SHORTENED = 16

# The tag suffix of a tag's eStargz variant.
ACCELERATED_SUFFIX = "-accelerated"

# Where the init container checks the source out (an emptyDir shared with the build container).
WORKSPACE = "/workspace"
SOURCE_DIR = f"{WORKSPACE}/source"


def _name(metadata: dict[str, object], kind: str) -> str:
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"the {kind} has no metadata.name")
    return name


def _shortened(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else a prefix and a hash of the whole (still unique)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{text[: limit - len(digest) - 1].rstrip('.-')}-{digest}"


def _repo_path(path: str) -> str:
    """A path inside the repository (`/` is its root) as a path below SOURCE_DIR."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:  # the API refuses these; a second check costs nothing
        raise ValueError(f"{path!r} leaves the repository")
    return posixpath.join(SOURCE_DIR, *parts)


def build_run_owner(name: str, uid: str) -> dict[str, object]:
    """The owner reference to a BuildRun: what it owns goes when it is deleted."""
    return {
        "apiVersion": API_VERSION,
        "kind": BUILD_RUN.kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


@dataclass(frozen=True, slots=True)
class BuildInputs:
    """One BuildRun with everything its Job depends on."""

    build_run: BuildRun
    build_rule: BuildRule
    repository: Repository
    # the Kiln Namespace (tenant) name and its Kubernetes namespace
    tenant: str
    namespace: str
    # the tenant's spec.registry.server, e.g. `registry.example.com` or `127.0.0.1:5000/team`
    registry_server: str
    # one build's limits: the tenant's effective quota
    cpu: str
    memory: str
    # metadata.uid of the BuildRun, for the owner reference
    build_run_uid: str

    def __post_init__(self) -> None:
        spec = self.build_run.spec
        if spec.build_rule != self.rule_name:
            raise ValueError(f"the BuildRun names BuildRule {spec.build_rule!r}, not {self.rule_name!r}")
        if spec.repository != self.repository_name:
            raise ValueError(
                f"the BuildRun names Repository {spec.repository!r}, not {self.repository_name!r}"
            )
        if self.build_rule.spec.repository != self.repository_name:
            raise ValueError(
                f"the BuildRule names Repository {self.build_rule.spec.repository!r}, "
                f"not {self.repository_name!r}"
            )
        if not self.build_run_uid:
            raise ValueError("the BuildRun's uid is needed for the owner reference")
        if len(self.run_name) > MAX_LABEL_VALUE_LENGTH:
            # the Job is named as the BuildRun, and a Job's name is a label value of its pods
            raise ValueError(
                f"the BuildRun name {self.run_name!r} is longer than {MAX_LABEL_VALUE_LENGTH} characters"
            )

    @property
    def run_name(self) -> str:
        return _name(self.build_run.metadata, "BuildRun")

    @property
    def rule_name(self) -> str:
        return _name(self.build_rule.metadata, "BuildRule")

    @property
    def repository_name(self) -> str:
        return _name(self.repository.metadata, "Repository")

    @property
    def image_name(self) -> str:
        """The image repository's name in the registry: Repository spec.name, else its metadata.name."""
        return self.repository.spec.name or self.repository_name

    @property
    def image_repository(self) -> str:
        """`<registry server>/<tenant>/<image name>`, e.g. `registry.example.com/acme/app`."""
        return f"{self.registry_server}/{self.tenant}/{self.image_name}"

    @property
    def image_refs(self) -> tuple[str, ...]:
        """Every reference the build pushes: the image repository with each of the BuildRun's tags."""
        return tuple(f"{self.image_repository}:{tag}" for tag in self.build_run.spec.tags)

    @property
    def accelerated_refs(self) -> tuple[str, ...]:
        """The eStargz variants' references, `<tag>-accelerated` (none unless spec.build.accelerated)."""
        if not self.repository.spec.build.accelerated:
            return ()
        too_long = [t for t in self.build_run.spec.tags if len(t) + len(ACCELERATED_SUFFIX) > MAX_TAG_LENGTH]
        if too_long:
            raise ValueError(
                f"tags {too_long} leave no room for {ACCELERATED_SUFFIX!r} within {MAX_TAG_LENGTH} characters"
            )
        return tuple(f"{ref}{ACCELERATED_SUFFIX}" for ref in self.image_refs)

    @property
    def registry_host(self) -> str:
        """host[:port] of the tenant's registry (the server without its path prefix)."""
        return self.registry_server.split("/", 1)[0]

    def cache_repository(self, config: BuildConfig) -> str:
        """The registry repository holding this rule's build cache, in the tenant's namespace.

        Per tenant (its registry namespace) and per rule (the name template has `{rule}`), so no
        build ever reads a cache another tenant or rule wrote. A rule name too long for the
        repository name limit is shortened to a prefix and a hash of the whole name.
        """
        host, _, prefix = self.image_repository.rpartition("/")[0].partition("/")

        def path(rule: str) -> str:
            return f"{prefix}/{config.cache_repository.format(image=self.image_name, rule=rule)}"

        rule = self.rule_name
        excess = len(path(rule)) - MAX_REPOSITORY_PATH_LENGTH
        if excess > 0:
            if len(rule) - excess < _MIN_SHORTENED:
                raise ValueError(f"no cache repository name fits in {MAX_REPOSITORY_PATH_LENGTH} characters")
            rule = _shortened(rule, len(rule) - excess)
        return f"{host}/{path(rule)}"

    @property
    def labels(self) -> dict[str, str]:
        """The kiln.dev labels of the Job and its Pod (a value too long for a label is left out)."""
        values = {
            LABEL_NAMESPACE: self.tenant,
            LABEL_REPOSITORY: self.repository_name,
            LABEL_BUILD_RULE: self.rule_name,
            LABEL_BUILD_RUN: self.run_name,
        }
        return {k: v for k, v in values.items() if len(v) <= MAX_LABEL_VALUE_LENGTH}

    @property
    def context_dir(self) -> str:
        """The build context inside the Job's workspace."""
        return _repo_path(self.build_rule.spec.context_dir)

    @property
    def dockerfile(self) -> str:
        """The Dockerfile inside the Job's workspace (spec.dockerfile is relative to contextDir)."""
        spec = self.build_rule.spec
        return _repo_path(posixpath.join(spec.context_dir, spec.dockerfile.lstrip("/")))

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(str(p) for p in self.build_rule.spec.platforms)

    @property
    def build_args(self) -> tuple[tuple[str, str], ...]:
        """The rule's build arguments, sorted by name (so the manifest does not depend on dict order)."""
        return tuple(sorted(self.build_rule.spec.build_args.items()))

    @property
    def pool(self) -> str | None:
        """The build pool the Repository picks (None: the operator's default nodes)."""
        return self.repository.spec.build.pool

    @property
    def no_cache(self) -> bool:
        return self.repository.spec.build.no_cache
