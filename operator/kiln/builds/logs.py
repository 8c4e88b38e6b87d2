"""A finished build's log, archived: gzip, capped, with a marker where it was cut. Pure.

The archive is kept in a ConfigMap in the tenant's namespace (`binaryData`), owned by the BuildRun,
so it outlives the Pod and goes with the BuildRun; a ConfigMap holds at most 1 MiB, hence the cap.
A log over the cap keeps its end (where a build's errors are) and says how much was dropped.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from typing import Any

from kiln.api.constants import LABEL_BUILD_RUN
from kiln.builds.inputs import build_run_owner

MAX_ARCHIVE_BYTES = 1024 * 1024 - 4096  # compressed, with room for the ConfigMap's metadata
ARCHIVE_KEY = "build.log.gz"
TRUNCATION_MARKER = (
    "[kiln: the log was longer than the archive holds; its first {dropped} bytes are left out]\n"
)


def archive_name(build_run: str) -> str:
    """The ConfigMap holding a BuildRun's log."""
    return f"{build_run}-log"


def _compressed(log: bytes) -> bytes:
    # mtime 0: the same log always compresses to the same bytes
    return gzip.compress(log, compresslevel=9, mtime=0)


def compress_log(log: bytes, limit: int = MAX_ARCHIVE_BYTES) -> bytes:
    """The gzip archive of `log`, at most `limit` bytes: the whole log, or its end after a marker."""
    archive = _compressed(log)
    if len(archive) <= limit:
        return archive
    # the largest tail that fits, by bisection on the bytes kept (compression is not linear)
    low, high = 0, len(log)
    best = _compressed(TRUNCATION_MARKER.format(dropped=len(log)).encode())
    while low <= high:
        keep = (low + high) // 2
        dropped = len(log) - keep
        candidate = _compressed(TRUNCATION_MARKER.format(dropped=dropped).encode() + log[dropped:])
        if len(candidate) <= limit:
            best, low = candidate, keep + 1
        else:
            high = keep - 1
    return best


def decompress_log(archive: bytes) -> str:
    return gzip.decompress(archive).decode(errors="replace")


def archive_manifest(build_run_metadata: Mapping[str, Any], archive: bytes) -> dict[str, Any]:
    """The ConfigMap holding a BuildRun's log archive, labelled as the BuildRun and owned by it."""
    name = str(build_run_metadata["name"])
    labels = {k: v for k, v in (build_run_metadata.get("labels") or {}).items() if k.startswith("kiln.dev/")}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": archive_name(name),
            "namespace": build_run_metadata["namespace"],
            "labels": {**labels, LABEL_BUILD_RUN: name},
            "ownerReferences": [build_run_owner(name, str(build_run_metadata["uid"]))],
        },
        "binaryData": {ARCHIVE_KEY: base64.b64encode(archive).decode()},
    }
