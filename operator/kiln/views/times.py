"""Ages and durations as `kubectl get` prints them (`5s`, `3m20s`, `2h5m`, `4d`)."""

from __future__ import annotations

from datetime import datetime

from kiln.api.common import parse_time


def _span(seconds: float) -> str:
    """kubectl's human duration: two units below a day, days alone above a few."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    minutes, s = divmod(s, 60)
    if minutes < 10:
        return f"{minutes}m{s}s" if s else f"{minutes}m"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 8:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if days < 8 and hours else f"{days}d"


def age(created: object, now: datetime) -> str:
    """Time since `created`, or `<unknown>`."""
    start = parse_time(created)
    return "<unknown>" if start is None else _span((now - start).total_seconds())


def duration(start: object, end: object, now: datetime) -> str:
    """How long a build ran: from `start` to `end`, or to `now` while it runs; empty before it started."""
    begun = parse_time(start)
    if begun is None:
        return ""
    return _span(((parse_time(end) or now) - begun).total_seconds())
