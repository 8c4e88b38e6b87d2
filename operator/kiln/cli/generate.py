"""`kiln crds --write`: the files generated from the API models, written into a checkout.

The rendering is `kiln.api` (pure); this module reads and writes the files: crds/ and
charts/kiln/crds/ (one file per CRD; stale ones removed) and the generated blocks of docs/api.md.
"""

from __future__ import annotations

from pathlib import Path

from kiln.api.constants import GROUP
from kiln.api.crdgen import crd_files
from kiln.api.docgen import update_api_reference

CRD_DIRS = (Path("crds"), Path("charts/kiln/crds"))
API_DOC = Path("docs/api.md")
EXAMPLES = Path("docs/examples")


def read_examples(repo_root: Path) -> dict[str, str]:
    """The docs/examples files by name, their text."""
    return {p.name: p.read_text() for p in sorted((repo_root / EXAMPLES).glob("*.yaml"))}


def write_crds(repo_root: Path) -> list[Path]:
    """Write one YAML file per CRD into `crds/` and `charts/kiln/crds/`; return the paths written.

    Stale `kiln.dev_*.yaml` files (a renamed kind) are removed so the directories hold exactly the
    generated set.
    """
    files = crd_files()
    written: list[Path] = []
    for directory in CRD_DIRS:
        target = repo_root / directory
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob(f"{GROUP}_*.yaml"):
            if stale.name not in files:
                stale.unlink()
        for name, content in files.items():
            path = target / name
            path.write_text(content)
            written.append(path)
    return written


def write_api_reference(repo_root: Path) -> Path:
    """Regenerate the generated blocks of docs/api.md in place; return its path."""
    path = repo_root / API_DOC
    path.write_text(update_api_reference(path.read_text(), read_examples(repo_root)))
    return path


def write_all(repo_root: Path) -> list[Path]:
    """Write crds/, charts/kiln/crds/ and regenerate docs/api.md; return the paths written."""
    return [*write_crds(repo_root), write_api_reference(repo_root)]
