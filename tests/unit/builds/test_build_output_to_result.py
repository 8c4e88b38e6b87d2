"""Build container output -> BuildResult: the termination message the scripts write, read back.

The BuildKit script runs for real with a fake `buildctl-daemonless.sh` that prints a recorded
progress log and writes the metadata file as buildctl does (json.MarshalIndent, two spaces), under
dash and, where it is installed, BusyBox (the shell and tools of the moby/buildkit images).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kiln.builds import BuildResult, parse_termination_message
from kiln.builds.scripts import BUILDKIT_SCRIPT, METADATA_FILE, TERMINATION_LOG, WORK_DIR

from .objects import DIGEST, fake_program, recorded_argv, run_script
from .samples import BUILDKIT_CACHED, BUILDKIT_COLD, BUILDKIT_FAILED

# (shell, applets to link into PATH): BusyBox's own sed, grep, awk, tee, as in the image
SHELLS = [("/bin/sh", ())] + (
    [("busybox", ("sh", "sed", "grep", "awk", "tee", "cat", "mkdir"))] if shutil.which("busybox") else []
)
METADATA = {
    "buildx.build.ref": "kiln/kiln0/abc",
    "containerimage.config.digest": "sha256:" + "cd" * 32,
    "containerimage.descriptor": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + "ef" * 32,
    },
    "containerimage.digest": DIGEST,
    "image.name": "registry.example.com/acme/app:latest",
}


def fake_buildctl(bin_dir: Path, log: str, *, exit_code: int = 0, metadata: bool = True) -> None:
    body = f"sys.stderr.write({log!r})\n"
    if metadata:
        body += (
            "path = args[args.index('--metadata-file') + 1]\n"
            f"pathlib.Path(path).write_text(json.dumps({METADATA!r}, indent=2))\n"
        )
    body += f"sys.exit({exit_code})"
    fake_program(bin_dir, "buildctl-daemonless.sh", body)


def run_buildkit(
    tmp_path: Path, shell: tuple[str, tuple[str, ...]], log: str, *, exit_code: int = 0, metadata: bool = True
) -> tuple[int, str | None, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    name, applets = shell
    for applet in applets:
        (bin_dir / applet).symlink_to(shutil.which("busybox") or "")
    fake_buildctl(bin_dir, log, exit_code=exit_code, metadata=metadata)
    work = tmp_path / "work"
    args = [
        "kiln-build",
        "build",
        "--metadata-file",
        METADATA_FILE.replace(WORK_DIR, str(work)),
        "--progress",
        "plain",
    ]
    result = run_script(
        BUILDKIT_SCRIPT,
        args,
        shell=str(bin_dir / "sh") if applets else name,
        bin_dir=bin_dir,
        work=tmp_path,
        replace={WORK_DIR: str(work), TERMINATION_LOG: str(tmp_path / "termination-log")},
    )
    assert recorded_argv(bin_dir)[0][1:] == args[1:]  # "$@" passed through untouched
    message = tmp_path / "termination-log"
    return result.returncode, message.read_text() if message.exists() else None, result.stdout + result.stderr


@pytest.mark.parametrize("shell", SHELLS, ids=[s[0] for s in SHELLS])
def test_cached_build_reports_digest_and_cache(tmp_path: Path, shell: tuple[str, tuple[str, ...]]) -> None:
    code, message, output = run_buildkit(tmp_path, shell, BUILDKIT_CACHED)
    assert code == 0, output
    assert message is not None
    assert json.loads(message) == {"digest": DIGEST, "cacheImported": True, "cacheExported": True}
    assert parse_termination_message(message) == BuildResult(
        digest=DIGEST, cache_imported=True, cache_exported=True
    )
    assert "#8 [3/3] RUN make" in output  # the progress still goes to the container log


@pytest.mark.parametrize("shell", SHELLS, ids=[s[0] for s in SHELLS])
def test_cold_build_imported_and_exported_nothing(tmp_path: Path, shell: tuple[str, tuple[str, ...]]) -> None:
    code, message, _ = run_buildkit(tmp_path, shell, BUILDKIT_COLD)
    assert code == 0
    assert parse_termination_message(message) == BuildResult(
        digest=DIGEST, cache_imported=False, cache_exported=False
    )


@pytest.mark.parametrize("shell", SHELLS, ids=[s[0] for s in SHELLS])
def test_failed_build_keeps_its_exit_code_and_leaves_the_message_to_the_log(
    tmp_path: Path, shell: tuple[str, tuple[str, ...]]
) -> None:
    code, message, output = run_buildkit(tmp_path, shell, BUILDKIT_FAILED, exit_code=1, metadata=False)
    assert code == 1
    assert message is None  # FallbackToLogsOnError: the kubelet puts the log's tail there
    assert output.rstrip().endswith("exit code: 2")


@pytest.mark.parametrize("shell", SHELLS, ids=[s[0] for s in SHELLS])
def test_success_without_digest_fails(tmp_path: Path, shell: tuple[str, tuple[str, ...]]) -> None:
    code, message, output = run_buildkit(tmp_path, shell, BUILDKIT_CACHED, metadata=False)
    assert code == 1 and message is None
    assert output.rstrip().endswith("kiln: buildctl reported no image digest")


def test_parse_success() -> None:
    text = json.dumps({"digest": DIGEST, "cacheImported": False, "cacheExported": True}) + "\n"
    result = parse_termination_message(text)
    assert result == BuildResult(digest=DIGEST, cache_imported=False, cache_exported=True)
    assert result.succeeded and result.failure is None


def test_parse_failure_text() -> None:
    result = parse_termination_message("error: failed to solve: exit code: 2\n")
    assert not result.succeeded
    assert result.failure == "error: failed to solve: exit code: 2"
    assert result.digest is None and result.cache_imported is None


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   \n",
        '{"digest": "sha256:short"}',
        '{"digest": null}',
        "[1, 2]",
        '{"error": "x"}',
        '{"digest": "SHA256:' + "AB" * 32 + '"}',
    ],
)
def test_parse_odd_messages_as_failures(text: str | None) -> None:
    result = parse_termination_message(text)
    assert not result.succeeded
    assert result.failure


def test_parse_keeps_unknown_cache_flags_unknown() -> None:
    result = parse_termination_message(json.dumps({"digest": DIGEST, "cacheImported": "yes"}))
    assert result == BuildResult(digest=DIGEST, cache_imported=None, cache_exported=None)
