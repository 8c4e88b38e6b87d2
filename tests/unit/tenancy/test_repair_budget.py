"""Drift repairs per child are bounded: the budget's decisions on an injected clock."""

from __future__ import annotations

import pytest

from kiln.tenancy.repairs import Repair, RepairBudget

QUOTA = ("ResourceQuota", "kiln-acme", "kiln-quota")
POLICY = ("NetworkPolicy", "kiln-acme", "kiln-builds")


def test_repairs_past_the_limit_to_one_report_then_quiet() -> None:
    budget = RepairBudget(limit=3, window=60)
    assert [budget.ask(QUOTA, t) for t in (0, 1, 2)] == [Repair.ALLOWED] * 3
    assert budget.ask(QUOTA, 3) is Repair.LIMITED
    assert [budget.ask(QUOTA, t) for t in (4, 30, 59)] == [Repair.REFUSED] * 3


def test_the_window_slides_and_a_new_window_reports_again() -> None:
    budget = RepairBudget(limit=2, window=10)
    assert [budget.ask(QUOTA, t) for t in (0, 5)] == [Repair.ALLOWED] * 2
    assert budget.ask(QUOTA, 6) is Repair.LIMITED
    assert budget.ask(QUOTA, 10) is Repair.ALLOWED  # the repair at 0 left the window
    assert budget.ask(QUOTA, 11) is Repair.REFUSED  # reported at 6, still within 10 s
    assert budget.ask(QUOTA, 15) is Repair.ALLOWED  # the one at 5 left
    assert budget.ask(QUOTA, 17) is Repair.LIMITED  # reported at 6: that is more than 10 s ago


def test_children_have_budgets_of_their_own() -> None:
    budget = RepairBudget(limit=1, window=60)
    assert budget.ask(QUOTA, 0) is Repair.ALLOWED
    assert budget.ask(POLICY, 0) is Repair.ALLOWED
    assert budget.ask(QUOTA, 1) is Repair.LIMITED
    assert budget.ask(POLICY, 1) is Repair.LIMITED


def test_memory_is_bounded_by_forgetting_the_least_recent_children() -> None:
    budget = RepairBudget(limit=1, window=60)
    for i in range(10_050):
        budget.ask(("Secret", "ns", f"s{i}"), 0)
    assert len(budget._repairs) == 10_000
    assert budget.ask(("Secret", "ns", "s0"), 1) is Repair.ALLOWED  # forgotten, so counted anew
    assert budget.ask(("Secret", "ns", "s10049"), 1) is Repair.LIMITED


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (1, 0), (1, -1)])
def test_a_budget_that_allows_nothing_is_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="limit of at least 1"):
        RepairBudget(limit=limit, window=window)


def test_the_warning_names_the_child_and_the_budget() -> None:
    message = RepairBudget(limit=10, window=60).limited_message(QUOTA)
    assert message.startswith("ResourceQuota kiln-acme/kiln-quota was put back 10 times within 60 s")
