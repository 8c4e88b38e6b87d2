"""docs/api.md: generated blocks up to date, every kind and example documented."""

from __future__ import annotations

import pytest

from kiln.api.constants import KINDS
from kiln.api.docgen import UnknownBlock, fields_table, generated_keys, update_api_reference
from kiln.cli.generate import read_examples

from .conftest import EXAMPLE_FILES, REPO

API_DOC = REPO / "docs" / "api.md"


def test_api_reference_is_up_to_date() -> None:
    text = API_DOC.read_text()
    assert update_api_reference(text, read_examples(REPO)) == text, (
        "docs/api.md is stale: run `kiln crds --write`"
    )


def test_every_kind_and_example_is_documented() -> None:
    keys = generated_keys(API_DOC.read_text())
    assert "kinds" in keys
    for info in KINDS:
        assert f"fields {info.kind}" in keys
    for name in EXAMPLE_FILES:
        assert f"example {name}" in keys


def test_fields_table_lists_nested_fields_with_descriptions() -> None:
    table = fields_table("BuildRule")
    assert "| `spec.tags[].commitIdLength` | integer |" in table
    assert "minimum 1; maximum 40" in table
    assert "| `spec.buildArgs` | map[string]string | `{}` |" in table
    assert "at most 20 entries" in table
    assert "`Parallel` \\| `Serial` \\| `SerialLatestOnly`" in table
    assert "`status.manualBuild`" in table


def test_stale_block_is_regenerated_and_unknown_block_refused() -> None:
    text = "<!-- BEGIN GENERATED: kinds -->\nSTALE TEXT\n<!-- END GENERATED: kinds -->\n"
    updated = update_api_reference(text, read_examples(REPO))
    assert "STALE TEXT" not in updated
    assert "| BuildRun | Namespaced | `buildruns` | `brun` |" in updated
    with pytest.raises(UnknownBlock):
        update_api_reference(
            "<!-- BEGIN GENERATED: nope -->\n<!-- END GENERATED: nope -->", read_examples(REPO)
        )
