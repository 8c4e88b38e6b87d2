"""`kiln operator --peering NAME` -> kopf's peering options: alone without it; with it, each process
draws its own priority, since kopf freezes every peer on a tie."""

from __future__ import annotations

from kiln.controllers.operator import _peering_options


def test_without_peering_the_operator_runs_alone() -> None:
    assert _peering_options(None) == {"standalone": True}


def test_with_peering_replicas_draw_distinct_priorities() -> None:
    drawn = [_peering_options("kiln") for _ in range(50)]
    assert all(o["standalone"] is False and o["peering_name"] == "kiln" for o in drawn)
    priorities = [o["priority"] for o in drawn]
    assert all(1 <= p < 2**31 for p in priorities)
    assert len(set(priorities)) == len(priorities)
