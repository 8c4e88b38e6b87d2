"""Reading fields of API objects as plain dicts: absent or mistyped parts read as nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Object = Mapping[str, Any]


def get(obj: object, *path: str) -> Any:
    """`obj[path[0]][path[1]]...`, or None where a part is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def as_text(value: object) -> str:
    return "" if value is None else str(value)


def trigger_text(run: Object) -> str:
    trigger = get(run, "spec", "trigger") or {}
    sender = trigger.get("sender") if isinstance(trigger, Mapping) else None
    kind = as_text(trigger.get("type")) if isinstance(trigger, Mapping) else ""
    return f"{kind} by {sender}" if sender else kind
