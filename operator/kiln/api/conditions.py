"""Status conditions as plain dicts (the wire shape), with Kubernetes' lastTransitionTime semantics;
whether a status already says what a write would."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

ConditionDict = dict[str, Any]  # a condition in its wire shape (`kiln.api.common.Condition` is the model)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: Sequence[ConditionDict] | None,
    type_: str,
    status: str,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: str | None = None,
) -> list[ConditionDict]:
    """Return conditions with `type_` set; lastTransitionTime moves only when the status changes."""
    previous = next((c for c in conditions or () if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != status
    condition: ConditionDict = {
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


def get_condition(conditions: Sequence[ConditionDict] | None, type_: str) -> ConditionDict | None:
    return next((c for c in conditions or () if c.get("type") == type_), None)


def status_holds(status: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether `status` already holds these fields (a write of them would change nothing)."""
    return all(status.get(k) == v for k, v in fields.items())
