"""Condition bookkeeping in status: lastTransitionTime semantics."""

from __future__ import annotations

from kiln.api.conditions import set_condition


def test_condition_transition_time_moves_only_on_status_change() -> None:
    first = set_condition([], "Ready", "False", "Conflict", "taken", 1, now="2026-01-01T00:00:00Z")
    same = set_condition(first, "Ready", "False", "Conflict", "still taken", 2, now="2026-01-02T00:00:00Z")
    flipped = set_condition(same, "Ready", "True", "Reconciled", "", 3, now="2026-01-03T00:00:00Z")
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["message"] == "still taken"
    assert flipped[0]["lastTransitionTime"] == "2026-01-03T00:00:00Z"
    assert [c["type"] for c in flipped] == ["Ready"]
