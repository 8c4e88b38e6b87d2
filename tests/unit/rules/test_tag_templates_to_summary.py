"""tag_summary: a rule's tag templates as the one line `kubectl get buildrules` shows."""

from __future__ import annotations

from kiln.rules import TagTemplate, tag_summary

from ._helpers import EXAMPLE_1, EXAMPLE_2


def test_the_reference_documents_examples() -> None:
    assert tag_summary(EXAMPLE_1.tags) == "latest"
    assert tag_summary(EXAMPLE_2.tags) == "${imageTag}-yyyyMMddHHmm-<commit:30>"


def test_empty_parts_are_left_out_and_templates_listed_in_order() -> None:
    templates = (
        TagTemplate("", build_time="yyyyMMdd"),
        TagTemplate("", commit_id_length=7),
        TagTemplate("v1"),
    )
    assert tag_summary(templates) == "yyyyMMdd, <commit:7>, v1"
