"""Parsing of tag templates (`${group}` text) and build-time formats (`yyyyMMddHHmm`).

Validation and rendering share these parsers, so a rule that validates renders the same way.
Parsed forms are cached: a rule's templates are parsed on every push it matches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# The seed's build times are "UTC+8": a fixed offset, so no time zone database is needed.
UTC_PLUS_8 = timezone(timedelta(hours=8), "UTC+8")

REF_PLACEHOLDER = "ref"
MIN_COMMIT_ID_LENGTH = 1
MAX_COMMIT_ID_LENGTH = 40


class TemplateError(ValueError):
    """A template or build-time format that cannot be used; the message names the culprit."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    """`${name}` in a tag template, at `position` in the template text."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class TimeField:
    """A build-time field such as `yyyy`; it always renders to exactly len(token) digits."""

    token: str


TemplatePart = str | Placeholder
BuildTimePart = str | TimeField

_TIME_FIELDS: dict[str, Callable[[datetime], int]] = {
    "yyyy": lambda t: t.year,
    "yy": lambda t: t.year % 100,
    "MM": lambda t: t.month,
    "dd": lambda t: t.day,
    "HH": lambda t: t.hour,
    "mm": lambda t: t.minute,
    "ss": lambda t: t.second,
}
_TIME_LETTERS = frozenset("".join(_TIME_FIELDS))
KNOWN_TIME_FIELDS = " ".join(_TIME_FIELDS)


@functools.lru_cache(maxsize=4096)
def parse_template(template: str) -> tuple[TemplatePart, ...]:
    """Split a tag template into literal text and `${name}` placeholders."""
    parts: list[TemplatePart] = []
    pos = 0
    while (start := template.find("${", pos)) >= 0:
        if start > pos:
            parts.append(template[pos:start])
        end = template.find("}", start + 2)
        if end < 0:
            raise TemplateError(
                f"placeholder {template[start:]!r} at position {start} is missing its closing '}}'"
            )
        name = template[start + 2 : end]
        if not name.isidentifier():
            what = "has no group name" if not name else "is not a valid placeholder (write ${group})"
            raise TemplateError(f"{template[start : end + 1]!r} at position {start} {what}")
        parts.append(Placeholder(name, start))
        pos = end + 1
    if pos < len(template):
        parts.append(template[pos:])
    return tuple(parts)


def unknown_group_message(name: str, groups: Collection[str], by_pattern: bool) -> str:
    """The message for `${name}` when the rule's pattern defines no such group."""
    if not by_pattern:
        return (
            f"tag template uses ${{{name}}} but the rule selects refs by name, so it has no groups "
            f"(only ${{{REF_PLACEHOLDER}}} is available)"
        )
    known = f"groups: {', '.join(groups)}" if groups else "it defines no named groups"
    return f"tag template uses ${{{name}}} but the pattern defines no group {name!r} ({known})"


@functools.lru_cache(maxsize=1024)
def parse_build_time(fmt: str) -> tuple[BuildTimePart, ...]:
    """Split a build-time format into fields (yyyy yy MM dd HH mm ss) and literal text.

    A run of field letters must be exactly one known field: `yyy` or `M` is refused rather than
    guessed at, since it is almost certainly a typo.
    """
    parts: list[BuildTimePart] = []
    i = 0
    while i < len(fmt):
        j = i
        while j < len(fmt) and fmt[j] == fmt[i]:
            j += 1
        run = fmt[i:j]
        if fmt[i] in _TIME_LETTERS:
            if run not in _TIME_FIELDS:
                raise TemplateError(
                    f"{run!r} at position {i} of build time {fmt!r} is not a field "
                    f"(known: {KNOWN_TIME_FIELDS})"
                )
            parts.append(TimeField(run))
        elif parts and isinstance(parts[-1], str):
            parts[-1] += run
        else:
            parts.append(run)
        i = j
    return tuple(parts)


def require_aware(moment: datetime) -> None:
    """Refuse naive datetimes: converting one would read the machine's local time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"push time {moment.isoformat()} has no time zone; give e.g. {moment.isoformat()}+00:00"
        )


def format_build_time(parts: tuple[BuildTimePart, ...], pushed_at: datetime) -> str:
    """Render a parsed build-time format for an aware push time, in UTC+8."""
    local = pushed_at.astimezone(UTC_PLUS_8)
    # Zero-padded to the token's width, so the output is exactly as long as the format.
    return "".join(
        part if isinstance(part, str) else f"{_TIME_FIELDS[part.token](local):0{len(part.token)}d}"
        for part in parts
    )


def commit_id_length_problem(length: int) -> str | None:
    """Why `length` is not a usable commitIdLength, or None."""
    if MIN_COMMIT_ID_LENGTH <= length <= MAX_COMMIT_ID_LENGTH:
        return None
    return f"commitIdLength must be between {MIN_COMMIT_ID_LENGTH} and {MAX_COMMIT_ID_LENGTH}, got {length}"
