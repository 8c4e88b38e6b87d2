"""How often a tenant's child may be repaired: drift repair must converge, so it is bounded.

A child that someone (or something) keeps changing is put back at most `limit` times in any
`window` seconds; past that, repairs wait for the tenant's periodic resync, and the first refusal
in a window is reported (a Warning Event and a log line), so a fight with another controller shows
instead of becoming a write storm. The clock is the caller's (seconds, monotonic).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

ChildKey = tuple[str, str, str]  # (kind, namespace, name)

REPAIRS_PER_WINDOW = 10
WINDOW_SECONDS = 60.0
MAX_TRACKED = 10_000  # children remembered at once; the oldest are forgotten first


class Repair(enum.Enum):
    ALLOWED = "allowed"
    LIMITED = "limited"  # refused, and the first refusal in this window: say so
    REFUSED = "refused"  # refused again: already said


@dataclass
class RepairBudget:
    """At most `limit` repairs per child in any `window` seconds."""

    limit: int = REPAIRS_PER_WINDOW
    window: float = WINDOW_SECONDS
    _repairs: dict[ChildKey, deque[float]] = field(default_factory=dict)
    _reported: dict[ChildKey, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError("a repair budget needs a limit of at least 1 and a positive window")

    def ask(self, child: ChildKey, now: float) -> Repair:
        """Whether `child` may be repaired now (counted when allowed)."""
        times = self._repairs.pop(child, None) or deque()
        self._repairs[child] = times  # most recently asked last: the oldest are forgotten first
        while times and times[0] <= now - self.window:
            times.popleft()
        self._forget_beyond(MAX_TRACKED)
        if len(times) < self.limit:
            times.append(now)
            return Repair.ALLOWED
        reported = self._reported.get(child)
        if reported is not None and reported > now - self.window:
            return Repair.REFUSED
        self._reported[child] = now
        return Repair.LIMITED

    def limited_message(self, child: ChildKey) -> str:
        """What the Warning says when `child` is past its budget."""
        kind, namespace, name = child
        return (
            f"{kind} {namespace}/{name} was put back {self.limit} times within {self.window:g} s; "
            "something keeps changing it. Further repairs wait for the periodic resync"
        )

    def _forget_beyond(self, size: int) -> None:
        while len(self._repairs) > size:
            oldest = next(iter(self._repairs))
            del self._repairs[oldest]
            self._reported.pop(oldest, None)
