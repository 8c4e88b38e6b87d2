"""Status conditions as plain dicts (the wire shape), with Kubernetes' lastTransitionTime semantics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

Condition = dict[str, Any]


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: Sequence[Condition] | None,
    type_: str,
    status: str,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: str | None = None,
) -> list[Condition]:
    """Return conditions with `type_` set; lastTransitionTime moves only when the status changes."""
    previous = next((c for c in conditions or () if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != status
    condition: Condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": (now or now_iso()) if changed else previous.get("lastTransitionTime"),  # type: ignore[union-attr]
    }
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    others = [c for c in conditions or () if c.get("type") != type_]
    return [*others, condition]


def get_condition(conditions: Sequence[Condition] | None, type_: str) -> Condition | None:
    return next((c for c in conditions or () if c.get("type") == type_), None)
