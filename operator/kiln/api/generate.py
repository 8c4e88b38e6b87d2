"""Everything generated from the models: the CRD files and the generated blocks of docs/api.md.

`kiln crds [--write]` calls `dump_crds()` / `write_all()`; without the CLI,
`python -m kiln.api.generate [--write]` (run from the repository root) does the same.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from kiln.api.crdgen import dump_crds, write_crds
from kiln.api.docgen import write_api_reference


def write_all(repo_root: Path) -> list[Path]:
    """Write crds/, charts/kiln/crds/ and regenerate docs/api.md; return the paths written."""
    return [*write_crds(repo_root), write_api_reference(repo_root)]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the CRDs, or with `--write` write every generated file under the current directory."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--write"]:
        for path in write_all(Path.cwd()):
            print(path)
        return 0
    if args:
        print("usage: python -m kiln.api.generate [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(dump_crds())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
