"""End-to-end fixtures: the Kiln image itself, built from this checkout and run on the local node."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import HACK, Cluster

# a cold build (the Debian base by debootstrap, then the dependencies from PyPI) takes a few minutes
BUILD_TIMEOUT = 1800


def image_sh(*args: str, timeout: float = BUILD_TIMEOUT) -> str:
    """Run hack/image.sh and return the last line it prints; fail the test (never skip) on error."""
    proc = subprocess.run(
        [str(HACK / "image.sh"), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(
            f"hack/image.sh {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def kiln_image(cluster: Cluster) -> str:
    """The Kiln image built from this checkout (`hack/image.sh build`, cached by a hash of its inputs)
    and imported into the node's containerd: its reference, for pods with imagePullPolicy Never."""
    ref = image_sh("build")
    image_sh("import", ref)
    return ref
