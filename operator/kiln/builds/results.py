"""What a build container reports: its termination message, its progress, why it failed.

Parsers of text the operator reads from the Pod (status.containerStatuses[].state.terminated
.message and the container log); they never raise on odd input, they return what they could read.

Progress output formats, as the pinned releases print them:

- BuildKit `--progress plain` (util/progress/progressui/printer.go): `#5 [2/3] RUN make` opens
  vertex 5 (Dockerfile steps are numbered per stage, `[builder 2/5]`, `[linux/arm64 2/3]`, with
  the index padded to the total's width, `[ 2/12]`); `#5 CACHED`, `#5 DONE 0.1s`,
  `#5 ERROR: ...` close it.
- buildah 1.28 (imagebuildah/executor.go, stage_executor.go): `STEP 2/3: RUN make`, prefixed
  `[1/2] ` in multi-stage builds; `--> Using cache <id>` or `--> Cache pulled from remote <ref>`
  after a cached step; a failure ends with `Error: building at STEP "RUN make": ...`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kiln.builds.config import Strategy

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_BUILDKIT_STEP = re.compile(
    r"^#(?P<vertex>\d+) \[(?P<prefix>[^\]]*?)\s*(?P<index>\d+)/(?P<total>\d+)\] (?P<command>.*)$"
)
_BUILDKIT_VERTEX = re.compile(r"^#(?P<vertex>\d+) (?P<rest>.*)$")
_BUILDKIT_ERROR = re.compile(r"^#(?P<vertex>\d+) ERROR: (?P<error>.*)$")
_BUILDAH_STEP = re.compile(
    r"^(?:\[(?P<stage>\d+)/(?P<stages>\d+)\] )?STEP (?P<index>\d+)(?:/(?P<total>\d+))?: (?P<command>.*)$"
)
_BUILDAH_CACHED = re.compile(r"^--> (Using cache|Cache pulled from remote)\b")
_BUILDAH_FAILED_STEP = re.compile(r'building at STEP "(?P<step>[^"]*)"')
# the last lines kept in a failure message (the Pod's own fallback keeps 80 lines or 2 KiB)
FAILURE_LINES = 10


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A build container's termination message, read."""

    digest: str | None = None
    cache_imported: bool | None = None
    cache_exported: bool | None = None
    # when there is no digest: the message as written (the last log lines, with
    # terminationMessagePolicy FallbackToLogsOnError)
    failure: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.digest is not None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_termination_message(text: str | None) -> BuildResult:
    """The result a build container wrote to /dev/termination-log, or the failure text in its place.

    A successful build writes `{"digest": "sha256:...", "cacheImported": b, "cacheExported": b}`;
    anything else is a failure whose text is kept as it is.
    """
    text = (text or "").strip()
    if not text:
        return BuildResult(failure="the build container left no termination message")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("digest"), str) and _DIGEST.match(doc["digest"]):
        return BuildResult(
            digest=doc["digest"],
            cache_imported=_flag(doc.get("cacheImported")),
            cache_exported=_flag(doc.get("cacheExported")),
        )
    return BuildResult(failure=text)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a build is: Dockerfile steps started, known in all, and served from the cache."""

    current: int = 0
    # the steps of the stages started so far (a stage not reached yet is not counted)
    total: int = 0
    cached: int = 0
    # the command of the step started last, e.g. `RUN make`
    command: str | None = None


class _Steps:
    """Distinct steps by key, each with its stage's total, and which were cached."""

    def __init__(self) -> None:
        self.totals: dict[object, int] = {}
        self.started: list[object] = []
        self.cached: set[object] = set()
        self.command: str | None = None

    def start(self, stage: object, index: int, total: int, command: str) -> object:
        key = (stage, index)
        self.totals[stage] = max(self.totals.get(stage, 0), total, index)
        if key not in self.started:
            self.started.append(key)
        self.command = command
        return key

    def progress(self) -> Progress:
        return Progress(
            current=len(self.started),
            total=sum(self.totals.values()),
            cached=len(self.cached),
            command=self.command,
        )


def _buildkit_progress(lines: Iterable[str]) -> Progress:
    steps = _Steps()
    by_vertex: dict[str, object] = {}
    for line in lines:
        line = line.rstrip("\r\n")
        if m := _BUILDKIT_STEP.match(line):
            key = steps.start(m["prefix"].strip(), int(m["index"]), int(m["total"]), m["command"])
            by_vertex[m["vertex"]] = key
        elif (m := _BUILDKIT_VERTEX.match(line)) and m["rest"] == "CACHED" and m["vertex"] in by_vertex:
            steps.cached.add(by_vertex[m["vertex"]])
    return steps.progress()


def _buildah_progress(lines: Iterable[str]) -> Progress:
    steps = _Steps()
    # a multi-platform build runs the whole Dockerfile once per platform, with the same numbers
    pass_ = 0
    last: object = None
    for line in lines:
        line = line.rstrip("\r\n")
        if m := _BUILDAH_STEP.match(line):
            stage, index = int(m["stage"] or 1), int(m["index"])
            if stage == 1 and index == 1 and ((pass_, stage), index) in steps.started:
                pass_ += 1
            total = int(m["total"]) if m["total"] else index
            last = steps.start((pass_, stage), index, total, m["command"])
        elif _BUILDAH_CACHED.match(line) and last is not None:
            steps.cached.add(last)
    return steps.progress()


def parse_progress(lines: Iterable[str], strategy: Strategy) -> Progress:
    """The progress shown by a build log so far (whole or the lines read until now)."""
    if strategy is Strategy.BUILDAH:
        return _buildah_progress(lines)
    return _buildkit_progress(lines)


@dataclass(frozen=True, slots=True)
class BuildFailure:
    """Why a build failed: the failing Dockerfile step if the log names one, and its last lines."""

    step: str | None
    last_lines: tuple[str, ...]

    @property
    def message(self) -> str:
        tail = "\n".join(self.last_lines)
        if self.step is None:
            return tail or "the build failed without output"
        return f"step {self.step} failed" + (f":\n{tail}" if tail else "")


def parse_failure(log_tail: str, max_lines: int = FAILURE_LINES) -> BuildFailure:
    """The failing step and last lines of a failed build's log (either strategy's format)."""
    lines = [line.rstrip() for line in log_tail.splitlines()]
    lines = [line for line in lines if line.strip()]
    step: str | None = None
    names: dict[str, str] = {}
    for line in lines:
        if m := _BUILDKIT_STEP.match(line):
            names[m["vertex"]] = line.split(" ", 1)[1]
        elif m := _BUILDKIT_VERTEX.match(line):
            names.setdefault(m["vertex"], m["rest"])
        if m := _BUILDKIT_ERROR.match(line):
            step = names.get(m["vertex"], step)
        elif m := _BUILDAH_FAILED_STEP.search(line):
            step = m["step"]
    if step is None:
        # buildah's last STEP line, when the error line itself was cut off
        buildah_steps = [m for line in lines if (m := _BUILDAH_STEP.match(line))]
        if buildah_steps and not any(_BUILDKIT_VERTEX.match(line) for line in lines):
            step = buildah_steps[-1]["command"]
    return BuildFailure(step=step, last_lines=tuple(lines[-max_lines:]))


def failure_message(log_tail: str, max_lines: int = FAILURE_LINES) -> str:
    """A BuildRun status message for a failed build: the failing step, then the log's last lines."""
    return parse_failure(log_tail, max_lines).message
