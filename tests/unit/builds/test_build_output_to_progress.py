"""Build log -> Progress and failure message, for BuildKit's plain progress and buildah's STEP lines."""

from __future__ import annotations

import pytest

from kiln.builds import BuildFailure, Progress, Strategy, failure_message, parse_failure, parse_progress

from .samples import (
    BUILDAH_CACHED,
    BUILDAH_FAILED,
    BUILDAH_MULTI_PLATFORM,
    BUILDAH_MULTI_STAGE,
    BUILDKIT_CACHED,
    BUILDKIT_COLD,
    BUILDKIT_FAILED,
    BUILDKIT_MULTI_PLATFORM,
    BUILDKIT_MULTI_STAGE,
    BUILDKIT_PADDED,
)


def progress(log: str, strategy: Strategy) -> Progress:
    return parse_progress(log.splitlines(keepends=True), strategy)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (BUILDKIT_CACHED, Progress(current=3, total=3, cached=2, command="RUN make")),
        (BUILDKIT_COLD, Progress(current=2, total=2, cached=0, command="RUN make")),
        # stages are numbered apart; the final stage's total is known once it starts
        (
            BUILDKIT_MULTI_STAGE,
            Progress(current=4, total=5, cached=1, command="RUN go build -o /app ./cmd/app"),
        ),
        (BUILDKIT_MULTI_PLATFORM, Progress(current=4, total=4, cached=1, command="RUN make")),
        (BUILDKIT_PADDED, Progress(current=10, total=12, cached=0, command="RUN step 10")),
        ("", Progress()),
    ],
    ids=["cached", "cold", "multi-stage", "multi-platform", "padded", "empty"],
)
def test_buildkit_progress(log: str, expected: Progress) -> None:
    assert progress(log, Strategy.BUILDKIT) == expected


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (BUILDAH_CACHED, Progress(current=5, total=5, cached=2, command="ADD somefile somefile")),
        (BUILDAH_MULTI_STAGE, Progress(current=5, total=6, cached=1, command="COPY --from=builder /out /")),
        # --platform a,b: the Dockerfile runs once per platform
        (BUILDAH_MULTI_PLATFORM, Progress(current=4, total=4, cached=0, command="RUN make")),
        ("", Progress()),
    ],
    ids=["cached", "multi-stage", "multi-platform", "empty"],
)
def test_buildah_progress(log: str, expected: Progress) -> None:
    assert progress(log, Strategy.BUILDAH) == expected


def test_progress_of_a_partial_log_grows() -> None:
    lines = BUILDKIT_CACHED.splitlines()
    seen = [parse_progress(lines[:n], Strategy.BUILDKIT).current for n in range(len(lines) + 1)]
    assert seen == sorted(seen) and seen[-1] == 3


def test_other_strategys_lines_are_no_steps() -> None:
    assert parse_progress(BUILDAH_CACHED.splitlines(), Strategy.BUILDKIT) == Progress()
    assert parse_progress(BUILDKIT_CACHED.splitlines(), Strategy.BUILDAH) == Progress()


def test_buildkit_failure_names_the_step() -> None:
    failure = parse_failure(BUILDKIT_FAILED)
    assert failure.step == "[2/3] RUN make"
    assert (
        failure.last_lines[-1]
        == 'error: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2'
    )
    assert len(failure.last_lines) == 10
    message = failure_message(BUILDKIT_FAILED)
    assert message.startswith("step [2/3] RUN make failed:\n")
    assert message.endswith("exit code: 2")


def test_buildah_failure_names_the_step() -> None:
    assert parse_failure(BUILDAH_FAILED) == BuildFailure(
        step="RUN make",
        last_lines=(
            "STEP 1/3: FROM alpine",
            "STEP 2/3: RUN make",
            "make: *** No targets specified and no makefile found.  Stop.",
            'Error: building at STEP "RUN make": while running runtime: exit status 2',
        ),
    )
    # the error line cut off: the last STEP is the failing one
    assert parse_failure(BUILDAH_FAILED.rsplit("Error:", 1)[0]).step == "RUN make"


def test_failure_without_a_step() -> None:
    assert failure_message("kiln: commit abc is not in refs/heads/main any more\n") == (
        "kiln: commit abc is not in refs/heads/main any more"
    )
    assert failure_message("") == "the build failed without output"
    assert failure_message("\n".join(str(n) for n in range(30)), max_lines=3) == "27\n28\n29"
