#!/usr/bin/env python3
"""Turn a root filesystem directory into a single-layer OCI image archive (no daemon, no registry).

    hack/mkimage.py ROOTFS NAME OUT.tar [--entrypoint JSON] [--cmd JSON] [--env K=V ...] [--workdir DIR]

NAME is a fully qualified reference (e.g. localhost/kiln/busybox:1): containerd's CRI plugin
normalises what the kubelet asks for with Docker's rules, so pod specs must use the same string.
The archive is what `ctr images import` and `skopeo copy oci-archive:...` read. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Blobs:
    """The blobs/sha256 folder of an OCI layout."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs" / "sha256"
        self.dir.mkdir(parents=True)

    def put_json(self, obj: object) -> dict[str, object]:
        data = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
        digest = hashlib.sha256(data).hexdigest()
        (self.dir / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    def put_file(self, path: Path) -> dict[str, object]:
        digest = sha256_file(path)
        size = path.stat().st_size
        path.rename(self.dir / digest)
        return {"digest": f"sha256:{digest}", "size": size}


def build(rootfs: Path, name: str, out: Path, config: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory(prefix="mkimage.", dir=out.parent) as tmp:
        layout = Path(tmp)
        blobs = Blobs(layout)
        layer_tar = layout / "layer.tar"
        # GNU tar keeps device nodes, hard links and xattrs; sorted names make the layer depend only on
        # the files (and their times), not on directory order
        subprocess.run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "--sort=name",
                "-C",
                str(rootfs),
                "-cf",
                str(layer_tar),
                ".",
            ],
            check=True,
        )
        diff_id = "sha256:" + sha256_file(layer_tar)
        layer = blobs.put_file(layer_tar)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            # one entry per layer: buildah counts the history's non-empty entries against the layers
            # when it commits a RUN step on top ("history lists 1 non-empty layers, but we have 2")
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hack/mkimage.py"}],
        }
        cfg = blobs.put_json(image_config)
        manifest = blobs.put_json(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}],
            }
        )
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MANIFEST,
                    **manifest,
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
        (layout / "index.json").write_text(json.dumps(index))
        (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        partial = out.with_suffix(".partial")
        subprocess.run(
            [
                "tar",
                "--numeric-owner",
                "-C",
                str(layout),
                "-cf",
                str(partial),
                "oci-layout",
                "index.json",
                "blobs",
            ],
            check=True,
        )
        partial.rename(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rootfs", type=Path)
    parser.add_argument("name")
    parser.add_argument("out", type=Path)
    parser.add_argument("--entrypoint", type=json.loads, default=None)
    parser.add_argument("--cmd", type=json.loads, default=None)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--workdir", default="/")
    args = parser.parse_args()
    if not args.rootfs.is_dir():
        parser.error(f"{args.rootfs} is not a directory")
    if "/" not in args.name or ":" not in args.name.rsplit("/", 1)[-1]:
        parser.error(f"{args.name}: give a fully qualified reference such as localhost/kiln/busybox:1")
    config = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *args.env],
        "Entrypoint": args.entrypoint,
        "Cmd": args.cmd,
        "WorkingDir": args.workdir,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    build(args.rootfs, args.name, args.out.resolve(), config)
    print(f"{args.name} -> {args.out} ({args.out.stat().st_size >> 20} MiB)")


if __name__ == "__main__":
    main()
